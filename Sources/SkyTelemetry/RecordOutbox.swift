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
