// Inference engine (issue 3).
public enum SkyNNVersion { public static let version = 0 }
