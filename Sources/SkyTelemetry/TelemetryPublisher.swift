import Foundation
import SkyCore

/// Why a record was not accepted for publishing.
public enum PublishError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The outbox holds `capacity` unacknowledged records; this one was dropped (no seq used).
    case outboxFull(capacity: Int)
    case tooLarge(bytes: Int)
    case encoding(String)
    case outbox(String)
    case shutDown

    public var description: String {
        switch self {
        case let .outboxFull(c): "outbox full (\(c) unacknowledged records): record dropped"
        case let .tooLarge(b): "record of \(b) bytes exceeds the \(RecordCodec.maxPayloadBytes)-byte limit"
        case let .encoding(m): "cannot encode record: \(m)"
        case let .outbox(m): "outbox failed: \(m)"
        case .shutDown: "publisher has been shut down"
        }
    }
}

/// A node's side of the telemetry protocol (Docs/telemetry.md) for one boot.
///
/// - The MQTT last will is a death record with reason `lost`.
/// - After every (re)connect: a birth record, then every record still in the outbox.
/// - `publish(frame:)` / `publish(status:)` number records 1, 2, 3... put them in the
///   outbox, and publish them QoS 1 if connected (else they go after the reconnect).
/// - The hub's cumulative acknowledgements trim the outbox. Pending records are also
///   re-sent when a new hub run announces itself online (`Topics.hubState`).
/// - When the outbox is full a new record is dropped before it gets a sequence number,
///   so the sequence has no holes and acknowledgements keep advancing.
public final class TelemetryPublisher: @unchecked Sendable {
    public struct Counters: Sendable, Equatable {
        /// Records accepted: numbered and put in the outbox.
        public var published: UInt64 = 0
        /// Records removed from the outbox by the hub's acknowledgements.
        public var acknowledged: UInt64 = 0
        /// Records refused because the outbox was full.
        public var dropped: UInt64 = 0
        /// MQTT sends of records already sent once (after reconnects, hub restarts).
        public var resent: UInt64 = 0
    }

    public let address: NodeAddress
    public let boot: UInt64
    public let client: MQTTClient

    private let birth: BirthReport
    private let clock: @Sendable () -> Double
    private let cond = NSCondition()
    // Guarded by `cond`.
    private let outbox: RecordOutbox
    private var nextSeq: UInt64 = 1
    private var ackedUpTo: UInt64 = 0
    private var counts = Counters()
    /// `time` of the last `online` hub state seen: a different one means a new hub run.
    private var hubOnlineSince: Double?
    private var isShutDown = false
    private var lastSendError: String?

    /// - Parameters:
    ///   - configuration: the broker connection; its `will` is replaced by this node's death record.
    ///   - clock: Unix seconds UTC for record times.
    public init(configuration: MQTTClientConfiguration, address: NodeAddress, boot: UInt64, birth: BirthReport,
                outbox: RecordOutbox = InMemoryOutbox(),
                clock: @escaping @Sendable () -> Double = { UTCInstant.now().unixSeconds }) throws {
        guard Identifier.isValid(address.site), Identifier.isValid(address.node) else {
            throw MQTTError.invalidConfiguration("site and node must be 1-64 letters, digits, '-' or '_': \(address)")
        }
        self.address = address
        self.boot = boot
        self.birth = birth
        self.outbox = outbox
        self.clock = clock
        let will = TelemetryRecord(kind: .death, address: address, boot: boot, seq: 0, time: clock(),
                                   death: DeathReport(reason: "lost"))
        var config = configuration
        config.will = MQTTWill(topic: Topics.record(address, .death), payload: try RecordCodec.encode(will), qos: 1, retain: false)
        client = try MQTTClient(configuration: config)
        // Handlers hold the publisher weakly: the client must not keep it alive.
        client.setMessageHandler { [weak self] topic, payload in self?.received(topic: topic, payload: payload) }
        client.setConnectionHandler { [weak self] event in
            if event == .connected { self?.sessionStarted() }
        }
        try client.subscribe(Topics.ack(address), qos: 1)
        try client.subscribe(Topics.hubState, qos: 1)
    }

    deinit { client.disconnect(timeout: 1) }

    /// Connects (in the background) and keeps connected until `shutdown()`.
    public func start() { client.connect() }

    @discardableResult
    public func waitForConnection(timeout: Double) -> Bool { client.waitForConnection(timeout: timeout) }

    public var isConnected: Bool { client.isConnected }

    /// Publishes a frame record; returns its sequence number.
    @discardableResult
    public func publish(frame: FrameReport) throws(PublishError) -> UInt64 {
        try publish(.frame) { seq, time in
            TelemetryRecord(kind: .frame, address: address, boot: boot, seq: seq, time: time, frame: frame)
        }
    }

    /// Publishes a status record; returns its sequence number.
    @discardableResult
    public func publish(status: StatusReport) throws(PublishError) -> UInt64 {
        try publish(.status) { seq, time in
            TelemetryRecord(kind: .status, address: address, boot: boot, seq: seq, time: time, status: status)
        }
    }

    /// Highest sequence number of this boot that the hub has acknowledged (all below it too).
    public var acknowledgedUpTo: UInt64 { cond.withLock { ackedUpTo } }

