import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The node's outbox on disk: records survive `kill -9` and (with `.everyRecord`) power loss.
///
/// Layout of the directory (Docs/telemetry.md, "Durable outbox"):
/// - `seg-<n>.log`: append-only segment files of framed records (`OutboxFrame`: length +
///   CRC-32). A crash can only tear the last frame of the newest segment; opening the
///   outbox cuts any frame that fails its checks, so a torn record is discarded, never misread.
/// - `acks.log`: the hub's acknowledgements (boot, upTo), framed the same way. Losing its tail
///   only means records are sent again, which the hub ignores.
/// - `boot`: the last boot epoch claimed, so a restart within the same second never reuses one.
///
/// A segment is deleted when every record in it is acknowledged. Disk use (segment bytes) is
/// bounded by `maxBytes`; when it fills, new records are refused lowest priority first
/// (`Admission`), before they get a sequence number, so the hub never waits on a hole.
/// Not thread-safe: the publisher calls it under its lock.
public final class DurableOutbox: RecordOutbox {
    public enum SyncPolicy: String, Sendable {
        /// `fdatasync` after every record: survives power loss; a few ms per record on flash.
        case everyRecord = "every-record"
        /// Page cache only (synced at segment rotation): survives a process crash, not power loss.
        case onRotate = "on-rotate"
    }

    /// Fractions of `maxBytes` up to which each kind is still accepted: status goes first,
    /// then frames and anomalies, alerts last.
    public struct Admission: Sendable, Equatable {
        public var status = 0.80
        public var frame = 0.95
        public var alert = 1.0
        public init() {}

        func fraction(forTopic topic: String) -> Double {
            switch topic.split(separator: "/").last {
            case "status": status
            case "alert": alert
            default: frame // frame, anomaly
            }
        }
    }

    public struct Options: Sendable {
        public var maxBytes: Int = 1 << 30
        public var segmentBytes: Int = 8 << 20
        public var sync: SyncPolicy = .everyRecord
        public var admission = Admission()
        public init(maxBytes: Int = 1 << 30, segmentBytes: Int = 8 << 20, sync: SyncPolicy = .everyRecord) {
            self.maxBytes = maxBytes; self.segmentBytes = segmentBytes; self.sync = sync
        }
    }

    /// What opening the outbox found.
    public struct Recovery: Sendable, Equatable {
        public var records = 0
        public var alreadyAcknowledged = 0
        /// Bytes cut from segment ends because they did not form a whole valid frame.
        public var tornBytesDiscarded = 0
    }

    public enum Failure: Error, CustomStringConvertible {
        case io(String)
        case outOfOrder(OutboxKey, after: OutboxKey)
        public var description: String {
            switch self {
            case let .io(m): m
            case let .outOfOrder(k, last): "record \(k) appended after \(last): keys must increase"
            }
        }
    }

    private struct Entry {
        var key: OutboxKey
        var segment: Int
        var offset: Int
        var length: Int
    }

    private struct Segment {
        var bytes = 0
        var live = 0
    }

    public let directory: URL
    public let options: Options
    public let capacity = Int.max
    public private(set) var recovery = Recovery()
    /// Records refused because the outbox was full, by kind (topic's last level).
    public private(set) var dropped: [String: Int] = [:]

    private var entries: [Entry] = []
    private var head = 0
    private var segments: [Int: Segment] = [:]
    private var active: (id: Int, fd: Int32)?
    private var nextSegmentID = 1
    private var acked: [UInt64: UInt64] = [:]
    private var acksFD: Int32 = -1
    private var acksBytes = 0
    /// The newest records as appended, so the sender publishes them without reading them back
    /// (open + pread + CRC per record). Bounded: at most `recentLimit` records and
    /// `recentByteLimit` payload bytes; older ones are read from their segment as before.
    private var recent: [OutboxKey: PendingRecord] = [:]
    /// Slots the recent-record cache's order list holds, stepped-over ones included (tests
    /// check it stays bounded).
    var recentOrderStorage: Int { recentOrder.count }
    private var recentOrder: [OutboxKey] = []
    private var recentHead = 0
    private var recentBytes = 0
    static let recentLimit = 2048
    static let recentByteLimit = 2 << 20

