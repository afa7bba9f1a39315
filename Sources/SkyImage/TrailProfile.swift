import Foundation

/// The cross-section of a candidate trail, read from the background-subtracted pixels.
///
/// A satellite or an aircraft is a moving point source: across its trail it is as narrow
/// as the stars, and its ridge is a straight line. What else the trail finder's shape test
/// lets through on all-sky frames is wider or bent: internal reflection rings of the lens,
/// lit cloud wisps, the edge of a saturated twilight sky. So a candidate is kept when the
/// median profile across it is at most `maximumWidthInSeeing` times the stars' FWHM wide
/// and the ridge, found in each of several sections along it, stays within
/// `maximumRidgeWander` px of the straight line fitted through those sections, a line
/// within `maximumRidgeTilt` of the segment (the finder's segment follows a real trail; a
/// ridge that runs off it at an angle is noise that happened to line up).
struct TrailProfile {
    /// FWHM of the median cross-section, px.
    var width: Double
    /// Where the ridge lies across the segment in each section of its length, px from the segment.
    var ridge: [Double]
    /// Length of a section, px.
    var sectionLength: Double

    static let halfWidth = 20
    static let maximumWidthInSeeing = 2.0
    /// Used instead of the seeing when too few stars give it (twilight, clouds).
    static let widthWithoutSeeing = 8.0
    static let maximumRidgeWander = 2.0
    /// tan(5 degrees).
    static let maximumRidgeTilt = 0.0875

    /// nil when the segment is too short to sample.
    init?(_ t: TrailSegment, subtracted: UnsafeBufferPointer<Float>, width w: Int, height h: Int) {
        let own = OwnedScratch { Workspace(&$0, maxLength: t.length) }
        guard let m = Self.measure(t, subtracted: subtracted, width: w, height: h, workspace: own.buffers) else { return nil }
        width = m.width
        ridge = Array(own.buffers.ridge[0..<m.sections])
        sectionLength = m.sectionLength
    }

    /// The cross-section's FWHM and the section length, the ridge of each section in
    /// `workspace.ridge[0..<sections]`; nil when the segment is too short to sample (or longer
    /// than the workspace was laid out for). Allocates nothing.
    static func measure(_ t: TrailSegment, subtracted: UnsafeBufferPointer<Float>, width w: Int, height h: Int,
                        workspace ws: Workspace) -> (width: Double, sections: Int, sectionLength: Double)? {
        let length = t.length
        guard length >= 8, subtracted.count >= w * h else { return nil }
        let ux = (t.x1 - t.x0) / length, uy = (t.y1 - t.y0) / length
        let nx = -uy, ny = ux
        let r = Self.halfWidth, offsets = 2 * r + 1
        // The central 80 %: the ends of a segment are where it is least sure.
        let steps = max(4, Int(0.8 * length))
        guard steps <= ws.maxSteps else { return nil }
        // Sections of at least 6 px, at most 8: enough to see a bend, each with a few samples.
        let sections = max(3, min(8, steps / 6))
        let sectionLength = 0.8 * length / Double(sections)
        // Offset k's samples in step order, at ws.samples[k * maxSteps...]: a section's are a run of them
        // (sections follow the steps), from ws.sectionStart[q * offsets + k] to the next section's start.
        let filled = ws.sectionStart
        for k in 0..<offsets { filled[sections * offsets + k] = 0 }
        var section = -1
        for i in 0..<steps {
            let s = 0.1 * length + 0.8 * length * Double(i) / Double(steps - 1)
            let q = min(sections - 1, i * sections / steps)
            while section < q {
                section += 1
                for k in 0..<offsets { filled[section * offsets + k] = filled[sections * offsets + k] }
            }
            for k in 0..<offsets {
                let o = Double(k - r)
                let x = Int((t.x0 + ux * s + nx * o).rounded()), y = Int((t.y0 + uy * s + ny * o).rounded())
                guard x >= 0, y >= 0, x < w, y < h else { continue }
                let v = subtracted[y * w + x]
                if v.isFinite {
                    let n = Int(filled[sections * offsets + k])
                    ws.samples[k * ws.maxSteps + n] = v
                    filled[sections * offsets + k] = Int32(n + 1)
                }
            }
        }
        while section < sections - 1 {
            section += 1
            for k in 0..<offsets { filled[section * offsets + k] = filled[sections * offsets + k] }
        }
        // The upper median (as of a sorted copy) of samples lo..<hi of offset k.
        func median(_ k: Int, _ lo: Int, _ hi: Int) -> Double {
            guard hi > lo else { return .nan }
            let copy = UnsafeMutableBufferPointer(rebasing: ws.selection[0..<(hi - lo)])
            for j in lo..<hi { copy[j - lo] = ws.samples[k * ws.maxSteps + j] }
            return Double(selectKth(copy, copy.count / 2))
        }
        let whole = UnsafeMutableBufferPointer(rebasing: ws.profile[0..<offsets])
        for k in 0..<offsets { whole[k] = median(k, 0, Int(filled[sections * offsets + k])) }
        guard let width = Self.fwhm(UnsafeBufferPointer(whole), scratch: ws.outer) else { return nil }
        let p = whole
        for q in 0..<sections {
            for k in 0..<offsets {
                p[k] = median(k, Int(filled[q * offsets + k]), Int(q + 1 < sections ? filled[(q + 1) * offsets + k] : filled[sections * offsets + k]))
            }
            // The ridge within 10 px of the segment: farther is another feature.
            var best = r, bestValue = -Double.infinity
            for k in (r - 10)...(r + 10) where p[k].isFinite && p[k] > bestValue { best = k; bestValue = p[k] }
            ws.ridge[q] = Double(best - r)
        }
        return (width, sections, sectionLength)
    }

