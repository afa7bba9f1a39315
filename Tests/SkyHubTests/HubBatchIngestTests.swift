import Foundation
import SkyCore
import SkyTelemetry
import Testing
@testable import SkyHub

/// Batch messages through a real mosquitto: a site's backlog goes in batches and is stored
/// exactly once in order; bad records inside a batch are refused one by one; lone records
/// still travel alone.
@Suite("Batches against a real mosquitto")
struct HubBatchIngestTests {
    static func status(_ a: NodeAddress, boot: UInt64, seq: UInt64) -> TelemetryRecord {
        TelemetryRecord(kind: .status, address: a, boot: boot, seq: seq, time: 1_795_600_000 + Double(seq),
                        status: StatusReport(framesCaptured: seq * 3))
    }

    static func startHub(_ broker: LocalMosquitto, _ dir: TempDir) throws -> (HubStore, HubIngest) {
        let store = try HubStore(path: dir.path("hub.sqlite"))
        let ingest = try HubIngest(store: store, configuration: config(broker, "hub"), log: { _ in })
        ingest.start()
        #expect(ingest.waitUntilReady(timeout: 5))
        return (store, ingest)
    }

    @Test func aBacklogFromBeforeTheHubStartedGoesInBatchesExactlyOnceInOrder() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let a = NodeAddress(site: "backlog", node: "cam1")
        let boot: UInt64 = 1_795_000_500
        let publisher = try TelemetryPublisher(configuration: config(broker, "site"), address: a, boot: boot, birth: testBirth,
                                               clock: { 1_795_600_000 })
        publisher.start()
        #expect(publisher.waitForConnection(timeout: 5))
        let n = 3000
        for i in 1...n { try publisher.publish(status: StatusReport(framesCaptured: UInt64(i))) }
        // Sent while no hub listens: the broker drops them; the hub's arrival makes the site send again.
        usleep(200_000)
        #expect(publisher.acknowledgedUpTo == 0)

