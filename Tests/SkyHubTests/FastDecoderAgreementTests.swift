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
                        slackSeconds: -.infinity, stages: stages, shed: ["anomaly"], flags: ["saturated", "no_stars"],
                        score: 12, verdict: "bad", fwhm: .nan, cloudFraction: 0.75, trails: 2),
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

/// The direct encoder writes JSONEncoder's bytes exactly.
@Suite struct FastEncoderAgreementTests {
    static func same(_ r: TelemetryRecord) throws -> Bool {
        guard let fast = RecordFastEncoder.encode(r) else { return true }
        return fast == (try RecordCodec.encodeWithFoundation(r))
    }

    @Test func everyKindOfRecordEncodesByteForByteAsJSONEncoder() throws {
        for bytes in try FastDecoderAgreementTests.records() {
            let r = try RecordCodec.decode(bytes)
            #expect(try Self.same(r), "\(String(decoding: bytes, as: UTF8.self))")
            if !(r.status?.lastError?.contains("\n") ?? false) { #expect(RecordFastEncoder.encode(r) != nil) }
        }
    }

    @Test func randomValuesEncodeByteForByteAsJSONEncoder() throws {
        var rng = SeededRandom(seed: 42)
        func double() -> Double {
            switch rng.next() % 8 {
            case 0: return Double(Int64(bitPattern: rng.next()) % 100_000)
            case 1: return Double(bitPattern: rng.next())   // any bit pattern: subnormals, huge, nan, inf
            case 2: return Double(rng.next() % 1000) / 1000
            case 3: return -Double(rng.next() % 1_000_000) * 1e-9
            case 4: return Double(rng.next() % 1_000_000) * 1e15
            case 5: return 1_795_600_000 + Double(rng.next() % 1_000_000) / 1e6
            case 6: return [0, -0.0, 1e-7, 0.1, 123456789012345680, 5e-324, .greatestFiniteMagnitude][Int(rng.next() % 7)]
            default: return Double(rng.next() % 100) + 0.5
            }
        }
        func text() -> String {
            let pieces = ["a", "Z", "/", "\"", "\\", "é", "🌌", " ", "sim:1/2", "-", "_", "m13.fits", "\u{7F}", "\u{2028}"]
            return (0..<Int(rng.next() % 6)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
        }
        let a = NodeAddress(site: "s", node: "n")
        var mismatches = 0
        for i in 0..<3000 {
            let r: TelemetryRecord
            switch i % 3 {
            case 0:
                r = TelemetryRecord(kind: .status, address: a, boot: rng.next(), seq: rng.next() % 1000 + 1, time: double(),
                                    status: StatusReport(framesCaptured: rng.next(), framesProcessed: rng.next() % 10,
                                                         lastError: i % 2 == 0 ? text() : nil,
                                                         exposure: i % 4 == 0 ? double() : nil, cadence: i % 5 == 0 ? double() : nil))
            case 1:
                r = TelemetryRecord(kind: .frame, address: a, boot: 1, seq: 1, time: double(), frame: FrameReport(
                    frameIndex: rng.next(), source: text(), dateObs: i % 2 == 0 ? text() : nil, exptime: double(),
                    width: Int(rng.next() % 70_000), height: -Int(rng.next() % 5), background: double(), noise: double(),
                    saturatedFraction: double(), stars: Int(rng.next() % 100), deadlineSeconds: double(),
                    elapsedSeconds: double(), deadlineMet: i % 2 == 0, slackSeconds: double(),
                    stages: (0..<Int(rng.next() % 3)).map { _ in StageTiming(stage: text(), ms: double()) },
                    shed: [text()], flags: (0..<Int(rng.next() % 3)).map { _ in text() },
                    score: i % 4 == 1 ? Int(rng.next() % 101) : nil, verdict: i % 5 == 1 ? text() : nil,
                    fwhm: i % 7 == 1 ? double() : nil, cloudFraction: i % 4 == 1 ? double() : nil,
                    trails: i % 5 == 1 ? Int(rng.next() % 4) : nil))
            default:
                r = TelemetryRecord(kind: .birth, address: a, boot: 3, seq: 0, time: double(), birth: BirthReport(
                    board: text(), software: text(), capabilities: [text(), text()], models: [], frameWidth: Int(rng.next() % 9999),
                    frameHeight: 2, exposure: i % 2 == 0 ? double() : nil, cadence: nil))
            }
            if try !Self.same(r) {
                mismatches += 1
                if mismatches <= 3 {
                    Issue.record("differs: \(String(decoding: RecordFastEncoder.encode(r) ?? [], as: UTF8.self)) vs \(String(decoding: try RecordCodec.encodeWithFoundation(r), as: UTF8.self))")
                }
            }
        }
        #expect(mismatches == 0)
    }
}
