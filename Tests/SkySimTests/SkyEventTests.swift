import Foundation
import Testing
import SkyCore
import SkyImage
@testable import SkySim

/// Trails, clouds, transients and moving objects land where the truth says.
@Suite struct SkyEventTests {
    func nearestPixel(_ img: OwnedImage<UInt16>, _ x: Double, _ y: Double) -> Double? {
        let i = Int(x.rounded()), j = Int(y.rounded())
        guard i >= 0, j >= 0, i < img.width, j < img.height else { return nil }
        return pixel(img, i, j)
    }

    func point(on s: LineSegment, at t: Double, offset: Double = 0) -> (Double, Double) {
        let len = max(1e-9, s.length)
        let ux = (s.end.x - s.start.x) / len, uy = (s.end.y - s.start.y) / len
        return (s.start.x + (s.end.x - s.start.x) * t - uy * offset, s.start.y + (s.end.y - s.start.y) * t + ux * offset)
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func satelliteTrailPixelsAreElevatedAlongTheTruthSegment(seed: UInt64) throws {
        let sim = try SkySimulator(scene: SkyScene(starsPerSquareDegree: 0), camera: cleanCamera(size: 256))
        var c = quietConditions(seed: seed); c.satelliteCount = 1
        let (img, frame) = try sim.render(c)
        let trail = try #require(frame.truth.trails.first)
        #expect(trail.kind == .satellite && trail.segments == [trail.path])
        #expect(trail.path.length > 20)
        let sky = median(img.storage.map(Double.init))
        let peak = trail.electronsPerPixelLength / ((2 * Double.pi).squareRoot() * trail.widthPixels / 2.3548) / 1.2
        let on = (1..<40).compactMap { k -> Double? in
            let p = point(on: trail.path, at: Double(k) / 40)
            return nearestPixel(img, p.0, p.1)
        }
        let off = (1..<40).compactMap { k -> Double? in
            let p = point(on: trail.path, at: Double(k) / 40, offset: 12)
            return nearestPixel(img, p.0, p.1)
        }
        // Nearest-pixel sampling is up to 0.7 px off the line: at least 45% of the peak remains.
        #expect(median(on) - sky > 0.4 * peak, "trail \(median(on) - sky) ADU above sky, peak \(peak)")
        if off.count > 10 { #expect(abs(median(off) - sky) < 6) }
    }

    @Test func aircraftLeavesDashedDoubleLines() throws {
        let sim = try SkySimulator(scene: SkyScene(starsPerSquareDegree: 0), camera: cleanCamera(size: 384))
        var c = quietConditions(seed: 5); c.aircraftCount = 1
        let (img, frame) = try sim.render(c)
        let trail = try #require(frame.truth.trails.first)
        #expect(trail.kind == .aircraft)
        #expect(trail.segments.count >= 4)
        let sky = median(img.storage.map(Double.init))
        // Dashes of one wing light are lit; between consecutive dashes it is dark.
        let lights = trail.segments.filter { $0.length > 4 }
        var litValues: [Double] = [], gapValues: [Double] = []
        for s in lights { if let v = nearestPixel(img, (s.start.x + s.end.x) / 2, (s.start.y + s.end.y) / 2) { litValues.append(v - sky) } }
        for (a, b) in zip(trail.segments, trail.segments.dropFirst()) {
            // Consecutive pieces of the same line: the gap runs from a.end to b.start.
            let gap = LineSegment(start: a.end, end: b.start)
            guard gap.length > 12, gap.length < 80 else { continue }
            if let v = nearestPixel(img, (gap.start.x + gap.end.x) / 2, (gap.start.y + gap.end.y) / 2) { gapValues.append(v - sky) }
        }
        #expect(!litValues.isEmpty && !gapValues.isEmpty)
        #expect(median(litValues) > 100)
        #expect(median(gapValues) < 0.1 * median(litValues))
        // Two parallel lines: the lit pieces lie on two lines a few pixels apart.
        let dir = (trail.path.end.x - trail.path.start.x, trail.path.end.y - trail.path.start.y)
        let len = trail.path.length
        let offsets = Set(trail.segments.map { s -> Int in
            Int((((s.start.x - trail.path.start.x) * -dir.1 + (s.start.y - trail.path.start.y) * dir.0) / len).rounded())
        })
        #expect(offsets.count == 2)
    }

    @Test func cloudsDimStarsAndBrightenTheSky() throws {
        let sim = try SkySimulator(scene: SkyScene(seed: 4, starsPerSquareDegree: 6000), camera: cleanCamera(size: 384))
        var c = quietConditions(seed: 2)
        c.clouds = Clouds(coverage: 0.5, opacity: 0.8, scalePixels: 150, skyBrightening: 1.0, seed: 3)
        let (img, frame) = try sim.render(c)
        let clouds = try #require(frame.truth.clouds)
        #expect(clouds.meanTransparency > 0.45 && clouds.meanTransparency < 0.8)
        #expect(abs(clouds.cloudyFraction - 0.5) < 0.15)
        #expect(clouds.minTransparency < 0.3)
        #expect(clouds.grid.count == clouds.gridColumns * clouds.gridRows)
        let t = frame.truth.stars.map(\.transparency)
        #expect((t.min() ?? 1) < 0.4 && (t.max() ?? 0) > 0.95)
        // The murkiest cell has a brighter sky (scattered light) than the clearest.
        let cell = 384 / clouds.gridColumns
        func cellMedian(_ k: Int) -> Double {
            let cx = k % clouds.gridColumns, cy = k / clouds.gridColumns
            var v: [Double] = []
            for y in (cy * cell)..<((cy + 1) * cell) { for x in (cx * cell)..<((cx + 1) * cell) { v.append(pixel(img, x, y)) } }
            return median(v)
        }
        let clearest = clouds.grid.indices.max { clouds.grid[$0] < clouds.grid[$1] }!
        let murkiest = clouds.grid.indices.min { clouds.grid[$0] < clouds.grid[$1] }!
        #expect(cellMedian(murkiest) > cellMedian(clearest) + 20)
        // Clouds move: ten minutes later the map differs.
        c.startTime = c.startTime.adding(seconds: 600)
        let later = try #require(try sim.render(c).frame.truth.clouds)
        #expect(later.grid != clouds.grid)
        c.clouds = nil
        #expect(try sim.render(c).frame.truth.clouds == nil)
    }

    @Test func transientsAppearOnlyWhenEnabledAndAfterTheyStart() throws {
        let camera = cleanCamera(size: 256)
        let probe = try SkySimulator(scene: SkyScene(seed: 6, starsPerSquareDegree: 3000, faintestMagnitude: 15), camera: camera)
        let w = probe.fieldWCS.world(x: 60.4, y: 190.2)
        let brightest = try #require(probe.catalog.enumerated().filter { i, s in
            guard let p = probe.fieldWCS.pixel(ra: s.ra, dec: s.dec) else { return false }
            return p.x > 30 && p.y > 30 && p.x < 226 && p.y < 226
        }.min { $0.1.magnitude < $1.1.magnitude })
        let start = UTCInstant(unixSeconds: 1_767_225_600)
        let scene = SkyScene(seed: 6, starsPerSquareDegree: 3000, faintestMagnitude: 15, transients: [
            .newSource(ra: w.ra, dec: w.dec, magnitude: 14, startsAt: start.adding(seconds: 300)),
            .brightening(ra: brightest.1.ra, dec: brightest.1.dec, by: 0.75),
        ])
        let sim = try SkySimulator(scene: scene, camera: camera)
        var c = quietConditions(seed: 7); c.noiseEnabled = false
        c.startTime = start
        let early = try sim.render(c)
        #expect(early.frame.truth.transients.map(\.kind) == [.brightening])
        c.startTime = start.adding(seconds: 600)
        let late = try sim.render(c)
        c.transientsEnabled = false
        let reference = try sim.render(c)
        #expect(reference.frame.truth.transients.isEmpty)
        let newSource = try #require(late.frame.truth.transients.first { $0.kind == .newSource })
        #expect(abs(newSource.position.x - 60.4) < 1e-6 && abs(newSource.position.y - 190.2) < 1e-6)
        let brightened = try #require(late.frame.truth.transients.first { $0.kind == .brightening })
        #expect(brightened.catalogIndex == brightest.0)
        // The difference from the reference holds exactly the transients' flux.
        func differenceFlux(_ x: Double, _ y: Double) -> Double {
            var s = 0.0
            for j in Int(y) - 15...Int(y) + 15 {
                for i in Int(x) - 15...Int(x) + 15 where i >= 0 && j >= 0 && i < 256 && j < 256 {
                    s += pixel(late.image, i, j) - pixel(reference.image, i, j)
                }
            }
            return s
        }
        #expect(abs(differenceFlux(60.4, 190.2) / newSource.fluxADU - 1) < 0.03)
        #expect(abs(differenceFlux(brightened.position.x, brightened.position.y) / brightened.fluxADU - 1) < 0.03)
        let ratio = pow(10, 0.4 * 0.75)
        #expect(abs(brightened.fluxADU / (reference.frame.truth.stars.first { $0.catalogIndex == brightest.0 }!.fluxADU) - (ratio - 1)) < 1e-6)
    }

