import Foundation
import SkyCore
import SkyHub
import SkyTelemetry
import Testing

@Suite("Hub ingest against a real mosquitto")
struct HubIngestTests {
    @Test func storesExactlyWhatTwoPublishersSentAndAcksEmptyTheirOutboxes() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let (store, ingest) = try startHub(broker, dir)

        let fixedTime: Double = 1_795_600_000.25
        let addresses = [NodeAddress(site: "alpha", node: "cam1"), NodeAddress(site: "beta", node: "cam2")]
        let publishers = try addresses.enumerated().map { i, a in
            try TelemetryPublisher(configuration: config(broker, a.node), address: a, boot: 1_795_000_000 + UInt64(i),
                                   birth: testBirth, clock: { fixedTime })
        }
        publishers.forEach { $0.start() }
        #expect(publishers.allSatisfy { $0.waitForConnection(timeout: 5) })

        let perNode = 250
        // Interleave the two publishers from two threads, as two sites would.
        DispatchQueue.concurrentPerform(iterations: publishers.count) { p in
            for i in 1...perNode { _ = try? publishers[p].publish(frame: frame(i + p * 1000)) }
        }
        for p in publishers {
            #expect(p.waitUntilAcknowledged(timeout: 20))
            #expect(p.pendingCount == 0)
            #expect(p.acknowledgedUpTo == UInt64(perNode))
            #expect(p.counters.published == UInt64(perNode))
            #expect(p.counters.acknowledged == UInt64(perNode))
            #expect(p.counters.dropped == 0)
        }
        #expect(ingest.waitUntilIdle(timeout: 5))
        #expect(try store.recordCount() == 2 * perNode)
        #expect(try store.frameCount() == 2 * perNode)
        for (p, pub) in publishers.enumerated() {
            let a = addresses[p]
            let expected = (1...perNode).map { i in
                frameRecord(a, boot: pub.boot, seq: UInt64(i), frame(i + p * 1000), time: fixedTime)
            }
            #expect(try store.records(site: a.site, node: a.node) == expected)
            #expect(try store.acknowledgedUpTo(site: a.site, node: a.node, boot: pub.boot) == UInt64(perNode))
            let births = try store.events(site: a.site, node: a.node).filter { $0.kind == .birth }
            #expect(births.first?.birth == testBirth)
        }
        let nodes = try store.nodes()
        #expect(nodes.map { "\($0.site)/\($0.node)" } == ["alpha/cam1", "beta/cam2"])
        #expect(nodes.allSatisfy { $0.state == "alive" && $0.board == "jetson-orin-nano" })

