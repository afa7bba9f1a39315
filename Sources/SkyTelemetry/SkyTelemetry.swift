// MQTT client over libmosquitto (issue 2, item 7). Placeholder until the client lands.
import CMosquitto
public enum SkyTelemetryVersion { public static let version = 1 }
