import Foundation
import SkyCore
import Testing
@testable import SkyImage

/// A trail is as narrow as the stars and straight; a band of light that is wider, or that
/// bends (lens reflection rings, cloud wisps), is not one.
@Suite struct TrailProfileTests {
    static let size = 200

    /// A background-subtracted frame (noise sigma 1) with a band of Gaussian cross-section
    /// `sigma` and peak 20 along y = 100 + bend * ((x - 100) / 100)^2.
    static func band(sigma: Double, bend: Double) -> [Float] {
        var rng = SeededRandom(seed: 17, stream: 2)
        var image = [Float](repeating: 0, count: size * size)
        for y in 0..<size {
            for x in 0..<size {
                let u = (Double(x) - 100) / 100, d = Double(y) - (100 + bend * u * u)
                let noise = rng.gaussian()
                image[y * size + x] = Float(20 * exp(-d * d / (2 * sigma * sigma)) + noise)
            }
        }
        return image
    }

    static func profile(_ image: [Float], segment: TrailSegment) -> TrailProfile? {
        image.withUnsafeBufferPointer { TrailProfile(segment, subtracted: $0, width: size, height: size) }
    }

    @Test func aNarrowStraightTrailIsKeptWithItsWidth() throws {
        let p = try #require(Self.profile(Self.band(sigma: 1.3, bend: 0), segment: TrailSegment(x0: 10, y0: 100, x1: 190, y1: 100)))
        #expect(abs(p.width - 2.3548 * 1.3) < 0.8, "FWHM \(p.width)")
        #expect(p.ridge.allSatisfy { abs($0) <= 1 })
        #expect(p.isTrail(seeing: 3))
        #expect(p.isTrail(seeing: .nan), "within the width allowed without a seeing")
    }

    @Test func aWideBandIsNoTrail() throws {
        let p = try #require(Self.profile(Self.band(sigma: 5, bend: 0), segment: TrailSegment(x0: 10, y0: 100, x1: 190, y1: 100)))
        #expect(abs(p.width - 2.3548 * 5) < 2, "FWHM \(p.width)")
        #expect(!p.isTrail(seeing: 3))
        #expect(!p.isTrail(seeing: .nan))
        #expect(p.isTrail(seeing: 7), "as wide as badly seen stars: a trail then")
    }

    @Test func aBentBandIsNoTrail() throws {
        // An arc with 12 px of sagitta, as narrow as the stars: the chord the finder fits lies
        // between its middle and its ends.
        let p = try #require(Self.profile(Self.band(sigma: 1.3, bend: 12), segment: TrailSegment(x0: 10, y0: 106, x1: 190, y1: 106)))
        #expect(!p.isTrail(seeing: 3), "ridge \(p.ridge)")
    }

    /// The lens reflection rings, cloud wisps and bright sky edges of cloudynight's overcast,
    /// cloudy and moonlit frames passed the shape test as trails before the cross-section was
    /// checked (000: one, 001: two, 004: four, up to 379 px long).
    @Test(.enabled(if: TestPaths.dataAvailable, "../shared/data absent"))
    func allSkyRingsWispsAndEdgesAreNoTrails() throws {
        for name in ["000", "001"] {
            let q = try QualityAllSkyCloudTests.judge(name, options: QualityAllSkyCloudTests.options())
            #expect(q.trails.isEmpty, "\(name): \(q.trails)")
        }
        // By the moon in 004 a short, narrow, straight streak (a flare ray or a real short
        // trail: nothing tells them apart) may stay; the rings around the sky may not.
        let moonlit = try QualityAllSkyCloudTests.judge("004", options: QualityAllSkyCloudTests.options())
        #expect(moonlit.trails.allSatisfy { $0.length < 60 }, "\(moonlit.trails)")
    }
}