    /// Full width at half maximum of a profile centred on the segment: the peak within 6 px
    /// of the centre over the baseline of the outer quarter on each side; `scratch` (as long as
    /// `p`) holds the baseline's values for their median.
    static func fwhm(_ p: UnsafeBufferPointer<Double>, scratch: UnsafeMutableBufferPointer<Double>) -> Double? {
        let r = p.count / 2
        var n = 0
        for k in 0..<(r / 2) where p[k].isFinite { scratch[n] = p[k]; n += 1 }
        for k in (p.count - r / 2)..<p.count where p[k].isFinite { scratch[n] = p[k]; n += 1 }
        guard n > 0 else { return nil }
        let base = selectKth(UnsafeMutableBufferPointer(rebasing: scratch[0..<n]), n / 2)
        var peak = r
        for k in (r - 6)...(r + 6) where p[k].isFinite && p[k] > (p[peak].isFinite ? p[peak] : -.infinity) { peak = k }
        guard p[peak].isFinite, p[peak] > base else { return nil }
        let half = base + 0.5 * (p[peak] - base)
        var k = peak
        while k > 0, p[k - 1].isFinite, p[k - 1] > half { k -= 1 }
        let lo = k > 0 && p[k - 1].isFinite ? Double(k) - (p[k] - half) / (p[k] - p[k - 1]) : Double(k)
        k = peak
        while k < p.count - 1, p[k + 1].isFinite, p[k + 1] > half { k += 1 }
        let hi = k < p.count - 1 && p[k + 1].isFinite ? Double(k) + (p[k] - half) / (p[k] - p[k + 1]) : Double(k)
        return hi - lo
    }

    /// A trail's, given the stars' FWHM (NaN or from too few stars: `widthWithoutSeeing` instead).
    func isTrail(seeing: Double) -> Bool {
        ridge.withUnsafeBufferPointer { Self.isTrail(width: width, ridge: $0, sectionLength: sectionLength, seeing: seeing) }
    }

    /// `isTrail(seeing:)` of a measured profile.
    static func isTrail(width: Double, ridge: UnsafeBufferPointer<Double>, sectionLength: Double, seeing: Double) -> Bool {
        let limit = seeing.isFinite && seeing > 0 ? Self.maximumWidthInSeeing * seeing : Self.widthWithoutSeeing
        guard width <= limit else { return false }
        // The line through the sections' ridges (a trail a little tilted against the fitted
        // segment is still straight), then the farthest section from it.
        let n = Double(ridge.count)
        var sx = 0.0, sy = 0.0
        for i in ridge.indices { sx = sx + Double(i); sy = sy + ridge[i] }
        let mx = sx / n, my = sy / n
        var sxx = 0.0, sxy = 0.0
        for i in ridge.indices { sxx = sxx + (Double(i) - mx) * (Double(i) - mx) }
        for i in ridge.indices { sxy = sxy + (Double(i) - mx) * (ridge[i] - my) }
        let slope = sxx > 0 ? sxy / sxx : 0
        guard abs(slope) <= Self.maximumRidgeTilt * sectionLength else { return false }
        for i in ridge.indices where !(abs(ridge[i] - (my + slope * (Double(i) - mx))) <= Self.maximumRidgeWander) { return false }
        return true
    }

    /// Memory for profiles of segments up to `maxLength` px, carved from a `ScratchLayout`.
    struct Workspace {
        /// Steps along the longest segment.
        let maxSteps: Int
        /// Per offset across the segment, its samples along it (offsets x maxSteps).
        let samples: UnsafeMutableBufferPointer<Float>
        /// Where each section's samples start, per offset; the last row counts them all.
        let sectionStart: UnsafeMutableBufferPointer<Int32>
        let selection: UnsafeMutableBufferPointer<Float>
        /// The median profile (whole, then each section's in turn), the baseline's values, the ridge of each section.
        let profile, outer, ridge: UnsafeMutableBufferPointer<Double>

        static let maxSections = 8

        init(_ layout: inout ScratchLayout, maxLength: Double) {
            let offsets = 2 * halfWidth + 1
            maxSteps = max(4, Int(0.8 * max(0, maxLength)) + 1)
            samples = layout.take(Float.self, offsets * maxSteps)
            sectionStart = layout.take(Int32.self, (Self.maxSections + 1) * offsets)
            selection = layout.take(Float.self, maxSteps)
            profile = layout.take(Double.self, offsets)
            outer = layout.take(Double.self, offsets)
            ridge = layout.take(Double.self, Self.maxSections)
        }

        /// The longest segment in a `width x height` frame: a piece's ends lie within the frame, and
        /// joining pieces projects ends onto a line, which brings them no farther apart.
        static func maxLength(width: Int, height: Int) -> Double {
            (Double(width) * Double(width) + Double(height) * Double(height)).squareRoot()
        }
    }

}
