import Foundation
import Testing
@testable import SkyCore

/// The hub's fast record decoder gives JSONDecoder's verdict on every payload: the same
/// record (byte-identical when encoded again) or the same refusal reason.
@Suite struct FastDecoderAgreementTests {
    static func verdict(_ decode: () throws(RecordDecodingError) -> TelemetryRecord) -> String {
        do {
            let r = try decode()
            return (try? RecordCodec.encode(r)).map { String(decoding: $0, as: UTF8.self) } ?? "unencodable"
        } catch {
            return "refused: \(error.reason)"
        }
    }

    static func agree(_ bytes: [UInt8]) -> Bool {
        verdict { () throws(RecordDecodingError) in try RecordCodec.decode(bytes) }
            == verdict { () throws(RecordDecodingError) in try RecordCodec.decodeWithFoundation(bytes) }
    }

    /// One record of every kind, with the optional fields both present and absent, odd
    /// numbers (non-finite as strings, exponents, negatives) and non-ASCII text.
    static func records() throws -> [[UInt8]] {
        let a = NodeAddress(site: "lapalma", node: "cam-1")
        let stages = [StageTiming(stage: "background", ms: 12.5), StageTiming(stage: "stars", ms: 1e-7)]
        let frames = [
            FrameReport(frameIndex: 7, source: "/data/ü/m13.fits", dateObs: "2026-11-25T21:39:00.000", exptime: 30,
                        width: 4096, height: 4096, background: 1234.5678, noise: .nan, saturatedFraction: 0,
                        stars: 0, deadlineSeconds: 30, elapsedSeconds: .infinity, deadlineMet: false,
                        slackSeconds: -.infinity, stages: stages, shed: ["anomaly"], flags: ["saturated", "no_stars"]),
            FrameReport(frameIndex: UInt64(Int64.max), source: "sim:1/2", dateObs: nil, exptime: 0.001, width: 1, height: 1,
                        background: -3.25e-12, noise: 1e300, saturatedFraction: 1, stars: 100_000, deadlineSeconds: 1,
                        elapsedSeconds: 0.5, deadlineMet: true, slackSeconds: 0.5, stages: [], shed: [], flags: []),
        ]
        var out: [[UInt8]] = []
        for (i, f) in frames.enumerated() {
            out.append(try RecordCodec.encode(TelemetryRecord(kind: .frame, address: a, boot: 1_795_600_000_123,
                                                              seq: UInt64(i + 1), time: 1_795_600_000.25, frame: f)))
        }
        for s in [StatusReport(), StatusReport(framesCaptured: 1, framesProcessed: 2, recordsPublished: 3, recordsAcknowledged: 4,
                                               recordsDropped: 5, outboxDepth: 6, deadlineMisses: 7, captureErrors: 8,
                                               lastError: "camera \"lost\"\n", exposure: 12.5, cadence: 30)] {
            out.append(try RecordCodec.encode(TelemetryRecord(kind: .status, address: a, boot: 2, seq: 9, time: 1e9, status: s)))
        }
        out.append(try RecordCodec.encode(TelemetryRecord(kind: .birth, address: a, boot: 2, seq: 0, time: 1e9, birth: BirthReport(
            board: "jetson-nano", software: "skyedge 0.1", capabilities: ["a", "b"], models: [], frameWidth: 64,
            frameHeight: 48, exposure: 30, cadence: nil))))
        out.append(try RecordCodec.encode(TelemetryRecord(kind: .death, address: a, boot: 2, seq: 0, time: 1e9,
                                                          death: DeathReport(reason: "lost"))))
        out.append(try RecordCodec.encode(TelemetryRecord(kind: .alert, address: a, boot: 2, seq: 10, time: 1e9)))
        return out
    }

    @Test func everyKindOfRecordTakesTheFastPathAndAgrees() throws {
        for bytes in try Self.records() {
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(Self.agree(bytes), "\(text)")
            // Escaped strings go to JSONDecoder; everything else is decoded directly.
            let fast = bytes.withUnsafeBytes { RecordFastDecoder.decode($0) }
            #expect((fast != nil) == !text.contains("\\"), "\(text)")
        }
    }

    @Test func corpusAndMutationsGetTheSameVerdictBothWays() throws {
        let seeds = try DecoderFuzzTests.corpus().map(\.bytes) + Self.records()
        for s in seeds { #expect(Self.agree(s), "\(String(decoding: s, as: UTF8.self))") }
        var disagreements = 0
        for m in try DecoderFuzzTests.mutations(count: 8000, seed: 11) where !Self.agree(m.bytes) {
            disagreements += 1
            if disagreements <= 3 { Issue.record("disagree on \(String(decoding: m.bytes, as: UTF8.self))") }
        }
        #expect(disagreements == 0)
    }
}
