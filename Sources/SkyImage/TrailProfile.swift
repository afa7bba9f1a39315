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
        let length = t.length
        guard length >= 8, subtracted.count >= w * h else { return nil }
        let ux = (t.x1 - t.x0) / length, uy = (t.y1 - t.y0) / length
        let nx = -uy, ny = ux
        let r = Self.halfWidth, offsets = 2 * r + 1
        // The central 80 %: the ends of a segment are where it is least sure.
        let steps = max(4, Int(0.8 * length))
        // Sections of at least 6 px, at most 8: enough to see a bend, each with a few samples.
        let sections = max(3, min(8, steps / 6))
        sectionLength = 0.8 * length / Double(sections)
        var samples = [[Float]](repeating: [], count: sections * offsets)
        for i in 0..<steps {
            let s = 0.1 * length + 0.8 * length * Double(i) / Double(steps - 1)
            let section = min(sections - 1, i * sections / steps)
            for k in 0..<offsets {
                let o = Double(k - r)
                let x = Int((t.x0 + ux * s + nx * o).rounded()), y = Int((t.y0 + uy * s + ny * o).rounded())
                guard x >= 0, y >= 0, x < w, y < h else { continue }
                let v = subtracted[y * w + x]
                if v.isFinite { samples[section * offsets + k].append(v) }
            }
        }
        func median(_ v: [Float]) -> Double { v.isEmpty ? .nan : Double(v.sorted()[v.count / 2]) }
        var whole = [Double](repeating: .nan, count: offsets)
        for k in 0..<offsets { whole[k] = median((0..<sections).flatMap { samples[$0 * offsets + k] }) }
        guard let w0 = Self.fwhm(whole) else { return nil }
        width = w0
        ridge = (0..<sections).map { q in
            let p = (0..<offsets).map { median(samples[q * offsets + $0]) }
            // The ridge within 10 px of the segment: farther is another feature.
            var best = r, bestValue = -Double.infinity
            for k in (r - 10)...(r + 10) where p[k].isFinite && p[k] > bestValue { best = k; bestValue = p[k] }
            return Double(best - r)
        }
    }

    /// Full width at half maximum of a profile centred on the segment: the peak within 6 px
    /// of the centre over the baseline of the outer quarter on each side.
    static func fwhm(_ p: [Double]) -> Double? {
        let r = p.count / 2
        let outer = (p.prefix(r / 2) + p.suffix(r / 2)).filter(\.isFinite).sorted()
        guard !outer.isEmpty else { return nil }
        let base = outer[outer.count / 2]
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
        let limit = seeing.isFinite && seeing > 0 ? Self.maximumWidthInSeeing * seeing : Self.widthWithoutSeeing
        guard width <= limit else { return false }
        // The line through the sections' ridges (a trail a little tilted against the fitted
        // segment is still straight), then the farthest section from it.
        let n = Double(ridge.count), xs = ridge.indices.map(Double.init)
        let mx = xs.reduce(0, +) / n, my = ridge.reduce(0, +) / n
        let sxx = xs.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        let slope = sxx > 0 ? zip(xs, ridge).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) } / sxx : 0
        guard abs(slope) <= Self.maximumRidgeTilt * sectionLength else { return false }
        return zip(xs, ridge).allSatisfy { abs($1 - (my + slope * ($0 - mx))) <= Self.maximumRidgeWander }
    }
}