    @Test func asteroidMovesBetweenFramesAndTrails() throws {
        let camera = cleanCamera(size: 256)
        let probe = try SkySimulator(scene: SkyScene(starsPerSquareDegree: 0), camera: camera)
        let w = probe.fieldWCS.world(x: 128, y: 128)
        let epoch = UTCInstant(unixSeconds: 1_767_225_600)
        // 1800"/h east and 900"/h north: in 30 s that is 15" and 7.5", i.e. 10 px and 5 px at 1.5"/px.
        let rock = MovingObject(name: "2026 AB", ra: w.ra, dec: w.dec, epoch: epoch,
                                raRateArcsecPerHour: 1800, decRateArcsecPerHour: 900, magnitude: 12)
        let sim = try SkySimulator(scene: SkyScene(starsPerSquareDegree: 0, movingObjects: [rock]), camera: camera)
        var c = quietConditions(); c.noiseEnabled = false; c.startTime = epoch
        let first = try sim.render(c)
        c.startTime = epoch.adding(seconds: 120)
        let second = try sim.render(c)
        let a = try #require(first.frame.truth.movingObjects.first), b = try #require(second.frame.truth.movingObjects.first)
        // Mid-exposure positions: east is -x, north is +y; 120 s = 40 px and 20 px.
        #expect(abs(b.position.x - a.position.x + 40) < 0.05 && abs(b.position.y - a.position.y - 20) < 0.05)
        #expect(abs(a.position.x - (128 - 5)) < 0.05 && abs(a.position.y - (128 + 2.5)) < 0.05)
        #expect(abs(a.trail.length - (100.0 + 25).squareRoot()) < 0.05)
        let bg = pixel(first.image, 2, 2)
        let m = secondMoments(first.image, x: a.position.x, y: a.position.y, halfSize: 16, background: bg)
        #expect(abs(m.cx - a.position.x) < 0.1 && abs(m.cy - a.position.y) < 0.1)
        let angle = 0.5 * atan2(2 * m.xy, m.xx - m.yy)
        // The trail runs along (-10, 5); its major axis, folded into (-90, 90] degrees, is at atan(-0.5).
        #expect(abs(angle - atan(-0.5)) < 0.06, "major axis at \(angle * 180 / .pi) deg")
        c.movingObjectsEnabled = false
        #expect(try sim.render(c).frame.truth.movingObjects.isEmpty)
    }

    @Test func metadataDescribesTheFrame() throws {
        let scene = SkyScene(name: "FIELD-1", seed: 2)
        let camera = CameraModel(width: 200, height: 100, gain: 1.7, readNoise: 2.5, filter: "R")
        let sim = try SkySimulator(scene: scene, camera: camera)
        var c = FrameConditions(exposure: 45, seed: 3)
        c.startTime = UTCInstant(unixSeconds: 1_767_225_600.25)
        let m = try sim.render(c).frame.metadata
        #expect(m.width == 200 && m.height == 100 && m.bitpix == 16 && m.bzero == 32768)
        #expect(m.exptime == 45 && m.gain == 1.7 && m.readNoise == 2.5 && m.filter == "R")
        #expect(m.instrument == "SkySim" && m.object == "FIELD-1")
        #expect(m.dateObs == "2026-01-01T00:00:00.250")
        #expect(m.dateObsInstant == c.startTime)
        let wcs = try TanWCS(keywords: try #require(m.wcs))
        #expect(wcs == sim.fieldWCS)
        #expect(throws: WCSConversionError.self) {
            var k = try #require(m.wcs); k.ctype1 = "RA---SIN"; _ = try TanWCS(keywords: k)
        }
    }
}
