import Foundation
import SkyCore
import SkyTelemetry
import Testing

/// Runs `skydiag tail --count N` against a fresh broker and publishes `messages` every 0.1 s
/// until it exits (it subscribes after it connects); its exit status and output lines, nil when not built.
func tailOutput(count: Int, messages: [(topic: String, payload: [UInt8])]) throws -> (status: Int32, lines: [String])? {
    let skydiag = PackagePaths.root.appendingPathComponent(".build/debug/skydiag")
    guard FileManager.default.isExecutableFile(atPath: skydiag.path) else {
        Issue.record(".build/debug/skydiag is not built: run swift build --build-tests first (Tools/test.sh does)")
        return nil
    }
    let broker = try LocalMosquitto()
    let p = Process()
    p.executableURL = skydiag
    p.arguments = ["tail", "--broker", "\(broker.host):\(broker.port)", "--count", "\(count)", "--seconds", "20"]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let sender = try MQTTClient(configuration: MQTTClientConfiguration(broker: broker.broker, clientID: "tail-test-\(getpid())"))
    sender.connect()
    #expect(sender.waitForConnection(timeout: 5))
    for _ in 0..<50 where p.isRunning {
        for m in messages { _ = try? sender.publish(topic: m.topic, payload: m.payload) }
        usleep(100_000)
    }
    p.waitUntilExit()
    // A few short lines fit the pipe's buffer, so reading after the exit cannot deadlock.
    let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        .split(separator: "\n").map(String.init)
    sender.disconnect()
    return (p.terminationStatus, lines)
}

@Test func skydiagTailDecodesRecordsAndSaysWhyItRefusesOthers() throws {
    let a = NodeAddress(site: "tailsite", node: "cam9")
    let status = TelemetryRecord(kind: .status, address: a, boot: 1, seq: 7, time: 1_795_000_000,
                                 status: StatusReport(framesCaptured: 12, framesProcessed: 11, captureErrors: 2))
    guard let (exit, lines) = try tailOutput(count: 2, messages: [(Topics.record(a, .status), try RecordCodec.encode(status)),
                                                                  (Topics.record(a, .frame), Array("{\"schema\":1}".utf8))]) else { return }
    #expect(exit == 0)
    #expect(lines.count == 2)
    #expect(lines.contains { $0.contains("tailsite/cam9 #7 status") && $0.contains("processed 11") && $0.contains("capture-errors 2") })
    #expect(lines.contains { $0.contains("skyedge/v1/tailsite/cam9/frame REFUSED (malformed)") })
}

@Test func skydiagTailPrintsEachRecordOfABatchAndSaysWhyItRefusesOne() throws {
    let a = NodeAddress(site: "tailsite", node: "cam9")
    let records = (1...2).map { i in
        TelemetryRecord(kind: .status, address: a, boot: 1, seq: UInt64(i), time: 1_795_000_000,
                        status: StatusReport(framesCaptured: UInt64(10 + i), framesProcessed: UInt64(i)))
    }
    let batch = RecordBatch.encode([try RecordCodec.encode(records[0]), Array("{\"schema\":1}".utf8), try RecordCodec.encode(records[1])])
    // --count counts messages: one batch message gives one line per record.
    guard let (exit, lines) = try tailOutput(count: 1, messages: [(Topics.batch(a), batch)]) else { return }
    #expect(exit == 0)
    #expect(lines.count == 3, "\(lines)")
    #expect(lines.first?.contains("tailsite/cam9 #1 status") == true && lines.first?.contains("captured 11") == true)
    #expect(lines.dropFirst().first?.contains("skyedge/v1/tailsite/cam9/batch REFUSED record in batch (malformed)") == true)
    #expect(lines.last?.contains("tailsite/cam9 #2 status") == true && lines.last?.contains("captured 12") == true)
}
