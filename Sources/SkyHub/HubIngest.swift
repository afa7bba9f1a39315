import Foundation
import SkyCore
import SkyTelemetry

/// Listens to every node, stores what they say, and acknowledges it.
///
/// Messages arrive on the MQTT network thread and go into a queue; a writer thread
/// drains the queue every `batchInterval`, decodes each payload (refusals are counted
/// by reason and logged in one line, never fatal), stores the batch in one transaction,
/// then publishes each touched node's cumulative acknowledgement (QoS 1). The retained
/// `Topics.hubState` message says `online` while the hub runs; the last will and
/// `stop()` make it `offline`.
public final class HubIngest: @unchecked Sendable {
    public struct Statistics: Sendable, Equatable {
        public var received = 0
        public var stored = 0
        public var duplicates = 0
        /// Same key, different content (see `IngestOutcome.conflicts`).
        public var conflicts = 0
        public var events = 0
        public var rejected = 0
        public var acknowledgementsSent = 0
        public var batches = 0
        public var storeFailures = 0
        /// `resend-from` commands sent because a node's sequence had a hole.
        public var gapRequests = 0
        public var commandReplies = 0
        /// Messages on `Topics.batch` (each counted once in `received`) and the records found in them.
        public var batchMessages = 0
        public var batchedRecords = 0
    }

    private struct BootKey: Hashable { var site: String; var node: String; var boot: UInt64 }

    public let store: HubStore
    public let client: MQTTClient
    private let batchInterval: Double
    private let maxBatch: Int
    private let log: @Sendable (String) -> Void
    private let clock: @Sendable () -> Double

    private let cond = NSCondition()
    // Guarded by `cond`.
    private var queue: [(topic: String, payload: [UInt8], receivedAt: Double)] = []
    private var processing = false
    /// Alerts waiting in `queue`: while there are any, the writer stores what it has at once
    /// instead of letting a burst gather.
    private var queuedAlerts = 0
    private var stats = Statistics()
    private var started = false
    private var stopping = false
    private var workerExited = false
    private var replies: [CommandReply] = []
    private var storedHandler: StoredHandler?
    // Writer thread only.
    private var highestSeen: [BootKey: UInt64] = [:]
    private var lastGapRequest: [BootKey: (from: UInt64, at: Double)] = [:]
    private var commandCounter = 0
    /// Seconds before asking a node again to fill the same hole.
    public var gapRetryInterval: Double = 1

