import Foundation
import Testing
import SkyCore
import SkyImage
@testable import SkySim

/// The point-spread function has the requested shape and keeps the flux.
@Suite struct PSFTests {
    /// One star of `magnitude` at 0-based (x, y) on an otherwise empty, noise-free frame.
    func singleStar(x: Double, y: Double, magnitude: Double, conditions: FrameConditions,
                    size: Int = 256, gain: Double = 1.2) throws -> (OwnedImage<UInt16>, FrameTruth) {
        var camera = cleanCamera(size: size, gain: gain)
        camera.fullWell = 1e6
        let probe = try SkySimulator(scene: SkyScene(starsPerSquareDegree: 0), camera: camera)
        let w = probe.fieldWCS.world(x: x, y: y)
        let scene = SkyScene(starsPerSquareDegree: 0, transients: [.newSource(ra: w.ra, dec: w.dec, magnitude: magnitude)])
        let sim = try SkySimulator(scene: scene, camera: camera)
        var c = conditions
        c.noiseEnabled = false; c.cosmicRayRate = 0; c.skyBrightness = 22
        let r = try sim.render(c)
        return (r.image, r.frame.truth)
    }

    // From 4 px up: the pixel's own width (variance 1/12 px^2) broadens a
    // 3 px PSF by about 5% before any measurement, as numerical integration of
    // the same Moffat over a pixel confirms; that is physics, not error.
    @Test(arguments: [(4.0, 2.5), (4.0, 3.0), (5.0, 4.765), (7.0, 3.5)])
    func measuredFWHMMatchesRequested(fwhm: Double, beta: Double) throws {
        var c = FrameConditions(); c.fwhmPixels = fwhm; c.moffatBeta = beta
        let (img, truth) = try singleStar(x: 128, y: 128, magnitude: 12, conditions: c)
        let t = try #require(truth.transients.first)
        #expect(abs(t.position.x - 128) < 1e-6 && abs(t.position.y - 128) < 1e-6)
        let bg = pixel(img, 10, 10)
        let measured = fwhmAlongRow(img, x: 128, y: 128, background: bg)
        #expect(abs(measured / fwhm - 1) < 0.05, "FWHM \(measured) for requested \(fwhm)")
        #expect(abs(truth.psf.effectiveFWHMPixels - fwhm) < 0.01)
    }

    @Test(arguments: [(128.0, 128.0), (100.3, 151.7), (90.5, 90.5)])
    func fluxIsConservedToOnePercent(x: Double, y: Double) throws {
        var c = FrameConditions(); c.fwhmPixels = 2.2; c.moffatBeta = 2.5
        // Gain 0.5 e-/ADU keeps rounding small against the flux.
        let (img, truth) = try singleStar(x: x, y: y, magnitude: 12, conditions: c, gain: 0.5)
        let t = try #require(truth.transients.first)
        let bg = pixel(img, 2, 2)
        let sum = apertureSum(img, x: x, y: y, radius: 80, background: bg)
        #expect(abs(sum / t.fluxADU - 1) < 0.01, "sum \(sum) ADU, truth \(t.fluxADU)")
    }

    @Test func defocusMakesRingsWithACentralDip() throws {
        var c = FrameConditions(); c.fwhmPixels = 2; c.defocus = Defocus(outerDiameterPixels: 18, obstruction: 0.4)
        let (img, truth) = try singleStar(x: 128, y: 128, magnitude: 11, conditions: c, gain: 0.5)
        let bg = pixel(img, 2, 2)
        let centre = pixel(img, 128, 128) - bg
        // The ring sits between 0.4 * 9 and 9 pixels from the centre.
        let ring = [(134, 128), (122, 128), (128, 134), (128, 122)].map { pixel(img, $0.0, $0.1) - bg }
        #expect(ring.allSatisfy { $0 > 2 * centre }, "centre \(centre), ring \(ring)")
        #expect(pixel(img, 128 + 14, 128) - bg < 0.05 * (ring.max() ?? 0))
        #expect(truth.psf.effectiveFWHMPixels > 15 && truth.psf.effectiveFWHMPixels < 21)
        let t = try #require(truth.transients.first)
        let sum = apertureSum(img, x: 128, y: 128, radius: 40, background: bg)
        #expect(abs(sum / t.fluxADU - 1) < 0.01)
    }

    @Test(arguments: [(8.0, 0.0), (0.0, 8.0), (6.0, 6.0), (-5.0, 7.0)])
    func trackingDriftElongatesAlongTheDrift(dx: Double, dy: Double) throws {
        var c = FrameConditions(); c.fwhmPixels = 2.5; c.trackingDrift = PixelVector(dx: dx, dy: dy)
        let (img, truth) = try singleStar(x: 128, y: 128, magnitude: 12, conditions: c)
        let bg = pixel(img, 2, 2)
        let m = secondMoments(img, x: 128, y: 128, halfSize: 20, background: bg)
        // Centroid is the mid-exposure position.
        #expect(abs(m.cx - 128) < 0.05 && abs(m.cy - 128) < 0.05)
        let angle = 0.5 * atan2(2 * m.xy, m.xx - m.yy)
        let expected = atan2(dy, dx)
        var diff = abs(angle - expected).truncatingRemainder(dividingBy: .pi)
        diff = min(diff, .pi - diff)
        #expect(diff < 3 * .pi / 180, "major axis at \(angle * 180 / .pi) deg, drift at \(expected * 180 / .pi)")
        let major = (m.xx + m.yy) / 2 + (((m.xx - m.yy) / 2) * ((m.xx - m.yy) / 2) + m.xy * m.xy).squareRoot()
        let minor = (m.xx + m.yy) / 2 - (((m.xx - m.yy) / 2) * ((m.xx - m.yy) / 2) + m.xy * m.xy).squareRoot()
        // A uniform smear of length L adds L^2/12 to the variance along it.
        let length2 = dx * dx + dy * dy
        #expect(abs((major - minor) - length2 / 12) < 0.15 * length2 / 12)
        #expect(truth.psf.trackingDrift == PixelVector(dx: dx, dy: dy))
    }

    @Test func veryBrightStarsSaturate() throws {
        var camera = cleanCamera(size: 128)
        camera.fullWell = 50000
        let probe = try SkySimulator(scene: SkyScene(starsPerSquareDegree: 0), camera: camera)
        let w = probe.fieldWCS.world(x: 64, y: 64)
        let sim = try SkySimulator(scene: SkyScene(starsPerSquareDegree: 0, transients: [.newSource(ra: w.ra, dec: w.dec, magnitude: 7)]),
                                   camera: camera)
        var c = quietConditions(); c.noiseEnabled = false
        let (img, _) = try sim.render(c)
        let clip = (camera.biasADU + camera.fullWell / camera.gain).rounded()
        #expect(pixel(img, 64, 64) == clip)
        // Truth for catalogue stars reports the clipping too.
        let crowded = try SkySimulator(scene: SkyScene(seed: 2, starsPerSquareDegree: 40000, brightestMagnitude: 6), camera: camera)
        let f = try crowded.render(c)
        for s in f.frame.truth.stars where s.saturated {
            let p = (Int(s.position.x.rounded()), Int(s.position.y.rounded()))
            if p.0 >= 0 && p.1 >= 0 && p.0 < 128 && p.1 < 128 { #expect(pixel(f.image, p.0, p.1) == clip) }
        }
        #expect(f.frame.truth.stars.contains { $0.saturated })
    }
}
