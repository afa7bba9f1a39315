/// One encoded record waiting for the hub's acknowledgement.
public struct PendingRecord: Sendable, Equatable {
    public var boot: UInt64
    public var seq: UInt64
    public var topic: String
    public var payload: [UInt8]

    public init(boot: UInt64, seq: UInt64, topic: String, payload: [UInt8]) {
        self.boot = boot; self.seq = seq; self.topic = topic; self.payload = payload
    }
}

/// Where a node keeps records between publishing them and the hub's acknowledgement.
///
/// The publisher calls it under its own lock, so implementations need no locking. A
/// durable outbox (records that survive a restart) implements the same protocol; it may
/// hold records of earlier boots, which are re-sent and trimmed by their own boot's acks.
public protocol RecordOutbox: AnyObject {
    /// Most records held at once; `append` refuses beyond it.
    var capacity: Int { get }
    var count: Int { get }
    /// Stores a record; false when full (nothing stored).
    func append(_ record: PendingRecord) throws -> Bool
    /// Deletes the records of `boot` with `seq <= upTo`; returns how many were deleted.
    func removeThrough(boot: UInt64, upTo: UInt64) throws -> Int
    /// Every held record, oldest first.
    func pending() throws -> [PendingRecord]
    /// Up to `limit` held records after `key` (from the oldest when nil), oldest first.
    func pending(after key: OutboxKey?, limit: Int) throws -> [PendingRecord]
    /// How many held records have a key at or before `key`.
    func count(through key: OutboxKey) -> Int
}

/// A record's place in a node's history: boots increase, and seq increases within a boot,
/// so records are appended in key order (the publisher numbers them under one lock).
public struct OutboxKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var boot: UInt64
    public var seq: UInt64
    public init(boot: UInt64, seq: UInt64) { self.boot = boot; self.seq = seq }
    public static func < (a: OutboxKey, b: OutboxKey) -> Bool { (a.boot, a.seq) < (b.boot, b.seq) }
    public var description: String { "\(boot)/\(seq)" }
}

extension PendingRecord {
    public var key: OutboxKey { OutboxKey(boot: boot, seq: seq) }
}

// Plain implementations for small outboxes; the durable outbox answers from its index.
extension RecordOutbox {
    public func pending(after key: OutboxKey?, limit: Int) throws -> [PendingRecord] {
        Array(try pending().lazy.filter { key == nil || $0.key > key! }.prefix(max(0, limit)))
    }

    public func count(through key: OutboxKey) -> Int {
        ((try? pending()) ?? []).lazy.filter { $0.key <= key }.count
    }
}

/// The outbox in memory: lost with the process, bounded by `capacity`.
public final class InMemoryOutbox: RecordOutbox {
    public let capacity: Int
    private var records: [PendingRecord] = []

    public init(capacity: Int = 10_000) {
        self.capacity = max(1, capacity)
    }

    public var count: Int { records.count }

    public func append(_ record: PendingRecord) -> Bool {
        guard records.count < capacity else { return false }
        records.append(record)
        return true
    }

    public func removeThrough(boot: UInt64, upTo: UInt64) -> Int {
        let before = records.count
        // Acks usually cover a prefix: drop it without touching the rest.
        let prefix = records.prefix { $0.boot == boot && $0.seq <= upTo }.count
        records.removeFirst(prefix)
        if records.contains(where: { $0.boot == boot && $0.seq <= upTo }) {
            records.removeAll { $0.boot == boot && $0.seq <= upTo }
        }
        return before - records.count
    }

    public func pending() -> [PendingRecord] { records }
}