        let (store, ingest) = try Self.startHub(broker, dir)
        #expect(publisher.waitUntilAcknowledged(timeout: 30))
        #expect(ingest.waitUntilIdle(timeout: 5))
        let expected = (1...n).map { i in
            TelemetryRecord(kind: .status, address: a, boot: boot, seq: UInt64(i), time: 1_795_600_000,
                            status: StatusReport(framesCaptured: UInt64(i)))
        }
        #expect(try store.records(site: a.site, node: a.node) == expected)
        #expect(try store.acknowledgedUpTo(site: a.site, node: a.node, boot: boot) == UInt64(n))
        let stats = ingest.statistics
        #expect(stats.batchedRecords >= n)
        #expect(stats.received < n / 4, "the backlog went in batches, not one message per record: \(stats)")
        #expect(try store.rejectedCounts().isEmpty)
        publisher.shutdown()
        ingest.stop()
    }

    @Test func aBadRecordInsideABatchIsRefusedAloneAndAForgedBatchWhole() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let (store, ingest) = try Self.startHub(broker, dir)
        let sender = try MQTTClient(configuration: config(broker, "sender"))
        sender.connect()
        #expect(sender.waitForConnection(timeout: 5))
        let a = NodeAddress(site: "mixed", node: "cam1")
        let other = NodeAddress(site: "mixed", node: "cam2")
        let boot: UInt64 = 42
        let r = (1...6).map { Self.status(a, boot: boot, seq: UInt64($0)) }
        let bad = Array(String(decoding: encoded(r[1]), as: UTF8.self).replacingOccurrences(of: "\"seq\":2", with: "\"seq\":\"two\"").utf8)
        #expect(bad != encoded(r[1]))
        let topic = Topics.batch(a)
        try sender.publish(topic: topic, payload: RecordBatch.encode([encoded(r[0]), bad, encoded(r[2])]))
        // A batch carrying another node's record, and one of a future version: refused whole.
        try sender.publish(topic: topic, payload: RecordBatch.encode([encoded(r[4]), encoded(Self.status(other, boot: boot, seq: 1))]))
        try sender.publish(topic: topic, payload: Array(#"{"v":2,"records":[]}"#.utf8))
        try sender.publish(topic: topic, payload: RecordBatch.encode([encoded(r[1]), encoded(r[3])]))
        #expect(sender.waitForPublishes(timeout: 5))
        #expect(waitFor(timeout: 10) { (try? store.acknowledgedUpTo(site: a.site, node: a.node, boot: boot)) == 4 })
        #expect(ingest.waitUntilIdle(timeout: 5))
        #expect(try store.records(site: a.site, node: a.node) == Array(r[0..<4]))
        #expect(try store.records(site: other.site, node: other.node).isEmpty)
        let refused = try store.rejectedCounts()
        #expect(refused["topic_mismatch"] == 1 && refused["unsupported_schema"] == 1 && refused.values.reduce(0, +) == 3, "\(refused)")
        #expect(ingest.statistics.rejected == 3)
        #expect(ingest.statistics.batchMessages == 4)
        sender.disconnect()
        ingest.stop()
    }

    @Test func pacedRecordsGoAloneAtOnce() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let (store, ingest) = try Self.startHub(broker, dir)
        let a = NodeAddress(site: "paced", node: "cam1")
        let publisher = try TelemetryPublisher(configuration: config(broker, "site"), address: a, boot: 7, birth: testBirth)
        publisher.start()
        #expect(publisher.waitForConnection(timeout: 5))
        for i in 1...5 {
            try publisher.publish(frame: frame(i))
            #expect(publisher.waitUntilAcknowledged(timeout: 5))
        }
        #expect(try store.recordCount() == 5)
        #expect(ingest.statistics.batchMessages == 0)
        publisher.shutdown()
        ingest.stop()
    }

    /// What a site sends for a backlog, watched on the broker: batches within the byte cap, every
    /// record once in order on the first pass; with batching off, one message per record.
    @Test(arguments: [16 << 10, 0]) func theSiteCutsItsBacklogWithinTheCaps(batchBytes: Int) throws {
        let broker = try LocalMosquitto()
        let inbox = Inbox()
        let watcher = try MQTTClient(configuration: config(broker, "watcher"))
        watcher.setMessageHandler(inbox.handler)
        try watcher.subscribe(Topics.allRecords, qos: 1)
        watcher.connect()
        #expect(watcher.waitForSubscriptions(timeout: 5))
        let a = NodeAddress(site: "caps", node: "cam1")
        let publisher = try TelemetryPublisher(configuration: config(broker, "site"), address: a, boot: 3, birth: testBirth,
                                               window: 600, batchBytes: batchBytes)
        let n = 600
        for i in 1...n { try publisher.publish(frame: frame(i)) }
        publisher.start()
        func seqs(_ messages: [Inbox.Message]) -> [UInt64] {
            messages.flatMap { m -> [UInt64] in
                if Topics.parseBatchTopic(m.topic) != nil {
                    return ((try? RecordBatch.decode(m.payload, topic: m.topic)) ?? []).compactMap { try? $0.result.get().seq }
                }
                return Topics.parseRecordTopic(m.topic)?.1 == .frame ? [(try? RecordCodec.decode(m.payload).seq) ?? 0] : []
            }
        }
        #expect(inbox.wait(timeout: 10) { seqs($0).count >= n })
        let messages = inbox.messages
        #expect(Array(seqs(messages).prefix(n)) == (1...UInt64(n)).map { $0 })
        let batches = messages.filter { Topics.parseBatchTopic($0.topic) != nil }
        if batchBytes > 0 {
            #expect(batches.count >= 600 * frameBytes(frame(1)) / batchBytes)
            #expect(batches.allSatisfy { $0.payload.count <= batchBytes })
            #expect(batches.allSatisfy { ((try? RecordBatch.decode($0.payload, topic: $0.topic)) ?? []).count <= TelemetryPublisher.maxBatchRecords })
        } else {
            #expect(batches.isEmpty)
        }
        publisher.shutdown()
        watcher.disconnect()
    }

    func frameBytes(_ f: FrameReport) -> Int {
        encoded(TelemetryRecord(kind: .frame, address: NodeAddress(site: "caps", node: "cam1"), boot: 3, seq: 1, time: 1_795_600_000, frame: f)).count
    }

    /// 1,000 refused batch payloads (mutations of the batch corpus) through a real broker among
    /// valid batches: every refusal counted by reason, every valid record stored and acknowledged.
    @Test func aThousandBadBatchesThroughTheBrokerAreCountedAndTheHubGoesOn() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let (store, ingest) = try Self.startHub(broker, dir)
        let sender = try MQTTClient(configuration: config(broker, "sender"))
        sender.connect()
        #expect(sender.waitForConnection(timeout: 5))
        let seeds = try FileManager.default.contentsOfDirectory(atPath: BatchDecoderTests.directory.path).sorted().map {
            try [UInt8](Data(contentsOf: BatchDecoderTests.directory.appendingPathComponent($0)))
        }
        // Batches that store nothing: refused whole, or every record in them refused.
        var bad: [[UInt8]] = []
        var expected: [String: Int] = [:]
        for m in BatchDecoderTests.mutations(of: seeds, count: 6000, seed: 13) where bad.count < 1000 {
            let v = BatchDecoderTests.verdict(m)
            if v.whole != "ok" {
                expected[v.whole, default: 0] += 1
            } else if !v.records.isEmpty && !v.records.contains("ok") {
                for r in v.records { expected[r, default: 0] += 1 }
            } else { continue }
            bad.append(m)
        }
        #expect(bad.count == 1000)
        let a = NodeAddress(site: "fuzzed", node: "n1")
        let valid = (1...50).map { Self.status(a, boot: 77, seq: UInt64($0)) }
        for (i, m) in bad.enumerated() {
            try sender.publish(topic: BatchDecoderTests.topic, payload: m)
            if i % 100 == 0 {
                try sender.publish(topic: Topics.batch(a), payload: RecordBatch.encode(valid[(i / 20)..<(i / 20 + 5)].map(encoded)))
            }
            if i % 100 == 99 { sender.waitForPublishes(timeout: 10) }
        }
        #expect(sender.waitForPublishes(timeout: 10))
        #expect(waitFor(timeout: 20) { ingest.statistics.received == bad.count + 10 })
        #expect(ingest.waitUntilIdle(timeout: 10))
        #expect(try store.rejectedCounts() == expected)
        #expect(ingest.statistics.rejected == expected.values.reduce(0, +))
        #expect(try store.records(site: a.site, node: a.node) == valid)
        #expect(try store.acknowledgedUpTo(site: a.site, node: a.node, boot: 77) == 50)
        #expect(try store.recordCount() == 50)
        sender.disconnect()
        ingest.stop()
    }
}
