import CAllocationCounter
import Foundation
import Testing
@testable import SkyImage
import SkySim

/// The quality judgement in place: no allocation per frame once its scratch and its
/// FrameQuality have judged one, the same judgement as the one-off `judge`, and full
/// tables cut and flagged instead of grown.
@Suite struct QualityScratchTests {
    static let size = 512

    /// Frames of one camera with hot pixels and bad columns (camera seed 21 has six), each
    /// crossed by a satellite, so that every stage of the judgement has work.
    static func frames() throws -> (frames: [OwnedImage<Float>], saturation: Float) {
        var camera = CameraModel(width: size, height: size, seed: 21)
        camera.badColumnCount = 6
        let sim = try SkySimulator(scene: SimulatedQualityChecks.field, camera: camera)
        var frames: [OwnedImage<Float>] = []
        for seed in [31, 32, 33] as [UInt64] {
            var c = FrameConditions(exposure: 60, seed: seed, fwhmPixels: 2.5, cosmicRayRate: 0.1, satelliteCount: 1)
            c.transientsEnabled = false
            let (raw, _) = try sim.render(c)
            let image = OwnedImage<Float>(width: raw.width, height: raw.height, fill: 0)
            for i in 0..<raw.storage.count { image.storage[i] = Float(raw.storage[i]) }
            frames.append(image)
        }
        return (frames, Float(camera.saturationADU))
    }

    /// The all-sky layout about a sky circle inside the frame.
    static func allSky(_ base: QualityOptions) -> QualityOptions {
        var o = base
        o.regionLayout = .allSky(rings: 4, sectors: 8)
        o.skyCircle = SkyCircle(x: 256, y: 250, radius: 240)
        return o
    }

    @Test func judgingFramesAllocatesNothingAfterTheFirst() throws {
        guard sky_allocations_supported() != 0 else {
            print("skipping: allocation counting needs glibc malloc interposition")
            return
        }
        let (frames, saturation) = try Self.frames()
        var extraction = ExtractionOptions()
        extraction.saturation = saturation
        let extractor = SourceExtractor(maxWidth: Self.size, maxHeight: Self.size, options: extraction)
        var catalog = SourceCatalog(capacity: extraction.capacity)
        var grid = QualityOptions()
        grid.saturation = saturation
        grid.exposure = 60
        var allSky = Self.allSky(grid)
        // A clear reference, so that the all-sky regions are judged against it (the grid's against the frame itself).
        try frames[0].withView { try extractor.extract($0, into: &catalog) }
        let clear = frames[0].withView { FrameQualityJudge.judge($0, extractor: extractor, catalog: catalog, options: allSky) }
        allSky.clearReference = try #require(ClearSkyReference(clear: clear, layout: allSky.regionLayout, exposure: 60))

        let gridScratch = QualityScratch(maxWidth: Self.size, maxHeight: Self.size, catalogCapacity: extraction.capacity)
        let allSkyScratch = QualityScratch(maxWidth: Self.size, maxHeight: Self.size, catalogCapacity: extraction.capacity)
        var gridQuality = FrameQuality(), allSkyQuality = FrameQuality()
        // The first frame sets the per-region arrays' capacity; nothing lazy may remain after it.
        frames[0].withView { view in
            FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: grid, scratch: gridScratch, into: &gridQuality)
            FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: allSky, scratch: allSkyScratch, into: &allSkyQuality)
        }
        // The counter itself must see allocations, or a zero below would prove nothing.
        sky_allocations_begin()
        let probe = [Int](repeating: 1, count: Int.random(in: 10...20))
        #expect(sky_allocations_end() >= 1 && probe.count >= 10)

        var allocations = 0
        for round in 0..<5 {
            let frame = frames[(round + 1) % frames.count]
            try frame.withView { try extractor.extract($0, into: &catalog) }
            frame.withView { view in
                sky_allocations_begin()
                FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: grid, scratch: gridScratch, into: &gridQuality)
                FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: allSky, scratch: allSkyScratch, into: &allSkyQuality)
                allocations += sky_allocations_end()
            }
            // Every stage had work, and the judgement in place is the one-off judgement.
            #expect(gridQuality.stars >= 15 && gridQuality.fwhmPx.isFinite)
            #expect(gridQuality.hotPixels > 0 && !gridQuality.badColumns.isEmpty && !gridQuality.trails.isEmpty,
                    "hot pixels \(gridQuality.hotPixels), bad columns \(gridQuality.badColumns.count), trails \(gridQuality.trails.count)")
            #expect(allSkyQuality.regionCloudy.count == 33 && allSkyQuality.regionJudged.contains(true))
            let (gridOnce, allSkyOnce) = frame.withView { view in
                (FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: grid),
                 FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: allSky))
            }
            #expect("\(gridQuality)" == "\(gridOnce)")
            #expect("\(allSkyQuality)" == "\(allSkyOnce)")
        }
        #expect(allocations == 0, "judging allocated \(allocations) times in 10 judgements")
    }

    /// Tables of a fixed size keep their first entries and say so.
    @Test func fullTablesAreCutAndFlagged() throws {
        // Hot pixels on a flat, noisy sky: more than the table holds.
        let w = 384, h = 384
        let image = OwnedImage<Float>(width: w, height: h, fill: 0)
        var state: UInt64 = 99
        for i in 0..<(w * h) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            image.storage[i] = 1000 + Float(state >> 40) / Float(1 << 24) * 20
        }
        for y in stride(from: 2, to: h - 2, by: 3) { for x in stride(from: 2, to: w - 2, by: 3) { image[x, y] = 60_000 } }
        let extractor = SourceExtractor(maxWidth: w, maxHeight: h)
        let q = try image.withView { view -> FrameQuality in
            let catalog = try extractor.extract(view)
            return FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog)
        }
        // A hot pixel's neighbours must be much fainter: every third pixel of every third row, 127 x 127 of them.
        #expect(q.hotPixels == FrameQualityJudge.maxHotPixels && q.hotPixelsTruncated, "\(q.hotPixels)")
        #expect(q.flags.contains("hot_pixels_truncated"))

        // Trail pieces beyond the limit are left out, and the finder says so.
        var pieces: [TrailSegment] = []
        let snrImage = OwnedImage<Float>(width: w, height: h, fill: 0)
        for k in 0..<8 { for x in 10..<240 { snrImage[x, 10 + 30 * k] = 20; snrImage[x, 11 + 30 * k] = 20 } }
        let labels = UnsafeMutableBufferPointer<Int32>.allocate(capacity: w * h)
        let queue = UnsafeMutableBufferPointer<Int32>.allocate(capacity: w * h)
        let temp = UnsafeMutableBufferPointer<Int32>.allocate(capacity: w * h)
        defer { labels.deallocate(); queue.deallocate(); temp.deallocate() }
        let snr = snrImage.storage
        let cut = TrailFinder.find(snr: snr, width: w, height: h, labels: labels, queue: queue, scratch: temp, into: &pieces, limit: 3)
        #expect(cut && pieces.count == 3)
        let all = TrailFinder.find(snr: snr, width: w, height: h, labels: labels, queue: queue, scratch: temp, into: &pieces, limit: 100)
        #expect(!all && pieces.count == 8)
    }
}
