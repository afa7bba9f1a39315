import Foundation
import Testing
import SkyCore
@testable import SkyImage
import SkySim

/// Quality metrics against the simulator's truth (what real data cannot give:
/// known seeing, defocus, tracking error, trails, hot pixels).
@Suite struct QualitySimulatorTests {
    struct Judged {
        let quality: FrameQuality
        let catalog: SourceCatalog
        let frame: SimulatedFrame
        let rms: Double
    }

    static func judge(_ conditions: FrameConditions, camera: CameraModel = CameraModel(width: 512, height: 512).withoutDefects(),
                      scene: SkyScene = SkyScene(seed: 5, starsPerSquareDegree: 6000, brightestMagnitude: 10, faintestMagnitude: 17),
                      clean: Bool = true) throws -> Judged {
        let sim = try SkySimulator(scene: scene, camera: camera)
        let (raw, frame) = try sim.render(conditions)
        let image = OwnedImage<Float>(width: raw.width, height: raw.height, fill: 0)
        for i in 0..<raw.storage.count { image.storage[i] = Float(raw.storage[i]) }
        var options = ExtractionOptions()
        options.saturation = Float(camera.saturationADU)
        options.clean = clean
        let extractor = SourceExtractor(maxWidth: raw.width, maxHeight: raw.height, options: options)
        var quality = QualityOptions()
        quality.saturation = options.saturation
        let (q, catalog) = try image.withView { view in
            let catalog = try extractor.extract(view)
            return (FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: quality), catalog)
        }
        return Judged(quality: q, catalog: catalog, frame: frame, rms: Double(extractor.background!.globalRMS))
    }

    @Test(arguments: [(2.5, 3.0), (4.0, 3.0), (2.5, 4.765), (4.0, 4.765)])
    func seeingWithinFivePercent(fwhm: Double, beta: Double) throws {
        var c = FrameConditions(seed: 2, fwhmPixels: fwhm, moffatBeta: beta, cosmicRayRate: 0)
        c.transientsEnabled = false
        let j = try Self.judge(c)
        print("seeing: truth \(fwhm) px (Moffat beta \(beta)), measured \(j.quality.fwhmPx) px from \(j.quality.stars) stars")
        #expect(j.quality.stars >= 20)
        #expect(abs(j.quality.fwhmPx / fwhm - 1) <= 0.05)
        #expect(!j.quality.flags.contains("defocus") && !j.quality.flags.contains("tracking"))
        #expect(j.quality.trails.isEmpty)
    }

    /// Recovery of stars above 10 sigma, without SExtractor's cleaning (which
    /// by design drops faint stars in the wings of bright ones: with it, 240 of
    /// 246 isolated stars here, and 247 of 269 overall, the same as SEP). Stars
    /// with a brighter neighbour within 2.5 FWHM are counted separately: neither
    /// this extractor nor SEP splits all pairs that close in this crowded field.
    /// SEP on the same frame (sep 1.4.1, extract at 5 sigma, minarea 5, run on
    /// 2026-11-26 with this criterion) recovered 247 of 269 = 91.8% overall.
    @Test func starsAboveTenSigmaAreRecovered() throws {
        var c = FrameConditions(seed: 3, fwhmPixels: 3, moffatBeta: 4.765, cosmicRayRate: 0)
        c.transientsEnabled = false
        let j = try Self.judge(c, clean: false)
        let truth = j.frame.truth.stars.filter(\.inFrame)
        // S/N of a star in an optimal PSF-sized aperture: flux / (rms sqrt(4 pi sigma^2)).
        let sigma = 3 / 2.3548
        let noiseArea = (4 * Double.pi * sigma * sigma).squareRoot()
        var all = 0, allFound = 0, isolated = 0, isolatedFound = 0
        for s in truth where !s.saturated && s.fluxADU / (j.rms * noiseArea) >= 10 {
            guard s.position.x > 5, s.position.y > 5, s.position.x < 506, s.position.y < 506 else { continue }
            func within(_ r: Double) -> Bool {
                truth.contains { o in
                    o.catalogIndex != s.catalogIndex && o.fluxADU > s.fluxADU
                        && hypot(o.position.x - s.position.x, o.position.y - s.position.y) < r
                }
            }
            // Within 3 px of a brighter star it is one source to any detector.
            if within(3) { continue }
            let found = j.catalog.sources.contains { hypot($0.x - s.position.x, $0.y - s.position.y) < 1.5 }
            all += 1; if found { allFound += 1 }
            if !within(2.5 * 3) { isolated += 1; if found { isolatedFound += 1 } }
        }
        let fraction = Double(isolatedFound) / Double(max(1, isolated))
        print("recovery above 10 sigma: isolated \(isolatedFound) of \(isolated) = \(fraction); all \(allFound) of \(all)")
        #expect(isolated >= 50)
        #expect(fraction >= 0.98)
        #expect(allFound >= 247, "no worse than SEP on the same frame")
    }

    @Test func defocusIsFlagged() throws {
        var c = FrameConditions(seed: 4, fwhmPixels: 2.5, cosmicRayRate: 0)
        c.defocus = Defocus(outerDiameterPixels: 16, obstruction: 0.4)
        c.transientsEnabled = false
        let j = try Self.judge(c)
        print("defocus: HFR \(j.quality.halfFluxRadius), rings \(j.quality.ringFraction), flags \(j.quality.flags)")
        #expect(j.quality.flags.contains("defocus"))
        #expect(j.quality.verdict != "good")
    }

    @Test func trackingErrorIsFlagged() throws {
        var c = FrameConditions(seed: 6, fwhmPixels: 2.5, cosmicRayRate: 0)
        c.trackingDrift = PixelVector(dx: 7, dy: 3)
        c.transientsEnabled = false
        let j = try Self.judge(c)
        print("tracking: ellipticity \(j.quality.ellipticity), coherence \(j.quality.ellipticityCoherence), flags \(j.quality.flags)")
        #expect(j.quality.flags.contains("tracking"))
        #expect(j.quality.trails.isEmpty, "stretched stars are not trails")
    }

    @Test func satelliteTrailIsFound() throws {
        var c = FrameConditions(seed: 9, fwhmPixels: 2.5, cosmicRayRate: 0, satelliteCount: 1)
        c.transientsEnabled = false
        let j = try Self.judge(c)
        let truth = try #require(j.frame.truth.trails.first)
        let found = try #require(j.quality.trails.first, "no trail found")
        let t = truth.path
        let segment = TrailSegment(x0: t.start.x, y0: t.start.y, x1: t.end.x, y1: t.end.y)
        print("trail truth \(t), found \(found)")
        #expect(j.quality.trails.count == 1)
        #expect(TrailFinder.distanceToLine(segment, found.x0, found.y0) < 3 && TrailFinder.distanceToLine(segment, found.x1, found.y1) < 3)
        #expect(found.length > 0.8 * t.length)
    }

    @Test func hotPixelsAreFound() throws {
        var camera = CameraModel(width: 512, height: 512)
        camera.vignetting = 0; camera.dustDonutCount = 0; camera.badColumnCount = 0
        var c = FrameConditions(exposure: 60, seed: 8, fwhmPixels: 2.5, cosmicRayRate: 0)
        c.transientsEnabled = false
        c.flatFieldEnabled = false
        let j = try Self.judge(c, camera: camera)
        // Hot pixels that stand 20 sigma above the sky in this exposure.
        let bright = j.frame.truth.hotPixels.filter { $0.darkRate * 60 / camera.gain > 20 * j.rms }
        let found = Set(j.quality.hotPixelPositions.map { $0.y * 512 + $0.x })
        let hits = bright.filter { found.contains($0.y * 512 + $0.x) }.count
        print("hot pixels: \(hits) of \(bright.count) bright ones found; \(found.count) reported")
        #expect(bright.count >= 5)
        #expect(Double(hits) >= 0.9 * Double(bright.count))
    }
}