    /// Records in the outbox, waiting for an acknowledgement.
    public var pendingCount: Int { cond.withLock { outbox.count } }

    public var counters: Counters { cond.withLock { counts } }

    /// Last failure to hand a record to MQTT other than "not connected"; nil if none.
    public var lastError: String? { cond.withLock { lastSendError } }

    /// The sequence number the next record will get.
    public var nextSequenceNumber: UInt64 { cond.withLock { nextSeq } }

    /// Waits until the hub has acknowledged everything in the outbox.
    @discardableResult
    public func waitUntilAcknowledged(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while outbox.count > 0 {
            if !cond.wait(until: deadline) { return outbox.count == 0 }
        }
        return true
    }

    /// Sends every outbox record again (they are sent after each reconnect anyway).
    public func resendPending() {
        let records: [PendingRecord] = cond.withLock { (try? outbox.pending()) ?? [] }
        var sent: UInt64 = 0
        for r in records {
            guard send(r) else { break }
            sent += 1
        }
        cond.withLock { counts.resent += sent }
    }

    /// Publishes a death record (reason `shutdown`), waits up to `timeout` for the broker
    /// to take it, and disconnects cleanly (so the broker drops the `lost` will).
    public func shutdown(timeout: Double = 2) {
        let first: Bool = cond.withLock {
            defer { isShutDown = true }
            return !isShutDown
        }
        guard first else { return }
        let death = TelemetryRecord(kind: .death, address: address, boot: boot, seq: 0, time: clock(),
                                    death: DeathReport(reason: "shutdown"))
        if let payload = try? RecordCodec.encode(death),
           (try? client.publish(topic: Topics.record(address, .death), payload: payload, qos: 1)) != nil {
            client.waitForPublishes(timeout: timeout)
        }
        client.disconnect(timeout: timeout)
        cond.withLock { cond.broadcast() }
    }

    // MARK: internals

    private func publish(_ kind: RecordKind, _ make: (UInt64, Double) -> TelemetryRecord) throws(PublishError) -> UInt64 {
        cond.lock()
        guard !isShutDown else { cond.unlock(); throw .shutDown }
        guard outbox.count < outbox.capacity else {
            counts.dropped += 1
            cond.unlock()
            throw .outboxFull(capacity: outbox.capacity)
        }
        let seq = nextSeq
        let record = make(seq, clock())
        let pending: PendingRecord
        do {
            let payload = try RecordCodec.encode(record)
            guard payload.count <= RecordCodec.maxPayloadBytes else {
                cond.unlock()
                throw PublishError.tooLarge(bytes: payload.count)
            }
            pending = PendingRecord(boot: boot, seq: seq, topic: Topics.record(address, kind), payload: payload)
            guard try outbox.append(pending) else {
                counts.dropped += 1
                cond.unlock()
                throw PublishError.outboxFull(capacity: outbox.capacity)
            }
        } catch let e as PublishError {
            throw e
        } catch let e as EncodingError {
            cond.unlock()
            throw .encoding("\(e)")
        } catch {
            cond.unlock()
            throw .outbox("\(error)")
        }
        nextSeq += 1
        counts.published += 1
        cond.unlock()
        // Not connected: it stays in the outbox and goes out after the reconnect.
        _ = send(pending)
        return seq
    }

    /// False when the record could not be handed to MQTT.
    private func send(_ r: PendingRecord) -> Bool {
        do {
            try client.publish(topic: r.topic, payload: r.payload, qos: 1)
            return true
        } catch {
            if error != .notConnected { cond.withLock { lastSendError = error.description } }
            return false
        }
    }

    /// A new MQTT session (network thread): announce ourselves, then re-send what the hub has not confirmed.
    private func sessionStarted() {
        let record = TelemetryRecord(kind: .birth, address: address, boot: boot, seq: 0, time: clock(), birth: birth)
        if let payload = try? RecordCodec.encode(record) {
            _ = try? client.publish(topic: Topics.record(address, .birth), payload: payload, qos: 1)
        }
        resendPending()
    }

    private func received(topic: String, payload: [UInt8]) {
        if topic == Topics.hubState {
            guard let state = HubStateMessage.decode(payload), state.isOnline else { return }
            // A hub that (re)started may have missed what was sent while it was away. The
            // retained state repeats after each reconnect with the same time: no resend then.
            let newHubRun: Bool = cond.withLock {
                defer { hubOnlineSince = state.time }
                return hubOnlineSince != state.time
            }
            if newHubRun { resendPending() }
            return
        }
        guard topic == Topics.ack(address), let ack = try? RecordCodec.decodeAck(payload),
              ack.site == address.site, ack.node == address.node else { return }
        cond.withLock {
            var upTo = ack.upTo
            if ack.boot == boot {
                // Never believe an ack for records not yet numbered.
                upTo = min(upTo, nextSeq - 1)
                guard upTo > ackedUpTo else { return }
                ackedUpTo = upTo
            }
            let removed = (try? outbox.removeThrough(boot: ack.boot, upTo: upTo)) ?? 0
            counts.acknowledged += UInt64(removed)
            cond.broadcast()
        }
    }
}
