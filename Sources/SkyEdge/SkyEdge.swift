import SkyCore
public enum SkyEdgeVersion { public static let software = "skyedge 0.1.0" }
