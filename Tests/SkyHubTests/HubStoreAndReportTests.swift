import Foundation
import SkyCore
import SkyHub
import SkyTelemetry
import Testing

@Suite struct HubStoreAndReportTests {
    /// Two sites with hand-computed summaries: alpha backgrounds 100, 200, 300, 400, 1000 (median 300),
    /// 4 of 5 deadlines met (80.0 %), stars 10...50 (median 30); beta backgrounds 50, 70, 90, 110 (median 80.0).
    func filledStore(_ dir: TempDir) throws -> HubStore {
        let store = try HubStore(path: dir.path("hub.sqlite"))
        let alpha = NodeAddress(site: "alpha", node: "cam1"), beta = NodeAddress(site: "beta", node: "cam9")
        var items: [IncomingRecord] = []
        func add(_ r: TelemetryRecord) { items.append(IncomingRecord(record: r, payload: encoded(r), receivedAt: 1_795_600_100)) }
        add(TelemetryRecord(kind: .birth, address: alpha, boot: 7, seq: 0, time: 1_795_600_000, birth: testBirth))
        // Alpha's frames carry a quality judgement: verdicts good, good, bad, good, medium (60 % good),
        // FWHM 2.0, 2.5, 3.0, 3.5, 10 px (median 3.0). Beta's frames carry none.
        let verdicts = ["good", "good", "bad", "good", "medium"], fwhms = [2.0, 2.5, 3.0, 3.5, 10]
        for (i, bkg) in [100.0, 200, 300, 400, 1000].enumerated() {
            var f = frame(i, background: bkg, stars: 10 * (i + 1), met: i != 2)
            f.verdict = verdicts[i]; f.fwhm = fwhms[i]; f.score = 20 * i; f.cloudFraction = 0.1; f.trails = i % 2
            add(frameRecord(alpha, boot: 7, seq: UInt64(i + 1), f))
        }
        for (i, bkg) in [50.0, 70, 90, 110].enumerated() {
            add(frameRecord(beta, boot: 3, seq: UInt64(i + 1), frame(i, background: bkg, stars: 5, met: true)))
        }
        add(TelemetryRecord(kind: .death, address: beta, boot: 3, seq: 0, time: 1_795_600_050, death: DeathReport(reason: "lost")))
        let outcome = try store.ingest(items, rejections: [
            Rejection(reason: "malformed", topic: "skyedge/v1/alpha/cam1/frame", detail: "x", receivedAt: 1),
            Rejection(reason: "malformed", topic: "skyedge/v1/alpha/cam1/frame", detail: "x", receivedAt: 1),
            Rejection(reason: "too_large", topic: "skyedge/v1/beta/cam9/frame", detail: "x", receivedAt: 1),
        ])
        #expect(outcome.stored == 9 && outcome.events == 2 && outcome.rejected == 3)
        #expect(Set(outcome.acknowledgements.map(\.upTo)) == [5, 4])
        return store
    }

    @Test func reportSummarizesEachNode() throws {
        let dir = try TempDir()
        let store = try filledStore(dir)
        let report = try HubReport.build(from: store, now: 1_795_600_160)
        #expect(report.nodes.count == 2)
        let alpha = try #require(report.nodes.first { $0.site == "alpha" })
        #expect(alpha.frames == 5 && alpha.records == 5)
        #expect(alpha.deadlineMetPercent == 80)
        #expect(alpha.medianBackground == 300)
        #expect(alpha.medianStars == 30)
        #expect(alpha.medianFWHM == 3.0 && alpha.goodPercent == 60)
        #expect(try store.records(site: "alpha", node: "cam1").compactMap(\.frame?.verdict) == ["good", "good", "bad", "good", "medium"])
        #expect(alpha.state == "alive" && alpha.board == "jetson-orin-nano")
        #expect(alpha.stalenessSeconds == 60)
        #expect(alpha.acknowledgedUpTo == 5)
        let beta = try #require(report.nodes.first { $0.site == "beta" })
        #expect(beta.medianBackground == 80)
        #expect(beta.deadlineMetPercent == 100)
        #expect(beta.medianFWHM == nil && beta.goodPercent == nil)
        #expect(beta.state == "dead" && beta.deathReason == "lost")
        #expect(report.rejected == ["malformed": 2, "too_large": 1])

        let text = report.text()
        for needle in ["alpha", "cam1", "80.0", "300.0", "beta", "dead(lost)", "80.0", "100.0", "malformed 2", "too_large 1"] {
            #expect(text.contains(needle), "missing \(needle) in\n\(text)")
        }
        let decoded = try JSONDecoder().decode(HubReport.self, from: Data(report.json().utf8))
        #expect(decoded == report)
    }

    @Test func aReusedKeyWithOtherContentIsAConflictNotADuplicate() throws {
        let dir = try TempDir()
        let store = try HubStore(path: dir.path("hub.sqlite"))
        let a = NodeAddress(site: "kappa", node: "cam1")
        let first = frameRecord(a, boot: 5, seq: 1, frame(1, background: 111))
        let other = frameRecord(a, boot: 5, seq: 1, frame(1, background: 222))
        func item(_ r: TelemetryRecord) -> IncomingRecord { IncomingRecord(record: r, payload: encoded(r), receivedAt: 1_795_600_000) }
        #expect(try store.ingest([item(first)]).stored == 1)
        let replay = try store.ingest([item(first)])
        #expect(replay.duplicates == 1 && replay.conflicts == 0)
        let clash = try store.ingest([item(other)])
        #expect(clash.duplicates == 0 && clash.conflicts == 1 && clash.stored == 0)
        #expect(try store.records(site: a.site, node: a.node) == [first], "the first record is kept")
        #expect(try store.rejectedCounts()["conflict"] == 1)
    }

