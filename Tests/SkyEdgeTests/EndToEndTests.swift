import Foundation
import SkyCapture
import SkyCore
import SkyHub
import SkySim
import SkyTelemetry
import Testing
@testable import SkyEdge

/// Two sites on different fields publish through a real mosquitto to a real hub
/// with a SQLite store: the store must hold exactly what the sites sent.
@Test func sitesPublishAndTheHubStoresExactlyWhatWasSent() throws {
    let broker = try LocalMosquitto()
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skyedge-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }

    let store = try HubStore(path: dir.appendingPathComponent("hub.sqlite").path)
    var hubConfig = MQTTClientConfiguration(broker: broker.broker, clientID: "hub-e2e")
    hubConfig.cleanSession = false
    let hub = try HubIngest(store: store, configuration: hubConfig, log: { _ in })
    hub.start()
    #expect(hub.waitUntilReady(timeout: 10))

    let board = try genericBoard()
    var runs: [(SiteConfig, CollectingSink, DispatchSemaphore, MQTTRecordSink)] = []
    for (site, field) in [("lapalma", 1), ("sutherland", 2)] {
        var config = testConfig(site: site, width: 320, height: 256, maxFrames: 15)
        config.broker.host = broker.host
        config.broker.port = broker.port
        config.outbox.directory = dir.appendingPathComponent("outbox-\(site)").path
        let mqtt = try MQTTRecordSink(config: config, board: board)
        #expect(mqtt.publisher.waitForConnection(timeout: 10))
        let sink = CollectingSink(forwardingTo: mqtt)
        let source = try SimulatorSource(configuration: .init(
            scene: .demoField(field), camera: CameraModel(width: 320, height: 256, seed: UInt64(field)),
            seed: UInt64(field * 10), pacing: .immediate))
        let runtime = try SiteRuntime(config: config, board: board, source: source, sink: sink)
        runs.append((config, sink, start(runtime), mqtt))
    }
    for (config, sink, done, mqtt) in runs {
        #expect(done.wait(timeout: .now() + 60) == .success, "\(config.address) finished")
        #expect(mqtt.publisher.waitUntilAcknowledged(timeout: 10), "the hub acknowledged everything \(config.address) sent")
        let stored = try store.records(site: config.site, node: config.node)
        let storedFrames = stored.compactMap(\.frame)
        #expect(storedFrames == sink.frames, "frames stored for \(config.address) equal frames sent, in order")
        #expect(storedFrames.allSatisfy { $0.verdict != nil && $0.score != nil && $0.quality != nil },
                "the quality judgement, details included, travels with every frame")
        #expect(stored.filter { $0.kind == .status }.map(\.status) == sink.statuses.map(Optional.init))
        #expect(stored.map(\.seq) == Array(1...UInt64(stored.count)), "no gaps, no duplicates")
        // The heartbeat's delivery counters: each status counts the records numbered before it,
        // and what is out equals what is published and not yet acknowledged.
        for r in stored where r.kind == .status {
            let s = try #require(r.status)
            #expect(s.recordsPublished == r.seq - 1, "status \(r.seq): \(s)")
            #expect(s.recordsAcknowledged + s.outboxDepth == s.recordsPublished && s.recordsDropped == 0, "status \(r.seq): \(s)")
        }
        let d = mqtt.delivery
        #expect(d.published == UInt64(stored.count) && d.acknowledged == UInt64(stored.count) && d.dropped == 0 && d.pending == 0, "\(d)")
        mqtt.shutdown()
    }
    #expect(hub.waitUntilIdle(timeout: 5))
    let report = try HubReport.build(from: store)
    #expect(report.nodes.count == 2)
    #expect(report.nodes.allSatisfy { $0.frames == 15 })
    #expect(try store.rejectedCounts().isEmpty)
    hub.stop()
}
