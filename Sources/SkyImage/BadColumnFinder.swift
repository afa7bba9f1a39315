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
/// column's median against the medians of its neighbours on both sides.
///
/// Neighbours are the columns 2, 4, 6 and 8 away, so a raw Bayer frame (whose
/// even and odd columns see different colours) compares like with like. A column
/// must stand out from both sides with the same sign: a step (the edge of an
/// overscan, a vignetted border) stands out from one side only. Blocks holding a
/// saturated pixel in the column are skipped (a bleeding star is not a defect of
/// the sensor), and a column is bad where at least `minimumBlocks` consecutive
/// blocks, and at least `minimumFraction` of the rows, deviate alike and steadily (see
/// `steadiness`): a bright star's diffraction spike spoils a column for a short stretch only.
/// The 8 columns at each edge have no neighbours on one side and are not judged.
public enum BadColumnFinder {
    public struct Settings: Sendable, Equatable {
        /// How far a block's median must stand from its neighbours', in standard errors of that median.
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

    /// `sub` and `rms` are width x height, row-major (the extractor's maps).
    public static func find(_ sub: UnsafeBufferPointer<Float>, _ rms: UnsafeBufferPointer<Float>, image: ImageView<Float>,
                            saturation: Float, settings: Settings = .init()) -> [BadColumnSpan] {
        let w = image.width, h = image.height
        guard w >= 2 * neighbourOffsets.last! + 1, h >= 8, sub.count >= w * h, rms.count >= w * h else { return [] }
        let bh = max(2, min(settings.blockHeight, h / 4))
        let blocks = h / bh
        // deviation[b * w + x]: offset of column x in block b when significant, else 0 (NaN: not judged).
        var deviation = [Float](repeating: 0, count: blocks * w)
        var medians = [Float](repeating: .nan, count: w)
        var scratch = [Float](repeating: 0, count: w * (bh + h % bh))
        for b in 0..<blocks {
            let y0 = b * bh, y1 = b == blocks - 1 ? h : y0 + bh
            let n = y1 - y0
            columnMedians(sub, image: image, saturation: saturation, rows: y0..<y1, scratch: &scratch, into: &medians)
            let noiseRow = (y0 + y1) / 2 * w
            // Standard error of a median of n values, and of the difference with a median of 4 such.
            let errorScale = 1.2533 / Float(n).squareRoot() * 1.15
            for x in neighbourOffsets.last!..<(w - neighbourOffsets.last!) {
                let m = medians[x]
                guard m.isFinite else { deviation[b * w + x] = .nan; continue }
                guard let left = sideMedian(medians, x, -1), let right = sideMedian(medians, x, 1) else {
                    deviation[b * w + x] = .nan; continue
                }
                let dl = m - left, dr = m - right
                let limit = Float(settings.sigma) * errorScale * rms[noiseRow + x]
                if dl * dr > 0, min(abs(dl), abs(dr)) > limit { deviation[b * w + x] = dl > 0 ? min(dl, dr) : max(dl, dr) }
            }
        }
        let minimumBlocks = min(blocks, max(settings.minimumBlocks, Int((settings.minimumFraction * Double(h) / Double(bh)).rounded(.up))))
        var found: [BadColumnSpan] = []
        for x in 0..<w {
            var b = 0
            while b < blocks {
                let d = deviation[b * w + x]
                guard d.isFinite, d != 0 else { b += 1; continue }
                var end = b + 1
                while end < blocks, deviation[end * w + x].isFinite, deviation[end * w + x] * d > 0 { end += 1 }
                if let span = steadySpan(deviation, x: x, width: w, blocks: b..<end, minimumBlocks: minimumBlocks, settings: settings) {
                    found.append(BadColumnSpan(x: x, y0: span.lowerBound * bh, y1: span.upperBound == blocks ? h - 1 : span.upperBound * bh - 1,
                                               offset: median(span.map { Double(deviation[$0 * w + x]) })))
                }
                b = end
            }
        }
        return found
    }

    /// The blocks of a run that read a steady offset: the end blocks are trimmed while they read under
    /// `steadiness` of the run's median (a block the trap's row cuts through is partly good), and what
    /// is left must be `minimumBlocks` long and steady (a star's diffraction spike fades away from the star).
    static func steadySpan(_ deviation: [Float], x: Int, width w: Int, blocks run: Range<Int>, minimumBlocks: Int,
                           settings: Settings) -> Range<Int>? {
        let magnitude = { (b: Int) in Double(abs(deviation[b * w + x])) }
        let typical = median(run.map(magnitude))
        var lo = run.lowerBound, hi = run.upperBound
        while lo < hi, magnitude(lo) < settings.steadiness * typical { lo += 1 }
        while hi > lo, magnitude(hi - 1) < settings.steadiness * typical { hi -= 1 }
        let kept = (lo..<hi).map(magnitude)
        guard let smallest = kept.min(), let largest = kept.max(), kept.count >= minimumBlocks,
              smallest >= settings.steadiness * largest else { return nil }
        return lo..<hi
    }

    static func median(_ v: [Double]) -> Double { FrameQualityJudge.median(v) }

    /// Median of each column over `rows`; NaN where the column holds a saturated pixel there.
    /// Rows are read in order and scattered per column so that memory is walked row by row.
    static func columnMedians(_ sub: UnsafeBufferPointer<Float>, image: ImageView<Float>, saturation: Float, rows: Range<Int>,
                              scratch: inout [Float], into medians: inout [Float]) {
        let w = image.width, n = rows.count
        medians.withUnsafeMutableBufferPointer { med in
            med.update(repeating: 0)
            scratch.withUnsafeMutableBufferPointer { s in
                for (r, y) in rows.enumerated() {
                    let raw = image.row(y)
                    for x in 0..<w {
                        let v = sub[y * w + x]
                        s[x * n + r] = v
                        if raw[x] >= saturation || !v.isFinite { med[x] = .nan }
                    }
                }
                for x in 0..<w where !med[x].isNaN {
                    med[x] = selectKth(UnsafeMutableBufferPointer(rebasing: s[(x * n)..<(x * n + n)]), n / 2)
                }
            }
        }
    }

    /// Median of the finite medians of the neighbours on one side; nil with fewer than 2.
    static func sideMedian(_ medians: [Float], _ x: Int, _ side: Int) -> Float? {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: neighbourOffsets.count) { v -> Float? in
            var n = 0
            for k in neighbourOffsets { let m = medians[x + side * k]; if m.isFinite { v[n] = m; n += 1 } }
            guard n >= 2 else { return nil }
            var s = UnsafeMutableBufferPointer(rebasing: v[0..<n])
            s.sort()
            return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2])
        }
    }
}
