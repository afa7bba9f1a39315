import Foundation
import SkyCore
import SkyTelemetry
import Testing

/// `skydiag tail --count N` running against `broker`, its standard output piped; nil when not built.
func startTail(_ broker: LocalMosquitto, count: Int) throws -> (Process, Pipe)? {
    let skydiag = PackagePaths.root.appendingPathComponent(".build/debug/skydiag")
    guard FileManager.default.isExecutableFile(atPath: skydiag.path) else {
        Issue.record(".build/debug/skydiag is not built: run swift build --build-tests first (Tools/test.sh does)")
        return nil
    }
    let p = Process()
    p.executableURL = skydiag
    p.arguments = ["tail", "--broker", "\(broker.host):\(broker.port)", "--count", "\(count)", "--seconds", "20"]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    return (p, out)
}

@Test func skydiagTailDecodesRecordsAndSaysWhyItRefusesOthers() throws {
    let broker = try LocalMosquitto()
    guard let (p, out) = try startTail(broker, count: 2) else { return }

    let sender = try MQTTClient(configuration: MQTTClientConfiguration(broker: broker.broker, clientID: "tail-test"))
    sender.connect()
    #expect(sender.waitForConnection(timeout: 5))
    let a = NodeAddress(site: "tailsite", node: "cam9")
    let status = TelemetryRecord(kind: .status, address: a, boot: 1, seq: 7, time: 1_795_000_000,
                                 status: StatusReport(framesCaptured: 12, framesProcessed: 11, captureErrors: 2))
    // The tail subscribes after it connects: keep publishing until it has seen both kinds.
    for _ in 0..<50 where p.isRunning {
        _ = try? sender.publish(topic: Topics.record(a, .status), payload: try RecordCodec.encode(status))
        _ = try? sender.publish(topic: Topics.record(a, .frame), payload: Array("{\"schema\":1}".utf8))
        usleep(100_000)
    }
    p.waitUntilExit()
    // Two short lines fit the pipe's buffer, so reading after the exit cannot deadlock.
    let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        .split(separator: "\n").map(String.init)
    sender.disconnect()
    #expect(p.terminationStatus == 0)
    #expect(lines.count == 2)
    #expect(lines.contains { $0.contains("tailsite/cam9 #7 status") && $0.contains("processed 11") && $0.contains("capture-errors 2") })
    #expect(lines.contains { $0.contains("skyedge/v1/tailsite/cam9/frame REFUSED (malformed)") })
}

@Test func skydiagTailPrintsEachRecordOfABatchAndSaysWhyItRefusesOne() throws {
    let broker = try LocalMosquitto()
    // --count counts messages: one batch message gives one line per record.
    guard let (p, out) = try startTail(broker, count: 1) else { return }

    let sender = try MQTTClient(configuration: MQTTClientConfiguration(broker: broker.broker, clientID: "tail-batch-test"))
    sender.connect()
    #expect(sender.waitForConnection(timeout: 5))
    let a = NodeAddress(site: "tailsite", node: "cam9")
    let records = (1...2).map { i in
        TelemetryRecord(kind: .status, address: a, boot: 1, seq: UInt64(i), time: 1_795_000_000,
                        status: StatusReport(framesCaptured: UInt64(10 + i), framesProcessed: UInt64(i)))
    }
    let batch = RecordBatch.encode([try RecordCodec.encode(records[0]), Array("{\"schema\":1}".utf8), try RecordCodec.encode(records[1])])
    for _ in 0..<50 where p.isRunning {
        _ = try? sender.publish(topic: Topics.batch(a), payload: batch)
        usleep(100_000)
    }
    p.waitUntilExit()
    let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        .split(separator: "\n").map(String.init)
    sender.disconnect()
    #expect(p.terminationStatus == 0)
    #expect(lines.count == 3, "\(lines)")
    #expect(lines.first?.contains("tailsite/cam9 #1 status") == true && lines.first?.contains("captured 11") == true)
    #expect(lines.dropFirst().first?.contains("skyedge/v1/tailsite/cam9/batch REFUSED record in batch (malformed)") == true)
    #expect(lines.last?.contains("tailsite/cam9 #2 status") == true && lines.last?.contains("captured 12") == true)
}
