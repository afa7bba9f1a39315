import Foundation
import Testing
@testable import SkyCore

private let address = NodeAddress(site: "lapalma", node: "cam-1")

private func frameRecord(seq: UInt64) -> TelemetryRecord {
    let f = FrameReport(frameIndex: seq, source: "sim:1", dateObs: "2026-11-25T21:39:00.000", exptime: 30,
                        width: 1024, height: 768, background: 812.5, noise: 11.25, saturatedFraction: 0.0001,
                        stars: 321, deadlineSeconds: 30, elapsedSeconds: 0.12, deadlineMet: true, slackSeconds: 29.88,
                        stages: [StageTiming(stage: "background", ms: 3.5)], shed: [], flags: ["no_stars"])
    return TelemetryRecord(kind: .frame, address: address, boot: 1_795_000_000, seq: seq, time: 1_795_642_740.5, frame: f)
}

@Test func recordsRoundTripExactly() throws {
    let r = frameRecord(seq: 42)
    let bytes = try RecordCodec.encode(r)
    #expect(try RecordCodec.decode(bytes, topic: Topics.record(address, .frame)) == r)
    // Sorted keys: the same record always gives the same bytes (the hub can compare replays).
    #expect(try RecordCodec.encode(r) == bytes)
}

@Test func topicsFollowTheDesign() {
    #expect(Topics.record(address, .frame) == "skyedge/v1/lapalma/cam-1/frame")
    #expect(Topics.command(address) == "skyedge/v1/lapalma/cam-1/cmd")
    #expect(Topics.ack(address) == "skyhub/v1/ack/lapalma/cam-1")
    #expect(Topics.parseRecordTopic("skyedge/v1/lapalma/cam-1/cmd") == nil)
    #expect(Topics.parseRecordTopic("skyedge/v1/la palma/cam-1/frame") == nil)
    #expect(Topics.parseRecordTopic("skyedge/v1/lapalma/cam-1/frame")?.1 == .frame)
}

@Test func aPayloadCannotSpeakForAnotherNode() throws {
    let bytes = try RecordCodec.encode(frameRecord(seq: 1))
    #expect(throws: RecordDecodingError.self) {
        try RecordCodec.decode(bytes, topic: "skyedge/v1/other/cam-1/frame")
    }
    #expect(throws: RecordDecodingError.self) {
        try RecordCodec.decode(bytes, topic: "skyedge/v1/lapalma/cam-1/status")
    }
}

@Test func badPayloadsAreRefusedWithAReason() throws {
    func reason(_ bytes: [UInt8]) -> String {
        do { _ = try RecordCodec.decode(bytes); return "accepted" } catch { return error.reason }
    }
    #expect(reason([]) == "malformed")
    #expect(reason(Array("not json".utf8)) == "malformed")
    #expect(reason(Array("{\"schema\":2,\"kind\":\"frame\"}".utf8)) == "unsupported_schema")
    #expect(reason(Array("{\"schema\":1,\"kind\":\"frame\"}".utf8)) == "malformed")
    #expect(reason(Array(repeating: 0x20, count: RecordCodec.maxPayloadBytes + 1)) == "too_large")
    var r = frameRecord(seq: 0)
    #expect(reason(try RecordCodec.encode(r)) == "invalid_field")
    r = frameRecord(seq: 1)
    r.site = "../etc"
    #expect(reason(try RecordCodec.encode(r)) == "invalid_field")
    r = frameRecord(seq: 1)
    r.kind = .status
    #expect(reason(try RecordCodec.encode(r)) == "invalid_field")
    r = frameRecord(seq: 1)
    r.time = 1e300
    #expect(reason(try RecordCodec.encode(r)) == "invalid_field")
    r = frameRecord(seq: 1)
    r.frame?.width = -5
    #expect(reason(try RecordCodec.encode(r)) == "invalid_field")
}

@Test func randomBytesNeverCrashTheDecoder() {
    var state: UInt64 = 99
    let valid = (try? RecordCodec.encode(frameRecord(seq: 7))) ?? []
    for i in 0..<2000 {
        var bytes = valid
        // Flip, drop or insert bytes of a valid record, and sometimes pure noise.
        for _ in 0..<(1 + i % 8) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let pos = Int(state >> 33) % max(1, bytes.count)
            switch (state >> 20) % 3 {
            case 0: if !bytes.isEmpty { bytes[pos] = UInt8(truncatingIfNeeded: state) }
            case 1: if !bytes.isEmpty { bytes.remove(at: pos) }
            default: bytes.insert(UInt8(truncatingIfNeeded: state >> 8), at: pos)
            }
        }
        if i % 10 == 0 { bytes = (0..<(i % 300)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) } }
        if let r = try? RecordCodec.decode(bytes) {
            // Whatever survives mutation must still be a valid record.
            #expect(Identifier.isValid(r.site) && Identifier.isValid(r.node))
        }
    }
}
