import Foundation
import SkyCapture
import SkyCore
import SkyImage
import SkySim
import Testing
@testable import SkyEdge

@Test func theQualitySectionParsesIntoTheJudgesOptions() throws {
    let config = try SiteConfig.parse("""
        site: s
        node: n
        maxFrameWidth: 1024
        maxFrameHeight: 1024
        quality:
          skyCircle: { x: 511.5, y: 500, radius: 480 }
          regions: allsky
          pixelScale: 12.5
          zeroPoint: 19.25
        """)
    let o = config.qualityOptions
    #expect(o.skyCircle == SkyCircle(x: 511.5, y: 500, radius: 480))
    #expect(o.regionLayout == .allSky(rings: 4, sectors: 8))
    #expect(o.pixelScale == 12.5 && o.zeroPoint == 19.25)
    let grid = try SiteConfig.parse("site: s\nnode: n\nquality: { gridColumns: 6, gridRows: 3 }\n").qualityOptions
    #expect(grid.regionLayout == .grid && grid.gridColumns == 6 && grid.gridRows == 3 && grid.skyCircle == nil)
    #expect(try SiteConfig.parse("site: s\nnode: n\n").qualityOptions == QualityOptions())

    func refusal(_ section: String) -> String {
        do { _ = try SiteConfig.parse("site: s\nnode: n\nmaxFrameWidth: 1024\nmaxFrameHeight: 1024\nquality: \(section)\n"); return "" } catch { return "\(error)" }
    }
    #expect(refusal("{ regions: rings }").contains("quality.regions"))
    #expect(refusal("{ skyCircle: { x: 2000, y: 10, radius: 5 } }").contains("quality.skyCircle"))
    #expect(refusal("{ skyCircle: { x: 20, y: 10 } }").contains("radius"))
    #expect(refusal("{ gridRows: 0 }").contains("quality.gridRows"))
    #expect(refusal("{ pixelScale: -1 }").contains("quality.pixelScale"))
}

/// The sky circle reaches the verdict: stars outside it are not counted.
@Test func aConfiguredSkyCircleLeavesOutTheStarsOutsideIt() throws {
    var camera = CameraModel(width: 512, height: 512, seed: 3).withoutDefects()
    camera.vignetting = 0
    let source = try quietSimulator(camera, field: 1, exposure: 60, seed: 2)
    let pixels = OwnedImage<UInt16>(width: 512, height: 512, fill: 0)
    try source.open()
    let frame = try #require(try source.nextFrame(into: pixels.storage, timeout: 1))

    func judge(_ circle: SiteConfig.Quality.Circle?) throws -> FrameReport {
        var config = testConfig(width: 512, height: 512)
        config.quality.skyCircle = circle
        let arena = try Arena(plan: MemoryPlan.make(config: config, board: try genericBoard()))
        var pipeline = FramePipeline(config: config, arena: arena)
        return pixels.withView { pipeline.process($0, frame: frame) }
    }
    let whole = try judge(nil)
    let corner = try judge(.init(x: 0, y: 0, radius: 12))
    print("quality config: whole frame \(whole.stars) sources, flags \(whole.flags); corner circle flags \(corner.flags)")
    #expect(!whole.flags.contains("few_stars"), "the frame has enough stars")
    #expect(corner.flags.contains("few_stars"), "a 12 px circle in the corner leaves almost none")
    #expect(whole.stars == corner.stars, "the catalogue is the same; only the judgement looks inside the circle")
}

/// `quality.clearReference`: a clear frame of the field, judged once at start like any
/// frame, is what later frames' cloud is measured against. A clouded frame then reads cloudy
/// and another clear one does not; a missing reference stops the start with its path named.
@Test func cloudIsJudgedAgainstTheConfiguredClearFrame() throws {
    var camera = CameraModel(width: 512, height: 512, seed: 3).withoutDefects()
    camera.vignetting = 0
    func frame(seed: UInt64, clouds: Clouds?) throws -> (OwnedImage<UInt16>, CapturedFrame) {
        var conditions = FrameConditions()
        conditions.exposure = 60
        conditions.cosmicRayRate = 0
        conditions.clouds = clouds
        let source = try SimulatorSource(configuration: .init(scene: .demoField(1), camera: camera, conditions: conditions,
                                                              seed: seed, pacing: .immediate, pointingJitterPixels: 0))
        let pixels = OwnedImage<UInt16>(width: 512, height: 512, fill: 0)
        try source.open()
        return (pixels, try #require(try source.nextFrame(into: pixels.storage, timeout: 1)))
    }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clearsky-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let (clear, clearFrame) = try frame(seed: 4, clouds: nil)
    let path = dir.appendingPathComponent("clear.fits").path
    try withExtendedLifetime(clear) { try FITSWriter.write(path: path, image: clear.view, metadata: clearFrame.metadata) }

    var config = testConfig(width: 512, height: 512)
    config.quality.clearReference = path
    let arena = try Arena(plan: MemoryPlan.make(config: config, board: try genericBoard()))
    let slot = arena.region("frame slots").bindMemory(to: UInt16.self)
    let reference = try #require(try SiteClearSky.learn(config: config, arena: arena, calibration: nil, slot: slot))
    #expect(reference.regionStars.count == 16 && reference.regionStars.reduce(0, +) >= 15, "\(reference.regionStars)")

    var pipeline = FramePipeline(config: config, arena: arena)
    pipeline.quality.clearReference = reference
    let (cloudy, cloudyFrame) = try frame(seed: 5, clouds: Clouds(coverage: 0.9, opacity: 0.95, scalePixels: 150))
    let (other, otherFrame) = try frame(seed: 6, clouds: nil)
    let c = cloudy.withView { pipeline.process($0, frame: cloudyFrame) }
    let o = other.withView { pipeline.process($0, frame: otherFrame) }
    print("clear reference: cloudy frame cloud \(c.cloudFraction ?? -1) \(c.flags); clear frame cloud \(o.cloudFraction ?? -1) \(o.flags)")
    #expect((c.cloudFraction ?? 0) > 0.25 && c.flags.contains("clouds"))
    #expect((o.cloudFraction ?? 1) < 0.25 && !o.flags.contains("clouds"))
    #expect(c.quality?.regionCloudy?.count == 16)

    config.quality.clearReference = dir.appendingPathComponent("missing.fits").path
    #expect(throws: ClearSkySetupError.self) { try config.checkClearReference() }
    #expect(throws: ClearSkySetupError.self) { try SiteClearSky.learn(config: config, arena: arena, calibration: nil, slot: slot) }
}
