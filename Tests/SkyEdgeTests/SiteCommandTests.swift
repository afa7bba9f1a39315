import Foundation
import SkyCapture
import SkyCore
import SkyHub
import SkySim
import SkyTelemetry
import Testing
@testable import SkyEdge

/// A running site, a real mosquitto and a real hub: the hub's set-exposure, set-cadence and
/// reload-config commands change what the site does, seen in the records the hub stores;
/// bad ones are rejected with a reason and change nothing.
@Test func hubCommandsChangeARunningSite() throws {
    let broker = try LocalMosquitto()
    let dir = try TempDir(prefix: "skyedge-commands")
    let store = try HubStore(path: dir.path("hub.sqlite"))
    var hubConfig = MQTTClientConfiguration(broker: broker.broker, clientID: "hub-commands")
    hubConfig.cleanSession = false
    let hub = try HubIngest(store: store, configuration: hubConfig, log: { _ in })
    hub.start()
    defer { hub.stop() }
    #expect(hub.waitUntilReady(timeout: 10))

    let configPath = dir.path("site.yaml")
    func writeConfig(exposure: Double, cadence: Double, width: Int = 160, extra: String = "") throws {
        try """
            site: cmdsite
            node: n1
            maxFrameWidth: \(width)
            maxFrameHeight: 128
            statusInterval: 30
            broker: { host: \(broker.host), port: \(broker.port) }
            source: { width: 160, height: 128, accelerate: 100, exposure: \(exposure), cadence: \(cadence) }
            \(extra)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }
    // Simulated time runs 100x: a 60 s exposure lasts 0.6 s, and each command's effect shows in seconds.
    try writeConfig(exposure: 60, cadence: 60)
    let config = try SiteConfig.load(path: configPath)
    let board = try genericBoard()
    let mqtt = try MQTTRecordSink(config: config, board: board)
    #expect(mqtt.publisher.waitForConnection(timeout: 10))
    let source = try SimulatorSource(configuration: .init(
        scene: .demoField(1), camera: CameraModel(width: 160, height: 128, seed: 7),
        conditions: FrameConditions(exposure: 60), seed: 3, pacing: .immediate))
    let runtime = try SiteRuntime(config: config, board: board, source: source, sink: mqtt)
    runtime.enableCommands(mqtt.commands, reload: { try SiteConfig.load(path: configPath) })
    let done = start(runtime)
    defer {
        runtime.stop()
        _ = done.wait(timeout: .now() + 10)
        mqtt.shutdown()
    }
    let site = NodeAddress(site: "cmdsite", node: "n1")
    var counter = 0
    func command(_ kind: NodeCommand.Kind, seconds: Double? = nil, expiresIn: Double = 60) -> CommandReply? {
        counter += 1
        let id = "test-\(counter)"
        hub.send(NodeCommand(id: id, kind: kind, expires: UTCInstant.now().unixSeconds + expiresIn, seconds: seconds), to: site)
        var reply: CommandReply?
        _ = eventually(timeout: 15) {
            reply = hub.commandReplies.first { $0.id == id }
            return reply != nil
        }
        return reply
    }
    func frames() throws -> [TelemetryRecord] { try store.records(site: "cmdsite", node: "n1").filter { $0.kind == .frame } }
    func statuses() throws -> [StatusReport] { try store.records(site: "cmdsite", node: "n1").compactMap(\.status) }

    #expect(eventually(timeout: 20) { ((try? frames()) ?? []).count >= 3 }, "the site streams frames")
    #expect(try frames().allSatisfy { $0.frame?.exptime == 60 }, "the site starts at its configured 60 s")

    // set-exposure: later frames are 25 s exposures with less sky in them, and the heartbeat says so.
    let exposed = try #require(command(.setExposure, seconds: 25))
    #expect(exposed.isAccepted, "\(exposed.reason ?? "")")
    #expect(eventually(timeout: 20) { ((try? frames()) ?? []).filter { $0.frame?.exptime == 25 }.count >= 3 })
    let all = try frames().compactMap(\.frame)
    let sky60 = all.filter { $0.exptime == 60 }.map(\.background), sky25 = all.filter { $0.exptime == 25 }.map(\.background)
    #expect((sky25.max() ?? .infinity) < (sky60.min() ?? 0), "shorter exposures have a lower sky background: \(sky25) vs \(sky60)")
    #expect(eventually(timeout: 10) { ((try? statuses()) ?? []).contains { $0.exposure == 25 } })

    // set-cadence: one frame per 40 simulated seconds, 0.4 s of wall clock.
    let paced = try #require(command(.setCadence, seconds: 40))
    #expect(paced.isAccepted, "\(paced.reason ?? "")")
    #expect(eventually(timeout: 30) { ((try? frames()) ?? []).filter { $0.time > paced.time + 0.5 }.count >= 6 })
    let times = try frames().map(\.time).filter { $0 > paced.time + 0.5 }.sorted()
    let gaps = zip(times.dropFirst(), times).map { $0 - $1 }.sorted()
    #expect(gaps[gaps.count / 2] >= 0.36, "median gap \(gaps[gaps.count / 2]) s for a 0.4 s cadence")
    #expect(gaps[0] >= 0.2, "shortest gap \(gaps[0]) s for a 0.4 s cadence")
    #expect(eventually(timeout: 10) { ((try? statuses()) ?? []).contains { $0.cadence == 40 && $0.exposure == 25 } })

    // Rejections, each with its reason; none changes what the site does.
    let negative = try #require(command(.setExposure, seconds: -1))
    #expect(!negative.isAccepted && negative.reason?.contains("outside") == true, "\(negative.reason ?? "")")
    let huge = try #require(command(.setExposure, seconds: 1e6))
    #expect(!huge.isAccepted && huge.reason?.contains("outside") == true)
    let tooFast = try #require(command(.setCadence, seconds: 10))
    #expect(!tooFast.isAccepted && tooFast.reason?.contains("shorter than the 25.0 s exposure") == true, "\(tooFast.reason ?? "")")
    let expired = try #require(command(.setExposure, seconds: 30, expiresIn: -1))
    #expect(!expired.isAccepted && expired.reason == "expired")
    let noSeconds = try #require(command(.setCadence))
    #expect(!noSeconds.isAccepted && noSeconds.reason?.contains("needs seconds") == true)

    // reload-config: live keys apply (exposure 30, a new detection threshold); the cadence stays 40 s.
    try writeConfig(exposure: 30, cadence: 40, extra: "pipeline: { detectSigma: 4 }\nlogLevel: warn")
    let reloaded = try #require(command(.reloadConfig))
    #expect(reloaded.isAccepted, "\(reloaded.reason ?? "")")
    #expect(eventually(timeout: 20) { ((try? frames()) ?? []).filter { $0.frame?.exptime == 30 }.count >= 2 })
    #expect(eventually(timeout: 10) { ((try? statuses()) ?? []).contains { $0.exposure == 30 && $0.cadence == 40 } })
    #expect(runtime.controls.config.pipeline.detectSigma == 4)
    #expect(Log.level == .warn)
    Log.level = .info

    // A reload that changes the memory plan is refused whole; the site keeps going as it was.
    try writeConfig(exposure: 45, cadence: 60, width: 4096, extra: "pipeline: { detectSigma: 4 }\nlogLevel: warn")
    let refused = try #require(command(.reloadConfig))
    #expect(!refused.isAccepted)
    #expect(refused.reason?.contains("maxFrameWidth") == true && refused.reason?.contains("memory plan") == true,
            "\(refused.reason ?? "")")
    let before = try frames().count
    #expect(eventually(timeout: 20) { ((try? frames()) ?? []).count >= before + 2 }, "the site keeps running")
    #expect(try frames().suffix(2).allSatisfy { $0.frame?.exptime == 30 }, "with its previous exposure")
    #expect(runtime.controls.config.maxFrameWidth == 160)

    // skyhub command sends the same commands from the command line.
    let brokerArg = "\(broker.host):\(broker.port)"
    if let cli = try runTool("skyhub", ["command", "--broker", brokerArg, "--site", "cmdsite", "--node", "n1",
                                        "--kind", "set-cadence", "--seconds", "35"]) {
        #expect(cli.status == 0, "\(cli.stdout)\(cli.stderr)")
        #expect(cli.stdout.contains("accepted"))
        let bad = try #require(try runTool("skyhub", ["command", "--broker", brokerArg, "--site", "cmdsite", "--node", "n1",
                                                      "--kind", "set-exposure", "--seconds", "0"]))
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("rejected: exposure 0.0 s is outside"))
        #expect(runtime.controls.settings == CaptureSettings(exposure: 30, cadence: 35))
    } else {
        Issue.record(".build/debug/skyhub is not built: run swift build --build-tests first")
    }
}
