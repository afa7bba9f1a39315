import Foundation
import SkyCore
import SkyHub
import SkyTelemetry
import Testing
@testable import SkyEdge

private let skyedgeBinary: String? = {
    let path = PackagePaths.root.appendingPathComponent(".build/debug/skyedge").path
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}()

/// A real `skyedge` process (simulated camera, durable outbox) is killed with SIGKILL while it
/// streams records, then started again: the hub must end with every record of both boots
/// exactly once, and the records the hub had not acknowledged must have waited in the outbox.
@Test(.enabled(if: skyedgeBinary != nil, "skyedge is not built (swift build)"))
func aSiteKilledMidStreamLosesAndDuplicatesNothing() throws {
    let broker = try LocalMosquitto()
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skyedge-crash-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let store = try HubStore(path: dir.appendingPathComponent("hub.sqlite").path)
    var hubConfig = MQTTClientConfiguration(broker: broker.broker, clientID: "hub-crash")
    hubConfig.cleanSession = false
    let hub = try HubIngest(store: store, configuration: hubConfig, log: { _ in })
    hub.start()
    #expect(hub.waitUntilReady(timeout: 10))

    let outbox = dir.appendingPathComponent("outbox")
    let configPath = dir.appendingPathComponent("site.yaml").path
    try """
    site: crash
    node: n1
    board: generic-x86_64
    boardsDirectory: \(PackagePaths.boards)
    broker: { host: \(broker.host), port: \(broker.port) }
    source: { kind: simulator, width: 96, height: 96, exposure: 1, accelerate: 200 }
    maxFrameWidth: 96
    maxFrameHeight: 96
    statusInterval: 0.02
    outbox: { directory: \(outbox.path), sync: every-record }
    """.write(toFile: configPath, atomically: true, encoding: .utf8)
    func launch(_ extra: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(skyedgeBinary))
        p.arguments = ["run", "--config", configPath] + extra
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }
    func stored() throws -> [UInt64: [UInt64]] {
        Dictionary(grouping: try store.records(site: "crash", node: "n1"), by: \.boot).mapValues { $0.map(\.seq).sorted() }
    }

    let first = try launch([])
    #expect(eventually(timeout: 30) { ((try? store.recordCount()) ?? 0) >= 40 })
    kill(first.processIdentifier, SIGKILL)
    first.waitUntilExit()
    #expect(first.terminationReason == .uncaughtSignal)
    usleep(300_000)
    #expect(hub.waitUntilIdle(timeout: 5))

    // What the hub has, plus what waits in the outbox, must be every seq of that boot once.
    let boot1: UInt64
    do {
        let box = try DurableOutbox(directory: outbox)
        let held = try box.pending().map(\.key)
        let atHub = try stored()
        #expect(atHub.count == 1)
        boot1 = try #require(atHub.keys.first)
        #expect(held.allSatisfy { $0.boot == boot1 })
        let union = Set(atHub[boot1]!).union(held.map(\.seq))
        print("killed run: \(atHub[boot1]!.count) records at the hub, \(held.count) waiting in the outbox, \(box.recovery.tornBytesDiscarded) torn bytes discarded")
        #expect(union == Set(1...UInt64(union.count)), "no seq of the killed run is missing from both hub and outbox")
    }

    let second = try launch(["--max-frames", "10"])
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async { second.waitUntilExit(); done.signal() }
    #expect(done.wait(timeout: .now() + 60) == .success, "the restarted site finished")
    #expect(second.terminationStatus == 0)
    #expect(hub.waitUntilIdle(timeout: 5))

    let atHub = try stored()
    #expect(atHub.count == 2)
    for (boot, seqs) in atHub {
        #expect(seqs == Array(1...UInt64(seqs.count)), "boot \(boot): every seq exactly once, none missing")
        #expect(try store.acknowledgedUpTo(site: "crash", node: "n1", boot: boot) == UInt64(seqs.count))
    }
    #expect(atHub.keys.max()! > boot1, "the restart has a new boot epoch")
    #expect(try DurableOutbox(directory: outbox).count == 0, "everything acknowledged is gone from the outbox")
    #expect(try store.rejectedCounts().isEmpty)
    hub.stop()
}
