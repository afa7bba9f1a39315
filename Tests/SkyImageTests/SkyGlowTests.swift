import Foundation
import Testing
import SkyCore
@testable import SkyImage

/// The sky's brightness pattern on synthetic all-sky backgrounds whose shape is known: a clear
/// twilight sky brightening toward the horizon, an overcast one brightest overhead, broken cloud.
@Suite struct SkyGlowTests {
    static let size = 512
    static let circle = SkyCircle(x: 256, y: 256, radius: 240)

    /// A background of `level(x, y)` in units of the radius about the circle's centre, with noise.
    static func glow(_ level: (Double, Double) -> Double) throws -> SkyGlow? {
        var rng = SeededRandom(seed: 7)
        let image = OwnedImage<Float>(width: size, height: size, fill: 0)
        for y in 0..<size {
            for x in 0..<size {
                let u = (Double(x) - circle.x) / circle.radius, v = (Double(y) - circle.y) / circle.radius
                image.storage[y * size + x] = Float(level(u, v) + 5 * rng.gaussian())
            }
        }
        let model = try image.withView { try BackgroundModel($0, options: BackgroundOptions(box: 32)) }
        return SkyGlow(background: model, circle: circle)
    }

    @Test func aClearTwilightSkyLooksClear() throws {
        // Brighter toward the rim and toward the sun's side (+x), smoothly.
        let g = try #require(try Self.glow { u, v in 2000 * (1 + 1.5 * (u * u + v * v)) * exp(0.4 * u) })
        #expect(g.zenithToRim < 0.85 && g.roughness < 0.03, "\(g)")
        #expect(g.looksClear(CloudRule()))
    }

    @Test func anOvercastSkyBrightestOverheadDoesNot() throws {
        // CIE overcast: (1 + 2 sin(altitude)) / 3 with altitude = 90 degrees x (1 - r) on an equidistant fisheye.
        let g = try #require(try Self.glow { u, v in
            let r = min(1, (u * u + v * v).squareRoot())
            return 3000 * (1 + 2 * sin(.pi / 2 * (1 - r))) / 3
        })
        #expect(g.zenithToRim > 1.2, "\(g)")
        #expect(!g.looksClear(CloudRule()))
    }

    @Test func brokenCloudOnATwilightGradientIsRough() throws {
        // The clear gradient above with lit cloud patches of +-30 % a few meshes across.
        let g = try #require(try Self.glow { u, v in
            2000 * (1 + 1.5 * (u * u + v * v)) * (1 + 0.3 * sin(9 * u) * sin(7 * v))
        })
        #expect(g.roughness > 0.05, "\(g)")
        #expect(!g.looksClear(CloudRule()))
    }

    @Test func aFrameTooSmallForTheFitGivesNothing() throws {
        let image = OwnedImage<Float>(width: 64, height: 64, fill: 100)
        let model = try image.withView { try BackgroundModel($0, options: BackgroundOptions(box: 32)) }
        #expect(SkyGlow(background: model, circle: SkyCircle(x: 32, y: 32, radius: 30)) == nil)
    }
}
