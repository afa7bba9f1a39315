import Foundation

/// A column, or the run of rows of one (a charge trap spoils a column from one row on),
/// that reads far from its neighbours.
public struct BadColumnSpan: Sendable, Equatable {
    public var x: Int
    /// First and last affected row, inclusive (to the precision of a block of rows).
    public var y0: Int
    public var y1: Int
    /// Median offset from the neighbouring columns in ADU: positive for a hot column, negative for a dead or low one.
    public var offset: Double
    public init(x: Int, y0: Int, y1: Int, offset: Double) { self.x = x; self.y0 = y0; self.y1 = y1; self.offset = offset }
}

/// Finds bad columns in a background-subtracted frame: per block of rows, each
/// column's level (a clipped mean) against the levels of its neighbours on both sides.
///
/// Neighbours are the columns 2, 4, 6 and 8 away, so a raw Bayer frame (whose
/// even and odd columns see different colours) compares like with like. A column
/// must stand out from both sides with the same sign: a step (the edge of an
/// overscan, a vignetted border) stands out from one side only. Blocks holding a
/// saturated pixel in the column are skipped (a bleeding star is not a defect of
/// the sensor), and a column is bad where at least `minimumBlocks` consecutive
/// blocks, and at least `minimumFraction` of the rows, deviate alike and steadily (see
/// `steadiness`): a bright star's diffraction spike spoils a column for a short stretch only.
/// A column must also stand out from the columns right beside it, so two adjacent columns
/// spoiled the same way are missed (a dead one beside a hot one is found).
/// The 8 columns at each edge have no neighbours on one side and are not judged.
public enum BadColumnFinder {
    public struct Settings: Sendable, Equatable {
        /// How far a column's level in a block must stand from its neighbours', in robust standard deviations of
        /// that difference over the block's columns.
        public var sigma = 10.0
        public var minimumBlocks = 2
        /// A bad stretch must also cover this fraction of the frame's rows.
        public var minimumFraction = 0.2
        /// Rows per block (fewer on short frames, so that there are at least 4 blocks).
        public var blockHeight = 64
        /// The smallest block offset of a run must be at least this fraction of the largest.
        public var steadiness = 0.5
        public init() {}
    }

    static let neighbourOffsets = [2, 4, 6, 8]

    /// `sub` is width x height, row-major (the extractor's background-subtracted map).
    /// `noise`: the frame's pixel noise (the background rms), for clipping stars out of a column's level.
    public static func find(_ sub: UnsafeBufferPointer<Float>, image: ImageView<Float>, noise: Float,
                            saturation: Float, settings: Settings = .init()) -> [BadColumnSpan] {
        var found: [BadColumnSpan] = []
        let workspace = ownWorkspace(maxWidth: image.width, maxHeight: image.height, blockHeight: settings.blockHeight)
        _ = find(sub, image: image, noise: noise, saturation: saturation, settings: settings, workspace: workspace.buffers,
                 into: &found, limit: .max)
        return found
    }

