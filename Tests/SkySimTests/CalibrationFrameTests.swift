import Foundation
import Testing
import SkyCore
import SkyImage
@testable import SkySim

/// Bias, dark and flat frames have the levels a real camera gives, and the
/// camera's defects sit where the truth says.
@Suite struct CalibrationFrameTests {
    let camera = CameraModel(width: 256, height: 256, gain: 1.5, readNoise: 4, biasADU: 800, darkCurrent: 0.5,
                             seed: 31, hotPixelFraction: 1e-3, badColumnCount: 3)

    func goodPixels(_ img: OwnedImage<UInt16>, _ truth: FrameTruth) -> [Double] {
        let badX = Set(truth.badColumns.map(\.x))
        let hot = Set(truth.hotPixels.map { $0.y * img.width + $0.x })
        var v: [Double] = []
        for y in 0..<img.height {
            for x in 0..<img.width where !badX.contains(x) && !hot.contains(y * img.width + x) { v.append(pixel(img, x, y)) }
        }
        return v
    }

    @Test func biasHasTheBiasLevelAndReadNoise() throws {
        let sim = try SkySimulator(scene: SkyScene(), camera: camera)
        let (img, frame) = try sim.render(.bias(seed: 5))
        #expect(frame.metadata.exptime == 0 && frame.metadata.object == "BIAS" && frame.metadata.wcs == nil)
        let (mean, std) = meanAndStd(goodPixels(img, frame.truth))
        #expect(abs(mean - 800) < 0.2)
        let expected = (4.0 * 4.0 / (1.5 * 1.5) + 1.0 / 12).squareRoot()
        #expect(abs(std / expected - 1) < 0.03)
        #expect(frame.truth.stars.isEmpty && frame.truth.cosmicRays.isEmpty)
    }

