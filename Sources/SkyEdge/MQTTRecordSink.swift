import Foundation
import SkyCore
import SkyTelemetry
import Synchronization

/// The production sink: records go through the telemetry publisher (outbox,
/// sequence numbers, acknowledgements) to the broker.
public final class MQTTRecordSink: RecordSink, @unchecked Sendable {
    public let publisher: TelemetryPublisher
    public let outbox: DurableOutbox
    /// Commands from the hub; the runtime may give it more handlers (exposure, reload).
    public let commands: CommandDispatcher
    private let birth: Mutex<BirthReport>

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
        if let ca = config.broker.caFile {
            mqtt.tls = MQTTTLSOptions(caFile: ca, certFile: config.broker.certFile, keyFile: config.broker.keyFile)
        }
        let directory = config.outbox.directory ?? "/var/lib/skyedge/outbox/\(config.site)-\(config.node)"
        var options = DurableOutbox.Options(maxBytes: config.outbox.maxBytes)
        options.sync = DurableOutbox.SyncPolicy(rawValue: config.outbox.sync) ?? .everyRecord
        let box: DurableOutbox
        do {
            box = try DurableOutbox(directory: URL(fileURLWithPath: directory), options: options)
        } catch {
            throw ConfigError.unreadable(path: directory, reason: "outbox: \(error)")
        }
        outbox = box
        if box.recovery.records > 0 || box.recovery.tornBytesDiscarded > 0 {
            Log.info("outbox \(directory): \(box.recovery.records) unacknowledged records from earlier runs, \(box.recovery.tornBytesDiscarded) torn bytes discarded")
        }
        // A restart within the same millisecond must not reuse the previous run's boot epoch.
        let bootEpoch = try box.claimBoot(proposed: boot)
        let birth = BirthReport(board: board.name, software: SkyEdgeVersion.software,
                                capabilities: ["frame-summary", "source:\(config.source.kind.rawValue)"],
                                models: [], frameWidth: config.maxFrameWidth, frameHeight: config.maxFrameHeight,
                                exposure: config.effectiveExposure,
                                cadence: config.source.cadence)
        self.birth = Mutex(birth)
        publisher = try TelemetryPublisher(configuration: mqtt, address: config.address, boot: bootEpoch, birth: birth,
                                           outbox: box, window: config.outbox.window)
        commands = CommandDispatcher(publisher: publisher, localProgram: config.commands.handler,
                                     localTimeout: config.commands.handlerTimeout)
        publisher.start()
    }

    public func publish(frame: FrameReport) {
        do { _ = try publisher.publish(frame: frame) } catch { Log.warn("frame \(frame.frameIndex) not published: \(error)") }
    }

    public func publish(status: StatusReport) {
        do { _ = try publisher.publish(status: status) } catch { Log.warn("status not published: \(error)") }
    }

    public func settingsChanged(exposure: Double?, cadence: Double?) {
        let b = birth.withLock { b -> BirthReport in
            b.exposure = exposure
            b.cadence = cadence
            return b
        }
        publisher.updateBirth(b)
    }

    public var delivery: DeliveryCounters {
        let (c, pending) = publisher.countersAndPending
        return DeliveryCounters(published: c.published, acknowledged: c.acknowledged, dropped: c.dropped,
                                pending: UInt64(pending))
    }

    /// Gives the hub a moment to acknowledge what is pending, then says goodbye.
    public func shutdown() {
        if publisher.pendingCount > 0 && !publisher.waitUntilAcknowledged(timeout: 5) {
            Log.warn("\(publisher.pendingCount) records still unacknowledged at shutdown: kept in the outbox, sent after the next start")
        }
        publisher.shutdown()
    }
}