    @Test func replayedBatchesChangeNothingAndOldWillsDoNotKillNewBoots() throws {
        let dir = try TempDir()
        let store = try HubStore(path: dir.path("hub.sqlite"))
        let a = NodeAddress(site: "eta", node: "cam1")
        let batch = (1...10).map { i in
            let r = frameRecord(a, boot: 100, seq: UInt64(i), frame(i))
            return IncomingRecord(record: r, payload: encoded(r), receivedAt: 1_795_600_000)
        }
        let first = try store.ingest(batch)
        let before = try store.records(site: a.site, node: a.node)
        let again = try store.ingest(batch.reversed())
        #expect(first.stored == 10 && again.stored == 0 && again.duplicates == 10)
        #expect(try store.records(site: a.site, node: a.node) == before)
        #expect(again.acknowledgements == [Acknowledgement(site: "eta", node: "cam1", boot: 100, upTo: 10)])

        // The node restarts (boot 200); the broker delivers the old connection's will late.
        func event(_ r: TelemetryRecord) -> IncomingRecord { IncomingRecord(record: r, payload: encoded(r), receivedAt: 1_795_600_010) }
        _ = try store.ingest([event(TelemetryRecord(kind: .birth, address: a, boot: 200, seq: 0, time: 1_795_600_005, birth: testBirth))])
        _ = try store.ingest([event(TelemetryRecord(kind: .death, address: a, boot: 100, seq: 0, time: 1_795_599_000,
                                                    death: DeathReport(reason: "lost")))])
        let node = try #require(try store.nodes().first)
        #expect(node.state == "alive" && node.boot == 200)
        #expect(try store.events(site: a.site, node: a.node).map(\.kind) == [.birth, .death])
    }

    @Test func settingsComeFromYAMLAndFlagsOverrideThem() throws {
        let file = try HubSettings.parse(yaml: "broker: hub.example:1884\ndb: /var/lib/skyhub/hub.sqlite\nclient-id: hub-a\n")
        #expect(file == HubSettings(broker: "hub.example:1884", db: "/var/lib/skyhub/hub.sqlite", clientID: "hub-a"))
        let merged = file.overridden(by: HubSettings(db: "/tmp/other.sqlite"))
        #expect(merged.broker == "hub.example:1884" && merged.db == "/tmp/other.sqlite" && merged.clientID == "hub-a")
        let mqtt = try merged.mqttConfiguration()
        #expect(mqtt.host == "hub.example" && mqtt.port == 1884 && mqtt.clientID == "hub-a" && !mqtt.cleanSession)
        #expect(throws: HubSettings.Failure.self) { try HubSettings.parse(yaml: "brokr: x:1\n") }
        #expect(throws: HubSettings.Failure.self) { try HubSettings.parse(yaml: "- a\n- b\n") }
        #expect(throws: HubSettings.Failure.self) { try HubSettings(broker: "no:port:here").mqttConfiguration() }
    }

    static let skyhubBinary: String? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent(".build/debug/skyhub").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    @Test(.enabled(if: skyhubBinary != nil, "skyhub is not built (swift build)"))
    func skyhubReportPrintsTheSiteNumbers() throws {
        let dir = try TempDir()
        _ = try filledStore(dir)
        func run(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try #require(Self.skyhubBinary))
            p.arguments = args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let (rc, text) = try run(["report", "--db", dir.path("hub.sqlite")])
        #expect(rc == 0)
        for needle in ["alpha", "80.0", "300.0", "beta", "dead(lost)", "malformed 2"] { #expect(text.contains(needle), "\(text)") }
        let (jrc, json) = try run(["report", "--db", dir.path("hub.sqlite"), "--json"])
        #expect(jrc == 0)
        let report = try JSONDecoder().decode(HubReport.self, from: Data(json.utf8))
        #expect(report.nodes.first { $0.site == "alpha" }?.medianBackground == 300)
        let (missingRC, _) = try run(["report", "--db", dir.path("missing.sqlite")])
        #expect(missingRC != 0)
    }
}

@Suite struct HubRecoveryTests {
    @Test func recordsPublishedAcrossABrokerCrashAllArriveOnce() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let (store, ingest) = try startHub(broker, dir)
        let a = NodeAddress(site: "theta", node: "cam1")
        let p = try TelemetryPublisher(configuration: config(broker, "theta"), address: a, boot: 500, birth: testBirth)
        p.start()
        #expect(p.waitForConnection(timeout: 5))
        for i in 1...10 { try p.publish(frame: frame(i)) }
        #expect(p.waitUntilAcknowledged(timeout: 5))

        broker.kill()
        #expect(waitFor { !p.isConnected })
        for i in 11...25 { try p.publish(frame: frame(i)) } // kept in the outbox
        #expect(p.pendingCount == 15)
        try broker.start()
        // Both reconnect; the hub resubscribes, the publisher re-sends its outbox.
        #expect(p.waitUntilAcknowledged(timeout: 15))
        #expect(p.acknowledgedUpTo == 25)
        #expect(try store.records(site: a.site, node: a.node).map(\.seq) == Array(1...25))
        #expect(try store.records(site: a.site, node: a.node).map(\.frame) == (1...25).map { frame($0) })
        #expect(p.client.connectionCount == 2)
        #expect(try store.events(site: a.site, node: a.node).filter { $0.kind == .birth }.count >= 1)
        p.shutdown()
        ingest.stop()
    }
}
