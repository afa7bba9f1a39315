import Foundation
import SkyTelemetry

/// Messages received by a handler on the network thread, waited for by the test.
final class Inbox: @unchecked Sendable {
    private let cond = NSCondition()
    private var items: [(topic: String, payload: [UInt8])] = []

    var handler: MQTTClient.MessageHandler {
        { [self] topic, payload in cond.withLock { items.append((topic, payload)); cond.broadcast() } }
    }

    var messages: [(topic: String, payload: [UInt8])] { cond.withLock { items } }

    func payloads(on topic: String) -> [String] {
        messages.filter { $0.topic == topic }.map { String(decoding: $0.payload, as: UTF8.self) }
    }

    /// Waits until `count` messages satisfy `match`.
    @discardableResult
    func wait(for count: Int, timeout: Double = 5, where match: @escaping (String, [UInt8]) -> Bool = { _, _ in true }) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while items.filter({ match($0.topic, $0.payload) }).count < count {
            if !cond.wait(until: deadline) { return items.filter({ match($0.topic, $0.payload) }).count >= count }
        }
        return true
    }
}

/// Connection events seen by a client's handler.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [MQTTConnectionEvent] = []
    var handler: MQTTClient.ConnectionHandler { { [self] e in lock.withLock { items.append(e) } } }
    var events: [MQTTConnectionEvent] { lock.withLock { items } }
}

/// Fast retries so reconnect tests take fractions of a second.
let quickRetry = ReconnectPolicy(initialDelay: 0.05, maxDelay: 0.4, multiplier: 2, jitter: 0.5)

func clientConfig(_ broker: LocalMosquitto, _ id: String) -> MQTTClientConfiguration {
    var c = MQTTClientConfiguration(broker: broker.broker, clientID: "\(id)-\(UInt32.random(in: 0...UInt32.max))")
    c.reconnect = quickRetry
    return c
}

/// Polls `condition` until true or the timeout passes.
func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
