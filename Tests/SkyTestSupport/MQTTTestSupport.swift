import Foundation
import SkyTelemetry

/// Messages received by a client's handler on its network thread, waited for by a test.
public final class Inbox: @unchecked Sendable {
    public typealias Message = (topic: String, payload: [UInt8])
    private let cond = NSCondition()
    private var items: [Message] = []

    public init() {}

    public var handler: MQTTClient.MessageHandler {
        { [self] topic, payload in cond.withLock { items.append((topic, payload)); cond.broadcast() } }
    }

    public var messages: [Message] { cond.withLock { items } }

    public func payloads(on topic: String) -> [String] {
        messages.filter { $0.topic == topic }.map { String(decoding: $0.payload, as: UTF8.self) }
    }

    /// Waits until `done` holds for the messages so far (it is given them: no second lock).
    @discardableResult
    public func wait(timeout: Double = 5, until done: @escaping ([Message]) -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while !done(items) {
            if !cond.wait(until: deadline) { return done(items) }
        }
        return true
    }

    /// Waits until `count` messages satisfy `match`.
    @discardableResult
    public func wait(for count: Int, timeout: Double = 5,
                     where match: @escaping (String, [UInt8]) -> Bool = { _, _ in true }) -> Bool {
        wait(timeout: timeout) { items in items.filter { match($0.topic, $0.payload) }.count >= count }
    }
}

/// Fast retries so reconnect tests take fractions of a second.
public let quickRetry = ReconnectPolicy(initialDelay: 0.05, maxDelay: 0.4, multiplier: 2, jitter: 0.5)

/// A client configuration for `broker` with a unique client id and fast retries.
public func clientConfig(_ broker: LocalMosquitto, _ id: String) -> MQTTClientConfiguration {
    var c = MQTTClientConfiguration(broker: broker.broker, clientID: "\(id)-\(UInt32.random(in: 0...UInt32.max))")
    c.reconnect = quickRetry
    return c
}

/// Polls `condition` until true or `timeout` seconds pass.
public func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// A scratch directory removed at deinit.
public final class TempDir {
    public let url: URL
    public init(prefix: String = "skyedge-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}
