import Foundation
import Testing
import SkyCore
import SkyImage
@testable import SkySim

/// Stars can be found where the truth says, with the flux it says.
@Suite struct StarRecoveryTests {
    @Test func brightIsolatedStarsAreRecovered() throws {
        // A sparse field of bright stars, so that many are isolated.
        let scene = SkyScene(seed: 77, starsPerSquareDegree: 3000, brightestMagnitude: 10.5, faintestMagnitude: 14.5)
        let sim = try SkySimulator(scene: scene, camera: cleanCamera(size: 768))
        var c = quietConditions(seed: 4)
        c.fwhmPixels = 3; c.moffatBeta = 3
        let (img, frame) = try sim.render(c)
        let truth = frame.truth
        let candidates = truth.stars.filter { s in
            s.fluxADU > 40000 && !s.saturated
                && s.position.x > 30 && s.position.y > 30 && s.position.x < 737 && s.position.y < 737
                && !truth.stars.contains { o in
                    let d = hypot(o.position.x - s.position.x, o.position.y - s.position.y)
                    return o.catalogIndex != s.catalogIndex
                        && ((d < 22 && o.fluxElectrons > 0.005 * s.fluxElectrons) || (d < 30 && o.fluxElectrons > 0.02 * s.fluxElectrons))
                }
        }
        #expect(candidates.count >= 8, "only \(candidates.count) bright isolated stars")
        for s in candidates {
            let bg = annulusBackground(img, x: s.position.x, y: s.position.y, inner: 18, outer: 26)
            let guess = (x: s.position.x.rounded(), y: s.position.y.rounded())
            let c = centroid(img, guessX: guess.x, guessY: guess.y, radius: 6, background: bg)
            #expect(abs(c.x - s.position.x) < 0.1 && abs(c.y - s.position.y) < 0.1,
                    "star \(s.catalogIndex) at \(s.position) measured at \(c)")
            let flux = apertureSum(img, x: s.position.x, y: s.position.y, radius: 15, background: bg)
            #expect(abs(flux / s.fluxADU - 1) < 0.03, "star \(s.catalogIndex): flux \(flux) ADU, truth \(s.fluxADU)")
        }
    }

    @Test func starCountsRiseWithMagnitude() throws {
        let scene = SkyScene(seed: 3, starsPerSquareDegree: 20000, brightestMagnitude: 10, faintestMagnitude: 18, countSlope: 0.35)
        let sim = try SkySimulator(scene: scene, camera: CameraModel(width: 512, height: 512))
        let bright = sim.catalog.filter { $0.magnitude < 16 }.count
        let faint = sim.catalog.filter { $0.magnitude >= 16 && $0.magnitude < 17 }.count
        let fainter = sim.catalog.filter { $0.magnitude >= 17 }.count
        // N(<m) ~ 10^(0.35 m): each magnitude bin holds 10^0.35 = 2.24 times the one before.
        #expect(sim.catalog.allSatisfy { $0.magnitude >= 10 && $0.magnitude <= 18 })
        #expect(abs(Double(fainter) / Double(faint) - 2.24) < 0.4)
        #expect(Double(bright) < Double(faint) * 1.1)
    }

    @Test func truthPositionsFollowTheFrameWCSAndPointingOffset() throws {
        let sim = try SkySimulator(scene: SkyScene(seed: 8), camera: cleanCamera(size: 256))
        var c = quietConditions()
        let a = try sim.render(c).frame
        c.pointingOffset = PixelVector(dx: 3.25, dy: -1.5)
        let b = try sim.render(c).frame
        let wcs = try TanWCS(keywords: try #require(b.metadata.wcs))
        for s in b.truth.stars.prefix(20) {
            let w = wcs.world(x: s.position.x, y: s.position.y)
            #expect(abs(w.ra - s.ra) * 3600 < 1e-4 && abs(w.dec - s.dec) * 3600 < 1e-4)
            if let before = a.truth.stars.first(where: { $0.catalogIndex == s.catalogIndex }) {
                #expect(abs(s.position.x - before.position.x - 3.25) < 1e-9)
                #expect(abs(s.position.y - before.position.y + 1.5) < 1e-9)
            }
        }
    }
}
