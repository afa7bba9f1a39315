import Foundation
import SkyCore
import SkyTelemetry
import Testing
@testable import SkyHub

/// The hub's decoder against the kept corpus (Tests/SkyHubTests/Corpus: file names say the
/// expected verdict) and against deterministic mutations of it: every payload is either a
/// valid record that re-encodes stably, or refused with one of the documented reasons.
@Suite struct DecoderFuzzTests {
    static let corpusDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")
    static let reasons: Set<String> = ["too_large", "malformed", "unsupported_schema", "invalid_field", "topic_mismatch"]

    struct Seed { var name: String; var expected: String; var bytes: [UInt8] }

    static func corpus() throws -> [Seed] {
        // Corpus/batch holds batch envelopes (BatchDecoderTests).
        try FileManager.default.contentsOfDirectory(atPath: corpusDirectory.path).sorted().filter { $0 != "batch" }.map { name in
            let bytes = try [UInt8](Data(contentsOf: corpusDirectory.appendingPathComponent(name)))
            return Seed(name: name, expected: String(name.prefix { $0 != "-" }), bytes: bytes)
        }
    }

    static func topic(for name: String) -> String {
        Topics.record(NodeAddress(site: "corpus", node: "n1"), name.contains("status") ? .status : .frame)
    }

    /// "ok" or the refusal reason; a valid record must also survive encode/decode unchanged.
    static func verdict(_ bytes: [UInt8], topic: String) -> String {
        do {
            let r = try HubIngest.validate(bytes, topic: topic)
            guard let once = try? RecordCodec.encode(r), let back = try? RecordCodec.decode(once, topic: topic),
                  let twice = try? RecordCodec.encode(back), once == twice else { return "unstable" }
            guard r.schema == TelemetryRecord.schemaVersion, Identifier.isValid(r.site), Identifier.isValid(r.node),
                  r.kind.isSequenced == (r.seq > 0), r.time.isFinite else { return "invariant" }
            return "ok"
        } catch {
            return error.reason
        }
    }

    @Test func corpusFilesGetTheirExpectedVerdict() throws {
        let seeds = try Self.corpus()
        #expect(seeds.count >= 25)
        for s in seeds {
            #expect(Self.verdict(s.bytes, topic: Self.topic(for: s.name)) == s.expected, "\(s.name)")
        }
        // Over the size limit, whatever the content.
        let big = [UInt8](repeating: UInt8(ascii: " "), count: RecordCodec.maxPayloadBytes) + seeds[0].bytes
        #expect(Self.verdict(big, topic: Self.topic(for: "")) == "too_large")
    }

    /// Deterministic mutations of the corpus: flips, insertions, deletions, duplications,
    /// splices and digit changes.
    static func mutations(count: Int, seed: UInt64) throws -> [(topic: String, bytes: [UInt8])] {
        let seeds = try corpus().filter { !$0.bytes.isEmpty }
        var rng = SeededRandom(seed: seed)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }
        var out: [(String, [UInt8])] = []
        while out.count < count {
            let s = seeds[pick(seeds.count)]
            var b = s.bytes
            for _ in 0...pick(3) {
                guard !b.isEmpty else { break }
                let i = pick(b.count)
                switch pick(7) {
                case 0: b[i] ^= UInt8(1 << pick(8))
                case 1: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                case 2: b.removeSubrange(i..<min(b.count, i + 1 + pick(16)))
                case 3: b.insert(contentsOf: b[i..<min(b.count, i + 1 + pick(32))], at: pick(b.count))
                case 4:
                    let other = seeds[pick(seeds.count)].bytes
                    let j = pick(other.count)
                    b = Array(b[..<i]) + Array(other[j...])
                case 5:
                    if let d = b[i...].firstIndex(where: { (48...57).contains($0) }) { b[d] = UInt8(48 + pick(10)) }
                default:
                    b.insert(contentsOf: Array(["1e309", "-0", "18446744073709551615", "null", "\"\\u0000\"", "[]", "{}", "\u{FEFF}"][pick(8)].utf8), at: i)
                }
            }
            out.append((topic(for: s.name), b))
        }
        return out
    }

    @Test func mutationsNeverCrashAndAreValidOrRefusedWithAKnownReason() throws {
        var verdicts: [String: Int] = [:]
        for m in try Self.mutations(count: 8000, seed: 5) { verdicts[Self.verdict(m.bytes, topic: m.topic), default: 0] += 1 }
        #expect(verdicts.keys.allSatisfy { $0 == "ok" || Self.reasons.contains($0) }, "\(verdicts)")
        #expect(verdicts.values.reduce(0, +) == 8000)
        #expect((verdicts["malformed"] ?? 0) > 1000, "the mutations reach the refusal paths: \(verdicts)")
    }

    /// 1,000 refused payloads through a real broker, interleaved with valid records: the hub
    /// counts every refusal by reason, stores every valid record, and keeps acknowledging.
    @Test func aThousandBadPayloadsThroughTheBrokerAreCountedAndTheHubGoesOn() throws {
        let broker = try LocalMosquitto()
        let dir = try TempDir()
        let store = try HubStore(path: dir.path("hub.sqlite"))
        let ingest = try HubIngest(store: store, configuration: config(broker, "hub"), log: { _ in })
        ingest.start()
        #expect(ingest.waitUntilReady(timeout: 5))
        let sender = try MQTTClient(configuration: config(broker, "sender"))
        sender.connect()
        #expect(sender.waitForConnection(timeout: 5))

        var bad: [(topic: String, bytes: [UInt8], reason: String)] = []
        for m in try Self.mutations(count: 4000, seed: 11) where bad.count < 1000 {
            let v = Self.verdict(m.bytes, topic: m.topic)
            if v != "ok" { bad.append((m.topic, m.bytes, v)) }
        }
        #expect(bad.count == 1000)
        let a = NodeAddress(site: "fuzzed", node: "n1")
        let valid = (1...50).map { frameRecord(a, boot: 77, seq: UInt64($0), frame($0)) }
        for (i, m) in bad.enumerated() {
            try sender.publish(topic: m.topic, payload: m.bytes)
            if i % 20 == 0 { try sender.publish(topic: Topics.record(a, .frame), payload: encoded(valid[i / 20])) }
            if i % 100 == 99 { sender.waitForPublishes(timeout: 10) }
        }
        #expect(sender.waitForPublishes(timeout: 10))
        #expect(eventually(timeout: 20) { ingest.statistics.received == bad.count + valid.count })
        #expect(ingest.waitUntilIdle(timeout: 10))
        var expected: [String: Int] = [:]
        for b in bad { expected[b.reason, default: 0] += 1 }
        #expect(try store.rejectedCounts() == expected)
        #expect(ingest.statistics.rejected == 1000)
        #expect(try store.records(site: a.site, node: a.node) == valid)
        #expect(try store.acknowledgedUpTo(site: a.site, node: a.node, boot: 77) == 50)
        sender.disconnect()
        ingest.stop()
    }
}
