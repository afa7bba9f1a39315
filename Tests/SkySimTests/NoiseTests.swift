import Foundation
import Testing
import SkyCore
import SkyImage
@testable import SkySim

/// A blank patch of sky has the mean and scatter a CCD would give.
@Suite struct NoiseTests {
    func blank(camera: CameraModel, exposure: Double, sky: Double) throws -> (OwnedImage<UInt16>, FrameTruth) {
        let sim = try SkySimulator(scene: SkyScene(starsPerSquareDegree: 0), camera: camera)
        var c = quietConditions(seed: 21)
        c.exposure = exposure; c.skyBrightness = sky; c.flatFieldEnabled = false
        let r = try sim.render(c)
        return (r.image, r.frame.truth)
    }

    @Test(arguments: [(1.2, 3.5), (0.5, 8.0), (2.0, 1.5)])
    func skyNoiseMatchesPhotonPlusReadNoise(gain: Double, readNoise: Double) throws {
        let camera = cleanCamera(size: 256, gain: gain, readNoise: readNoise)
        let (img, truth) = try blank(camera: camera, exposure: 30, sky: 20)
        let values = img.storage.map(Double.init)
        let (mean, std) = meanAndStd(values)
        let electrons = truth.skyElectrons + truth.darkElectrons
        #expect(truth.skyElectrons > 100)
        #expect(abs(mean - (camera.biasADU + electrons / gain)) < 0.3)
        // sqrt(sky*gain + rn^2)/gain with the sky in ADU, plus the converter's rounding (1/12 ADU^2).
        let expected = ((electrons + readNoise * readNoise) / (gain * gain) + 1.0 / 12).squareRoot()
        #expect(abs(std / expected - 1) < 0.02, "std \(std), expected \(expected)")
    }

    @Test func faintSkyIsExactlyPoisson() throws {
        // Gain 1 and no read noise: pixel minus bias is the photon count itself.
        let camera = cleanCamera(size: 256, gain: 1, readNoise: 0)
        var cam = camera; cam.darkCurrent = 0
        let (img, truth) = try blank(camera: cam, exposure: 0.5, sky: 20)
        let lambda = truth.skyElectrons
        #expect(lambda > 2 && lambda < 10)
        let counts = img.storage.map { Double($0) - cam.biasADU }
        #expect(counts.allSatisfy { $0 >= 0 && $0 == $0.rounded() })
        let (mean, std) = meanAndStd(counts)
        #expect(abs(mean - lambda) < 0.05)
        #expect(abs(std * std / lambda - 1) < 0.03)
        let zeros = Double(counts.filter { $0 == 0 }.count) / Double(counts.count)
        #expect(abs(zeros - exp(-lambda)) < 0.2 * exp(-lambda) + 0.001)
    }

    @Test func noiseOffGivesTheExpectedValue() throws {
        let camera = cleanCamera(size: 64, gain: 2, readNoise: 5)
        let sim = try SkySimulator(scene: SkyScene(starsPerSquareDegree: 0), camera: camera)
        var c = quietConditions(); c.noiseEnabled = false; c.flatFieldEnabled = false
        let (img, frame) = try sim.render(c)
        let expected = (camera.biasADU + (frame.truth.skyElectrons + frame.truth.darkElectrons) / 2).rounded()
        #expect(img.storage.allSatisfy { Double($0) == expected })
    }
}
