import Foundation
import SkyCore
import Testing
@testable import SkyTelemetry

/// A fresh directory under the system temp dir, removed by `cleanup()`.
struct TempDirectory {
    let url: URL
    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func cleanup() { try? FileManager.default.removeItem(at: url) }
    func segments() -> [URL] {
        ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? [])
            .filter { $0.hasPrefix("seg-") }.sorted().map { url.appendingPathComponent($0) }
    }
}

func record(_ boot: UInt64, _ seq: UInt64, kind: String = "frame", bytes: Int = 40) -> PendingRecord {
    // Payload bytes depend on (boot, seq) so a record read from the wrong place cannot pass.
    let payload = (0..<bytes).map { UInt8(truncatingIfNeeded: Int(seq) &* 31 &+ Int(boot) &* 7 &+ $0) }
    return PendingRecord(boot: boot, seq: seq, topic: "skyedge/v1/s/n/\(kind)", payload: payload)
}

@Suite struct DurableOutboxTests {
    @Test func recordsSurviveReopeningAndAcknowledgementsAreRemembered() throws {
        let dir = try TempDirectory("outbox")
        defer { dir.cleanup() }
        let written = (1...50).map { record(7, UInt64($0)) }
        do {
            let box = try DurableOutbox(directory: dir.url, options: .init(segmentBytes: 1024, sync: .onRotate))
            for r in written { #expect(try box.append(r)) }
            #expect(box.count == 50)
            #expect(try box.removeThrough(boot: 7, upTo: 20) == 20)
            #expect(try box.pending() == Array(written[20...]))
        }
        let box = try DurableOutbox(directory: dir.url, options: .init(segmentBytes: 1024))
        #expect(box.recovery.tornBytesDiscarded == 0)
        #expect(try box.pending() == Array(written[20...]), "acknowledged records do not come back")
        #expect(box.count == 30)
        #expect(try box.pending(after: OutboxKey(boot: 7, seq: 40), limit: 5) == Array(written[40..<45]))
        #expect(box.count(through: OutboxKey(boot: 7, seq: 25)) == 5)
        #expect(try box.removeThrough(boot: 7, upTo: 50) == 30)
        #expect(box.count == 0)
        #expect(dir.segments().count <= 1, "fully acknowledged segments are deleted (the one in use is emptied)")
        #expect(try dir.segments().allSatisfy { try Data(contentsOf: $0).isEmpty })
        #expect(box.bytesOnDisk == 0)
        // It goes on appending into the emptied segment, and reads it back after reopening.
        #expect(try box.append(record(7, 51)))
        #expect(try DurableOutbox(directory: dir.url).pending() == [record(7, 51)])
    }

    /// A hub that keeps up acknowledges each record right after it is written: the cache of
    /// recent records must not keep a key per record ever written.
    @Test func promptAcknowledgementsKeepTheRecentCacheBounded() throws {
        let dir = try TempDirectory("outbox-acks")
        defer { dir.cleanup() }
        let box = try DurableOutbox(directory: dir.url, options: .init(segmentBytes: 1 << 20, sync: .onRotate))
        for seq in 1...20_000 as ClosedRange<UInt64> {
            #expect(try box.append(record(7, seq)))
            #expect(try box.removeThrough(boot: 7, upTo: seq) == 1)
        }
        #expect(box.recentOrderStorage <= 8_200, "order list holds \(box.recentOrderStorage) keys after 20,000 acknowledged records")
    }

    /// Cut the file at every byte: whatever was whole is read back exactly, the rest is discarded.
    @Test func aTornLastRecordIsDiscardedAtEveryCutPoint() throws {
        let dir = try TempDirectory("outbox-torn")
        defer { dir.cleanup() }
        let written = (1...4).map { record(3, UInt64($0), bytes: 10 + $0 * 5) }
        do {
            let box = try DurableOutbox(directory: dir.url)
            for r in written { #expect(try box.append(r)) }
        }
        let segment = try #require(dir.segments().first)
        let full = try Data(contentsOf: segment)
        let ends = written.reduce(into: [0]) { $0.append($0.last! + OutboxFrame.encode($1).count) }
        #expect(ends.last == full.count)
        for cut in 0...full.count {
            let copy = try TempDirectory("outbox-cut")
            defer { copy.cleanup() }
            try full.prefix(cut).write(to: copy.url.appendingPathComponent(segment.lastPathComponent))
            let box = try DurableOutbox(directory: copy.url)
            let whole = ends.lastIndex { $0 <= cut }!
            #expect(try box.pending() == Array(written.prefix(whole)), "cut at \(cut)")
            #expect(box.recovery.tornBytesDiscarded == cut - ends[whole])
            // The outbox goes on appending after the cut, and reads it back.
            #expect(try box.append(record(4, 1)))
            let again = try DurableOutbox(directory: copy.url)
            #expect(try again.pending() == Array(written.prefix(whole)) + [record(4, 1)])
        }
    }

    @Test func aCorruptedByteFailsTheChecksumAndEndsTheReadableLog() throws {
        let dir = try TempDirectory("outbox-crc")
        defer { dir.cleanup() }
        let written = (1...5).map { record(1, UInt64($0)) }
        do {
            let box = try DurableOutbox(directory: dir.url)
            for r in written { #expect(try box.append(r)) }
        }
        let segment = try #require(dir.segments().first)
        var bytes = try [UInt8](Data(contentsOf: segment))
        let frameBytes = OutboxFrame.encode(written[0]).count
        bytes[frameBytes * 4 + 30] ^= 0x40 // inside the payload of the fifth record
        try Data(bytes).write(to: segment)
        let box = try DurableOutbox(directory: dir.url)
        #expect(try box.pending() == Array(written.prefix(4)), "never misread, never returned")
        #expect(box.recovery.tornBytesDiscarded == frameBytes)
    }

    @Test func recordsOfEarlierBootsStayUntilTheirOwnBootIsAcknowledged() throws {
        let dir = try TempDirectory("outbox-boots")
        defer { dir.cleanup() }
        do {
            let box = try DurableOutbox(directory: dir.url)
            #expect(try box.claimBoot(proposed: 100) == 100)
            for s in 1...3 { #expect(try box.append(record(100, UInt64(s)))) }
        }
        let box = try DurableOutbox(directory: dir.url)
        // Restarted within the same second: the boot must still be new.
        let boot = try box.claimBoot(proposed: 100)
        #expect(boot == 101)
        #expect(try box.append(record(boot, 1)))
        #expect(throws: DurableOutbox.Failure.self) { try box.append(record(100, 9)) }
        #expect(try box.removeThrough(boot: boot, upTo: 1) == 1)
        #expect(try box.pending().map(\.key) == (1...3).map { OutboxKey(boot: 100, seq: UInt64($0)) })
        #expect(try box.removeThrough(boot: 100, upTo: 3) == 3)
        #expect(box.count == 0)
        #expect(try DurableOutbox(directory: dir.url).claimBoot(proposed: 5) == 102)
    }

    /// Full: status is refused first (at 80 %), then frames (95 %), alerts last (100 %); each
    /// refusal is counted by kind, nothing already held is touched, and acks make room again.
    @Test func whenFullItRefusesLowestPriorityFirstAndCounts() throws {
        let dir = try TempDirectory("outbox-full")
        defer { dir.cleanup() }
        let box = try DurableOutbox(directory: dir.url,
                                    options: .init(maxBytes: 100_000, segmentBytes: 10_000, sync: .onRotate))
        var seq: UInt64 = 0
        func add(_ kind: String) throws -> Bool {
            let ok = try box.append(record(1, seq + 1, kind: kind, bytes: 900))
            if ok { seq += 1 }
            return ok
        }
        while try add("status") {}
        #expect(box.bytesOnDisk <= 80_000 && box.bytesOnDisk > 79_000)
        #expect(box.dropped == ["status": 1])
        while try add("frame") {}
        #expect(box.bytesOnDisk <= 95_000 && box.bytesOnDisk > 94_000)
        #expect(try !add("status"))
        while try add("alert") {}
        #expect(box.bytesOnDisk <= 100_000)
        #expect(try !add("frame"))
        #expect(box.dropped == ["status": 2, "frame": 2, "alert": 1])
        #expect(box.count == Int(seq))
        #expect(try box.pending().map(\.seq) == Array(1...seq), "held records are never evicted: no holes")
        // Acknowledging the first half frees whole segments and status fits again.
        _ = try box.removeThrough(boot: 1, upTo: seq / 2)
        #expect(box.bytesOnDisk < 60_000)
        #expect(try add("status"))
    }
}
