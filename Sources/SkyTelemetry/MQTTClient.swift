import CMosquitto
import Foundation

/// An MQTT 3.1.1 client over libmosquitto that keeps itself connected.
///
/// A private network thread runs libmosquitto's loop (`mosquitto_loop`), connects,
/// and after a lost or failed connection retries with `ReconnectPolicy` (exponential
/// backoff with jitter). Subscriptions are remembered and sent again after every
/// reconnect. Handlers run on the network thread: keep them short.
///
/// Publishing while disconnected throws `MQTTError.notConnected` and queues nothing:
/// whoever needs delivery keeps the message (the `TelemetryPublisher` keeps its outbox)
/// and sends it again after the `.connected` event.
public final class MQTTClient: @unchecked Sendable {
    public typealias MessageHandler = @Sendable (_ topic: String, _ payload: [UInt8]) -> Void
    public typealias ConnectionHandler = @Sendable (MQTTConnectionEvent) -> Void

    public let configuration: MQTTClientConfiguration
    // The session outlives this object while its network thread winds down, so the
    // thread never keeps the client alive and `deinit` can stop it.
    private let session: MQTTSession

    public init(configuration: MQTTClientConfiguration) throws(MQTTError) {
        self.configuration = configuration
        self.session = try MQTTSession(configuration)
    }

    deinit { session.stop(.clean(timeout: 1)) }

    /// Called with every message received on a subscribed topic (network thread).
    public func setMessageHandler(_ handler: @escaping MessageHandler) { session.setMessageHandler(handler) }

    /// Called when a session starts or ends (network thread). Set before `connect()`.
    public func setConnectionHandler(_ handler: @escaping ConnectionHandler) { session.setConnectionHandler(handler) }

    /// Starts the network thread, which connects and stays connected until `disconnect()`.
    /// Returns at once; use `waitForConnection(timeout:)`. Calling it again does nothing.
    public func connect() { session.start() }

    /// Waits until the broker has accepted the session. With `giveUpAfterFailedAttempts`,
    /// returns false as soon as that many connection attempts have failed (see `lastError`).
    @discardableResult
    public func waitForConnection(timeout: Double, giveUpAfterFailedAttempts: Int? = nil) -> Bool {
        session.waitForConnection(timeout: timeout, giveUpAfter: giveUpAfterFailedAttempts)
    }

    public var isConnected: Bool { session.isConnected }

    /// Why the last connection attempt failed or the last session ended; nil after a clean connect.
    public var lastError: String? { session.lastError }

    /// Sessions the broker has accepted since `connect()` (1 + reconnects).
    public var connectionCount: Int { session.connectionCount }

    /// Connection attempts that failed (refused, unreachable, or closed before CONNACK).
    public var failedAttempts: Int { session.failedAttempts }

    /// Subscribes now if connected and again after every reconnect.
    public func subscribe(_ topic: String, qos: Int = 1) throws(MQTTError) {
        try session.subscribe(topic, qos: qos)
    }

    /// Waits until every subscription sent so far has been confirmed by the broker.
    @discardableResult
    public func waitForSubscriptions(timeout: Double) -> Bool { session.waitForSubscriptions(timeout: timeout) }

    /// Publishes one message; returns its message id. Throws `.notConnected` when there
    /// is no session (nothing is queued).
    @discardableResult
    public func publish(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false) throws(MQTTError) -> Int32 {
        try session.publish(topic: topic, payload: payload, qos: qos, retain: retain)
    }

    /// Waits until the broker has acknowledged every QoS 1/2 message published so far.
    @discardableResult
    public func waitForPublishes(timeout: Double) -> Bool { session.waitForPublishes(timeout: timeout) }

    /// Sends DISCONNECT (so the broker discards the last will), stops the network
    /// thread and waits for it. The client cannot be connected again.
    public func disconnect(timeout: Double = 2) { session.stop(.clean(timeout: timeout)) }

    /// Stops the network thread and closes the TCP connection without DISCONNECT, as a
    /// crash or a cut cable would: the broker then publishes the last will. For tests
    /// and failure drills. The client cannot be connected again.
    public func dropConnectionUncleanly() { session.stop(.abort) }
}
