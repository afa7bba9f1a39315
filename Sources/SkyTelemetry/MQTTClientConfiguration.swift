/// Everything needed to open and keep one MQTT session (MQTT 3.1.1).
public struct MQTTClientConfiguration: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Unique per broker: a second client with the same id takes the session over.
    public var clientID: String
    /// false keeps the broker-side session (subscriptions, queued QoS 1 messages) across reconnects.
    public var cleanSession: Bool
    /// Seconds between pings when idle; the broker declares the client dead after 1.5×.
    public var keepAlive: Int
    public var username: String?
    /// Never printed: `description` shows only whether one is set.
    public var password: String?
    public var will: MQTTWill?
    public var tls: MQTTTLSOptions?
    public var reconnect: ReconnectPolicy
    /// QoS 1 messages in flight (sent, not yet acknowledged by the broker) at once.
    public var maxInflight: Int

    public init(host: String, port: Int, clientID: String, cleanSession: Bool = true, keepAlive: Int = 30,
                username: String? = nil, password: String? = nil, will: MQTTWill? = nil,
                tls: MQTTTLSOptions? = nil, reconnect: ReconnectPolicy = ReconnectPolicy(), maxInflight: Int = 100) {
        self.host = host; self.port = port; self.clientID = clientID; self.cleanSession = cleanSession
        self.keepAlive = keepAlive; self.username = username; self.password = password; self.will = will
        self.tls = tls; self.reconnect = reconnect; self.maxInflight = maxInflight
    }

    public init(broker: BrokerAddress, clientID: String) {
        self.init(host: broker.host, port: broker.port, clientID: clientID)
    }

    public var broker: BrokerAddress { BrokerAddress(host: host, port: port) }

    public var description: String {
        var s = "mqtt://\(broker) client=\(clientID) clean=\(cleanSession) keepalive=\(keepAlive)s"
        if let username { s += " user=\(username) password=\(password == nil ? "none" : "set")" }
        if let tls { s += " tls(ca=\(tls.caFile ?? tls.caPath ?? "none") cert=\(tls.certFile ?? "none"))" }
        if let will { s += " will=\(will.topic)" }
        return s
    }
}

/// The message the broker publishes for the client when the connection ends without DISCONNECT.
public struct MQTTWill: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retain: Bool

    public init(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false) {
        self.topic = topic; self.payload = payload; self.qos = qos; self.retain = retain
    }
}

/// TLS through `mosquitto_tls_set`: a CA file or directory to verify the broker, and
/// optionally a client certificate and key to authenticate the site.
public struct MQTTTLSOptions: Sendable, Equatable {
    public var caFile: String?
    public var caPath: String?
    public var certFile: String?
    public var keyFile: String?
    /// Skips the broker host-name check. For test brokers only.
    public var insecureSkipHostnameCheck: Bool

    public init(caFile: String? = nil, caPath: String? = nil, certFile: String? = nil, keyFile: String? = nil,
                insecureSkipHostnameCheck: Bool = false) {
        self.caFile = caFile; self.caPath = caPath; self.certFile = certFile; self.keyFile = keyFile
        self.insecureSkipHostnameCheck = insecureSkipHostnameCheck
    }
}

/// A change of the session, reported to the connection handler on the network thread.
public enum MQTTConnectionEvent: Sendable, Equatable {
    /// The broker accepted the session; subscriptions have been (re)sent.
    case connected
    /// The session ended; the client retries with backoff unless it was stopped.
    case disconnected(reason: String)
}