    @Test func darkScalesWithExposureAndShowsHotPixels() throws {
        let sim = try SkySimulator(scene: SkyScene(), camera: camera)
        var short = FrameConditions.dark(exposure: 60, seed: 6); short.cosmicRayRate = 0
        var long = FrameConditions.dark(exposure: 120, seed: 7); long.cosmicRayRate = 0
        let a = try sim.render(short), b = try sim.render(long)
        #expect(a.frame.truth.hotPixels.count == Int((1e-3 * 256 * 256).rounded()))
        for (f, t) in [(a, 60.0), (b, 120.0)] {
            let m = median(goodPixels(f.image, f.frame.truth))
            #expect(abs(m - (800 + 0.5 * t / 1.5)) < 1.5, "dark median \(m) for \(t) s")
        }
        for hp in a.frame.truth.hotPixels where !a.frame.truth.badColumns.contains(where: { $0.x == hp.x }) {
            let excessA = pixel(a.image, hp.x, hp.y) - 800 - 0.5 * 60 / 1.5
            let excessB = pixel(b.image, hp.x, hp.y) - 800 - 0.5 * 120 / 1.5
            let expectedA = hp.darkRate * 60 / 1.5
            let sigma = ((hp.darkRate + 0.5) * 60 + 16).squareRoot() / 1.5
            #expect(abs(excessA - expectedA) < 5 * sigma + 1, "hot pixel \(hp) excess \(excessA), expected \(expectedA)")
            if expectedA > 1000 { #expect(abs(excessB / excessA - 2) < 0.15) }
        }
    }

    @Test func badColumnsAreWhereTheTruthSays() throws {
        let sim = try SkySimulator(scene: SkyScene(starsPerSquareDegree: 0), camera: camera)
        var c = FrameConditions(seed: 8, cosmicRayRate: 0); c.flatFieldEnabled = false
        let (img, frame) = try sim.render(c)
        #expect(frame.truth.badColumns.count == 3)
        for col in frame.truth.badColumns {
            let inside = col.rows.map { pixel(img, col.x, $0) }
            let neighbour = col.rows.map { pixel(img, col.x == 0 ? 1 : col.x - 1, $0) }
            switch col.kind {
            case .dead: #expect(abs(median(inside) - 800) < 1.5)
            case .hot: #expect(abs(median(inside) - median(neighbour) - col.offsetADU) < 3)
            }
            if col.rows.lowerBound > 10 {
                let below = (0..<col.rows.lowerBound).map { pixel(img, col.x, $0) }
                let belowNeighbour = (0..<col.rows.lowerBound).map { pixel(img, col.x == 0 ? 1 : col.x - 1, $0) }
                #expect(abs(median(below) - median(belowNeighbour)) < 4)
            }
        }
    }

    @Test func flatShowsVignettingAndDustDonuts() throws {
        var cam = camera.withoutDefects()
        cam.vignetting = 0.25
        let plain = try SkySimulator(scene: SkyScene(), camera: cam)
        let (img, frame) = try plain.render(.flat(meanADU: 20000, withDefects: false, seed: 9))
        #expect(frame.metadata.object == "FLAT")
        let (mean, _) = meanAndStd(img.storage.map(Double.init))
        #expect(abs(mean - 800 - 0.5 * 2 / 1.5 - 20000) < 20)
        func box(_ x0: Int, _ y0: Int) -> Double {
            var v: [Double] = []
            for y in y0..<(y0 + 4) { for x in x0..<(x0 + 4) { v.append(pixel(img, x, y) - 800) } }
            return v.reduce(0, +) / Double(v.count)
        }
        let corner = box(0, 0), centre = box(126, 126)
        #expect(abs(corner / centre - 0.75) < 0.02, "corner/centre \(corner / centre)")

        var dusty = cam
        dusty.vignetting = 0; dusty.dustDonutCount = 1
        let sim = try SkySimulator(scene: SkyScene(), camera: dusty)
        let (d, dframe) = try sim.render(.flat(meanADU: 20000, withDefects: false, seed: 10))
        let donut = try #require(dframe.truth.dust.first)
        var ring: [Double] = [], centreVals: [Double] = [], outside: [Double] = []
        for y in 0..<256 {
            for x in 0..<256 {
                let r = hypot(Double(x) - donut.center.x, Double(y) - donut.center.y)
                let edge = max(1.0, donut.outerRadius * 0.08) + 1
                if r > donut.innerRadius + edge && r < donut.outerRadius - edge { ring.append(pixel(d, x, y) - 800) }
                if r < donut.innerRadius - edge { centreVals.append(pixel(d, x, y) - 800) }
                if r > donut.outerRadius + 3 * edge { outside.append(pixel(d, x, y) - 800) }
            }
        }
        let clear = median(outside)
        #expect(abs(median(ring) / clear - (1 - donut.depth)) < 0.01)
        // A donut, not a disc: the middle of the shadow is lighter than its ring.
        if !centreVals.isEmpty { #expect(median(centreVals) > median(ring)) }
    }

    @Test func flatCanKeepTheCameraDefects() throws {
        let sim = try SkySimulator(scene: SkyScene(), camera: camera)
        let clean = try sim.render(.flat(meanADU: 10000, withDefects: false, seed: 11)).frame.truth
        let withDefects = try sim.render(.flat(meanADU: 10000, withDefects: true, seed: 11))
        #expect(clean.hotPixels.isEmpty && clean.badColumns.isEmpty)
        #expect(withDefects.frame.truth.badColumns == sim.badColumns)
        if let dead = sim.badColumns.first(where: { $0.kind == .dead }) {
            #expect(abs(pixel(withDefects.image, dead.x, dead.rows.upperBound) - 800) < 20)
        }
    }

    @Test func cosmicRaysAreSharpAndWhereTheTruthSays() throws {
        let sim = try SkySimulator(scene: SkyScene(), camera: camera.withoutDefects())
        var c = FrameConditions.dark(exposure: 60, seed: 12)
        c.cosmicRayRate = 10
        let (img, frame) = try sim.render(c)
        let hits = frame.truth.cosmicRays
        #expect(hits.count > 10)
        #expect(Set(hits.map(\.kind)).count == 3)
        let base = 800 + 0.5 * 60 / 1.5
        for hit in hits {
            let top = hit.pixels.first { $0.x == hit.x && $0.y == hit.y }
            let expected = min(camera.fullWell, top?.electrons ?? 0) / 1.5
            #expect(pixel(img, hit.x, hit.y) - base > 0.8 * expected - 10)
            #expect(hit.pixels.count <= 30)
        }
    }
}