        // A clean shutdown says so; the broker then drops the "lost" will.
        publishers[0].shutdown()
        #expect(waitFor { (try? store.nodes().first { $0.node == "cam1" }?.state) == "dead" })
        #expect(try store.nodes().first { $0.node == "cam1" }?.deathReason == "shutdown")
        // A crash leaves the broker to publish the last will.
        publishers[1].client.dropConnectionUncleanly()
        #expect(waitFor { (try? store.nodes().first { $0.node == "cam2" }?.state) == "dead" })
        #expect(try store.nodes().first { $0.node == "cam2" }?.deathReason == "lost")
        ingest.stop()
    }

    @Test func duplicatesReplaysAndGapsChangeNothingAndAcksStayCumulative() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let (store, ingest) = try startHub(broker, dir)

        let a = NodeAddress(site: "gamma", node: "cam1")
        let boot: UInt64 = 1_795_000_100
        let acks = Inbox()
        let node = try MQTTClient(configuration: config(broker, "raw"))
        node.setMessageHandler(acks.handler)
        try node.subscribe(Topics.ack(a))
        node.connect()
        #expect(node.waitForSubscriptions(timeout: 5))
        let records = (1...30).map { frameRecord(a, boot: boot, seq: UInt64($0), frame($0)) }
        func send(_ seqs: [Int]) throws {
            for s in seqs { try node.publish(topic: Topics.record(a, .frame), payload: encoded(records[s - 1])) }
            #expect(node.waitForPublishes(timeout: 5))
            #expect(ingest.waitUntilIdle(timeout: 5))
        }
        // Evaluated inside Inbox.wait, so it reads the messages it is given (no second lock).
        func lastAck(_ m: [(topic: String, payload: [UInt8])]) -> UInt64? { m.last.flatMap { try? RecordCodec.decodeAck($0.payload).upTo } }

        try send(Array(1...20))
        #expect(acks.wait { m in lastAck(m) == 20 })
        // A gap: 22 and 23 arrive before 21, so the acknowledgement must not move past 20.
        try send([22, 23])
        #expect(acks.wait { m in m.count >= 2 && lastAck(m) == 20 })
        try send([21])
        #expect(acks.wait { m in lastAck(m) == 23 })
        // Replays of stored records, and a whole replay after a "reconnect".
        try send([5, 5, 1, 23, 22] + Array(1...23))
        #expect(acks.wait { m in lastAck(m) == 23 })
        try send(Array(24...30) + [30, 29])
        // waitUntilIdle can return before the broker has delivered everything: wait for
        // the acknowledgement of 30 and for the two late duplicates to be counted.
        #expect(acks.wait { m in lastAck(m) == 30 })
        #expect(waitFor { ingest.statistics.stored == 30 && ingest.statistics.duplicates == 5 + 23 + 2 })

        #expect(try store.records(site: a.site, node: a.node) == records)
        #expect(try store.recordCount() == 30)
        #expect(try store.frameCount() == 30)
        #expect(ingest.statistics.stored == 30)
        #expect(ingest.statistics.duplicates == 5 + 23 + 2)
        #expect(acks.wait { m in lastAck(m) == 30 })
        #expect(acks.messages.compactMap { try? RecordCodec.decodeAck($0.payload) }.allSatisfy {
            $0.site == a.site && $0.node == a.node && $0.boot == boot
        })
        node.disconnect()
        ingest.stop()
    }

    @Test func refusesMalformedPayloadsByReasonAndKeepsIngesting() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let store = try HubStore(path: dir.path("hub.sqlite"))
        let log = LogLines()
        let ingest = try HubIngest(store: store, configuration: config(broker, "hub"), log: log.sink)
        ingest.start()
        #expect(ingest.waitUntilReady(timeout: 5))
        let sender = try MQTTClient(configuration: config(broker, "sender"))
        sender.connect()
        #expect(sender.waitForConnection(timeout: 5))

        let a = NodeAddress(site: "delta", node: "cam1")
        let boot: UInt64 = 1_795_000_200
        let topic = Topics.record(a, .frame)
        var generator = SystemRandomNumberGenerator()
        func json(_ seq: Int) -> [String: Any] {
            let data = Data(encoded(frameRecord(a, boot: boot, seq: UInt64(seq), frame(seq))))
            return (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        }
        func bytes(_ object: [String: Any]) -> [UInt8] { Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data()) }
        func withFrame(_ seq: Int, _ key: String, _ value: Any) -> [UInt8] {
            var o = json(seq)
            var f = o["frame"] as? [String: Any] ?? [:]
            f[key] = value
            o["frame"] = f
            return bytes(o)
        }
        func with(_ seq: Int, _ key: String, _ value: Any) -> [UInt8] {
            var o = json(seq)
            o[key] = value
            return bytes(o)
        }

        var bad: [(reason: String, topic: String, payload: [UInt8])] = []
        for i in 0..<50 { // random bytes; a leading 0xFF keeps them from ever being JSON
            bad.append(("malformed", topic, [0xFF] + (0..<(1 + i * 7)).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        }
        for _ in 0..<10 { bad.append(("malformed", topic, [])) }
        for i in 0..<30 { bad.append(("unsupported_schema", topic, with(i + 1, "schema", 2 + i))) }
        for i in 0..<15 { bad.append(("malformed", topic, with(i + 1, "seq", "seven"))) }
        for i in 0..<15 { bad.append(("malformed", topic, withFrame(i + 1, "width", "wide"))) }
        for i in 0..<30 { // payload of another site on this site's topic
            let other = frameRecord(NodeAddress(site: "epsilon", node: "cam1"), boot: boot, seq: UInt64(i + 1), frame(i))
            bad.append(("topic_mismatch", topic, encoded(other)))
        }
        for i in 0..<10 { bad.append(("topic_mismatch", Topics.record(a, .status), encoded(frameRecord(a, boot: boot, seq: UInt64(i + 1), frame(i))))) }
        for i in 0..<15 { bad.append(("invalid_field", topic, withFrame(i + 1, "stars", -1 - i))) }
        for i in 0..<15 { bad.append(("invalid_field", topic, withFrame(i + 1, "width", 0))) }
        for _ in 0..<10 { bad.append(("invalid_field", topic, with(1, "seq", 0))) }
        for _ in 0..<5 { bad.append(("invalid_field", topic, with(1, "seq", UInt64.max))) }
        for _ in 0..<5 { bad.append(("invalid_field", topic, with(1, "site", "no spaces allowed"))) }
        for i in 0..<5 { // over the 1 MiB limit: a huge source string
            bad.append(("too_large", topic, withFrame(i + 1, "source", String(repeating: "s", count: RecordCodec.maxPayloadBytes))))
        }
        #expect(bad.count >= 200)

        // Valid records interleaved with the refused ones.
        let valid = (1...60).map { frameRecord(a, boot: boot, seq: UInt64($0), frame($0)) }
        var queue: [(topic: String, payload: [UInt8])] = bad.map { ($0.topic, $0.payload) }
        for (i, r) in valid.enumerated() { queue.insert((topic, encoded(r)), at: min(queue.count, i * 4)) }
        for m in queue { try sender.publish(topic: m.topic, payload: m.payload) }
        // Node commands share the records' wildcard; they are neither stored nor refused.
        try sender.publish(topic: Topics.command(a), payload: Array("{\"cmd\":\"observe\"}".utf8))
        #expect(sender.waitForPublishes(timeout: 10))
        #expect(waitFor(timeout: 20) { ingest.statistics.received == queue.count })
        #expect(ingest.waitUntilIdle(timeout: 10))

        var expected: [String: Int] = [:]
        for b in bad { expected[b.reason, default: 0] += 1 }
        #expect(try store.rejectedCounts() == expected)
        #expect(try store.records(site: a.site, node: a.node) == valid)
        #expect(try store.recordCount() == valid.count)
        #expect(ingest.statistics.rejected == bad.count)
        let lines = log.lines
        #expect(lines.count == bad.count)
        #expect(lines.allSatisfy { !$0.contains("\n") && $0.count < 700 })
        sender.disconnect()
        ingest.stop()
    }

    /// Status records wait up to the hub's burst window to share a transaction; an alert
    /// does not, and takes what waits with it. The window here (60 s) is far longer than
    /// the test waits, so only the alert can have flushed the store.
    @Test func anAlertIsStoredAtOnceWithoutWaitingForTheBurstWindow() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let store = try HubStore(path: dir.path("hub.sqlite"))
        let ingest = try HubIngest(store: store, configuration: config(broker, "hub"), batchInterval: 60, log: { _ in })
        ingest.start()
        #expect(ingest.waitUntilReady(timeout: 5))
        let a = NodeAddress(site: "urgent", node: "cam1")
        let publisher = try TelemetryPublisher(configuration: config(broker, "site"), address: a, boot: 7, birth: testBirth,
                                               clock: { 1_795_600_000 })
        publisher.start()
        #expect(publisher.waitForConnection(timeout: 5))
        try publisher.publish(status: StatusReport(framesCaptured: 1))
        #expect(waitFor(timeout: 10) { ingest.statistics.received >= 2 }, "birth and status arrived")
        #expect(try store.recordCount() == 0, "the status record waits for the burst window")
        let seq = try publisher.publish(alertBody: Array(#"{"candidates":[]}"#.utf8))
        #expect(seq == 2)
        #expect(waitFor(timeout: 10) { (try? store.acknowledgedUpTo(site: a.site, node: a.node, boot: 7)) == 2 },
                "the alert and the status record before it are stored without waiting 60 s")
        #expect(publisher.waitUntilAcknowledged(timeout: 10))
        publisher.shutdown()
        ingest.stop()
    }

    @Test func hubStateIsRetainedAndAStartedHubGetsWhatWasSentBeforeIt() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let a = NodeAddress(site: "zeta", node: "cam1")
        let publisher = try TelemetryPublisher(configuration: config(broker, "zeta"), address: a,
                                               boot: 1_795_000_300, birth: testBirth)
        publisher.start()
        #expect(publisher.waitForConnection(timeout: 5))
        for i in 1...20 { try publisher.publish(frame: frame(i)) }
        try publisher.publish(status: StatusReport(framesCaptured: 20, framesProcessed: 20, recordsPublished: 20))
        #expect(publisher.pendingCount == 21) // no hub yet: nothing acknowledged

        let store = try HubStore(path: dir.path("hub.sqlite"))
        let ingest = try HubIngest(store: store, configuration: config(broker, "hub"))
        ingest.start()
        // The hub's retained "online" makes the publisher send its outbox again.
        #expect(publisher.waitUntilAcknowledged(timeout: 10))
        #expect(publisher.acknowledgedUpTo == 21)
        #expect(try store.recordCount() == 21)
        #expect(try store.records(site: a.site, node: a.node).last?.status?.framesCaptured == 20)

        let watcher = Inbox()
        let observer = try MQTTClient(configuration: config(broker, "observer"))
        observer.setMessageHandler(watcher.handler)
        try observer.subscribe(Topics.hubState)
        observer.connect()
        func states(_ m: [(topic: String, payload: [UInt8])]) -> [String] { m.compactMap { HubStateMessage.decode($0.payload)?.state } }
        #expect(watcher.wait { states($0) == ["online"] })
        ingest.stop()
        #expect(watcher.wait { states($0) == ["online", "offline"] })
        publisher.shutdown()
        observer.disconnect()
    }
}

/// Polls until `condition` holds or the timeout passes.
func waitFor(timeout: Double = 5, _ condition: () -> Bool) -> Bool { eventually(timeout: timeout, condition) }
