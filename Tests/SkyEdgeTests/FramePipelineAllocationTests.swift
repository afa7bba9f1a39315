import CAllocationCounter
import Foundation
import SkyCapture
import SkyCore
import SkyImage
import SkySim
import Testing
@testable import SkyEdge

/// The frame loop's work at a site allocates nothing in steady state (DESIGN.md section 3):
/// after the first frame, `FramePipeline.process` (conversion, extraction, the whole quality
/// judgement with trails, the report) makes no allocation, with the report of each frame let
/// go before the next, as the runtime does once it is published.
@Test func processingFramesAllocatesNothingAfterTheFirst() throws {
    guard sky_allocations_supported() != 0 else {
        print("skipping: allocation counting needs glibc malloc interposition")
        return
    }
    // A camera with hot pixels and bad columns, every frame crossed by a satellite: every stage has work.
    var camera = CameraModel(width: 512, height: 512, seed: 21)
    camera.badColumnCount = 6
    var conditions = FrameConditions()
    conditions.exposure = 60
    conditions.cosmicRayRate = 0.1
    let source = try SimulatorSource(configuration: .init(scene: .demoField(1), camera: camera, conditions: conditions, seed: 9,
                                                          pacing: .immediate, pointingJitterPixels: 0, satelliteChancePerFrame: 1))
    try source.open()
    var frames: [(pixels: OwnedImage<UInt16>, frame: CapturedFrame)] = []
    for _ in 0..<3 {
        let pixels = OwnedImage<UInt16>(width: 512, height: 512, fill: 0)
        frames.append((pixels, try #require(try source.nextFrame(into: pixels.storage, timeout: 1))))
    }

    for layout in ["grid", "allsky"] {
        var config = testConfig(width: 512, height: 512)
        config.quality.regions = layout
        if layout == "allsky" { config.quality.skyCircle = .init(x: 256, y: 250, radius: 240) }
        let arena = try Arena(plan: MemoryPlan.make(config: config, board: try genericBoard()))
        var pipeline = FramePipeline(config: config, arena: arena)
        // The first frame reserves the fixed tables and the report's lists.
        _ = frames[0].pixels.withView { pipeline.process($0, frame: frames[0].frame) }

        sky_allocations_begin()
        let probe = [Int](repeating: 1, count: Int.random(in: 10...20))
        #expect(sky_allocations_end() >= 1 && probe.count >= 10, "the counter sees allocations")

        var counts: [Int] = []
        counts.reserveCapacity(6)
        for round in 0..<6 {
            let (pixels, captured) = frames[(round + 1) % frames.count]
            // Arrived now: the deadline leaves room for the trail search.
            let frame = CapturedFrame(metadata: captured.metadata, origin: captured.origin, capturedAtMonotonic: MonotonicClock.seconds())
            sky_allocations_begin()
            let report = pixels.withView { pipeline.process($0, frame: frame) }
            counts.append(sky_allocations_end())
            #expect(report.stars >= 15 && report.score != nil && report.shed.isEmpty)
            // (The satellite crosses the grid frame; it may miss the all-sky circle.)
            #expect((layout == "allsky" || (report.trails ?? 0) >= 1) && (report.quality?.hotPixels ?? 0) > 0
                        && report.quality?.badColumns.isEmpty == false,
                    "\(layout): trails \(report.trails ?? -1), hot pixels \(report.quality?.hotPixels ?? -1), bad columns \(report.quality?.badColumns ?? [])")
            #expect(report.quality?.regionCloudy?.count == (layout == "grid" ? 16 : 33))
        }
        #expect(counts.allSatisfy { $0 == 0 }, "\(layout): allocations per frame \(counts)")
    }
}
