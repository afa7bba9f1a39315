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
