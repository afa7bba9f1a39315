import Foundation
import SkyTelemetry
import Yams

/// `skyhub run` settings: from a YAML file whose keys are the flag names, then the flags.
public struct HubSettings: Sendable, Equatable {
    public var broker: String?
    public var db: String?
    public var clientID: String?
    public var username: String?
    /// A file holding the broker password (kept off the command line and out of logs).
    public var passwordFile: String?
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?

    public static let keys = ["broker", "db", "client-id", "username", "password-file", "ca-file", "cert-file", "key-file"]

    public init(broker: String? = nil, db: String? = nil, clientID: String? = nil, username: String? = nil,
                passwordFile: String? = nil, caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
        self.broker = broker; self.db = db; self.clientID = clientID; self.username = username
        self.passwordFile = passwordFile; self.caFile = caFile; self.certFile = certFile; self.keyFile = keyFile
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Parses YAML such as `broker: hub.example:1883` / `db: /var/lib/skyhub/hub.sqlite`.
    /// Unknown keys are refused, so a typo does not silently fall back to a default.
    public static func parse(yaml: String) throws -> HubSettings {
        let loaded: Any?
        do { loaded = try Yams.load(yaml: yaml) } catch { throw Failure(description: "config is not valid YAML: \(error)") }
        guard let loaded else { return HubSettings() }
        guard let map = loaded as? [String: Any] else { throw Failure(description: "config must be a mapping of key: value") }
        var s = HubSettings()
        for (key, value) in map {
            guard keys.contains(key) else {
                throw Failure(description: "unknown config key '\(key)' (known: \(keys.joined(separator: ", ")))")
            }
            let text: String
            switch value {
            case let v as String: text = v
            case let v as Int: text = String(v)
            default: throw Failure(description: "config key '\(key)' must be a string")
            }
            switch key {
            case "broker": s.broker = text
            case "db": s.db = text
            case "client-id": s.clientID = text
            case "username": s.username = text
            case "password-file": s.passwordFile = text
            case "ca-file": s.caFile = text
            case "cert-file": s.certFile = text
            default: s.keyFile = text
            }
        }
        return s
    }

    public static func load(file path: String) throws -> HubSettings {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Failure(description: "cannot read config \(path): \(error.localizedDescription)")
        }
        return try parse(yaml: text)
    }

    /// These settings with every value `other` sets taking precedence (flags over file).
    public func overridden(by other: HubSettings) -> HubSettings {
        HubSettings(broker: other.broker ?? broker, db: other.db ?? db, clientID: other.clientID ?? clientID,
                    username: other.username ?? username, passwordFile: other.passwordFile ?? passwordFile,
                    caFile: other.caFile ?? caFile, certFile: other.certFile ?? certFile, keyFile: other.keyFile ?? keyFile)
    }

    /// The hub's MQTT configuration: a fixed client id and a persistent session, so the
    /// broker queues records while the hub restarts.
    public func mqttConfiguration() throws -> MQTTClientConfiguration {
        guard let text = broker else { throw Failure(description: "no broker given (--broker HOST:PORT or 'broker:' in the config)") }
        guard let address = BrokerAddress(parsing: text) else { throw Failure(description: "broker '\(text)' is not HOST:PORT") }
        var c = MQTTClientConfiguration(broker: address, clientID: clientID ?? "skyhub")
        c.cleanSession = false
        c.username = username
        if let passwordFile {
            do {
                c.password = try String(contentsOfFile: passwordFile, encoding: .utf8)
                    .trimmingCharacters(in: .newlines)
            } catch { throw Failure(description: "cannot read password file \(passwordFile)") }
        }
        if caFile != nil || certFile != nil || keyFile != nil {
            c.tls = MQTTTLSOptions(caFile: caFile, certFile: certFile, keyFile: keyFile)
        }
        return c
    }
}
