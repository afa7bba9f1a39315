import Foundation
import SkyCore
import Testing
@testable import SkyTelemetry

/// A test client standing in for the hub: sees records and replies, sends acks and commands.
private struct FakeHub {
    let client: MQTTClient
    let inbox = Inbox()
    let node: NodeAddress

    init(_ broker: LocalMosquitto, node: NodeAddress) throws {
        self.node = node
        client = try MQTTClient(configuration: clientConfig(broker, "fake-hub"))
        client.setMessageHandler(inbox.handler)
        try client.subscribe(Topics.allRecords)
        try client.subscribe(Topics.commandReply(node))
        client.connect()
        #expect(client.waitForSubscriptions(timeout: 5))
    }

    /// Status records seen, in arrival order, whether sent alone or in batches.
    func seqs() -> [UInt64] { Self.statusSeqs(inbox.messages, node) }

    static func statusSeqs(_ messages: [Inbox.Message], _ node: NodeAddress) -> [UInt64] {
        messages.flatMap { m -> [UInt64] in
            if m.topic == Topics.batch(node) {
                return ((try? RecordBatch.decode(m.payload, topic: m.topic)) ?? []).compactMap { item in
                    guard let r = try? item.result.get(), r.kind == .status else { return nil }
                    return r.seq
                }
            }
            guard m.topic == Topics.record(node, .status) else { return [] }
            return [(try? RecordCodec.decode(m.payload, topic: m.topic).seq)].compactMap { $0 }
        }
    }

    /// Waits until `count` status records arrived (alone or in batches).
    func waitForRecords(_ count: Int, timeout: Double = 5) -> Bool {
        let node = node
        return inbox.wait(timeout: timeout) { Self.statusSeqs($0, node).count >= count }
    }

    func replies() -> [CommandReply] {
        inbox.messages.filter { $0.topic == Topics.commandReply(node) }.compactMap { CommandReply.decode($0.payload) }
    }

    func ack(boot: UInt64, upTo: UInt64) throws {
        try client.publish(topic: Topics.ack(node), payload: RecordCodec.encodeAck(
            Acknowledgement(site: node.site, node: node.node, boot: boot, upTo: upTo)))
    }

    func command(_ c: NodeCommand) throws { try client.publish(topic: Topics.command(node), payload: c.encoded()) }
}

@Suite struct CommandAndWindowTests {
    let node = NodeAddress(site: "cmdsite", node: "n1")
    let birth = BirthReport(board: "b", software: "s", capabilities: [], models: [], frameWidth: 1, frameHeight: 1)

    /// With a window of 5 and no acks, only 5 records go out; each ack lets as many more go.
    @Test func noMoreThanTheWindowIsOutBeforeTheHubAcknowledges() throws {
        let broker = try LocalMosquitto()
        let hub = try FakeHub(broker, node: node)
        let p = try TelemetryPublisher(configuration: clientConfig(broker, "n1"), address: node, boot: 5, birth: birth,
                                       window: 5, resendAfter: 60)
        p.start()
        #expect(p.client.waitForSubscriptions(timeout: 5))
        for _ in 1...20 { try p.publish(status: StatusReport()) }
        #expect(hub.waitForRecords(5))
        usleep(300_000)
        #expect(hub.seqs() == [1, 2, 3, 4, 5])
        try hub.ack(boot: 5, upTo: 3)
        #expect(hub.waitForRecords(8))
        usleep(300_000)
        #expect(hub.seqs() == Array(1...8))
        try hub.ack(boot: 5, upTo: 8)
        #expect(hub.waitForRecords(13))
        usleep(300_000)
        #expect(hub.seqs() == Array(1...13))
        #expect(p.pendingCount == 12)
        p.shutdown(timeout: 0.5)
    }

