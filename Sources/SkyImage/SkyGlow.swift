import Foundation

/// The large-scale brightness pattern of an all-sky frame's sky, for the frames whose sky is
/// too bright for stars to say anything about cloud (twilight, a short exposure at dawn).
///
/// Why the pattern tells clear from overcast: a cloud deck scatters the light of the sun (or
/// the moon) below it diffusely and is brightest overhead, the CIE standard overcast sky being
/// about three times brighter at the zenith than at the horizon (at the altitudes of 18-36
/// degrees that the rim band below covers, 1.3 to 1.6 times fainter than the zenith). A clear
/// sky lit by a sun near or below the horizon brightens toward the horizon instead, where the
/// line of sight crosses more scattering air and the sun is. Lit patches of broken cloud break
/// the smooth pattern, which `roughness` measures.
///
/// The rim band is 0.6 to 0.8 of the sky circle's radius (beyond it trees, buildings and the
/// lens's own vignetting dominate); on an equidistant fisheye that is 18 to 36 degrees up.
public struct SkyGlow: Sendable, Equatable {
    /// rms of the log background about a smooth cubic surface over the meshes within 0.8 of the
    /// radius, after two rounds of 3-sigma clipping (a tree or a building inside is left out).
    public var roughness: Double
    /// Geometric mean background within 0.2 of the radius over that between 0.6 and 0.8 of it.
    public var zenithToRim: Double

    static let fitRadius = 0.8
    static let zenithRadius = 0.2
    static let rimRadius = 0.6
    /// Cubic in x and y: 1, y, y², y³, x, xy, xy², x², x²y, x³.
    static let terms = 10

    public init(roughness: Double, zenithToRim: Double) { self.roughness = roughness; self.zenithToRim = zenithToRim }

    /// nil when too few meshes lie in the sky circle for a fit, or the background is not positive there.
    public init?(background m: BackgroundModel, circle c: SkyCircle) {
        guard c.radius > 0, m.columns > 0, m.rows > 0, m.levelMesh.count >= m.columns * m.rows else { return nil }
        let fitted: (roughness: Double, zenith: Double, rim: Double)? = m.levelMesh.withUnsafeBufferPointer { level in
            // Two stack buffers: one of 130 doubles would pass the 1 KiB under which Swift keeps
            // a temporary allocation off the heap.
            withUnsafeTemporaryAllocation(of: Double.self, capacity: Self.terms * (Self.terms + 2)) { work in
                withUnsafeTemporaryAllocation(of: Double.self, capacity: Self.terms) { terms in Self.fit(level, m, c, work, terms) }
            }
        }
        guard let f = fitted else { return nil }
        roughness = f.roughness
        zenithToRim = exp(f.zenith - f.rim)
    }

    /// Where mesh `i`'s centre lies in units of the radius about the circle's centre, and its log level
    /// (nil outside the fitted disc or where the level is not positive).
    @inline(__always)
    private static func sample(_ i: Int, _ level: UnsafeBufferPointer<Float>, _ m: BackgroundModel, _ c: SkyCircle)
        -> (x: Double, y: Double, r: Double, v: Double)? {
        let bx = i % m.columns, by = i / m.columns
        let x0 = bx * m.boxWidth, y0 = by * m.boxHeight
        let cx = Double(x0) + 0.5 * Double(min(m.boxWidth, m.width - x0))
        let cy = Double(y0) + 0.5 * Double(min(m.boxHeight, m.height - y0))
        let x = (cx - c.x) / c.radius, y = (cy - c.y) / c.radius
        let r = (x * x + y * y).squareRoot()
        let v = level[i]
        guard r < fitRadius, v > 0, v.isFinite else { return nil }
        return (x, y, r, Double(log(v)))
    }

    /// The cubic's terms at (x, y) into f: 1, y, y², y³, x, xy, xy², x², x²y, x³ (once per mesh,
    /// for both the normal equations and the residual).
    @inline(__always)
    private static func basis(_ x: Double, _ y: Double, into f: UnsafeMutableBufferPointer<Double>) {
        f[0] = 1; f[1] = y; f[2] = y * y; f[3] = y * y * y
        f[4] = x; f[5] = x * y; f[6] = x * y * y
        f[7] = x * x; f[8] = x * x * y; f[9] = x * x * x
    }

