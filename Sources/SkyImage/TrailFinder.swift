import Foundation
import SkyCore

/// A straight trail (satellite, aircraft) as a segment in 0-based pixels.
public struct TrailSegment: Sendable, Equatable {
    public var x0: Double, y0: Double, x1: Double, y1: Double
    /// Pixels above the trail threshold that make it up.
    public var area: Int
    public init(x0: Double, y0: Double, x1: Double, y1: Double, area: Int = 0) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1; self.area = area
    }
    public var length: Double { ((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0)).squareRoot() }
    /// Direction in degrees, in [0, 180).
    public var angleDegrees: Double {
        var a = atan2(y1 - y0, x1 - x0) * 180 / .pi
        if a < 0 { a += 180 }
        if a >= 180 { a -= 180 }
        return a
    }
}

/// Finds trails among the connected regions of the detection S/N map at a low
/// threshold: a trail is long and thin (its second moments' axis ratio is
/// high), stars are round. Stars sitting on a trail are cut out before the
/// shape is judged: pixels much brighter than the region's median belong to
/// them. Collinear pieces of one trail (broken by noise) are joined.
enum TrailFinder {
    struct Settings {
        var threshold: Float = 2.5
        var minArea = 40
        var minLength = 30.0
        var minElongation = 6.0
    }

    /// Trails among the regions of `snr` above the trail threshold. `queue` and
    /// `scratch` (as many entries as the largest region to judge) come from the
    /// extractor; the marking pass runs in row bands on `pool`.
    static func find(snr: UnsafeMutableBufferPointer<Float>, width w: Int, height h: Int,
                     labels: UnsafeMutableBufferPointer<Int32>, queue: UnsafeMutableBufferPointer<Int32>,
                     scratch: UnsafeMutableBufferPointer<Int32>, pool: ThreadPool? = nil,
                     settings: Settings = .init()) -> [TrailSegment] {
        var pieces: [TrailSegment] = []
        _ = find(snr: snr, width: w, height: h, labels: labels, queue: queue, scratch: scratch, pool: pool, settings: settings,
                 into: &pieces, limit: .max)
        return pieces
    }

    /// As `find`, into `trails` (emptied first): the pieces found are kept up to `limit` (in the order
    /// the regions are labelled), then joined in place. Allocates nothing when `trails` has room for
    /// `limit`. Returns whether pieces were left out for lack of room.
    static func find(snr: UnsafeMutableBufferPointer<Float>, width w: Int, height h: Int,
                     labels: UnsafeMutableBufferPointer<Int32>, queue: UnsafeMutableBufferPointer<Int32>,
                     scratch: UnsafeMutableBufferPointer<Int32>, pool: ThreadPool? = nil,
                     settings: Settings = .init(), into trails: inout [TrailSegment], limit: Int) -> Bool {
        let bands = pool.map { min(h, 4 * $0.threads) } ?? 1
        pool.forEach(bands) { i, _ in
            ConnectedRegions.mark(above: settings.threshold, in: snr, labels: labels,
                                  from: i * h / bands * w, to: (i + 1) * h / bands * w)
        }
        trails.removeAll(keepingCapacity: true)
        var truncated = false
        ConnectedRegions.label(width: w, height: h, labels: labels, queue: queue, minArea: settings.minArea) { region in
            // A region too large for the queue is a nebula or a bright blob, not a trail.
            guard let pixels = region.pixels else { return }
            if let segment = shape(pixels, snr: snr, width: w, scratch: scratch, settings: settings) {
                if trails.count < limit { trails.append(segment) } else { truncated = true }
            }
        }
        join(&trails)
        return truncated
    }