    /// Records whose acks never come (lost on the way) go out again once acks stall.
    @Test func stalledAcknowledgementsMakeThePublisherSendAgain() throws {
        let broker = try LocalMosquitto()
        let hub = try FakeHub(broker, node: node)
        let p = try TelemetryPublisher(configuration: clientConfig(broker, "n1"), address: node, boot: 5, birth: birth,
                                       resendAfter: 0.5)
        p.start()
        #expect(p.client.waitForSubscriptions(timeout: 5))
        for _ in 1...5 { try p.publish(status: StatusReport()) }
        #expect(hub.waitForRecords(10, timeout: 20))
        // Every record went out again; a rewind may start before the first pass ends on a busy
        // machine, so count copies rather than expecting one particular order.
        let seqs = hub.seqs()
        #expect((1...5).allSatisfy { s in seqs.filter { $0 == s }.count >= 2 }, "\(seqs)")
        #expect(Set(seqs) == Set(1...5))
        #expect(p.counters.resent >= 5 && p.counters.rewinds >= 1)
        try hub.ack(boot: 5, upTo: 5)
        #expect(p.waitUntilAcknowledged(timeout: 5))
        p.shutdown(timeout: 0.5)
    }

    /// While the retained hub state says offline, stalled acknowledgements send nothing again
    /// (it would only queue duplicates at the broker); the hub coming back online does.
    @Test func noStallResendsWhileTheHubIsOfflineThenAllOnItsReturn() throws {
        let broker = try LocalMosquitto()
        let hub = try FakeHub(broker, node: node)
        func hubState(_ state: String, _ time: Double) throws {
            try hub.client.publish(topic: Topics.hubState, payload: HubStateMessage(state: state, time: time).encoded(), qos: 1, retain: true)
            #expect(hub.client.waitForPublishes(timeout: 5))
        }
        try hubState(HubStateMessage.offline, 100)
        let p = try TelemetryPublisher(configuration: clientConfig(broker, "n1"), address: node, boot: 5, birth: birth,
                                       resendAfter: 0.3)
        p.start()
        #expect(p.client.waitForSubscriptions(timeout: 5))
        for _ in 1...5 { try p.publish(status: StatusReport()) }
        #expect(hub.waitForRecords(5))
        usleep(1_500_000)   // five stall periods
        #expect(hub.seqs() == Array(1...5), "nothing sent again while the hub is offline: \(hub.seqs())")
        #expect(p.counters.resent == 0)
        try hubState(HubStateMessage.online, 200)
        #expect(hub.waitForRecords(10))
        #expect(Set(hub.seqs().dropFirst(5)) == Set(1...5))
        try hub.ack(boot: 5, upTo: 5)
        #expect(p.waitUntilAcknowledged(timeout: 5))
        p.shutdown(timeout: 0.5)
    }

