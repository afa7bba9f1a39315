import Foundation
import SkyCore
import Testing
@testable import SkyTelemetry

@Suite struct TelemetryPublisherTests {
    let address = NodeAddress(site: "alpha", node: "cam1")
    let birth = BirthReport(board: "test-board", software: "skyedge test", capabilities: [], models: [],
                            frameWidth: 64, frameHeight: 48)

    func frame(_ i: Int) -> FrameReport {
        FrameReport(frameIndex: UInt64(i), source: "test", dateObs: nil, exptime: 1, width: 64, height: 48,
                    background: Double(i), noise: 1, saturatedFraction: 0, stars: i, deadlineSeconds: 1,
                    elapsedSeconds: 0.1, deadlineMet: true, slackSeconds: 0.9, stages: [], shed: [], flags: [])
    }

    @Test func aFullOutboxDropsNewRecordsWithoutUsingSequenceNumbers() throws {
        let config = MQTTClientConfiguration(host: "127.0.0.1", port: 1, clientID: "never-connects")
        let p = try TelemetryPublisher(configuration: config, address: address, boot: 42, birth: birth,
                                       outbox: InMemoryOutbox(capacity: 5))
        // Not started: records wait in the outbox.
        for i in 1...5 { #expect(try p.publish(frame: frame(i)) == UInt64(i)) }
        #expect(throws: PublishError.outboxFull(capacity: 5)) { try p.publish(frame: frame(6)) }
        #expect(throws: PublishError.outboxFull(capacity: 5)) { try p.publish(status: StatusReport()) }
        #expect(p.pendingCount == 5)
        #expect(p.nextSequenceNumber == 6)
        #expect(p.counters == TelemetryPublisher.Counters(published: 5, acknowledged: 0, dropped: 2, resent: 0))
        p.shutdown(timeout: 0.2)
        #expect(throws: PublishError.shutDown) { try p.publish(frame: frame(7)) }
    }

    @Test func publishesBirthRecordsAndAcknowledgementsTrimTheOutbox() throws {
        let broker = try LocalMosquitto()
        let inbox = Inbox()
        let hub = try MQTTClient(configuration: clientConfig(broker, "fake-hub"))
        hub.setMessageHandler(inbox.handler)
        try hub.subscribe(Topics.allRecords)
        hub.connect()
        #expect(hub.waitForSubscriptions(timeout: 5))

        let p = try TelemetryPublisher(configuration: clientConfig(broker, "cam1"), address: address, boot: 42,
                                       birth: birth, clock: { 1_795_600_000 })
        p.start()
        #expect(p.client.waitForSubscriptions(timeout: 5))
        for i in 1...10 { try p.publish(frame: frame(i)) }
        // Records published before the sender looked go in batches; each batch's records count.
        func decoded(_ messages: [Inbox.Message]) -> [TelemetryRecord] {
            messages.flatMap { m -> [TelemetryRecord] in
                if Topics.parseBatchTopic(m.topic) != nil {
                    return ((try? RecordBatch.decode(m.payload, topic: m.topic)) ?? []).compactMap { try? $0.result.get() }
                }
                return [try? RecordCodec.decode(m.payload, topic: m.topic)].compactMap { $0 }
            }
        }
        #expect(inbox.wait { decoded($0).count >= 11 })
        let records = decoded(inbox.messages)
        #expect(records.count == 11)
        #expect(records.first?.kind == .birth && records.first?.seq == 0 && records.first?.birth == birth)
        #expect(records.dropFirst().map(\.seq) == Array(1...10))
        #expect(records.dropFirst().map(\.frame) == (1...10).map { frame($0) })

        // Acks: one for another boot (ignored for this boot), one beyond what was sent (clamped).
        func ack(_ boot: UInt64, _ upTo: UInt64) throws {
            try hub.publish(topic: Topics.ack(address), payload: RecordCodec.encodeAck(
                Acknowledgement(site: address.site, node: address.node, boot: boot, upTo: upTo)))
        }
        try ack(41, 10)
        try ack(42, 4)
        #expect(eventually { p.acknowledgedUpTo == 4 })
        #expect(p.pendingCount == 6)
        try ack(42, 99)
        #expect(p.waitUntilAcknowledged(timeout: 5))
        #expect(p.acknowledgedUpTo == 10)
        #expect(p.counters.acknowledged == 10)

        // A clean shutdown publishes a death record; the "lost" will is not sent.
        p.shutdown()
        #expect(inbox.wait(for: 1) { t, _ in t == Topics.record(address, .death) })
        usleep(200_000)
        let deaths = inbox.messages.filter { $0.topic == Topics.record(address, .death) }
            .compactMap { try? RecordCodec.decode($0.payload).death?.reason }
        #expect(deaths == ["shutdown"])
        hub.disconnect()
    }

    @Test func outboxRemovesOnlyTheAcknowledgedBoot() {
        let box = InMemoryOutbox(capacity: 10)
        for (boot, seq) in [(1, 5), (1, 6), (2, 1), (2, 2), (2, 3)] {
            #expect(box.append(PendingRecord(boot: UInt64(boot), seq: UInt64(seq), topic: "t", payload: [])))
        }
        #expect(box.removeThrough(boot: 2, upTo: 2) == 2)
        #expect(box.pending().map { [$0.boot, $0.seq] } == [[1, 5], [1, 6], [2, 3]])
        #expect(box.removeThrough(boot: 1, upTo: 9) == 2)
        #expect(box.pending().map(\.seq) == [3])
    }
}

@Suite struct MQTTProbeTests {
    @Test func measuresRoundTripsAndReportsAnUnreachableBroker() throws {
        let broker = try LocalMosquitto()
        let result = try MQTTProbe.run(broker: broker.broker, count: 5, timeout: 5)
        #expect(result.sent == 5 && result.roundTrips.count == 5 && result.lost == 0)
        #expect(result.connectSeconds > 0)
        if let lo = result.minimum, let mid = result.median, let hi = result.maximum {
            #expect(lo > 0 && lo <= mid && mid <= hi)
        } else {
            Issue.record("no round trips")
        }
        broker.kill()
        do {
            _ = try MQTTProbe.run(broker: broker.broker, count: 1, timeout: 5)
            Issue.record("a dead broker must not answer")
        } catch {
            #expect(error.description == "cannot connect to \(broker.broker): Connection refused")
        }
    }
}
