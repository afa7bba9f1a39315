import Foundation
import SkyCore
import SkyTelemetry
import Testing
@testable import SkyHub

/// Batch messages (`RecordBatch`): the kept batch corpus (Corpus/batch, names say the verdict on
/// the whole batch), every record of a batch judged like the same bytes sent alone, and
/// deterministic mutations that never crash and end in known verdicts.
@Suite struct BatchDecoderTests {
    static let directory = DecoderFuzzTests.corpusDirectory.appendingPathComponent("batch")
    static let address = NodeAddress(site: "corpus", node: "n1")
    static var topic: String { Topics.batch(address) }

    /// "ok" and one verdict per record, or the reason the whole batch is refused.
    static func verdict(_ bytes: [UInt8], topic: String = topic) -> (whole: String, records: [String]) {
        do {
            let items = try HubIngest.validateBatch(bytes, topic: topic)
            return ("ok", items.map { item in
                switch item.result {
                case .success: "ok"
                case let .failure(e): e.reason
                }
            })
        } catch {
            return (error.reason, [])
        }
    }

    /// The verdict on a record's bytes sent alone on its own topic.
    static func aloneVerdict(_ bytes: [UInt8]) -> String {
        do {
            let r = try RecordCodec.decode(bytes)
            guard r.address == address else { return "topic_mismatch" }
            return DecoderFuzzTests.verdict(bytes, topic: Topics.record(address, r.kind))
        } catch { return error.reason }
    }

    @Test func batchCorpusFilesGetTheirExpectedVerdict() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).sorted()
        #expect(names.count >= 10)
        for name in names {
            let bytes = try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent(name)))
            #expect(Self.verdict(bytes).whole == String(name.prefix { $0 != "-" }), "\(name)")
        }
        let middle = try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent("ok-one-bad-in-middle.json")))
        #expect(Self.verdict(middle).records == ["ok", "malformed", "ok"])
        let spaced = try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent("ok-spaced-reordered.json")))
        #expect(Self.verdict(spaced).records == ["ok", "ok"])
        // The same batch on another node's topic, or on a record topic: refused whole.
        let three = try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent("ok-three-status.json")))
        #expect(Self.verdict(three, topic: Topics.batch(NodeAddress(site: "corpus", node: "n2"))).whole == "topic_mismatch")
        #expect(Self.verdict(three, topic: Topics.record(Self.address, .status)).whole == "topic_mismatch")
        // Over the batch limit, whatever the content.
        let big = three + [UInt8](repeating: UInt8(ascii: " "), count: RecordBatch.maxPayloadBytes)
        #expect(Self.verdict(big).whole == "too_large")
    }

    /// Every record of the single-record corpus inside a batch between two good records: judged
    /// exactly as when it comes alone, and its neighbours are stored.
    @Test func eachRecordOfABatchGetsTheVerdictItWouldGetAlone() throws {
        let good = encoded(TelemetryRecord(kind: .status, address: Self.address, boot: 5, seq: 1, time: 1_795_600_000,
                                           status: StatusReport(framesCaptured: 1)))
        var checked = 0
        for seed in try DecoderFuzzTests.corpus() {
            // A payload that is not one whole JSON value cannot be told apart from the envelope around it.
            guard let whole = try? RecordBatch.split(RecordBatch.encode([seed.bytes])), whole.count == 1,
                  whole[0] == 18..<(18 + seed.bytes.count) else { continue }
            checked += 1
            let v = Self.verdict(RecordBatch.encode([good, seed.bytes, good]))
            let alone = Self.aloneVerdict(seed.bytes)
            if alone == "topic_mismatch" {
                #expect(v.whole == "topic_mismatch", "\(seed.name)")
            } else {
                #expect(v.whole == "ok" && v.records == ["ok", alone, "ok"], "\(seed.name): \(v) alone \(alone)")
            }
        }
        #expect(checked >= 20)
    }

    /// Records encoded by the sites' encoder, batched, come back identical, byte for byte.
    @Test func batchedRecordsRoundTripByteForByte() throws {
        var rng = SeededRandom(seed: 21)
        for n in [1, 2, 17, 256] {
            let records = (1...n).map { i in
                TelemetryRecord(kind: i % 3 == 0 ? .status : .frame, address: Self.address, boot: 9, seq: UInt64(i),
                                time: 1_795_600_000 + Double(rng.next() % 1000) / 7,
                                frame: i % 3 == 0 ? nil : frame(i), status: i % 3 == 0 ? StatusReport(framesCaptured: rng.next() % 1000) : nil)
            }
            let payloads = records.map(encoded)
            let batch = RecordBatch.encode(payloads)
            #expect(batch.count == RecordBatch.encodedSize(recordBytes: payloads.reduce(0) { $0 + $1.count }, count: n))
            let items = try HubIngest.validateBatch(batch, topic: Self.topic)
            #expect(items.map(\.payload) == payloads)
            #expect(items.compactMap { try? $0.result.get() } == records)
        }
    }

    /// Mutations of the batch corpus: never a crash; refused whole with a known reason, or every
    /// record valid or refused with a known reason.
    @Test func batchMutationsNeverCrashAndEndInKnownVerdicts() throws {
        let seeds = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).sorted().map {
            try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent($0)))
        }
        var wholes: [String: Int] = [:], records: [String: Int] = [:]
        for m in Self.mutations(of: seeds, count: 4000, seed: 8) {
            let v = Self.verdict(m)
            wholes[v.whole, default: 0] += 1
            for r in v.records { records[r, default: 0] += 1 }
        }
        let known = DecoderFuzzTests.reasons.union(["ok"])
        #expect(Set(wholes.keys).isSubset(of: known), "\(wholes)")
        #expect(Set(records.keys).isSubset(of: known), "\(records)")
        #expect((wholes["ok"] ?? 0) > 400 && (wholes["malformed"] ?? 0) > 400, "both paths reached: \(wholes)")
        #expect((records["ok"] ?? 0) > 400 && (records["malformed"] ?? 0) > 100, "records judged one by one: \(records)")
    }

    static func mutations(of seeds: [[UInt8]], count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SeededRandom(seed: seed)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }
        var out: [[UInt8]] = []
        while out.count < count {
            var b = seeds[pick(seeds.count)]
            for _ in 0...pick(2) {
                guard !b.isEmpty else { break }
                let i = pick(b.count)
                switch pick(6) {
                case 0: b[i] ^= UInt8(1 << pick(8))
                case 1: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                case 2: b.removeSubrange(i..<min(b.count, i + 1 + pick(8)))
                case 3: b.insert(contentsOf: b[i..<min(b.count, i + 1 + pick(64))], at: pick(b.count))
                case 4: if let d = b[i...].firstIndex(where: { (48...57).contains($0) }) { b[d] = UInt8(48 + pick(10)) }
                default: b.insert(contentsOf: Array(["\"", "{", "}", "[", "]", ",", "\\", "null", "{}"][pick(9)].utf8), at: i)
                }
            }
            out.append(b)
        }
        return out
    }
}