    @Test func resendFromExpiryUnknownKindsAndRepeatedIDs() throws {
        let broker = try LocalMosquitto()
        let hub = try FakeHub(broker, node: node)
        let p = try TelemetryPublisher(configuration: clientConfig(broker, "n1"), address: node, boot: 5, birth: birth,
                                       resendAfter: 60)
        let dispatcher = CommandDispatcher(publisher: p, localProgram: nil)
        p.start()
        #expect(p.client.waitForSubscriptions(timeout: 5))
        for _ in 1...10 { try p.publish(status: StatusReport()) }
        #expect(hub.waitForRecords(10))
        try hub.ack(boot: 5, upTo: 4)
        #expect(eventually { p.acknowledgedUpTo == 4 })

        let later = UTCInstant.now().unixSeconds + 60
        try hub.command(NodeCommand(id: "r1", kind: .resendFrom, expires: later, boot: 5, from: 6))
        #expect(hub.waitForRecords(15))
        #expect(eventually { hub.replies().count == 1 })
        #expect(hub.replies().first == CommandReply(id: "r1", site: node.site, node: node.node, status: "accepted",
                                                    reason: nil, time: hub.replies().first!.time))
        usleep(200_000)
        #expect(hub.seqs() == Array(1...10) + Array(6...10), "sent again from 6, nothing else")

        try hub.command(NodeCommand(id: "r2", kind: .resendFrom, expires: later, boot: 5, from: 2))
        try hub.command(NodeCommand(id: "old", kind: .resendFrom, expires: 1_000, boot: 5, from: 6))
        try hub.command(NodeCommand(id: "x", kind: .setExposure, expires: later, seconds: 10))
        try hub.client.publish(topic: Topics.command(node), payload: Array(#"{"id":"u","kind":"dance","expires":9e99}"#.utf8))
        try hub.client.publish(topic: Topics.command(node), payload: Array("not json".utf8))
        try hub.command(NodeCommand(id: "r1", kind: .resendFrom, expires: later, boot: 5, from: 6))
        #expect(eventually { hub.replies().count == 7 })
        let answers = hub.replies().map { "\($0.id) \($0.status) \($0.reason ?? "")" }
        #expect(answers.contains("r2 accepted "), "seq 2 was acknowledged but 5... still held: resend from there")
        #expect(answers.contains("old rejected expired"))
        #expect(answers.contains("x rejected set-exposure is not supported by this node"))
        #expect(answers.contains("u rejected unknown command kind"))
        #expect(answers.contains { $0.hasPrefix(" rejected malformed") })
        #expect(answers.filter { $0 == "r1 accepted " }.count == 2, "a repeated id gets the same answer")

        // A kind the runtime registers is handled by it.
        let seen = LockedBox<Double?>(nil)
        dispatcher.register(.setExposure) { c in seen.set(c.seconds); return .accepted }
        try hub.command(NodeCommand(id: "x2", kind: .setExposure, expires: later, seconds: 12.5))
        #expect(eventually { hub.replies().contains { $0.id == "x2" && $0.isAccepted } })
        #expect(seen.value == 12.5)
        p.shutdown(timeout: 0.5)
    }

    @Test func theLocalHandlerGetsTheCommandOnStdinAndItsExitStatusDecides() throws {
        let broker = try LocalMosquitto()
        let hub = try FakeHub(broker, node: node)
        let dir = try TempDirectory("cmd-local")
        defer { dir.cleanup() }
        let out = dir.url.appendingPathComponent("got.json").path
        let script = dir.url.appendingPathComponent("handler.sh").path
        try """
        #!/bin/sh
        cat > \(out)
        grep -q '"mode":"fail"' \(out) && { echo "telescope busy" >&2; exit 3; }
        grep -q '"mode":"hang"' \(out) && sleep 30
        exit 0
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let p = try TelemetryPublisher(configuration: clientConfig(broker, "n1"), address: node, boot: 5, birth: birth)
        let dispatcher = CommandDispatcher(publisher: p, localProgram: script, localTimeout: 0.5)
        p.start()
        #expect(p.client.waitForSubscriptions(timeout: 5))
        let later = UTCInstant.now().unixSeconds + 60
        let ok = NodeCommand(id: "l1", kind: .local, expires: later, args: ["mode": "slew", "ra": "10.5"])
        try hub.command(ok)
        #expect(eventually { hub.replies().count == 1 })
        #expect(hub.replies().last?.isAccepted == true)
        #expect(try NodeCommand.decode(Array(Data(contentsOf: URL(fileURLWithPath: out)))) == ok)
        try hub.command(NodeCommand(id: "l2", kind: .local, expires: later, args: ["mode": "fail"]))
        #expect(eventually { hub.replies().count == 2 })
        #expect(hub.replies().last?.reason == "local handler exited with 3: telescope busy")
        try hub.command(NodeCommand(id: "l3", kind: .local, expires: later, args: ["mode": "hang"]))
        #expect(eventually(timeout: 10) { hub.replies().count == 3 })
        #expect(hub.replies().last?.reason == "local handler timed out after 0.5 s")
        #expect(dispatcher.sentReplies.map(\.id) == ["l1", "l2", "l3"])
        p.shutdown(timeout: 0.5)
    }
}

final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    init(_ v: T) { self.v = v }
    var value: T { lock.withLock { v } }
    func set(_ n: T) { lock.withLock { v = n } }
}
