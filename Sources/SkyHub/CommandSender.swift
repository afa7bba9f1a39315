import Foundation
import SkyCore
import SkyTelemetry

/// Sends one command to a node and waits for its reply (`skyhub command`), on a connection
/// of its own: the running hub's ingest is not needed.
public enum CommandSender {
    public enum Failure: Error, CustomStringConvertible {
        case notConnected(String)
        case noReply(seconds: Double)

        public var description: String {
            switch self {
            case let .notConnected(why): "cannot reach the broker: \(why)"
            case let .noReply(s): "no reply within \(s) s (is the node running and connected?)"
            }
        }
    }

    /// Publishes `command` to `address` (QoS 1) and returns the node's reply to its id.
    public static func send(_ command: NodeCommand, to address: NodeAddress, configuration: MQTTClientConfiguration,
                            timeout: Double) throws -> CommandReply {
        var config = configuration
        config.cleanSession = true
        let client = try MQTTClient(configuration: config)
        let cond = NSCondition()
        nonisolated(unsafe) var reply: CommandReply?
        let topic = Topics.commandReply(address)
        client.setMessageHandler { t, payload in
            guard t == topic, let r = CommandReply.decode(payload), r.id == command.id else { return }
            cond.withLock { reply = r; cond.broadcast() }
        }
        defer { client.disconnect(timeout: 1) }
        try client.subscribe(topic, qos: 1)
        client.connect()
        guard client.waitForConnection(timeout: min(timeout, 10)), client.waitForSubscriptions(timeout: min(timeout, 10)) else {
            throw Failure.notConnected(client.lastError ?? "no connection")
        }
        _ = try client.publish(topic: Topics.command(address), payload: try command.encoded(), qos: 1)
        let deadline = Date(timeIntervalSinceNow: timeout)
        return try cond.withLock {
            while reply == nil {
                if !cond.wait(until: deadline) { break }
            }
            guard let reply else { throw Failure.noReply(seconds: timeout) }
            return reply
        }
    }
}
