import Foundation
import SkyCore

/// One star of a simulated field.
public struct CatalogStar: Sendable, Equatable {
    public var ra: Double
    public var dec: Double
    public var magnitude: Double
    public init(ra: Double, dec: Double, magnitude: Double) { self.ra = ra; self.dec = dec; self.magnitude = magnitude }
}

enum StarCatalog {
    /// Stars spread uniformly over a disc of sky around the scene centre, with
    /// cumulative counts N(<m) proportional to 10^(slope m) between the
    /// scene's magnitude limits (drawn by inverting that distribution).
    static func generate(scene: SkyScene, radiusDegrees: Double) -> [CatalogStar] {
        var rng = SeededRandom(seed: scene.seed, stream: SeedMixer.label("stars"))
        let area = Double.pi * radiusDegrees * radiusDegrees
        let count = Int(rng.poisson(scene.starsPerSquareDegree * area))
        // The tangent plane at the centre with 1 degree per "pixel": pixel offsets are standard coordinates.
        let plane = TanWCS(crval1: scene.centerRA, crval2: scene.centerDec, crpix1: 0, crpix2: 0,
                           cd11: 1, cd12: 0, cd21: 0, cd22: 1)
        let k = scene.countSlope
        let lo = pow(10, k * scene.brightestMagnitude), hi = pow(10, k * scene.faintestMagnitude)
        var stars: [CatalogStar] = []
        stars.reserveCapacity(count)
        for _ in 0..<count {
            let r = radiusDegrees * rng.uniform().squareRoot()
            let theta = 2 * Double.pi * rng.uniform()
            let world = plane.world(fitsX: r * cos(theta), fitsY: r * sin(theta))
            let m = log10(lo + rng.uniform() * (hi - lo)) / k
            stars.append(CatalogStar(ra: world.ra, dec: world.dec, magnitude: m))
        }
        return stars
    }

    /// Index of the star nearest a position, or nil for an empty catalogue.
    static func nearest(to ra: Double, _ dec: Double, in stars: [CatalogStar]) -> Int? {
        var best: Int?
        var bestD = Double.infinity
        let cosDec = cos(dec * .pi / 180)
        for (i, s) in stars.enumerated() {
            var dra = s.ra - ra
            if dra > 180 { dra -= 360 } else if dra < -180 { dra += 360 }
            let d = (dra * cosDec) * (dra * cosDec) + (s.dec - dec) * (s.dec - dec)
            if d < bestD { bestD = d; best = i }
        }
        return best
    }
}