    public init(directory: URL, options: Options = Options()) throws {
        self.directory = directory
        self.options = options
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try loadAcks()
        try loadSegments()
        try openAcksLog(rewrite: true)
    }

    deinit {
        if let a = active { close(a.fd) }
        if acksFD >= 0 { close(acksFD) }
    }

    public var count: Int { entries.count - head }

    /// Bytes of segment files on disk (what `maxBytes` bounds).
    public var bytesOnDisk: Int { diskBytes }
    private var diskBytes = 0

    public var segmentCount: Int { segments.count }

    /// Returns a boot epoch for this run: `proposed` unless an earlier run used it or later,
    /// and records it durably before returning.
    public func claimBoot(proposed: UInt64) throws -> UInt64 {
        let file = directory.appendingPathComponent("boot")
        var last: UInt64 = 0
        if let text = try? String(contentsOf: file, encoding: .utf8), let v = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            last = v
        }
        last = max(last, entries.last?.key.boot ?? 0, acked.keys.max() ?? 0)
        let boot = max(proposed, last + 1)
        let tmp = directory.appendingPathComponent("boot.tmp")
        try writeDurably(Array("\(boot)\n".utf8), to: tmp)
        guard rename(tmp.path, file.path) == 0 else { throw Failure.io("cannot rename \(tmp.path): \(errnoText())") }
        try syncDirectory()
        return boot
    }

    public func append(_ record: PendingRecord) throws -> Bool {
        if let last = entries.last, record.key <= last.key {
            throw Failure.outOfOrder(record.key, after: last.key)
        }
        let frame = OutboxFrame.encode(record)
        let limit = Int(Double(options.maxBytes) * options.admission.fraction(forTopic: record.topic))
        guard diskBytes + frame.count <= limit else {
            dropped[String(record.topic.split(separator: "/").last ?? ""), default: 0] += 1
            return false
        }
        if active == nil || segments[active!.id]!.bytes + frame.count > options.segmentBytes {
            try rotate()
        }
        let (id, fd) = active!
        let offset = segments[id]!.bytes
        if let error = writeAll(fd, frame) {
            // Leave no half frame behind for the next append to follow.
            _ = ftruncate(fd, off_t(offset))
            throw Failure.io("cannot append to segment \(id): \(error)")
        }
        if options.sync == .everyRecord && fdatasync(fd) != 0 {
            // Not on disk, so not stored: refuse the record rather than report it kept.
            let reason = errnoText()
            _ = ftruncate(fd, off_t(offset))
            throw Failure.io("cannot sync segment \(id): \(reason)")
        }
        segments[id]!.bytes += frame.count
        segments[id]!.live += 1
        diskBytes += frame.count
        entries.append(Entry(key: record.key, segment: id, offset: offset, length: frame.count))
        remember(record)
        return true
    }

    public func removeThrough(boot: UInt64, upTo: UInt64) throws -> Int {
        guard upTo > (acked[boot] ?? 0) else { return 0 }
        acked[boot] = upTo
        try logAck(boot: boot, upTo: upTo)
        // This boot's records are one contiguous run of the sorted index.
        let start = lowerBound(OutboxKey(boot: boot, seq: 0))
        var end = start
        while end < entries.count, entries[end].key.boot == boot, entries[end].key.seq <= upTo { end += 1 }
        let removed = end - start
        guard removed > 0 else { return 0 }
        for e in entries[start..<end] {
            release(e.segment)
            forget(e.key)
        }
        if start == head {
            head = end
            if head > 4096 && head * 2 > entries.count {
                entries.removeFirst(head)
                head = 0
            }
        } else {
            entries.removeSubrange(start..<end)
        }
        return removed
    }

    public func pending() throws -> [PendingRecord] { try pending(after: nil, limit: Int.max) }

    public func pending(after key: OutboxKey?, limit: Int) throws -> [PendingRecord] {
        let first = key.map { upperBound($0) } ?? head
        let last = min(entries.count, first + max(0, min(limit, entries.count)))
        guard first < last else { return [] }
        var out: [PendingRecord] = []
        out.reserveCapacity(last - first)
        var fds: [Int: Int32] = [:]
        defer { for fd in fds.values { close(fd) } }
        for e in entries[first..<last] {
            if let r = recent[e.key] {
                out.append(r)
                continue
            }
            let fd: Int32
            if let f = fds[e.segment] { fd = f } else {
                fd = open(segmentURL(e.segment).path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw Failure.io("cannot open segment \(e.segment): \(errnoText())") }
                fds[e.segment] = fd
            }
            var frame = [UInt8](repeating: 0, count: e.length)
            let n = frame.withUnsafeMutableBytes { pread(fd, $0.baseAddress, e.length, off_t(e.offset)) }
            guard n == e.length, let r = OutboxFrame.decode(frame), r.key == e.key else {
                throw Failure.io("segment \(e.segment) at \(e.offset) no longer holds record \(e.key)")
            }
            out.append(r)
        }
        return out
    }

    public func count(through key: OutboxKey) -> Int { upperBound(key) - head }

    // MARK: segments

    private func segmentURL(_ id: Int) -> URL {
        directory.appendingPathComponent(String(format: "seg-%012d.log", id))
    }

    private func rotate() throws {
        if let a = active {
            // With `onRotate` this is where the segment's records reach the disk; a failure is
            // reported (the append that rotates fails) rather than passed over.
            let synced = fdatasync(a.fd) == 0
            let reason = synced ? "" : errnoText()
            close(a.fd)
            active = nil
            if segments[a.id]?.live == 0 { dropSegment(a.id) }
            guard synced else { throw Failure.io("cannot sync segment \(a.id): \(reason)") }
        }
        let id = nextSegmentID
        nextSegmentID += 1
        let fd = open(segmentURL(id).path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure.io("cannot create segment \(segmentURL(id).path): \(errnoText())") }
        // The new file's name must survive a power cut before records in it count as stored.
        do { try syncDirectory() } catch {
            close(fd)
            unlink(segmentURL(id).path)
            throw error
        }
        active = (id, fd)
        segments[id] = Segment()
    }

    private func remember(_ record: PendingRecord) {
        recent[record.key] = record
        recentOrder.append(record.key)
        recentBytes += record.payload.count
        while recent.count > Self.recentLimit || recentBytes > Self.recentByteLimit, recentHead < recentOrder.count {
            forget(recentOrder[recentHead])
            recentHead += 1
        }
        // Acknowledged records were already forgotten (in order, acks are cumulative): step
        // over them too, or the order list would grow by a key per record while the hub keeps up.
        while recentHead < recentOrder.count, recent[recentOrder[recentHead]] == nil { recentHead += 1 }
        if recentHead > 4096 && recentHead * 2 > recentOrder.count {
            recentOrder.removeFirst(recentHead)
            recentHead = 0
        }
    }

    private func forget(_ key: OutboxKey) {
        if let r = recent.removeValue(forKey: key) { recentBytes -= r.payload.count }
    }

    private func release(_ id: Int) {
        segments[id]!.live -= 1
        guard segments[id]!.live == 0 else { return }
        if let a = active, a.id == id {
            // Emptied by acks while in use (the usual case when the hub keeps up): start it
            // over instead of creating a new file and syncing the directory for every record.
            if ftruncate(a.fd, 0) == 0 {
                diskBytes -= segments[id]!.bytes
                segments[id]!.bytes = 0
                return
            }
            close(a.fd)
            active = nil
        }
        dropSegment(id)
    }

    private func dropSegment(_ id: Int) {
        unlink(segmentURL(id).path)
        diskBytes -= segments[id]?.bytes ?? 0
        segments[id] = nil
    }

    private func loadSegments() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        let ids = names.compactMap { n -> Int? in
            guard n.hasPrefix("seg-"), n.hasSuffix(".log") else { return nil }
            return Int(n.dropFirst(4).dropLast(4))
        }.sorted()
        var lastKey: OutboxKey?
        for id in ids {
            let url = segmentURL(id)
            let data = try [UInt8](Data(contentsOf: url))
            var offset = 0
            var seg = Segment()
            var found: [Entry] = []
            data.withUnsafeBytes { b in
                while case let .record(boot, seq, length) = OutboxFrame.scan(b, at: offset) {
                    found.append(Entry(key: OutboxKey(boot: boot, seq: seq), segment: id, offset: offset, length: length))
                    offset += length
                }
            }
            if offset < data.count {
                recovery.tornBytesDiscarded += data.count - offset
                guard truncate(url.path, off_t(offset)) == 0 else { throw Failure.io("cannot cut the torn end of \(url.path): \(errnoText())") }
            }
            seg.bytes = offset
            for e in found {
                // Keys only ever increase; anything else is not ours to trust.
                if let l = lastKey, e.key <= l { continue }
                lastKey = e.key
                if e.key.seq <= (acked[e.key.boot] ?? 0) {
                    recovery.alreadyAcknowledged += 1
                    continue
                }
                seg.live += 1
                entries.append(e)
            }
            nextSegmentID = max(nextSegmentID, id + 1)
            segments[id] = seg
            diskBytes += seg.bytes
            if seg.live == 0 { dropSegment(id) }
        }
        recovery.records = entries.count
    }

    // MARK: acknowledgements

    private func loadAcks() throws {
        let url = directory.appendingPathComponent("acks.log")
        guard let data = try? [UInt8](Data(contentsOf: url)) else { return }
        var offset = 0
        data.withUnsafeBytes { b in
            while case let .record(boot, upTo, length) = OutboxFrame.scan(b, at: offset) {
                acked[boot] = max(acked[boot] ?? 0, upTo)
                offset += length
            }
        }
    }

    /// Opens `acks.log` for appending; `rewrite` first replaces it by the acks still useful.
    private func openAcksLog(rewrite: Bool) throws {
        let url = directory.appendingPathComponent("acks.log")
        if acksFD >= 0 { close(acksFD); acksFD = -1 }
        if rewrite {
            let boots = Set(entries[head...].map(\.key.boot))
            acked = acked.filter { boots.contains($0.key) }
            var bytes: [UInt8] = []
            for (boot, upTo) in acked.sorted(by: { $0.key < $1.key }) {
                bytes += OutboxFrame.encode(PendingRecord(boot: boot, seq: upTo, topic: "", payload: []))
            }
            let tmp = directory.appendingPathComponent("acks.tmp")
            try writeDurably(bytes, to: tmp)
            guard rename(tmp.path, url.path) == 0 else { throw Failure.io("cannot rename \(tmp.path): \(errnoText())") }
            acksBytes = bytes.count
        }
        acksFD = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard acksFD >= 0 else { throw Failure.io("cannot open \(url.path): \(errnoText())") }
    }

    private func logAck(boot: UInt64, upTo: UInt64) throws {
        // Not synced: a lost ack entry only makes the node send those records again.
        let frame = OutboxFrame.encode(PendingRecord(boot: boot, seq: upTo, topic: "", payload: []))
        if let error = writeAll(acksFD, frame) { throw Failure.io("cannot write acks.log: \(error)") }
        acksBytes += frame.count
        if acksBytes > 1 << 20 { try openAcksLog(rewrite: true) }
    }

    // MARK: index

    /// First index (from `head`) whose key is >= `key`.
    private func lowerBound(_ key: OutboxKey) -> Int {
        var lo = head, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].key < key { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// First index (from `head`) whose key is > `key`.
    private func upperBound(_ key: OutboxKey) -> Int {
        var lo = head, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].key <= key { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    // MARK: files

    private func writeDurably(_ bytes: [UInt8], to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure.io("cannot create \(url.path): \(errnoText())") }
        defer { close(fd) }
        if let error = writeAll(fd, bytes) { throw Failure.io("cannot write \(url.path): \(error)") }
        guard fsync(fd) == 0 else { throw Failure.io("cannot sync \(url.path): \(errnoText())") }
    }

    private func syncDirectory() throws {
        let fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure.io("cannot open \(directory.path) to sync it: \(errnoText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Failure.io("cannot sync \(directory.path): \(errnoText())") }
    }

    /// nil when every byte was written, else the reason.
    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { b -> String? in
            var done = 0
            while done < b.count {
                let n = write(fd, b.baseAddress! + done, b.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errnoText()
                }
                done += n
            }
            return nil
        }
    }
}

private func errnoText() -> String { String(cString: strerror(errno)) }
