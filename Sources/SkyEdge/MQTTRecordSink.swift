import Foundation
import SkyCore
import SkyTelemetry

/// The production sink: records go through the telemetry publisher (outbox,
/// sequence numbers, acknowledgements) to the broker.
public final class MQTTRecordSink: RecordSink, @unchecked Sendable {
    public let publisher: TelemetryPublisher

    public init(config: SiteConfig, board: BoardProfile,
                boot: UInt64 = UInt64((UTCInstant.now().unixSeconds * 1000).rounded())) throws {
        var mqtt = MQTTClientConfiguration(host: config.broker.host, port: config.broker.port,
                                           clientID: "skyedge-\(config.site)-\(config.node)")
        mqtt.username = config.broker.username
        if let file = config.broker.passwordFile {
            guard let password = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConfigError.unreadable(path: file, reason: "broker password file cannot be read")
            }
            mqtt.password = password.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let ca = config.broker.caFile { mqtt.tls = MQTTTLSOptions(caFile: ca) }
        let birth = BirthReport(board: board.name, software: SkyEdgeVersion.software,
                                capabilities: ["frame-summary", "source:\(config.source.kind.rawValue)"],
                                models: [], frameWidth: config.maxFrameWidth, frameHeight: config.maxFrameHeight)
        publisher = try TelemetryPublisher(configuration: mqtt, address: config.address, boot: boot, birth: birth,
                                           outbox: InMemoryOutbox(capacity: MemoryPlan.pendingRecordCapacity))
        publisher.start()
    }

    public func publish(frame: FrameReport) {
        do { _ = try publisher.publish(frame: frame) } catch { Log.warn("frame \(frame.frameIndex) not published: \(error)") }
    }

    public func publish(status: StatusReport) {
        do { _ = try publisher.publish(status: status) } catch { Log.warn("status not published: \(error)") }
    }

    public var delivery: DeliveryCounters {
        let c = publisher.counters
        return DeliveryCounters(published: c.published, acknowledged: c.acknowledged, dropped: c.dropped,
                                pending: UInt64(publisher.pendingCount))
    }

    /// Gives the hub a moment to acknowledge what is pending, then says goodbye.
    public func shutdown() {
        if publisher.pendingCount > 0 && !publisher.waitUntilAcknowledged(timeout: 5) {
            Log.warn("\(publisher.pendingCount) records still unacknowledged at shutdown")
        }
        publisher.shutdown()
    }
}
