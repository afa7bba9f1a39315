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
/// - `publish(frame:)` / `publish(status:)` number records 1, 2, 3... and put them in the
///   outbox; a sender thread publishes them QoS 1 in key order, at most `window` records
///   sent and not yet acknowledged by the hub at a time (so neither libmosquitto's memory
///   queue nor the broker's grows without bound while the hub is away).
/// - The hub's cumulative acknowledgements trim the outbox. Everything unacknowledged is
///   sent again after a reconnect, when a new hub run announces itself online
///   (`Topics.hubState`), when the hub asks (`resend(from:)`, a gap it noticed), and when
///   acknowledgements stop advancing for `resendAfter` seconds while records are out.
/// - Records already waiting when the sender runs (a backlog after a reconnect or a burst)
///   go several to one MQTT message on `Topics.batch` (`RecordBatch`), up to `batchBytes`;
///   a record that is alone goes on its own at once: nothing waits for a batch to fill.
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
        /// Times the sender went back to the oldest unacknowledged record (or to a requested seq).
        public var rewinds: UInt64 = 0
    }

    /// A command for this node (`Topics.command`), raw; run on the network thread.
    public typealias CommandHandler = @Sendable (_ payload: [UInt8]) -> Void

    public let address: NodeAddress
    public let boot: UInt64
    public let client: MQTTClient

    // Guarded by `cond`: the runtime updates it when exposure or cadence change.
    private var birth: BirthReport
    private let clock: @Sendable () -> Double
    private let cond = NSCondition()
    // Guarded by `cond`.
    private let outbox: RecordOutbox
    private var nextSeq: UInt64 = 1
    private var ackedUpTo: UInt64 = 0
    private var counts = Counters()
    /// `time` of the last `online` hub state seen: a different one means a new hub run.
    private var hubOnlineSince: Double?
    /// The retained hub state says `offline`: records out are not resent on a stall then (they
    /// could only pile up as duplicates in the broker's queue for the hub); a new hub run
    /// announcing itself online makes the node send everything unacknowledged again.
    private var hubOffline = false
    private var isShutDown = false
    private var lastSendError: String?
    private var commandHandler: CommandHandler?
    // The sender: `cursor` is the key of the last record handed to MQTT since the last
    // rewind; `epoch` changes at every rewind so a batch sent meanwhile does not move it.
    private let window: Int
    private let resendAfter: Double
    private var sessionUp = false
    private var cursor: OutboxKey?
    private var highestSent: OutboxKey?
    private var epoch = 0
    private var lastProgress = MonotonicClock.seconds()
    private let batchBytes: Int
    /// `skyedge/v1/<site>/<node>/`: what this node's record topics start with.
    private let ownRecordPrefix: String
    /// Most records in one batch message (also the most the sender takes per round).
    public static let maxBatchRecords = 256

    /// - Parameters:
    ///   - configuration: the broker connection; its `will` is replaced by this node's death record.
    ///   - clock: Unix seconds UTC for record times.
    ///   - window: most records sent and not yet acknowledged by the hub.
    ///   - resendAfter: seconds without acknowledgement progress, records out, before sending again.
    ///   - batchBytes: largest batch message of waiting records; 0 sends every record on its own.
    public init(configuration: MQTTClientConfiguration, address: NodeAddress, boot: UInt64, birth: BirthReport,
                outbox: RecordOutbox = InMemoryOutbox(), window: Int = 1000, resendAfter: Double = 10,
                batchBytes: Int = 64 << 10,
                clock: @escaping @Sendable () -> Double = { UTCInstant.now().unixSeconds }) throws {
        guard Identifier.isValid(address.site), Identifier.isValid(address.node) else {
            throw MQTTError.invalidConfiguration("site and node must be 1-64 letters, digits, '-' or '_': \(address)")
        }
        self.address = address
        self.boot = boot
        self.birth = birth
        self.outbox = outbox
        self.clock = clock
        self.window = max(1, window)
        self.resendAfter = max(0.1, resendAfter)
        self.batchBytes = max(0, batchBytes)
        ownRecordPrefix = "\(Topics.edgeRoot)/\(address.site)/\(address.node)/"
        let will = TelemetryRecord(kind: .death, address: address, boot: boot, seq: 0, time: clock(),
                                   death: DeathReport(reason: "lost"))
        var config = configuration
        config.will = MQTTWill(topic: Topics.record(address, .death), payload: try RecordCodec.encode(will), qos: 1, retain: false)
        client = try MQTTClient(configuration: config)
        // Handlers hold the publisher weakly: the client must not keep it alive.
        client.setMessageHandler { [weak self] topic, payload in self?.received(topic: topic, payload: payload) }
        client.setConnectionHandler { [weak self] event in
            if event == .connected { self?.sessionStarted() } else { self?.sessionEnded() }
        }
        try client.subscribe(Topics.ack(address), qos: 1)
        try client.subscribe(Topics.hubState, qos: 1)
        try client.subscribe(Topics.command(address), qos: 1)
        // The thread holds the publisher only for one step at a time, so `deinit` can run.
        let thread = Thread { [weak self] in
            while let me = self, me.sendStep() {}
        }
        thread.name = "telemetry sender \(address)"
        thread.start()
    }

    /// Receives every command addressed to this node. Set before `start()`.
    public func setCommandHandler(_ handler: @escaping CommandHandler) { cond.withLock { commandHandler = handler } }

    /// The birth sent after every later (re)connect.
    public func updateBirth(_ report: BirthReport) { cond.withLock { birth = report } }

    /// Publishes a message that is not a record (command replies), QoS 1; false if not connected.
    @discardableResult
    public func publishMessage(topic: String, payload: [UInt8]) -> Bool {
        (try? client.publish(topic: topic, payload: payload, qos: 1)) != nil
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

    /// Publishes an alert record; returns its sequence number. Schema v1 has no alert body, so
    /// `body` (a JSON object: candidates and their stamps) rides as the `alert` field, which v1
    /// readers ignore and keep in the stored payload (Docs/telemetry.md).
    @discardableResult
    public func publish(alertBody body: [UInt8]) throws(PublishError) -> UInt64 {
        try publish(.alert, body: body) { seq, time in
            TelemetryRecord(kind: .alert, address: address, boot: boot, seq: seq, time: time)
        }
    }

    /// Highest sequence number of this boot that the hub has acknowledged (all below it too).
    public var acknowledgedUpTo: UInt64 { cond.withLock { ackedUpTo } }

    /// Records in the outbox, waiting for an acknowledgement.
    public var pendingCount: Int { cond.withLock { outbox.count } }

    public var counters: Counters { cond.withLock { counts } }

    /// Counters and outbox depth read together, so that acknowledged + pending adds up to
    /// published in a heartbeat even while acknowledgements arrive.
    public var countersAndPending: (counters: Counters, pending: Int) { cond.withLock { (counts, outbox.count) } }

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
    public func resendPending() { cond.withLock { rewind(to: nil) } }

    /// Sends again the records of this node from `key` on (the hub saw a gap before it).
    /// Returns false if none at or after it is still held (acknowledged or never issued).
    @discardableResult
    public func resend(from key: OutboxKey) -> Bool {
        cond.withLock {
            let before = OutboxKey(boot: key.boot, seq: key.seq > 0 ? key.seq - 1 : 0)
            guard let next = try? outbox.pending(after: before, limit: 1).first, next.boot == key.boot else { return false }
            if let c = cursor, c >= before { rewind(to: before) }
            return true
        }
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

    private func publish(_ kind: RecordKind, body: [UInt8]? = nil,
                         _ make: (UInt64, Double) -> TelemetryRecord) throws(PublishError) -> UInt64 {
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
            var payload = try RecordCodec.encode(record)
            if let body, payload.last == UInt8(ascii: "}") {
                payload.removeLast()
                payload += Array(#","\#(kind.rawValue)":"#.utf8) + body + [UInt8(ascii: "}")]
            }
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
        cond.broadcast() // the sender picks it up
        cond.unlock()
        return seq
    }

    /// False when the record could not be handed to MQTT.
    private func send(_ r: PendingRecord) -> Bool { send(topic: r.topic, payload: r.payload) }

    private func send(topic: String, payload: [UInt8]) -> Bool {
        do {
            try client.publish(topic: topic, payload: payload, qos: 1)
            return true
        } catch {
            if error != .notConnected { cond.withLock { lastSendError = error.description } }
            return false
        }
    }

    /// How many records from `start` go in one message: consecutive records of this node,
    /// within the byte and count caps; 1 when batching is off or the next does not fit.
    private func batchLength(_ records: [PendingRecord], from start: Int) -> Int {
        guard batchBytes > 0 else { return 1 }
        var bytes = 0
        var n = 0
        while start + n < records.count, n < Self.maxBatchRecords {
            let r = records[start + n]
            // Only this node's own record topics (what `Topics.record` made): anything else keeps its topic.
            guard r.topic.hasPrefix(ownRecordPrefix) else { break }
            guard RecordBatch.encodedSize(recordBytes: bytes + r.payload.count, count: n + 1) <= batchBytes else { break }
            bytes += r.payload.count
            n += 1
        }
        return max(1, n)
    }

    private func sendBatch(_ records: ArraySlice<PendingRecord>) -> Bool {
        send(topic: Topics.batch(address), payload: RecordBatch.encode(records.lazy.map(\.payload)))
    }

    /// A new MQTT session (network thread): announce ourselves, then re-send what the hub has not confirmed.
    private func sessionStarted() {
        let record = TelemetryRecord(kind: .birth, address: address, boot: boot, seq: 0, time: clock(),
                                     birth: cond.withLock { birth })
        if let payload = try? RecordCodec.encode(record) {
            _ = try? client.publish(topic: Topics.record(address, .birth), payload: payload, qos: 1)
        }
        cond.withLock {
            sessionUp = true
            rewind(to: nil)
        }
    }

    private func sessionEnded() { cond.withLock { sessionUp = false } }

    /// Under `cond`: the sender goes on after `key` (from the oldest held record when nil).
    private func rewind(to key: OutboxKey?) {
        cursor = key
        epoch += 1
        counts.rewinds += 1
        lastProgress = MonotonicClock.seconds()
        cond.broadcast()
    }

    /// One round of the sender thread; false once shut down.
    private func sendStep() -> Bool {
        cond.lock()
        if isShutDown { cond.unlock(); return false }
        let now = MonotonicClock.seconds()
        let out = cursor.map { outbox.count(through: $0) } ?? 0
        if sessionUp, out > 0, !hubOffline, now - lastProgress > resendAfter {
            // Acks stopped while records are out: one of them (or its ack) was lost on the way.
            rewind(to: nil)
        }
        let room = window - (cursor.map { outbox.count(through: $0) } ?? 0)
        let batch: [PendingRecord] = sessionUp && room > 0
            ? ((try? outbox.pending(after: cursor, limit: min(room, 4 * Self.maxBatchRecords))) ?? []) : []
        if batch.isEmpty {
            _ = cond.wait(until: Date(timeIntervalSinceNow: 0.25))
            cond.unlock()
            return true
        }
        let startEpoch = epoch
        let previousHighest = highestSent
        cond.unlock()
        var last: OutboxKey?
        var resent: UInt64 = 0
        var i = 0
        while i < batch.count {
            let n = batchLength(batch, from: i)
            let group = batch[i..<(i + n)]
            guard n == 1 ? send(group.first!) : sendBatch(group) else { break }
            last = group.last!.key
            if let h = previousHighest { resent += UInt64(group.lazy.filter { $0.key <= h }.count) }
            i += n
        }
        cond.lock()
        counts.resent += resent
        if let k = last {
            if highestSent.map({ k > $0 }) ?? true { highestSent = k }
            if epoch == startEpoch { cursor = k }
        }
        let failed = last != batch.last?.key
        if failed { _ = cond.wait(until: Date(timeIntervalSinceNow: 0.05)) }
        cond.unlock()
        return true
    }

    private func received(topic: String, payload: [UInt8]) {
        if topic == Topics.hubState {
            guard let state = HubStateMessage.decode(payload) else { return }
            cond.withLock {
                hubOffline = !state.isOnline
                if state.isOnline { lastProgress = MonotonicClock.seconds() }
            }
            guard state.isOnline else { return }
            // A hub that (re)started may have missed what was sent while it was away. The
            // retained state repeats after each reconnect with the same time: no resend then.
            let newHubRun: Bool = cond.withLock {
                defer { hubOnlineSince = state.time }
                return hubOnlineSince != state.time
            }
            if newHubRun { resendPending() }
            return
        }
        if topic == Topics.command(address) {
            let handler = cond.withLock { commandHandler }
            handler?(payload)
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
            let removed: Int
            do {
                removed = try outbox.removeThrough(boot: ack.boot, upTo: upTo)
            } catch {
                lastSendError = "outbox: \(error)"
                removed = 0
            }
            if removed > 0 { lastProgress = MonotonicClock.seconds() }
            counts.acknowledged += UInt64(removed)
            cond.broadcast()
        }
    }
}
