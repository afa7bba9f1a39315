import Foundation
import GRDB
import SkyCore

/// A record that decoded cleanly, with the bytes it arrived as.
public struct IncomingRecord: Sendable {
    public var record: TelemetryRecord
    public var payload: [UInt8]
    /// Hub time of arrival, Unix seconds.
    public var receivedAt: Double

    public init(record: TelemetryRecord, payload: [UInt8], receivedAt: Double) {
        self.record = record; self.payload = payload; self.receivedAt = receivedAt
    }
}

/// A payload the hub refused.
public struct Rejection: Sendable {
    /// A `RecordDecodingError.reason`, e.g. `malformed`, `too_large`, `topic_mismatch`.
    public var reason: String
    public var topic: String
    public var detail: String
    public var receivedAt: Double

    public init(reason: String, topic: String, detail: String, receivedAt: Double) {
        self.reason = reason; self.topic = topic; self.detail = detail; self.receivedAt = receivedAt
    }
}

public struct IngestOutcome: Sendable, Equatable {
    /// Sequenced records newly stored.
    public var stored = 0
    /// Sequenced records already in the store (replays, duplicates).
    public var duplicates = 0
    /// Records whose (site, node, boot, seq) is stored with different content: two runs of
    /// a node under one boot. Never silent: counted as the rejection reason `conflict`.
    public var conflicts = 0
    /// Births and deaths recorded.
    public var events = 0
    public var rejected = 0
    /// The cumulative acknowledgement of every (site, node, boot) touched by the batch.
    public var acknowledgements: [Acknowledgement] = []
}

/// What the hub knows about one node.
public struct NodeState: Sendable, Equatable, Codable {
    public var site: String
    public var node: String
    public var boot: UInt64
    /// `alive` or `dead`.
    public var state: String
    public var deathReason: String?
    public var board: String?
    public var software: String?
    public var lastBirth: Double?
    /// Hub time of the last message from the node, Unix seconds.
    public var lastSeen: Double
}

