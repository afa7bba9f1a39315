// Hub ingest and store (issue 2, item 8). Placeholder until the hub lands.
import GRDB
public enum SkyHubVersion { public static let version = 1 }
