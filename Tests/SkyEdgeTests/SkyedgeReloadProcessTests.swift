import Foundation
import SkyCore
import SkyTelemetry
import Testing

/// The real `skyedge` process, with its broker given on the command line, answers
/// `skyhub command`: a reload of the unchanged file is accepted (the command-line override
/// applies again), settings commands work, a plan-changing reload is refused.
@Test func skyedgeProcessAnswersSkyhubCommands() throws {
    let skyedge = PackagePaths.root.appendingPathComponent(".build/debug/skyedge")
    guard FileManager.default.isExecutableFile(atPath: skyedge.path) else {
        Issue.record("\(skyedge.path) is not built: run swift build --build-tests first")
        return
    }
    let broker = try LocalMosquitto()
    let dir = try TempDir(prefix: "skyedge-reload")
    let config = dir.path("site.yaml")
    func write(maxWidth: Int) throws {
        try """
            site: procsite
            node: n1
            board: generic-x86_64
            boardsDirectory: \(PackagePaths.boards)
            broker: { host: 127.0.0.1, port: 1 }
            maxFrameWidth: \(maxWidth)
            maxFrameHeight: 128
            statusInterval: 5
            source: { width: 96, height: 96, exposure: 30, cadence: 30, accelerate: 300 }
            """.write(toFile: config, atomically: true, encoding: .utf8)
    }
    try write(maxWidth: 128)

    let births = Inbox()
    let watcher = try MQTTClient(configuration: clientConfig(broker, "reload-watch"))
    watcher.setMessageHandler(births.handler)
    try watcher.subscribe(Topics.record(NodeAddress(site: "procsite", node: "n1"), .birth), qos: 1)
    watcher.connect()
    defer { watcher.disconnect(timeout: 1) }
    #expect(watcher.waitForSubscriptions(timeout: 10))

    let p = Process()
    p.executableURL = skyedge
    p.arguments = ["run", "--config", config, "--broker", "\(broker.host):\(broker.port)"]
    p.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try p.run()
    defer {
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
    }
    #expect(births.wait(for: 1, timeout: 20), "skyedge connected with the command line's broker")

    func command(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String)? {
        try runTool("skyhub", ["command", "--broker", "\(broker.host):\(broker.port)", "--site", "procsite",
                               "--node", "n1", "--wait", "20"] + args)
    }
    guard let same = try command(["--kind", "reload-config"]) else {
        Issue.record(".build/debug/skyhub is not built")
        return
    }
    #expect(same.status == 0, "\(same.stdout)\(same.stderr)")
    let cadence = try #require(try command(["--kind", "set-cadence", "--seconds", "120"]))
    #expect(cadence.status == 0, "\(cadence.stdout)\(cadence.stderr)")
    let exposure = try #require(try command(["--kind", "set-exposure", "--seconds", "60"]))
    #expect(exposure.status == 0, "\(exposure.stdout)\(exposure.stderr)")
    try write(maxWidth: 256)
    let bigger = try #require(try command(["--kind", "reload-config"]))
    #expect(bigger.status == 1)
    #expect(bigger.stdout.contains("maxFrameWidth change the memory plan"), "\(bigger.stdout)")
    #expect(p.isRunning, "a refused reload leaves the site running")
}