    /// Least squares by the normal equations in `work` (terms x (terms + 1) augmented matrix, then
    /// the coefficients; `f` holds one mesh's terms), refitted twice without the meshes beyond
    /// 3 sigma of the last fit.
    private static func fit(_ level: UnsafeBufferPointer<Float>, _ m: BackgroundModel, _ c: SkyCircle,
                            _ work: UnsafeMutableBufferPointer<Double>,
                            _ f: UnsafeMutableBufferPointer<Double>) -> (roughness: Double, zenith: Double, rim: Double)? {
        let n = terms, stride = terms + 1
        let coefficients = UnsafeMutableBufferPointer(rebasing: work[(n * stride)...])
        var clip = Double.infinity, sigma = Double.nan
        /// The residual at the mesh whose terms are in f.
        func residual(_ v: Double) -> Double {
            var fitted = 0.0
            for k in 0..<n { fitted += coefficients[k] * f[k] }
            return v - fitted
        }
        for round in 0..<3 {
            for k in 0..<(n * stride) { work[k] = 0 }
            var used = 0
            for i in 0..<(m.columns * m.rows) {
                guard let s = sample(i, level, m, c) else { continue }
                basis(s.x, s.y, into: f)
                if round > 0 && abs(residual(s.v)) >= clip { continue }
                used += 1
                for a in 0..<n {
                    for b in 0..<n { work[a * stride + b] += f[a] * f[b] }
                    work[a * stride + n] += f[a] * s.v
                }
            }
            guard used >= 3 * n, solve(work, n) else { return nil }
            for k in 0..<n { coefficients[k] = work[k * stride + n] }
            var sum = 0.0, count = 0
            for i in 0..<(m.columns * m.rows) {
                guard let s = sample(i, level, m, c) else { continue }
                basis(s.x, s.y, into: f)
                let e = residual(s.v)
                if round > 0 && abs(e) >= clip { continue }
                sum += e * e; count += 1
            }
            sigma = (sum / Double(max(1, count))).squareRoot()
            clip = 3 * sigma
        }
        var zenith = 0.0, zenithCount = 0, rim = 0.0, rimCount = 0
        for i in 0..<(m.columns * m.rows) {
            guard let s = sample(i, level, m, c) else { continue }
            if s.r < zenithRadius { zenith += s.v; zenithCount += 1 }
            if s.r >= rimRadius { rim += s.v; rimCount += 1 }
        }
        guard zenithCount > 0, rimCount > 0 else { return nil }
        return (sigma, zenith / Double(zenithCount), rim / Double(rimCount))
    }

    /// Gauss-Jordan elimination with partial pivoting on the augmented n x (n + 1) matrix in place;
    /// false when it is singular (the meshes do not span the cubic).
    private static func solve(_ a: UnsafeMutableBufferPointer<Double>, _ n: Int) -> Bool {
        let stride = n + 1
        for col in 0..<n {
            var pivot = col
            for r in (col + 1)..<n where abs(a[r * stride + col]) > abs(a[pivot * stride + col]) { pivot = r }
            guard abs(a[pivot * stride + col]) > 1e-12 else { return false }
            if pivot != col { for k in 0..<stride { a.swapAt(col * stride + k, pivot * stride + k) } }
            let p = a[col * stride + col]
            for k in 0..<stride { a[col * stride + k] /= p }
            for r in 0..<n where r != col {
                let f = a[r * stride + col]
                if f != 0 { for k in 0..<stride { a[r * stride + k] -= f * a[col * stride + k] } }
            }
        }
        return true
    }

    /// The rule for a frame whose stars cannot judge its cloud: clear when the sky is smooth and
    /// darker overhead than along the rim band. It never calls a frame cloudy: a bright, smooth
    /// sky that is brightest overhead may be overcast or clear under a high moon.
    public func looksClear(_ rule: CloudRule) -> Bool {
        roughness <= rule.skyGlowMaximumRoughness && zenithToRim <= rule.skyGlowMaximumZenithToRim
    }
}