    /// - Parameters:
    ///   - configuration: the broker connection; its `will` is replaced by the hub's offline state.
    ///     A fixed `clientID` with `cleanSession = false` lets the broker keep queuing while the hub restarts.
    ///   - log: one line per event worth an operator's eye (refused payloads, store errors).
    public init(store: HubStore, configuration: MQTTClientConfiguration, batchInterval: Double = 0.005,
                maxBatch: Int = 2000,
                log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) },
                clock: @escaping @Sendable () -> Double = { UTCInstant.now().unixSeconds }) throws {
        self.store = store
        self.batchInterval = max(0, batchInterval)
        self.maxBatch = max(1, maxBatch)
        self.log = log
        self.clock = clock
        var config = configuration
        config.will = MQTTWill(topic: Topics.hubState,
                               payload: HubStateMessage(state: HubStateMessage.offline, time: clock()).encoded(),
                               qos: 1, retain: true)
        client = try MQTTClient(configuration: config)
        client.setMessageHandler { [weak self] topic, payload in self?.enqueue(topic, payload) }
        client.setConnectionHandler { [weak self] event in
            guard let self, event == .connected else { return }
            _ = try? self.client.publish(topic: Topics.hubState,
                                         payload: HubStateMessage(state: HubStateMessage.online, time: self.clock()).encoded(),
                                         qos: 1, retain: true)
        }
        try client.subscribe(Topics.allRecords, qos: 1)
    }

    /// Called on the writer thread after each committed batch with its valid records (new and
    /// duplicate) and the commit time (Unix seconds): for latency measurements.
    public typealias StoredHandler = @Sendable (_ records: [TelemetryRecord], _ committedAt: Double) -> Void
    public func setStoredHandler(_ handler: @escaping StoredHandler) { cond.withLock { storedHandler = handler } }

    /// Sends a command to a node (QoS 1); false when not connected.
    @discardableResult
    public func send(_ command: NodeCommand, to address: NodeAddress) -> Bool {
        guard let payload = try? command.encoded() else { return false }
        return (try? client.publish(topic: Topics.command(address), payload: payload, qos: 1)) != nil
    }

    /// The latest command replies from nodes (at most 1000, newest last).
    public var commandReplies: [CommandReply] { cond.withLock { replies } }

    deinit { stop(timeout: 1) }

    /// Starts the writer thread and connects.
    public func start() {
        let go: Bool = cond.withLock {
            guard !started else { return false }
            started = true
            return true
        }
        guard go else { return }
        let worker = Thread { [self] in runWriter() }
        worker.name = "skyhub ingest"
        worker.start()
        client.connect()
    }

    /// Waits until connected and subscribed to every node's records.
    @discardableResult
    public func waitUntilReady(timeout: Double) -> Bool {
        client.waitForConnection(timeout: timeout) && client.waitForSubscriptions(timeout: timeout)
    }

    public var statistics: Statistics { cond.withLock { stats } }

    /// Waits until every message received so far has been stored and acknowledged.
    @discardableResult
    public func waitUntilIdle(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while !queue.isEmpty || processing {
            if !cond.wait(until: deadline) { return queue.isEmpty && !processing }
        }
        return true
    }

    /// Stores what is queued, announces `offline`, and disconnects. Records that arrive
    /// meanwhile are not acknowledged, so their nodes send them again later.
    public func stop(timeout: Double = 2) {
        let wasRunning: Bool = cond.withLock {
            defer { stopping = true; cond.broadcast() }
            return started && !stopping
        }
        guard wasRunning else { return }
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.withLock {
            while !workerExited { if !cond.wait(until: deadline) { break } }
        }
        if (try? client.publish(topic: Topics.hubState,
                                payload: HubStateMessage(state: HubStateMessage.offline, time: clock()).encoded(),
                                qos: 1, retain: true)) != nil {
            client.waitForPublishes(timeout: timeout)
        }
        client.disconnect(timeout: timeout)
    }

    // MARK: internals

    private func enqueue(_ topic: String, _ payload: [UInt8]) {
        // `Topics.allRecords` also matches `.../cmd`: commands to nodes are not records.
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        if levels.count == 5, levels[4] == "cmd" { return }
        if levels.count == 5, levels[4] == "reply" {
            // Answers to commands are not records: kept for whoever sent the command.
            // A reply speaks for the node of its topic, as a record does.
            guard let reply = CommandReply.decode(payload), reply.site == levels[2], reply.node == levels[3] else {
                log("skyhub: ignored a command reply on '\(Self.printable(topic))' that is malformed or names another node")
                return
            }
            cond.withLock {
                replies.append(reply)
                if replies.count > 1000 { replies.removeFirst() }
                stats.commandReplies += 1
                cond.broadcast()
            }
            return
        }
        let now = clock()
        cond.withLock {
            queue.append((topic, payload, now))
            stats.received += 1
            // Wake the writer when there is work, when a batch is full and when an alert
            // arrives (it must not wait for the burst window), not for every message
            // (a wakeup per message costs more than storing it).
            let isAlert = Self.isAlertTopic(topic)
            if isAlert { queuedAlerts += 1 }
            if queue.count == 1 || queue.count == maxBatch || isAlert { cond.broadcast() }
        }
    }

    static func isAlertTopic(_ topic: String) -> Bool { topic.hasSuffix("/" + RecordKind.alert.rawValue) }

    private func runWriter() {
        while true {
            cond.lock()
            while queue.isEmpty && !stopping { cond.wait() }
            if queue.isEmpty && stopping {
                workerExited = true
                cond.broadcast()
                cond.unlock()
                return
            }
            processing = true
            // Let a burst gather so one transaction stores many records: at most `batchInterval`,
            // and not at all once a full batch is waiting.
            if batchInterval > 0 {
                let gather = Date(timeIntervalSinceNow: batchInterval)
                while queue.count < maxBatch && !stopping && queuedAlerts == 0 {
                    if !cond.wait(until: gather) { break }
                }
            }
            let n = min(queue.count, maxBatch)
            let batch = Array(queue.prefix(n))
            queue.removeFirst(n)
            if queuedAlerts > 0 { queuedAlerts -= batch.lazy.filter { Self.isAlertTopic($0.topic) }.count }
            cond.unlock()
            process(batch)
            cond.withLock {
                processing = false
                cond.broadcast()
            }
        }
    }

    private func process(_ batch: [(topic: String, payload: [UInt8], receivedAt: Double)]) {
        var valid: [IncomingRecord] = []
        var refused: [Rejection] = []
        var batchMessages = 0, batchedRecords = 0
        for m in batch {
            if Topics.parseBatchTopic(m.topic) != nil {
                batchMessages += 1
                batchedRecords += unpack(m, into: &valid, refused: &refused)
                continue
            }
            do {
                let r = try Self.validate(m.payload, topic: m.topic)
                valid.append(IncomingRecord(record: r, payload: m.payload, receivedAt: m.receivedAt))
            } catch {
                let e = error
                refused.append(Rejection(reason: e.reason, topic: m.topic, detail: e.description, receivedAt: m.receivedAt))
                log("skyhub: refused \(m.payload.count)-byte payload on '\(Self.printable(m.topic))': \(Self.printable(e.description))")
            }
        }
        let outcome: IngestOutcome
        do {
            outcome = try store.ingest(valid, rejections: refused)
        } catch {
            // Nothing acknowledged: the nodes keep the records and send them again.
            log("skyhub: cannot store a batch of \(batch.count) messages: \(error)")
            cond.withLock { stats.storeFailures += 1 }
            return
        }
        if outcome.conflicts > 0 {
            log("skyhub: \(outcome.conflicts) records reuse a stored (site, node, boot, seq) with other content; kept the first, counted as 'conflict'")
        }
        if let handler = cond.withLock({ storedHandler }) { handler(valid.map(\.record), clock()) }
        for v in valid where v.record.kind.isSequenced {
            let k = BootKey(site: v.record.site, node: v.record.node, boot: v.record.boot)
            if v.record.seq > highestSeen[k] ?? 0 { highestSeen[k] = v.record.seq }
        }
        var acksSent = 0
        var gapRequests = 0
        for ack in outcome.acknowledgements {
            // upTo 0: records of this boot arrived but not its seq 1, so there is nothing to
            // acknowledge, only a hole to ask for.
            if ack.upTo > 0, let payload = try? RecordCodec.encodeAck(ack) {
                let address = NodeAddress(site: ack.site, node: ack.node)
                if (try? client.publish(topic: Topics.ack(address), payload: payload, qos: 1)) != nil { acksSent += 1 }
            }
            if requestResendIfGap(ack) { gapRequests += 1 }
        }
        cond.withLock {
            stats.stored += outcome.stored
            stats.duplicates += outcome.duplicates
            stats.conflicts += outcome.conflicts
            stats.events += outcome.events
            stats.rejected += outcome.rejected
            stats.acknowledgementsSent += acksSent
            stats.batches += 1
            stats.gapRequests += gapRequests
            stats.batchMessages += batchMessages
            stats.batchedRecords += batchedRecords
        }
    }

    /// The records of a batch message: each valid one joins `valid`, each bad one is refused
    /// on its own; a batch refused whole is one refusal. Returns the number of records in it.
    private func unpack(_ m: (topic: String, payload: [UInt8], receivedAt: Double),
                        into valid: inout [IncomingRecord], refused: inout [Rejection]) -> Int {
        let items: [RecordBatch.Item]
        do {
            items = try Self.validateBatch(m.payload, topic: m.topic)
        } catch {
            refused.append(Rejection(reason: error.reason, topic: m.topic, detail: error.description, receivedAt: m.receivedAt))
            log("skyhub: refused \(m.payload.count)-byte batch on '\(Self.printable(m.topic))': \(Self.printable(error.description))")
            return 0
        }
        for (index, item) in items.enumerated() {
            switch item.result {
            case let .success(r):
                valid.append(IncomingRecord(record: r, payload: item.payload, receivedAt: m.receivedAt))
            case let .failure(e):
                refused.append(Rejection(reason: e.reason, topic: m.topic, detail: "record \(index) of the batch: \(e.description)",
                                         receivedAt: m.receivedAt))
                log("skyhub: refused record \(index) of a batch on '\(Self.printable(m.topic))': \(Self.printable(e.description))")
            }
        }
        return items.count
    }

    /// The hub's verdict on a batch message: throws when it is refused whole, else each record's verdict.
    public static func validateBatch(_ payload: [UInt8], topic: String) throws(RecordDecodingError) -> [RecordBatch.Item] {
        var items = try RecordBatch.decode(payload, topic: topic)
        for i in items.indices {
            if case let .success(r) = items[i].result, !HubStore.fitsInStore(r) {
                items[i].result = .failure(.invalidField("boot, seq or frame index above 2^63-1"))
            }
        }
        return items
    }

    /// Records beyond the acknowledged prefix mean some before them never arrived (lost by a
    /// crashed broker, say): ask the node to send from the first missing one.
    private func requestResendIfGap(_ ack: Acknowledgement) -> Bool {
        let k = BootKey(site: ack.site, node: ack.node, boot: ack.boot)
        guard let highest = highestSeen[k] else { return false }
        guard highest > ack.upTo else {
            highestSeen[k] = nil
            lastGapRequest[k] = nil
            return false
        }
        let now = clock()
        let from = ack.upTo + 1
        if let last = lastGapRequest[k], last.from == from, now - last.at < gapRetryInterval { return false }
        lastGapRequest[k] = (from, now)
        commandCounter += 1
        let command = NodeCommand(id: "gap-\(Int(now))-\(commandCounter)", kind: .resendFrom, expires: now + 60,
                                  boot: ack.boot, from: from)
        return send(command, to: NodeAddress(site: ack.site, node: ack.node))
    }

    /// The hub's whole verdict on one message: the record, or why it is refused.
    public static func validate(_ payload: [UInt8], topic: String) throws(RecordDecodingError) -> TelemetryRecord {
        let r = try RecordCodec.decode(payload, topic: topic)
        guard HubStore.fitsInStore(r) else { throw .invalidField("boot, seq or frame index above 2^63-1") }
        return r
    }

    /// One line, bounded, without control characters: payloads and topics come from outside.
    static func printable(_ s: String, limit: Int = 200) -> String {
        let cleaned = String(String.UnicodeScalarView(s.unicodeScalars.prefix(limit).map {
            $0.properties.generalCategory == .control ? "?" : $0
        }))
        return s.unicodeScalars.count > limit ? cleaned + "..." : cleaned
    }
}
