import Foundation
import SkyCore

/// A round-trip check of a broker, for `skydiag mqtt`: connect, subscribe to a private
/// topic, publish probes one at a time (QoS 1) and time each until it comes back.
public enum MQTTProbe {
    public struct Result: Sendable {
        public var broker: BrokerAddress
        /// From `connect()` until the broker accepted the session, seconds.
        public var connectSeconds: Double
        /// Round trip of every probe that came back, seconds, in sending order.
        public var roundTrips: [Double]
        public var sent: Int
        public var lost: Int { sent - roundTrips.count }

        public var minimum: Double? { roundTrips.min() }
        public var maximum: Double? { roundTrips.max() }
        public var median: Double? {
            guard !roundTrips.isEmpty else { return nil }
            let s = roundTrips.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case cannotConnect(BrokerAddress, String)
        case failed(String)

        public var description: String {
            switch self {
            case let .cannotConnect(b, why): "cannot connect to \(b): \(why)"
            case let .failed(why): why
            }
        }
    }

    /// - Parameter timeout: limit for the connection, and for each probe to come back.
    public static func run(broker: BrokerAddress, count: Int, timeout: Double,
                           configure: (inout MQTTClientConfiguration) -> Void = { _ in }) throws(Failure) -> Result {
        let token = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let topic = "skydiag/probe/\(token)"
        var config = MQTTClientConfiguration(broker: broker, clientID: "skydiag-\(token)")
        configure(&config)
        let arrivals = Arrivals()
        let client: MQTTClient
        do { client = try MQTTClient(configuration: config) } catch { throw .failed(error.description) }
        defer { client.disconnect(timeout: 1) }
        client.setMessageHandler { t, payload in
            if t == topic { arrivals.record(String(decoding: payload, as: UTF8.self)) }
        }
        do { try client.subscribe(topic, qos: 1) } catch { throw .failed(error.description) }

        let start = MonotonicClock.seconds()
        client.connect()
        guard client.waitForConnection(timeout: timeout, giveUpAfterFailedAttempts: 1) else {
            throw .cannotConnect(broker, client.lastError ?? "no answer within \(timeout) s")
        }
        let connectSeconds = MonotonicClock.seconds() - start
        guard client.waitForSubscriptions(timeout: timeout) else {
            throw .failed("broker did not confirm the subscription to \(topic) within \(timeout) s")
        }
        var trips: [Double] = []
        for i in 0..<max(0, count) {
            let id = "probe \(i)"
            let sentAt = MonotonicClock.seconds()
            do { try client.publish(topic: topic, payload: Array(id.utf8), qos: 1) } catch {
                throw .failed("probe \(i): \(error.description)")
            }
            if arrivals.wait(for: id, timeout: timeout) { trips.append(MonotonicClock.seconds() - sentAt) }
        }
        return Result(broker: broker, connectSeconds: connectSeconds, roundTrips: trips, sent: max(0, count))
    }
}

private final class Arrivals: @unchecked Sendable {
    private let cond = NSCondition()
    private var seen: Set<String> = []

    func record(_ id: String) { cond.withLock { seen.insert(id); cond.broadcast() } }

    func wait(for id: String, timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while !seen.contains(id) {
            if !cond.wait(until: deadline) { return seen.contains(id) }
        }
        return true
    }
}
