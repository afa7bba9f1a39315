import Foundation
import SkyCore
import Testing
@testable import SkyTelemetry

/// How long the durable outbox lasts with the hub unreachable, measured by writing real
/// framed records (issue 5: 1 GiB must hold >= 24 h at one frame per 30 s with stamps).
///
/// Alert records have no body in schema v1, so their size is estimated as the stamps they
/// will carry: per candidate three 63x63 float32 stamps (science, reference, difference),
/// base64 in JSON, plus a few hundred bytes of measurements.
@Suite struct OutboxSizingTests {
    static let node = NodeAddress(site: "sizing", node: "cam1")

    static func alertPayload(boot: UInt64, seq: UInt64, candidates: Int) -> [UInt8] {
        var rng = SeededRandom(seed: seq)
        func stamp() -> String {
            var floats = [Float](repeating: 0, count: 63 * 63)
            for i in floats.indices { floats[i] = Float(rng.uniform(0, 60_000)) }
            return floats.withUnsafeBytes { Data($0).base64EncodedString() }
        }
        let list = (0..<candidates).map { c in
            """
            {"ra":\(150 + Double(c) * 0.01),"dec":\(2.2 + Double(c) * 0.01),"mag":18.25,"magErr":0.05,"snr":7.5,\
            "x":\(100 + c),"y":\(200 + c),"fwhm":2.8,"scores":{"real":0.91,"cosmic_ray":0.03,"bad_pixel":0.02,"satellite":0.02,"noise":0.02},\
            "science":"\(stamp())","reference":"\(stamp())","difference":"\(stamp())"}
            """
        }
        let text = """
        {"schema":1,"kind":"alert","site":"\(node.site)","node":"\(node.node)","boot":\(boot),"seq":\(seq),"time":1795600000.25,\
        "alert":{"frameIndex":\(seq),"stampSize":63,"stampType":"float32","candidates":[\(list.joined(separator: ","))]}}
        """
        return Array(text.utf8)
    }

    static func framePayload(boot: UInt64, seq: UInt64) throws -> [UInt8] {
        let f = FrameReport(frameIndex: seq, source: "v4l2:/dev/video0", dateObs: "2026-11-25T21:39:07.000", exptime: 30,
                            width: 4096, height: 4096, background: 1003.5, noise: 12.25, saturatedFraction: 0.0001, stars: 2345,
                            deadlineSeconds: 30, elapsedSeconds: 7.5, deadlineMet: true, slackSeconds: 22.5,
                            stages: ["calibrate", "background", "detect", "measure", "quality", "anomaly", "align", "subtract", "classify"]
                                .map { StageTiming(stage: $0, ms: 812.5) },
                            shed: [], flags: ["stars_truncated"])
        return try RecordCodec.encode(TelemetryRecord(kind: .frame, address: node, boot: boot, seq: seq, time: 1_795_600_000, frame: f))
    }

    static func statusPayload(boot: UInt64, seq: UInt64) throws -> [UInt8] {
        try RecordCodec.encode(TelemetryRecord(kind: .status, address: node, boot: boot, seq: seq, time: 1_795_600_000,
                                               status: StatusReport(framesCaptured: 123_456, framesProcessed: 123_456,
                                                                    recordsPublished: 370_000, recordsAcknowledged: 369_000,
                                                                    recordsDropped: 0, outboxDepth: 1000, deadlineMisses: 12,
                                                                    captureErrors: 1, lastError: "camera timeout")))
    }

    /// Appends `minutes` of a site's output (a frame every 30 s with its alert, a status every
    /// 10 s); returns, per minute, the refusals by kind so far.
    static func simulate(_ box: DurableOutbox, minutes: Int, candidates: Int, seq: inout UInt64) throws -> [[String: Int]] {
        var timeline: [[String: Int]] = []
        for _ in 0..<minutes {
            for second in stride(from: 0, to: 60, by: 10) {
                let boot: UInt64 = 1_795_000_000
                func add(_ kind: RecordKind, _ payload: [UInt8]) throws {
                    if try box.append(PendingRecord(boot: boot, seq: seq + 1, topic: Topics.record(node, kind), payload: payload)) { seq += 1 }
                }
                try add(.status, try statusPayload(boot: boot, seq: seq + 1))
                if second % 30 == 0 {
                    try add(.frame, try framePayload(boot: boot, seq: seq + 1))
                    try add(.alert, alertPayload(boot: boot, seq: seq + 1, candidates: candidates))
                }
            }
            timeline.append(box.dropped)
        }
        return timeline
    }

    @Test func oneGiBHoldsADayOfFramesWithStamps() throws {
        let dir = try TempDirectory("outbox-sizing")
        defer { dir.cleanup() }
        let box = try DurableOutbox(directory: dir.url, options: .init(maxBytes: 1 << 30, sync: .onRotate))
        var seq: UInt64 = 0
        _ = try Self.simulate(box, minutes: 60, candidates: 3, seq: &seq)
        let perHour = Double(box.bytesOnDisk)
        let hours = Double(1 << 30) / perHour
        let perCandidate = Double(Self.alertPayload(boot: 1, seq: 1, candidates: 4).count - Self.alertPayload(boot: 1, seq: 1, candidates: 3).count)
        let maxCandidates = (Double(1 << 30) / 24 / 120 - (perHour / 120 - 3 * perCandidate)) / perCandidate
        print(String(format: "outbox sizing: %.1f MB per hour (120 frames with 3 candidates each, 360 status), %.0f bytes per candidate; 1 GiB holds %.1f h; 24 h fits up to %.1f candidates per frame",
                     perHour / 1e6, perCandidate, hours, maxCandidates))
        #expect(box.count == Int(seq) && seq == 600)
        #expect(box.dropped.isEmpty)
        #expect(hours >= 24)
    }

    /// The hub stays away until the outbox is full (scaled down to 8 MiB): status is refused
    /// first, then frames, alerts last; everything held stays, without holes.
    @Test func whenTheLinkStaysDownTheOutboxFillsLowestPriorityFirst() throws {
        let dir = try TempDirectory("outbox-filling")
        defer { dir.cleanup() }
        let box = try DurableOutbox(directory: dir.url, options: .init(maxBytes: 8 << 20, segmentBytes: 1 << 20, sync: .onRotate))
        var seq: UInt64 = 0
        let timeline = try Self.simulate(box, minutes: 40, candidates: 3, seq: &seq)
        func firstMinute(_ kind: String) -> Int? { timeline.firstIndex { ($0[kind] ?? 0) > 0 } }
        let status = try #require(firstMinute("status")), frame = try #require(firstMinute("frame")),
            alert = try #require(firstMinute("alert"))
        print("outbox filling (8 MiB, link down): status refused from minute \(status), frames from \(frame), alerts from \(alert); after 40 min: \(box.dropped), \(box.count) held, \(box.bytesOnDisk) bytes")
        #expect(status < frame && frame <= alert)
        #expect(box.bytesOnDisk <= 8 << 20)
        #expect(try box.pending().map(\.seq) == Array(1...seq), "held records keep their place: no holes for the hub")
        // The link comes back: the hub acknowledges everything and the outbox takes status again.
        _ = try box.removeThrough(boot: 1_795_000_000, upTo: seq)
        #expect(box.bytesOnDisk == 0)
        #expect(try box.append(PendingRecord(boot: 1_795_000_000, seq: seq + 1, topic: Topics.record(Self.node, .status),
                                             payload: try Self.statusPayload(boot: 1_795_000_000, seq: seq + 1))))
    }
}