    /// As `find`, into `found` (emptied first; at most `limit` spans, the first in column order) with
    /// `workspace`'s memory: allocates nothing when `found` has room for `limit`. Returns whether
    /// spans were left out for lack of room.
    static func find(_ sub: UnsafeBufferPointer<Float>, image: ImageView<Float>, noise: Float, saturation: Float,
                     settings: Settings, workspace ws: Workspace, into found: inout [BadColumnSpan], limit: Int) -> Bool {
        found.removeAll(keepingCapacity: true)
        let w = image.width, h = image.height, margin = neighbourOffsets.last!
        guard w >= 2 * margin + 8, h >= 8, sub.count >= w * h else { return false }
        let bh = max(2, min(settings.blockHeight, h / 4))
        let blocks = h / bh
        guard w <= ws.maxWidth, blocks <= ws.maxBlocks else {
            // Settings or a frame beyond what the workspace was laid out for: correct, not allocation-free.
            let own = ownWorkspace(maxWidth: w, maxHeight: h, blockHeight: bh)
            return find(sub, image: image, noise: noise, saturation: saturation, settings: settings, workspace: own.buffers,
                        into: &found, limit: limit)
        }
        // deviation[b * w + x]: offset of column x in block b when significant, else 0 (NaN: not judged).
        let deviation = UnsafeMutableBufferPointer(rebasing: ws.deviation[0..<(blocks * w)])
        deviation.update(repeating: 0)
        let medians = UnsafeMutableBufferPointer(rebasing: ws.medians[0..<w])
        medians.update(repeating: .nan)
        let clip = noise > 0 && noise.isFinite ? 4 * noise : .infinity
        let left = UnsafeMutableBufferPointer(rebasing: ws.left[0..<w]), right = UnsafeMutableBufferPointer(rebasing: ws.right[0..<w])
        left.update(repeating: .nan); right.update(repeating: .nan)
        for b in 0..<blocks {
            let y0 = b * bh, y1 = b == blocks - 1 ? h : y0 + bh
            columnLevels(sub, image: image, saturation: saturation, rows: y0..<y1, clip: clip, scratch: ws, into: medians)
            var spreadCount = 0
            for x in margin..<(w - margin) where medians[x].isFinite {
                left[x] = sideMedian(medians, x, -1) ?? .nan
                right[x] = sideMedian(medians, x, 1) ?? .nan
                // Against the mean of both sides a smooth slope of the sky cancels out.
                if left[x].isFinite && right[x].isFinite { ws.spread[spreadCount] = abs(medians[x] - 0.5 * (left[x] + right[x])); spreadCount += 1 }
            }
            // The scatter of column medians about their neighbours', measured on this block itself: the
            // background rms map can overshoot (even below zero) next to a sharp step.
            guard spreadCount >= 8 else { for x in 0..<w { deviation[b * w + x] = .nan }; continue }
            let k = spreadCount / 2
            let scatter = 1.4826 * selectKth(UnsafeMutableBufferPointer(rebasing: ws.spread[0..<spreadCount]), k)
            let limit = Float(settings.sigma) * max(scatter, .leastNormalMagnitude)
            for x in 0..<w {
                let m = medians[x]
                guard x >= margin, x < w - margin, m.isFinite, left[x].isFinite, right[x].isFinite else {
                    deviation[b * w + x] = .nan; continue
                }
                let dl = m - left[x], dr = m - right[x]
                guard dl * dr > 0, min(abs(dl), abs(dr)) > limit else { continue }
                let d = dl > 0 ? min(dl, dr) : max(dl, dr)
                // A defect is one column wide: it stands out from its next neighbours too, where the
                // dip the background leaves beside a sharp step is as deep in the next columns.
                let n1 = m - medians[x - 1], n2 = m - medians[x + 1]
                if n1 * d > 0, n2 * d > 0, min(abs(n1), abs(n2)) >= 0.5 * abs(d) { deviation[b * w + x] = d }
            }
        }
        let minimumBlocks = min(blocks, max(settings.minimumBlocks, Int((settings.minimumFraction * Double(h) / Double(bh)).rounded(.up))))
        var truncated = false
        for x in 0..<w {
            var b = 0
            while b < blocks {
                let d = deviation[b * w + x]
                guard d.isFinite, d != 0 else { b += 1; continue }
                var end = b + 1
                while end < blocks, deviation[end * w + x].isFinite, deviation[end * w + x] * d > 0 { end += 1 }
                if let span = steadySpan(UnsafeBufferPointer(deviation), x: x, width: w, blocks: b..<end, minimumBlocks: minimumBlocks,
                                         settings: settings, scratch: ws.runs) {
                    if found.count < limit {
                        for (i, block) in span.enumerated() { ws.runs[i] = Double(deviation[block * w + x]) }
                        found.append(BadColumnSpan(x: x, y0: span.lowerBound * bh, y1: span.upperBound == blocks ? h - 1 : span.upperBound * bh - 1,
                                                   offset: selectionMedian(UnsafeMutableBufferPointer(rebasing: ws.runs[0..<span.count]))))
                    } else {
                        truncated = true
                    }
                }
                b = end
            }
        }
        return truncated
    }

    /// The blocks of a run that read a steady offset: the end blocks are trimmed while they read under
    /// `steadiness` of the run's median (a block the trap's row cuts through is partly good), and what
    /// is left must be `minimumBlocks` long and steady (a star's diffraction spike fades away from the star).
    /// `scratch` holds at least the run's blocks.
    static func steadySpan(_ deviation: UnsafeBufferPointer<Float>, x: Int, width w: Int, blocks run: Range<Int>, minimumBlocks: Int,
                           settings: Settings, scratch: UnsafeMutableBufferPointer<Double>) -> Range<Int>? {
        let magnitude = { (b: Int) in Double(abs(deviation[b * w + x])) }
        for (i, b) in run.enumerated() { scratch[i] = magnitude(b) }
        let typical = selectionMedian(UnsafeMutableBufferPointer(rebasing: scratch[0..<run.count]))
        var lo = run.lowerBound, hi = run.upperBound
        while lo < hi, magnitude(lo) < settings.steadiness * typical { lo += 1 }
        while hi > lo, magnitude(hi - 1) < settings.steadiness * typical { hi -= 1 }
        guard hi - lo >= minimumBlocks, lo < hi else { return nil }
        var smallest = Double.infinity, largest = -Double.infinity
        for b in lo..<hi { smallest = min(smallest, magnitude(b)); largest = max(largest, magnitude(b)) }
        guard smallest >= settings.steadiness * largest else { return nil }
        return lo..<hi
    }

    /// Rows sampled per block for each column's first, rough level.
    static let probeRows = 9

