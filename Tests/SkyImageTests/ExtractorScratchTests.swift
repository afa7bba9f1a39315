import CAllocationCounter
import Foundation
import Testing
@testable import SkyImage

/// The extractor's fixed scratch: no allocation per frame, overflow flagged
/// instead of growing, the same catalogue on one thread and on several.
@Suite struct ExtractorScratchTests {
    /// Sky with noise, single Gaussian stars on a grid and close pairs (which the deblender splits).
    static func starField(width: Int = 384, height: Int = 320, seed: UInt64 = 11) -> OwnedImage<Float> {
        let image = OwnedImage<Float>(width: width, height: height, fill: 0)
        var state = seed
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        var stars: [(x: Double, y: Double, peak: Double)] = []
        for i in 0..<48 {
            let x = 24 + Double(i % 8) * 45 + 0.3, y = 24 + Double(i / 8) * 50 + 0.6
            stars.append((x, y, 300 + Double(i) * 40))
            // Every third star has a fainter companion 6 px away: one detection that the deblender splits.
            if i % 3 == 0 { stars.append((x + 6, y + 1.5, 0.6 * (300 + Double(i) * 40))) }
        }
        for y in 0..<height {
            for x in 0..<width {
                let n = (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
                var v = 1000 + 10 * n
                for s in stars {
                    let dx = Double(x) - s.x, dy = Double(y) - s.y
                    let r2 = dx * dx + dy * dy
                    if r2 < 150 { v += s.peak * exp(-r2 / (2 * 1.4 * 1.4)) }
                }
                image[x, y] = Float(v)
            }
        }
        return image
    }

    /// Field by field, NaN equal to NaN (FWHM and half-flux radius may be NaN).
    static func same(_ a: [Source], _ b: [Source]) -> Bool { "\(a)" == "\(b)" }

    @Test func extractingFramesAllocatesNothing() throws {
        guard sky_allocations_supported() != 0 else {
            print("skipping: allocation counting needs glibc malloc interposition")
            return
        }
        let frames = [Self.starField(seed: 11), Self.starField(seed: 12), Self.starField(seed: 13)]
        let extractor = SourceExtractor(maxWidth: 384, maxHeight: 320)
        var catalog = SourceCatalog(capacity: extractor.options.capacity)
        try frames[0].withView { try extractor.extract($0, into: &catalog) }   // warm-up: nothing lazy may remain
        #expect(catalog.sources.contains { $0.flags.contains(.blended) }, "the frame must exercise the deblender")
        // The counter itself must see allocations, or a zero below would prove nothing.
        sky_allocations_begin()
        let probe = [Int](repeating: 1, count: Int.random(in: 10...20))
        #expect(sky_allocations_end() >= 1 && probe.count >= 10)

        var counts: [Int] = []
        counts.reserveCapacity(9)
        sky_allocations_begin()
        for round in 0..<9 {
            try frames[round % 3].withView { try extractor.extract($0, into: &catalog) }
            counts.append(catalog.count)
        }
        let allocations = sky_allocations_end()
        #expect(allocations == 0, "extract allocated \(allocations) times in 9 frames")
        #expect(counts.allSatisfy { $0 >= 56 })
        #expect(counts[0] == counts[3] && counts[1] == counts[4] && counts[2] == counts[8])
    }

    @Test func severalThreadsGiveTheSameCatalogue() throws {
        let frame = Self.starField()
        let one = SourceExtractor(maxWidth: 384, maxHeight: 320)
        let three = SourceExtractor(maxWidth: 384, maxHeight: 320, threads: 3)
        let a = try frame.withView { try one.extract($0) }
        let b = try frame.withView { try three.extract($0) }
        #expect(a.count >= 56)
        #expect(Self.same(a.sources, b.sources))
        #expect(one.background!.levelMesh == three.background!.levelMesh)
        let mapsEqual = one.withMaps { s1, r1 in three.withMaps { s3, r3 in
            Array(s1[0..<(384 * 320)]) == Array(s3[0..<(384 * 320)]) && Array(r1[0..<(384 * 320)]) == Array(r3[0..<(384 * 320)])
        } }
        #expect(mapsEqual)
    }

    @Test func aFullTableIsFlaggedNotGrown() throws {
        let frame = Self.starField()
        var options = ExtractionOptions()
        options.capacity = 10
        let extractor = SourceExtractor(maxWidth: 384, maxHeight: 320, options: options)
        let catalog = try frame.withView { try extractor.extract($0) }
        #expect(catalog.count <= 10)
        #expect(catalog.overflowed && catalog.truncated)
        #expect(catalog.detected > 10)
    }

    @Test func objectsLargerThanPlannedAreCountedNotMeasured() throws {
        let frame = Self.starField()
        var options = ExtractionOptions()
        options.maxObjectPixels = 20
        let small = SourceExtractor(maxWidth: 384, maxHeight: 320, options: options)
        let full = SourceExtractor(maxWidth: 384, maxHeight: 320)
        let cut = try frame.withView { try small.extract($0) }
        let all = try frame.withView { try full.extract($0) }
        #expect(cut.oversized > 0 && cut.truncated)
        #expect(!all.truncated)
        #expect(cut.count < all.count)
    }

    @Test func scratchFromTheCallerIsUsed() throws {
        let frame = Self.starField()
        let bytes = SourceExtractor.scratchBytes(maxWidth: 384, maxHeight: 320, threads: 2)
        // Frame-sized maps (5 x 4 bytes a pixel) dominate; the rest is bounded per thread.
        #expect(bytes >= 20 * 384 * 320 && bytes < 20 * 384 * 320 + 2 * 5 * 4 * (1 << 18) + (16 << 20))
        let region = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
        defer { region.deallocate() }
        let own = SourceExtractor(maxWidth: 384, maxHeight: 320, threads: 2)
        let given = SourceExtractor(maxWidth: 384, maxHeight: 320, threads: 2, scratch: region)
        let a = try frame.withView { try own.extract($0) }
        let b = try frame.withView { try given.extract($0) }
        #expect(Self.same(a.sources, b.sources) && a.count >= 56)
        let inRegion = given.withMaps { s, _ in
            UnsafeRawPointer(s.baseAddress!) >= UnsafeRawPointer(region.baseAddress!)
                && UnsafeRawPointer(s.baseAddress!) < UnsafeRawPointer(region.baseAddress! + bytes)
        }
        #expect(inRegion)
    }
}
