import Foundation
import GRDB
import SkyCore

/// Per-node summary of what the hub has stored, as a text table or JSON.
public struct HubReport: Sendable, Codable, Equatable {
    public struct NodeSummary: Sendable, Codable, Equatable {
        public var site: String
        public var node: String
        /// `alive` or `dead`.
        public var state: String
        public var deathReason: String?
        public var boot: UInt64
        public var board: String?
        public var software: String?
        /// Sequenced records stored (all boots).
        public var records: Int
        public var frames: Int
        /// Share of frames that met their deadline, percent; nil without frames.
        public var deadlineMetPercent: Double?
        /// Medians over all stored frames: background and noise in ADU, stars per frame.
        public var medianBackground: Double?
        public var medianNoise: Double?
        public var medianStars: Double?
        /// Median seeing (FWHM, px) and share of judged frames with the verdict `good`,
        /// percent; nil where no frame carries a quality judgement.
        public var medianFWHM: Double?
        public var goodPercent: Double?
        /// Hub time of the node's last message, Unix seconds, and its age at report time.
        public var lastSeen: Double
        public var stalenessSeconds: Double
        /// The hub's cumulative acknowledgement for the node's current boot.
        public var acknowledgedUpTo: UInt64
    }

    /// Unix seconds UTC.
    public var generatedAt: Double
    public var nodes: [NodeSummary]
    /// Refused payloads by reason (`RecordDecodingError.reason`).
    public var rejected: [String: Int]

    public static func build(from store: HubStore, now: Double = UTCInstant.now().unixSeconds) throws -> HubReport {
        let states = try store.nodes()
        let rejected = try store.rejectedCounts()
        let nodes = try store.pool.read { db in
            try states.map { s in try summary(db, s, now: now) }
        }
        return HubReport(generatedAt: now, nodes: nodes, rejected: rejected)
    }

    private static func summary(_ db: Database, _ s: NodeState, now: Double) throws -> NodeSummary {
        let args: StatementArguments = [s.site, s.node]
        let records = try Int.fetchOne(db, sql: "SELECT count(*) FROM records WHERE site = ? AND node = ?", arguments: args) ?? 0
        let row = try Row.fetchOne(db, sql: "SELECT count(*) AS n, sum(deadline_met) AS met FROM frames WHERE site = ? AND node = ?",
                                   arguments: args)
        let frames: Int = row?["n"] ?? 0
        let met: Int = row?["met"] ?? 0
        let ack = Int64(exactly: s.boot).flatMap {
            try? Int64.fetchOne(db, sql: "SELECT up_to FROM acks WHERE site = ? AND node = ? AND boot = ?",
                                arguments: [s.site, s.node, $0])
        } ?? 0
        return NodeSummary(
            site: s.site, node: s.node, state: s.state, deathReason: s.deathReason, boot: s.boot,
            board: s.board, software: s.software, records: records, frames: frames,
            deadlineMetPercent: frames > 0 ? 100 * Double(met) / Double(frames) : nil,
            medianBackground: try median(db, "background", s), medianNoise: try median(db, "noise", s),
            medianStars: try median(db, "stars", s),
            medianFWHM: try median(db, "fwhm", s), goodPercent: try goodShare(db, s),
            lastSeen: s.lastSeen, stalenessSeconds: max(0, now - s.lastSeen), acknowledgedUpTo: UInt64(max(0, ack)))
    }

    private static func goodShare(_ db: Database, _ s: NodeState) throws -> Double? {
        let row = try Row.fetchOne(db, sql: """
            SELECT count(verdict) AS judged, sum(verdict = 'good') AS good FROM frames WHERE site = ? AND node = ?
            """, arguments: [s.site, s.node])
        let judged: Int = row?["judged"] ?? 0
        let good: Int = row?["good"] ?? 0
        return judged > 0 ? 100 * Double(good) / Double(judged) : nil
    }

    /// Median of a frames column for one node (mean of the middle two for an even count).
    private static func median(_ db: Database, _ column: String, _ s: NodeState) throws -> Double? {
        let args: StatementArguments = [s.site, s.node]
        let n = try Int.fetchOne(db, sql: "SELECT count(\(column)) FROM frames WHERE site = ? AND node = ?", arguments: args) ?? 0
        guard n > 0 else { return nil }
        let middle = try Double.fetchAll(db, sql: """
            SELECT \(column) FROM frames WHERE site = ? AND node = ? AND \(column) IS NOT NULL
            ORDER BY \(column) LIMIT ? OFFSET ?
            """, arguments: [s.site, s.node, n % 2 == 0 ? 2 : 1, (n - 1) / 2])
        guard !middle.isEmpty else { return nil }
        return middle.reduce(0, +) / Double(middle.count)
    }

    // MARK: output

    public func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    public func text() -> String {
        var lines = ["SkyHub report at \(UTCInstant(unixSeconds: generatedAt).isoString) UTC: \(nodes.count) node(s)"]
        let header = ["site", "node", "state", "boot", "records", "frames", "deadline%", "bkg", "noise", "stars",
                      "fwhm", "good%", "last seen UTC", "stale s"]
        var rows = [header]
        for n in nodes {
            rows.append([
                n.site, n.node, n.state + (n.deathReason.map { "(\($0))" } ?? ""), String(n.boot),
                String(n.records), String(n.frames), Self.fixed(n.deadlineMetPercent, 1),
                Self.fixed(n.medianBackground, 1), Self.fixed(n.medianNoise, 2), Self.fixed(n.medianStars, 0),
                Self.fixed(n.medianFWHM, 2), Self.fixed(n.goodPercent, 0),
                UTCInstant(unixSeconds: n.lastSeen).isoString, Self.fixed(n.stalenessSeconds, 0),
            ])
        }
        let widths = header.indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        for (i, r) in rows.enumerated() {
            lines.append(r.enumerated().map { c, cell in
                // Names left, numbers right.
                c < 3 || c == 12 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                                 : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  "))
            if i == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        if rejected.isEmpty {
            lines.append("rejected payloads: none")
        } else {
            let total = rejected.values.reduce(0, +)
            let parts = rejected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            lines.append("rejected payloads: \(total) (\(parts.joined(separator: ", ")))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func fixed(_ v: Double?, _ decimals: Int) -> String {
        guard let v else { return "-" }
        guard v.isFinite else { return "\(v)" }
        return String(format: "%.\(decimals)f", v)
    }
}
