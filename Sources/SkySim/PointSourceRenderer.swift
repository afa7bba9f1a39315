import Foundation

/// What one point source left in the frame.
struct PointSourceDeposit {
    /// Largest electrons in one pixel from this source.
    var peakElectrons: Double
    /// Pixel index of that peak, or -1 when nothing landed in the frame.
    var peakIndex: Int
    var inFrame: Bool
}

/// Renders point sources (stars, transients, asteroids) into an electron
/// image through a `RadialProfile`, pixel-integrated by supersampling near the
/// core, smeared along a drift segment for tracking errors and trailed
/// objects, and normalised over its stamp so the whole flux lands.
/// Owns one growing scratch stamp, so rendering allocates only when a bigger
/// stamp than ever before is needed.
final class PointSourceRenderer {
    private var stamp: UnsafeMutableBufferPointer<Double>
    /// Per-star cutoff: the radius where a star adds less than this many electrons per pixel.
    static let cutoffElectrons = 0.02
    /// Drift sub-steps are at most this far apart, pixels.
    static let driftStep = 0.25

    init() { stamp = .allocate(capacity: 64 * 64) }
    deinit { stamp.deallocate() }

    func deposit(into image: UnsafeMutablePointer<Float>, width: Int, height: Int,
                 center: PixelPoint, drift: PixelVector, flux: Double, profile: RadialProfile) -> PointSourceDeposit {
        let none = PointSourceDeposit(peakElectrons: 0, peakIndex: -1, inFrame: false)
        guard flux > 0, center.x.isFinite, center.y.isFinite else { return none }
        let radius = min(profile.maxRadius, max(profile.coreRadius, profile.cutoffRadius(flux: flux, threshold: Self.cutoffElectrons)))
        let sx = center.x - drift.dx / 2, sy = center.y - drift.dy / 2
        let ex = center.x + drift.dx / 2, ey = center.y + drift.dy / 2
        let fx0 = (min(sx, ex) - radius).rounded(.down), fx1 = (max(sx, ex) + radius).rounded(.up)
        let fy0 = (min(sy, ey) - radius).rounded(.down), fy1 = (max(sy, ey) + radius).rounded(.up)
        guard fx1 >= 0, fy1 >= 0, fx0 <= Double(width - 1), fy0 <= Double(height - 1) else { return none }
        let x0 = Int(fx0), y0 = Int(fy0)
        let sw = Int(fx1) - x0 + 1, sh = Int(fy1) - y0 + 1
        if sw * sh > stamp.count {
            stamp.deallocate()
            stamp = .allocate(capacity: sw * sh)
        }
        let st = stamp.baseAddress!
        st.update(repeating: 0, count: sw * sh)

        let steps = min(512, max(1, Int((drift.length / Self.driftStep).rounded(.up))))
        // Supersampling matters for a sharp core; a long drift smooths it anyway.
        let supersample = steps <= 4 ? profile.supersampling : 1
        let core2 = profile.coreRadius * profile.coreRadius
        let reach2 = (radius + 0.75) * (radius + 0.75)
        let stepWeight = 1.0 / Double(steps)
        let sub = 1.0 / Double(supersample)
        let subWeight = stepWeight / Double(supersample * supersample)

        profile.values.withUnsafeBufferPointer { table in
            let tab = table.baseAddress!
            let last = table.count - 1
            @inline(__always) func sample(_ r2: Double) -> Double {
                let f = r2.squareRoot() * 16
                let i = Int(f)
                if i >= last { return 0 }
                let a = tab[i]
                return a + (tab[i + 1] - a) * (f - Double(i))
            }
            for k in 0..<steps {
                let t = steps == 1 ? 0.5 : (Double(k) + 0.5) / Double(steps)
                let px = sx + (ex - sx) * t, py = sy + (ey - sy) * t
                let ix0 = max(x0, Int((px - radius).rounded(.down))), ix1 = min(x0 + sw - 1, Int((px + radius).rounded(.up)))
                let iy0 = max(y0, Int((py - radius).rounded(.down))), iy1 = min(y0 + sh - 1, Int((py + radius).rounded(.up)))
                if ix0 > ix1 || iy0 > iy1 { continue }
                for iy in iy0...iy1 {
                    let dy = Double(iy) - py
                    let rowBase = st + (iy - y0) * sw - x0
                    for ix in ix0...ix1 {
                        let dx = Double(ix) - px
                        let d2 = dx * dx + dy * dy
                        if d2 > reach2 { continue }
                        if supersample > 1 && d2 < core2 {
                            var acc = 0.0
                            for sy2 in 0..<supersample {
                                let ddy = dy + (Double(sy2) + 0.5) * sub - 0.5
                                for sx2 in 0..<supersample {
                                    let ddx = dx + (Double(sx2) + 0.5) * sub - 0.5
                                    acc += sample(ddx * ddx + ddy * ddy)
                                }
                            }
                            rowBase[ix] += acc * subWeight
                        } else {
                            rowBase[ix] += sample(d2) * stepWeight
                        }
                    }
                }
            }
        }

        var total = 0.0
        for i in 0..<(sw * sh) { total += st[i] }
        guard total > 0 else { return none }
        let scale = flux / total
        var result = none
        let cx0 = max(0, x0), cx1 = min(width - 1, x0 + sw - 1)
        let cy0 = max(0, y0), cy1 = min(height - 1, y0 + sh - 1)
        guard cx0 <= cx1, cy0 <= cy1 else { return none }
        result.inFrame = true
        for y in cy0...cy1 {
            let src = st + (y - y0) * sw - x0
            let dst = image + y * width
            for x in cx0...cx1 {
                let e = src[x] * scale
                if e == 0 { continue }
                dst[x] += Float(e)
                if e > result.peakElectrons { result.peakElectrons = e; result.peakIndex = y * width + x }
            }
        }
        return result
    }
}
