import Testing
@testable import SkyEdge

@Test func aMinimalConfigTakesTheDefaults() throws {
    let c = try SiteConfig.parse("site: lapalma\nnode: cam1\n")
    #expect(c.address.description == "lapalma/cam1")
    #expect(c.source.kind == .simulator)
    #expect(c.pipeline.slots == 2)
    #expect(c.broker.port == 1883)
    #expect(c.source.exposure == nil, "a camera keeps its driver's exposure unless one is configured")
}

@Test func nestedKeysOverrideOnlyWhatTheyName() throws {
    let c = try SiteConfig.parse("""
        site: s1
        node: n1
        board: jetson-nano
        broker: { port: 18830 }
        source: { kind: fits-directory, path: /data/in, mode: replay }
        pipeline: { detectSigma: 3.5 }
        maxFrames: 10
        """)
    #expect(c.broker.port == 18830 && c.broker.host == "127.0.0.1")
    #expect(c.source.kind == .fitsDirectory && c.source.path == "/data/in" && c.source.mode == "replay")
    #expect(c.pipeline.detectSigma == 3.5 && c.pipeline.minArea == 5)
    #expect(c.maxFrames == 10)
}

@Test(arguments: [
    ("node: n\n", "missing key 'site'"),
    ("site: bad/site\nnode: n\n", "site 'bad/site'"),
    ("site: s\nnode: n\nbroker: { port: 70000 }\n", "broker.port"),
    ("site: s\nnode: n\nsource: { kind: fits-directory }\n", "source.path"),
    ("site: s\nnode: n\nsource: { kind: webcam }\n", "source.kind"),
    ("site: s\nnode: n\npipeline: { slots: 0 }\n", "pipeline.slots"),
    ("site: s\nnode: n\nmaxFrameWidth: ten\n", "maxFrameWidth"),
    ("site: s\nnode: n\nsource: { clouds: 1.5 }\n", "source.clouds"),
    ("site: s\nnode: n\nsource: { kind: v4l2, exposure: -1 }\n", "source.exposure"),
    ("site: [unclosed\n", "invalid config"),
])
func badConfigsSayWhatIsWrong(text: String, expected: String) {
    do {
        _ = try SiteConfig.parse(text, path: "test.yaml")
        Issue.record("accepted a bad config")
    } catch {
        #expect("\(error)".contains(expected), "\(error)")
        #expect("\(error)".contains("test.yaml"))
    }
}

@Test func everyShippedBoardProfileLoads() throws {
    let names = BoardProfiles.available(in: PackagePaths.boards)
    #expect(Set(names).isSuperset(of: ["jetson-nano", "jetson-orin-nano", "jetson-agx-orin", "generic-x86_64"]))
    for n in names {
        let p = try BoardProfiles.load(n, from: PackagePaths.boards)
        #expect(p.name == n)
        #expect(p.memoryBudgetMiB < p.memoryTotalMiB)
    }
}

@Test func boardDetectionUsesTheDeviceTreeModelFirst() {
    var host = HostInfo.current()
    host.architecture = "aarch64"
    host.deviceTreeModel = "NVIDIA Jetson Nano Developer Kit"
    #expect(BoardProfiles.detect(in: PackagePaths.boards, host: host)?.name == "jetson-nano")
    host.deviceTreeModel = "NVIDIA Jetson AGX Orin Developer Kit"
    #expect(BoardProfiles.detect(in: PackagePaths.boards, host: host)?.name == "jetson-agx-orin")
    host.deviceTreeModel = nil
    host.architecture = "x86_64"
    #expect(BoardProfiles.detect(in: PackagePaths.boards, host: host)?.name == "generic-x86_64")
}

@Test func anUnknownBoardListsTheKnownOnes() {
    #expect(throws: BoardProfileError.self) { try BoardProfiles.load("raspberry", from: PackagePaths.boards) }
    do { _ = try BoardProfiles.load("raspberry", from: PackagePaths.boards) } catch {
        #expect("\(error)".contains("jetson-nano"))
    }
}