    /// Each column's level over `rows`: the mean of its pixels within `clip` of a first level (the median of
    /// `probeRows` rows spread over the block). As robust to a star as a median, smooth where the median of
    /// coarsely quantized pixels would jump by whole steps, and read row by row, in memory order.
    /// NaN where the column holds a saturated pixel there.
    static func columnLevels(_ sub: UnsafeBufferPointer<Float>, image: ImageView<Float>, saturation: Float, rows: Range<Int>,
                             clip: Float, scratch: Workspace, into level: UnsafeMutableBufferPointer<Float>) {
        let w = image.width, n = rows.count, k = min(probeRows, n)
        let probe = scratch.probe
        for p in 0..<k {
            let y = rows.lowerBound + (2 * p + 1) * n / (2 * k)
            for x in 0..<w { probe[p * w + x] = sub[y * w + x] }
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: probeRows) { column in
            for x in 0..<w {
                for p in 0..<k { column[p] = probe[p * w + x] }
                level[x] = selectKth(UnsafeMutableBufferPointer(rebasing: column[0..<k]), k / 2)
            }
        }
        let sums = UnsafeMutableBufferPointer(rebasing: scratch.sums[0..<w])
        let counts = UnsafeMutableBufferPointer(rebasing: scratch.counts[0..<w])
        let peaks = UnsafeMutableBufferPointer(rebasing: scratch.peaks[0..<w])
        sums.update(repeating: 0)
        counts.update(repeating: 0)
        peaks.update(repeating: -.infinity)
        // Branch-free so that the compiler vectorizes it: this pass reads every pixel.
        for y in rows {
            let raw = image.row(y).baseAddress!
            let row = sub.baseAddress! + y * w
            for x in 0..<w {
                let v = row[x]
                let inside: Float = abs(v - level[x]) <= clip ? 1 : 0
                sums[x] += inside * v
                counts[x] += inside
                peaks[x] = max(peaks[x], raw[x])
            }
        }
        for x in 0..<w {
            level[x] = counts[x] * 2 >= Float(n) && peaks[x] < saturation ? sums[x] / counts[x] : .nan
        }
    }

    /// The finder's memory for frames up to `maxWidth` wide and `maxBlocks` blocks of rows, carved
    /// from a `ScratchLayout` (the quality judgement's scratch, an arena region at a site).
    struct Workspace {
        let maxWidth: Int, maxBlocks: Int
        /// Per block and column: the offset from the neighbours (blocks x width).
        let deviation: UnsafeMutableBufferPointer<Float>
        /// Per column: the level, the sides' levels, the scatter samples, the clipped sums, counts and peaks.
        let medians, left, right, spread, sums, counts, peaks: UnsafeMutableBufferPointer<Float>
        /// `probeRows` rows of the block, for the first, rough level.
        let probe: UnsafeMutableBufferPointer<Float>
        /// A run's block offsets, for its medians.
        let runs: UnsafeMutableBufferPointer<Double>

        /// The most blocks a frame up to `maxHeight` rows is cut into with `blockHeight` (short frames
        /// get at least 4 blocks of fewer rows, never more than 7).
        static func maxBlocks(maxHeight: Int, blockHeight: Int) -> Int { max(8, maxHeight / max(2, blockHeight)) }

        init(_ layout: inout ScratchLayout, maxWidth: Int, maxHeight: Int, blockHeight: Int) {
            self.maxWidth = maxWidth
            maxBlocks = Self.maxBlocks(maxHeight: maxHeight, blockHeight: blockHeight)
            deviation = layout.take(Float.self, maxBlocks * maxWidth)
            medians = layout.take(Float.self, maxWidth)
            left = layout.take(Float.self, maxWidth)
            right = layout.take(Float.self, maxWidth)
            spread = layout.take(Float.self, maxWidth)
            sums = layout.take(Float.self, maxWidth)
            counts = layout.take(Float.self, maxWidth)
            peaks = layout.take(Float.self, maxWidth)
            probe = layout.take(Float.self, probeRows * maxWidth)
            runs = layout.take(Double.self, maxBlocks)
        }
    }

    /// A workspace in memory of its own (the one-off `find`, or settings the judgement's scratch was not laid out for).
    static func ownWorkspace(maxWidth: Int, maxHeight: Int, blockHeight: Int) -> OwnedScratch<Workspace> {
        OwnedScratch { Workspace(&$0, maxWidth: maxWidth, maxHeight: maxHeight, blockHeight: blockHeight) }
    }

    /// Median of the finite levels of the neighbours on one side; nil with fewer than 2.
    @inline(__always)
    static func sideMedian(_ levels: UnsafeMutableBufferPointer<Float>, _ x: Int, _ side: Int) -> Float? {
        var v: (Float, Float, Float, Float) = (0, 0, 0, 0)
        var n = 0
        for k in neighbourOffsets {
            let m = levels[x + side * k]
            guard m.isFinite else { continue }
            switch n { case 0: v.0 = m; case 1: v.1 = m; case 2: v.2 = m; default: v.3 = m }
            n += 1
        }
        switch n {
        case 4:
            // The two middle values of four: the larger of the pair minima, the smaller of the pair maxima.
            let lower = max(min(v.0, v.1), min(v.2, v.3)), upper = min(max(v.0, v.1), max(v.2, v.3))
            return 0.5 * (lower + upper)
        case 3: return max(min(v.0, v.1), min(max(v.0, v.1), v.2))
        case 2: return 0.5 * (v.0 + v.1)
        default: return nil
        }
    }
}
