import Foundation
import SkyImage

/// Everything `skyedge` will hold, computed before it allocates anything
/// (DESIGN.md section 3). Arena entries are carved from one allocation made at
/// start; the others are bounded by construction and counted against the budget.
public struct MemoryPlan: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var count: Int
        public var bytesEach: Int
        /// Part of the one arena allocation (vs. a bound on memory held elsewhere).
        public var inArena: Bool
        public var note: String
        public var bytes: Int { count * bytesEach }
    }

    public var board: String
    public var budgetBytes: Int
    public var frameWidth: Int
    public var frameHeight: Int
    public var entries: [Entry]

    /// Arena regions start on cache-line boundaries.
    public static let alignment = 64

    public var arenaBytes: Int {
        entries.filter(\.inArena).reduce(0) { $0 + Self.aligned($1.bytes) }
    }

    public var totalBytes: Int { arenaBytes + entries.filter { !$0.inArena }.reduce(0) { $0 + $1.bytes } }
    public var fits: Bool { totalBytes <= budgetBytes }

    static func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Process memory that is not ours to plan (Swift runtime, Foundation, libmosquitto,
    /// thread stacks, code). `Tools/measure-baseline.sh` measures it: peak RSS minus the
    /// arena was 35 MiB on x86-64 (39 MiB with a 4 MiB arena, 104 MiB with a 70 MiB one);
    /// rounded up for other boards and libraries.
    public static let processBaselineBytes = 48 << 20
    /// Upper bound on one encoded frame or status record (strings in them are bounded).
    public static let recordBytesBound = 4 << 10
    /// Smallest framed record in the outbox (a status record), which bounds how many
    /// index entries `outbox.maxBytes` of records can need.
    public static let smallestOutboxRecordBytes = 320
    /// One outbox index entry in memory (key, segment, offset, length, array overhead).
    public static let outboxIndexEntryBytes = 64

    public static func make(config: SiteConfig, board: BoardProfile) -> MemoryPlan {
        let w = config.maxFrameWidth, h = config.maxFrameHeight
        let options = config.extractionOptions
        let threads = config.pipeline.threads
        let scratch = SourceExtractor.scratchBytes(maxWidth: w, maxHeight: h, options: options, threads: threads)
        let small = SourceExtractor.smallBytes(maxWidth: w, maxHeight: h, background: BackgroundOptions(box: config.pipeline.meshBox),
                                               threads: threads)
        var entries = [
            Entry(name: "frame slots", count: config.pipeline.slots, bytesEach: w * h * 2, inArena: true,
                  note: "\(w)x\(h) uint16; capture fills one while the pipeline reads another"),
            Entry(name: "float frame", count: 1, bytesEach: w * h * 4, inArena: true,
                  note: "the frame being judged, as floats"),
        ]
        // Masters are loaded once at start into their own regions; the pipeline reads them in place.
        for (key, path) in config.calibration.masters {
            let file = URL(fileURLWithPath: path).lastPathComponent
            entries.append(key == "badPixels"
                ? Entry(name: masterRegion(key), count: 1, bytesEach: w * h, inArena: true, note: "\(file): 1 B/px, nonzero is bad")
                : Entry(name: masterRegion(key), count: 1, bytesEach: w * h * 4, inArena: true, note: "\(file): float32"))
        }
        entries += [
            Entry(name: "extractor scratch", count: 1, bytesEach: scratch, inArena: true,
                  note: "5 maps of 4 B/px, object tables, \(threads) x per-thread lists of \(options.maxObjectPixels) px"),
            Entry(name: "quality scratch", count: 1,
                  bytesEach: QualityScratch.bytes(maxWidth: w, maxHeight: h, catalogCapacity: options.capacity), inArena: true,
                  note: "bad-column block levels, trail cross-sections, region samples, star lists"),
            Entry(name: "source catalogue", count: options.capacity, bytesEach: MemoryLayout<Source>.stride, inArena: false,
                  note: "made once; a fuller frame is flagged stars_truncated"),
            Entry(name: "quality tables", count: 1, bytesEach: FrameQualityJudge.tableBytes, inArena: false,
                  note: "hot pixels, bad columns, trails: fixed sizes, more flagged *_truncated"),
            Entry(name: "background mesh", count: 1, bytesEach: small, inArena: false,
                  note: "\(config.pipeline.meshBox)-px boxes: mesh, filter and spline scratch, histograms"),
            Entry(name: "send window", count: config.outbox.window, bytesEach: recordBytesBound, inArena: false,
                  note: "records published and not yet acknowledged, queued in the MQTT client"),
            Entry(name: "outbox index", count: config.outbox.maxBytes / smallestOutboxRecordBytes,
                  bytesEach: outboxIndexEntryBytes, inArena: false,
                  note: "worst case: \(config.outbox.maxBytes >> 20) MiB of outbox on disk, all status records"),
            Entry(name: "process baseline", count: 1, bytesEach: processBaselineBytes, inArena: false,
                  note: "runtime, libraries, stacks (measured)"),
        ]
        return MemoryPlan(board: board.name, budgetBytes: board.memoryBudgetBytes, frameWidth: w, frameHeight: h,
                          entries: entries)
    }

    /// Arena region of a `calibration` key's master.
    static func masterRegion(_ key: String) -> String { key == "badPixels" ? "bad-pixel mask" : "master \(key)" }

    /// The plan as a table, for `skydiag memory` and for the refusal to start.
    public func formatted() -> String {
        func mib(_ b: Int) -> String {
            b < 1 << 20 ? String(format: "%10.1f KiB", Double(b) / 1024) : String(format: "%10.2f MiB", Double(b) / 1_048_576)
        }
        var lines = ["memory plan for board \(board), frames up to \(frameWidth)x\(frameHeight)"]
        for e in entries {
            let name = e.name.padding(toLength: 24, withPad: " ", startingAt: 0)
            lines.append("  \(name) \(String(format: "%8d", e.count)) x \(mib(e.bytesEach)) = \(mib(e.bytes))  \(e.inArena ? "arena" : "bound")  \(e.note)")
        }
        lines.append("  " + "arena (one allocation)".padding(toLength: 24, withPad: " ", startingAt: 0) + String(repeating: " ", count: 26) + mib(arenaBytes))
        lines.append("  " + "total".padding(toLength: 24, withPad: " ", startingAt: 0) + String(repeating: " ", count: 26) + mib(totalBytes))
        lines.append("  " + "board budget".padding(toLength: 24, withPad: " ", startingAt: 0) + String(repeating: " ", count: 26) + mib(budgetBytes))
        lines.append(fits ? "fits: yes (\(String(format: "%.1f", 100 * Double(totalBytes) / Double(budgetBytes)))% of budget)"
                          : "fits: NO, over budget by \(mib(totalBytes - budgetBytes).trimmingCharacters(in: .whitespaces))")
        return lines.joined(separator: "\n")
    }
}

public struct MemoryPlanError: Error, CustomStringConvertible {
    public var plan: MemoryPlan
    public init(plan: MemoryPlan) { self.plan = plan }
    public var description: String { "the memory plan does not fit the board's budget; refusing to start\n" + plan.formatted() }
}

