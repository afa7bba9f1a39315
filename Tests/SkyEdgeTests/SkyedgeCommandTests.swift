import Foundation
import Testing

/// Runs a built executable of this package and collects its exit status and output.
func runTool(_ name: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String)? {
    let url = PackagePaths.root.appendingPathComponent(".build/debug/\(name)")
    guard FileManager.default.isExecutableFile(atPath: url.path) else { return nil }
    let p = Process()
    p.executableURL = url
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

private func writeConfig(_ text: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("skyedge-\(UUID().uuidString).yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Test func skyedgeRefusesToStartWhenThePlanDoesNotFit() throws {
    let config = try writeConfig("""
        site: big
        node: n1
        board: jetson-nano
        boardsDirectory: \(PackagePaths.boards)
        maxFrameWidth: 16384
        maxFrameHeight: 16384
        pipeline: { slots: 4 }
        broker: { host: 127.0.0.1, port: 1 }
        """)
    defer { try? FileManager.default.removeItem(atPath: config) }
    guard let r = try runTool("skyedge", ["run", "--config", config]) else {
        Issue.record("\(PackagePaths.root.path)/.build/debug/skyedge is not built: run swift build --build-tests first (Tools/test.sh does)")
        return
    }
    #expect(r.status == 2)
    #expect(r.stderr.contains("refusing to start"))
    #expect(r.stderr.contains("frame slots"))
    #expect(r.stderr.contains("fits: NO"))
}

@Test func skyedgeSaysWhatIsWrongWithAConfigInOneLine() throws {
    let config = try writeConfig("site: s\nnode: n\npipeline: { slots: 0 }\n")
    defer { try? FileManager.default.removeItem(atPath: config) }
    guard let r = try runTool("skyedge", ["check", "--config", config]) else {
        Issue.record("\(PackagePaths.root.path)/.build/debug/skyedge is not built: run swift build --build-tests first (Tools/test.sh does)")
        return
    }
    #expect(r.status == 1)
    let lines = r.stderr.split(separator: "\n")
    #expect(lines.count == 1)
    #expect(lines.first?.hasPrefix("error: invalid config") == true)
    #expect(r.stderr.contains("pipeline.slots"))
}

@Test func skydiagMemoryPrintsThePlanAndExitsNonZeroWhenItDoesNotFit() throws {
    guard let ok = try runTool("skydiag", ["memory", "--board", "jetson-orin-nano", "--frame", "4096x4096",
                                           "--boards", PackagePaths.boards]),
          let over = try runTool("skydiag", ["memory", "--board", "jetson-nano", "--frame", "20000x20000",
                                             "--boards", PackagePaths.boards]) else {
        Issue.record("\(PackagePaths.root.path)/.build/debug/skydiag is not built: run swift build --build-tests first (Tools/test.sh does)")
        return
    }
    #expect(ok.status == 0 && ok.stdout.contains("fits: yes") && ok.stdout.contains("frame slots"))
    #expect(over.status == 2 && over.stdout.contains("fits: NO"))
}