/// The hub's SQLite store (one file, WAL): records, frames, nodes, acknowledgements, refusals.
public final class HubStore: Sendable {
    public let path: String
    let pool: DatabasePool

    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(5)
        pool = try DatabasePool(path: path, configuration: config) // DatabasePool runs in WAL mode
        // GRDB sets synchronous = NORMAL with WAL: a commit then survives a crash of the hub but not
        // a power cut, and the hub acknowledges (so sites delete) right after the commit. FULL
        // syncs the WAL at every commit: one fsync per batch, not per record.
        try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        try HubStoreSchema.migrator().migrate(pool)
    }

    /// Stores one batch in one transaction and returns the acknowledgements to publish.
    public func ingest(_ records: [IncomingRecord], rejections: [Rejection] = []) throws -> IngestOutcome {
        try pool.write { db in
            var outcome = IngestOutcome()
            var touched: [AckKey] = []
            var seen = Set<AckKey>()
            // Presence is written once per node per batch, after the records (see insertSequenced).
            var presence: [NodeAddress: (boot: Int64, seen: Double)] = [:]
            var conflicts: [Rejection] = []
            for item in records {
                let r = item.record
                let key = AckKey(site: r.site, node: r.node, boot: r.boot)
                switch r.kind {
                case .birth, .death:
                    try Self.insertEvent(db, item)
                    outcome.events += 1
                default:
                    if try Self.insertSequenced(db, item) {
                        outcome.stored += 1
                    } else if try Self.sameAsStored(db, item) {
                        outcome.duplicates += 1
                    } else {
                        outcome.conflicts += 1
                        conflicts.append(Rejection(reason: "conflict", topic: Topics.record(r.address, r.kind),
                                                   detail: "seq \(r.seq) of boot \(r.boot) is stored with other content",
                                                   receivedAt: item.receivedAt))
                    }
                    if seen.insert(key).inserted { touched.append(key) }
                    let a = NodeAddress(site: r.site, node: r.node), p = presence[a]
                    presence[a] = (max(p?.boot ?? 0, Int64(r.boot)), max(p?.seen ?? -.infinity, item.receivedAt))
                }
            }
            // Any record says the node is there; a newer boot means it restarted (alive again).
            // Once per node with the batch's newest boot and time ends the same as once per record.
            for (a, p) in presence {
                try db.cachedStatement(sql: """
                    INSERT INTO nodes (site, node, boot, state, last_seen) VALUES (?, ?, ?, 'alive', ?)
                    ON CONFLICT (site, node) DO UPDATE SET
                        state = CASE WHEN excluded.boot > nodes.boot THEN 'alive' ELSE nodes.state END,
                        death_reason = CASE WHEN excluded.boot > nodes.boot THEN NULL ELSE nodes.death_reason END,
                        boot = max(nodes.boot, excluded.boot),
                        last_seen = max(nodes.last_seen, excluded.last_seen)
                    """).execute(arguments: [a.site, a.node, p.boot, p.seen])
            }
            // Every touched boot, even at 0 (its first records missing): the ingest publishes only
            // positive acknowledgements but looks for holes in all of them.
            for key in touched {
                let upTo = try Self.advanceAck(db, key)
                outcome.acknowledgements.append(Acknowledgement(site: key.site, node: key.node, boot: key.boot, upTo: upTo))
            }
            try Self.countRejections(db, rejections + conflicts)
            outcome.rejected = rejections.count
            return outcome
        }
    }

    // MARK: reading

    /// Sequenced records of a node, decoded from the stored payloads, by boot and seq.
    public func records(site: String, node: String) throws -> [TelemetryRecord] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT payload FROM records WHERE site = ? AND node = ? ORDER BY boot, seq",
                                arguments: [site, node])
        }.map { try RecordCodec.decode(Array($0.utf8)) }
    }

    /// Births and deaths of a node, in arrival order.
    public func events(site: String, node: String) throws -> [TelemetryRecord] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT payload FROM node_events WHERE site = ? AND node = ? ORDER BY id",
                                arguments: [site, node])
        }.map { try RecordCodec.decode(Array($0.utf8)) }
    }

    /// SQLite's `synchronous` level on the connection that writes (2 = FULL).
    public func writerSynchronousLevel() throws -> Int {
        try pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func recordCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM records") ?? 0 }
    }

    public func frameCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM frames") ?? 0 }
    }

    /// Refused payloads by reason.
    public func rejectedCounts() throws -> [String: Int] {
        try pool.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT reason, count FROM rejected").map {
                (row: Row) -> (String, Int) in (row["reason"], row["count"])
            })
        }
    }

    public func nodes() throws -> [NodeState] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM nodes ORDER BY site, node").map(Self.nodeState)
        }
    }

    /// The highest seq acknowledged for a boot (0 when none).
    public func acknowledgedUpTo(site: String, node: String, boot: UInt64) throws -> UInt64 {
        guard let b = Int64(exactly: boot) else { return 0 }
        let v = try pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT up_to FROM acks WHERE site = ? AND node = ? AND boot = ?",
                               arguments: [site, node, b])
        }
        return UInt64(max(0, v ?? 0))
    }

    // MARK: writing

    struct AckKey: Hashable {
        var site: String
        var node: String
        var boot: UInt64
    }

    /// SQLite integers are signed 64-bit; the hub refuses larger boot or seq values.
    public static func fitsInStore(_ r: TelemetryRecord) -> Bool {
        Int64(exactly: r.boot) != nil && Int64(exactly: r.seq) != nil && Int64(exactly: r.frame?.frameIndex ?? 0) != nil
    }

    private static func insertSequenced(_ db: Database, _ item: IncomingRecord) throws -> Bool {
        let r = item.record
        let boot = Int64(r.boot), seq = Int64(r.seq)
        // Cached statements: parsing the SQL for every record costs more than the insert.
        try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO records (site, node, boot, seq, kind, time, received_at, schema, payload)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [r.site, r.node, boot, seq, r.kind.rawValue, r.time, item.receivedAt, r.schema,
                                     String(decoding: item.payload, as: UTF8.self)])
        let inserted = db.changesCount > 0
        if inserted, let f = r.frame {
            try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO frames (site, node, boot, seq, time, frame_index, source, date_obs, exptime,
                    width, height, background, noise, saturated_fraction, stars, deadline_seconds, elapsed_seconds,
                    deadline_met, slack_seconds, shed, flags, score, verdict, fwhm, cloud_fraction, trails)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [r.site, r.node, boot, seq, r.time, Int64(f.frameIndex), f.source, f.dateObs, f.exptime,
                                 f.width, f.height, f.background, f.noise, f.saturatedFraction, f.stars,
                                 f.deadlineSeconds, f.elapsedSeconds, f.deadlineMet, f.slackSeconds,
                                 jsonList(f.shed), jsonList(f.flags), f.score, f.verdict, f.fwhm, f.cloudFraction, f.trails])
        }
        return inserted
    }

    private static func insertEvent(_ db: Database, _ item: IncomingRecord) throws {
        let r = item.record
        let boot = Int64(r.boot)
        try db.execute(sql: """
            INSERT INTO node_events (site, node, boot, kind, time, received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [r.site, r.node, boot, r.kind.rawValue, r.time, item.receivedAt,
                             String(decoding: item.payload, as: UTF8.self)])
        // A will from an older boot arriving after the new birth must not kill the new boot.
        if let b = r.birth {
            try db.execute(sql: """
                INSERT INTO nodes (site, node, boot, state, board, software, birth, last_birth, last_seen)
                VALUES (?, ?, ?, 'alive', ?, ?, ?, ?, ?)
                ON CONFLICT (site, node) DO UPDATE SET
                    boot = excluded.boot, state = 'alive', death_reason = NULL, board = excluded.board,
                    software = excluded.software, birth = excluded.birth, last_birth = excluded.last_birth,
                    last_seen = max(nodes.last_seen, excluded.last_seen)
                WHERE excluded.boot >= nodes.boot
                """, arguments: [r.site, r.node, boot, b.board, b.software,
                                 String(decoding: item.payload, as: UTF8.self), r.time, item.receivedAt])
        } else if let d = r.death {
            try db.execute(sql: """
                INSERT INTO nodes (site, node, boot, state, death_reason, last_seen) VALUES (?, ?, ?, 'dead', ?, ?)
                ON CONFLICT (site, node) DO UPDATE SET
                    boot = excluded.boot, state = 'dead', death_reason = excluded.death_reason,
                    last_seen = max(nodes.last_seen, excluded.last_seen)
                WHERE excluded.boot >= nodes.boot
                """, arguments: [r.site, r.node, boot, d.reason, item.receivedAt])
        }
    }

    /// Moves the boot's acknowledgement over every now-contiguous stored seq.
    private static func advanceAck(_ db: Database, _ key: AckKey) throws -> UInt64 {
        let boot = Int64(key.boot)
        var upTo = try Int64.fetchOne(db, sql: "SELECT up_to FROM acks WHERE site = ? AND node = ? AND boot = ?",
                                      arguments: [key.site, key.node, boot]) ?? 0
        let start = upTo
        while true {
            let next = try Int64.fetchAll(db, sql: """
                SELECT seq FROM records WHERE site = ? AND node = ? AND boot = ? AND seq > ? ORDER BY seq LIMIT 4096
                """, arguments: [key.site, key.node, boot, upTo])
            var advanced = false
            for s in next {
                guard s == upTo + 1 else { break }
                upTo = s
                advanced = true
            }
            if !advanced || next.count < 4096 || next.last != upTo { break }
        }
        if upTo != start {
            try db.execute(sql: """
                INSERT INTO acks (site, node, boot, up_to) VALUES (?, ?, ?, ?)
                ON CONFLICT (site, node, boot) DO UPDATE SET up_to = excluded.up_to
                """, arguments: [key.site, key.node, boot, upTo])
        }
        return UInt64(upTo)
    }

    /// A replayed record is byte-identical (sorted-key JSON of the same values, resent from the outbox).
    private static func sameAsStored(_ db: Database, _ item: IncomingRecord) throws -> Bool {
        let r = item.record
        let stored = try String.fetchOne(db.cachedStatement(sql: """
            SELECT payload FROM records WHERE site = ? AND node = ? AND boot = ? AND seq = ?
            """), arguments: [r.site, r.node, Int64(r.boot), Int64(r.seq)])
        return stored.map { Array($0.utf8) == item.payload } ?? false
    }

    private static func countRejections(_ db: Database, _ rejections: [Rejection]) throws {
        for r in rejections {
            try db.execute(sql: """
                INSERT INTO rejected (reason, count, last_topic, last_error, last_at) VALUES (?, 1, ?, ?, ?)
                ON CONFLICT (reason) DO UPDATE SET count = count + 1, last_topic = excluded.last_topic,
                    last_error = excluded.last_error, last_at = excluded.last_at
                """, arguments: [r.reason, String(r.topic.prefix(300)), String(r.detail.prefix(500)), r.receivedAt])
        }
    }

    private static func nodeState(_ row: Row) -> NodeState {
        NodeState(site: row["site"], node: row["node"], boot: UInt64(max(0, row["boot"] as Int64)),
                  state: row["state"], deathReason: row["death_reason"], board: row["board"],
                  software: row["software"], lastBirth: row["last_birth"], lastSeen: row["last_seen"])
    }

    private static func jsonList(_ items: [String]) -> String {
        (try? String(decoding: JSONEncoder().encode(items), as: UTF8.self)) ?? "[]"
    }
}
