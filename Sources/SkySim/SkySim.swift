// Deterministic sky simulator (issue 2, item 4). Placeholder until the simulator lands.
public enum SkySimVersion { public static let version = 1 }