    /// The region as a segment if it is long and thin (unweighted moments, so
    /// a bright star on the trail does not pull the axis towards itself).
    static func shape(_ region: UnsafeMutableBufferPointer<Int32>, snr: UnsafeMutableBufferPointer<Float>, width w: Int,
                      scratch: UnsafeMutableBufferPointer<Int32>, settings: Settings) -> TrailSegment? {
        // Most regions are stars: too short in both directions to hold a segment of minLength.
        var xmin = Int.max, xmax = Int.min, ymin = Int.max, ymax = Int.min
        for q in region {
            let x = Int(q) % w, y = Int(q) / w
            xmin = min(xmin, x); xmax = max(xmax, x); ymin = min(ymin, y); ymax = max(ymax, y)
        }
        let dx = Double(xmax - xmin), dy = Double(ymax - ymin)
        guard (dx * dx + dy * dy).squareRoot() >= settings.minLength else { return nil }
        // Leave out pixels of stars on the trail: far above the region's typical S/N.
        precondition(scratch.count >= region.count)
        let values = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(scratch)[0..<(region.count * 4)])
            .bindMemory(to: Float.self)
        for (i, q) in region.enumerated() { values[i] = snr[Int(q)] }
        let cut = max(selectKth(values, values.count / 2) * 4, settings.threshold * 4)
        var n = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
        for q in region where snr[Int(q)] < cut {
            let x = Double(Int(q) % w), y = Double(Int(q) / w)
            n += 1; sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y
        }
        guard n >= Double(settings.minArea) else { return nil }
        let mx = sx / n, my = sy / n
        let x2 = sxx / n - mx * mx, y2 = syy / n - my * my, xy = sxy / n - mx * my
        let half = 0.5 * (x2 - y2), root = (half * half + xy * xy).squareRoot(), mean = 0.5 * (x2 + y2)
        let major = max(mean + root, 0), minor = max(mean - root, 1.0 / 12)
        guard (major / minor).squareRoot() >= settings.minElongation else { return nil }
        let theta = 0.5 * atan2(2 * xy, x2 - y2)
        let ux = cos(theta), uy = sin(theta)
        var lo = Double.infinity, hi = -Double.infinity
        for q in region where snr[Int(q)] < cut {
            let t = (Double(Int(q) % w) - mx) * ux + (Double(Int(q) / w) - my) * uy
            lo = min(lo, t); hi = max(hi, t)
        }
        guard hi - lo >= settings.minLength else { return nil }
        return TrailSegment(x0: mx + lo * ux, y0: my + lo * uy, x1: mx + hi * ux, y1: my + hi * uy, area: Int(n))
    }

    /// Joins pieces that lie on one line (direction within 3 degrees, each
    /// end within 4 px of the other's line) into one segment spanning them, in place: longest
    /// first (equal lengths in their order), each piece merged into the first longer one it is
    /// collinear with. Allocates nothing.
    static func join(_ pieces: inout [TrailSegment]) {
        let kept = pieces.withUnsafeMutableBufferPointer { p -> Int in
            // Insertion sort: stable and in place (the standard library's sort may allocate); a frame has few pieces.
            for i in 1..<max(1, p.count) {
                let piece = p[i]
                var j = i
                while j > 0, p[j - 1].length < piece.length { p[j] = p[j - 1]; j -= 1 }
                p[j] = piece
            }
            var out = 0
            for i in 0..<p.count {
                let piece = p[i]
                var merged = false
                for k in 0..<out where collinear(p[k], piece) { p[k] = span(p[k], piece); merged = true; break }
                if !merged { p[out] = piece; out += 1 }
            }
            return out
        }
        pieces.removeLast(pieces.count - kept)
    }

    static func collinear(_ a: TrailSegment, _ b: TrailSegment) -> Bool {
        var d = abs(a.angleDegrees - b.angleDegrees)
        d = min(d, 180 - d)
        guard d < 3 else { return false }
        return distanceToLine(a, b.x0, b.y0) < 4 && distanceToLine(a, b.x1, b.y1) < 4
    }

    static func distanceToLine(_ s: TrailSegment, _ x: Double, _ y: Double) -> Double {
        let dx = s.x1 - s.x0, dy = s.y1 - s.y0, l = max(s.length, 1e-9)
        return abs((x - s.x0) * dy - (y - s.y0) * dx) / l
    }

    static func span(_ a: TrailSegment, _ b: TrailSegment) -> TrailSegment {
        let ux = (a.x1 - a.x0) / max(a.length, 1e-9), uy = (a.y1 - a.y0) / max(a.length, 1e-9)
        let t0 = (a.x0 - a.x0) * ux + (a.y0 - a.y0) * uy, t1 = (a.x1 - a.x0) * ux + (a.y1 - a.y0) * uy
        let t2 = (b.x0 - a.x0) * ux + (b.y0 - a.y0) * uy, t3 = (b.x1 - a.x0) * ux + (b.y1 - a.y0) * uy
        // As Sequence.min() and max() fold: the first of equal values is kept.
        var lo = t0, hi = t0
        if t1 < lo { lo = t1 }; if t2 < lo { lo = t2 }; if t3 < lo { lo = t3 }
        if hi < t1 { hi = t1 }; if hi < t2 { hi = t2 }; if hi < t3 { hi = t3 }
        return TrailSegment(x0: a.x0 + lo * ux, y0: a.y0 + lo * uy, x1: a.x0 + hi * ux, y1: a.y0 + hi * uy, area: a.area + b.area)
    }
}
