import Foundation
import SkyCore
import SkyTelemetry
import Testing
@testable import SkyHub

/// A hub on a real mosquitto and a fake node that publishes raw records of one boot and
/// hears the hub's commands and acknowledgements.
private struct GapFixture {
    let broker: LocalMosquitto
    let dir: TempDir
    let store: HubStore
    let hub: HubIngest
    let node: NodeAddress
    let boot: UInt64
    let inbox = Inbox()
    let fake: MQTTClient

    init(site: String, boot: UInt64) throws {
        broker = try LocalMosquitto()
        dir = try TempDir()
        store = try HubStore(path: dir.path("hub.sqlite"))
        hub = try HubIngest(store: store, configuration: config(broker, "hub"), log: { _ in })
        hub.start()
        #expect(hub.waitUntilReady(timeout: 5))
        node = NodeAddress(site: site, node: "n1")
        self.boot = boot
        fake = try MQTTClient(configuration: config(broker, "fake-node"))
        fake.setMessageHandler(inbox.handler)
        try fake.subscribe(Topics.command(node))
        try fake.subscribe(Topics.ack(node))
        fake.connect()
        #expect(fake.waitForSubscriptions(timeout: 5))
    }

    func send(_ seq: UInt64) throws {
        try fake.publish(topic: Topics.record(node, .frame), payload: encoded(frameRecord(node, boot: boot, seq: seq, frame(Int(seq)))))
    }

    func commands(_ m: [Inbox.Message]) -> [NodeCommand] {
        m.filter { $0.topic == Topics.command(node) }.compactMap { try? NodeCommand.decode($0.payload) }
    }

    func stop() {
        fake.disconnect()
        hub.stop()
    }
}

@Suite struct HubGapTests {
    /// Records 1, 2, 4, 5 arrive: the hub stores them, acknowledges 2, and asks the node to
    /// resend from 3; once 3 arrives the ack covers 5 and no more requests go out.
    @Test func aHoleInANodesSequenceMakesTheHubAskForAResend() throws {
        let f = try GapFixture(site: "gappy", boot: 9)
        let (store, hub, inbox, fake, node) = (f.store, f.hub, f.inbox, f.fake, f.node)
        let send = f.send, commands = f.commands
        for s: UInt64 in [1, 2, 4, 5] { try send(s) }
        #expect(inbox.wait { commands($0).count >= 1 })
        let request = try #require(commands(inbox.messages).first)
        #expect(request.kind == NodeCommand.Kind.resendFrom.rawValue)
        #expect(request.boot == 9 && request.from == 3)
        #expect(request.expires > UTCInstant.now().unixSeconds)
        #expect(try store.acknowledgedUpTo(site: "gappy", node: "n1", boot: 9) == 2)

        try send(3)
        #expect(eventually { (try? store.acknowledgedUpTo(site: "gappy", node: "n1", boot: 9)) == 5 })
        #expect(hub.waitUntilIdle(timeout: 5))
        try send(5) // a duplicate after the hole filled: acknowledged, no request
        #expect(hub.waitUntilIdle(timeout: 5))
        usleep(200_000)
        #expect(commands(inbox.messages).count == hub.statistics.gapRequests)
        #expect(commands(inbox.messages).allSatisfy { $0.from == 3 })
        #expect(try store.records(site: "gappy", node: "n1").map(\.seq) == [1, 2, 3, 4, 5])

        // Replies from nodes are collected, not refused as records.
        // One that names another node than its topic's is not believed.
        let forged = CommandReply(id: request.id, site: "other", node: "n1", status: CommandReply.accepted, reason: nil, time: 1)
        try fake.publish(topic: Topics.commandReply(node), payload: forged.encoded())
        let reply = CommandReply(id: request.id, site: "gappy", node: "n1", status: CommandReply.accepted, reason: nil, time: 1)
        try fake.publish(topic: Topics.commandReply(node), payload: reply.encoded())
        #expect(eventually { hub.commandReplies == [reply] })
        #expect(try store.rejectedCounts().isEmpty)
        f.stop()
    }

    /// The first records of a boot are the ones missing (3 and 4 arrive, 1 and 2 do not):
    /// nothing can be acknowledged, so no ack goes out, but the hub asks from 1 at once
    /// instead of leaving it to the node's stall timer.
    @Test func aHoleAtTheStartOfABootIsAskedForToo() throws {
        let f = try GapFixture(site: "late", boot: 11)
        let (store, inbox, node) = (f.store, f.inbox, f.node)
        let send = f.send, commands = f.commands
        for s: UInt64 in [3, 4] { try send(s) }
        #expect(inbox.wait { commands($0).count >= 1 })
        let request = try #require(commands(inbox.messages).first)
        #expect(request.kind == NodeCommand.Kind.resendFrom.rawValue && request.boot == 11 && request.from == 1)
        #expect(try store.acknowledgedUpTo(site: "late", node: "n1", boot: 11) == 0)
        #expect(inbox.messages.allSatisfy { $0.topic != Topics.ack(node) }, "no acknowledgement of nothing")
        for s: UInt64 in [1, 2] { try send(s) }
        #expect(eventually { (try? store.acknowledgedUpTo(site: "late", node: "n1", boot: 11)) == 4 })
        #expect(inbox.wait { $0.contains { $0.topic == Topics.ack(node) } })
        #expect(try store.records(site: "late", node: "n1").map(\.seq) == [1, 2, 3, 4])
        f.stop()
    }
}

/// Polls `condition` until true or the timeout passes.
func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
