import CAllocationCounter
import Foundation
import Testing
@testable import SkyImage

/// A frame with known content, made here rather than with SkySim so the test
/// checks the measurement against numbers it chose itself.
private func syntheticFrame(width: Int, height: Int, sky: Double, sigma: Double,
                            stars: [(x: Double, y: Double, peak: Double)], gradient: Double = 0,
                            seed: UInt64 = 7) -> OwnedImage<UInt16> {
    let image = OwnedImage<UInt16>(width: width, height: height, fill: 0)
    var state = seed
    func uniform() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return (Double(state >> 11) + 0.5) / Double(1 << 53)
    }
    for y in 0..<height {
        for x in 0..<width {
            // Box-Muller for Gaussian noise.
            let n = (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
            var v = sky + gradient * Double(x) / Double(width) + sigma * n
            for s in stars {
                let dx = Double(x) - s.x, dy = Double(y) - s.y
                let r2 = dx * dx + dy * dy
                if r2 < 100 { v += s.peak * exp(-r2 / (2 * 1.5 * 1.5)) }
            }
            image[x, y] = UInt16(clamping: Int(v.rounded()))
        }
    }
    return image
}

private func withSummarizer<R>(width: Int, height: Int, _ body: (inout FrameSummarizer) -> R) -> R {
    let options = FrameSummaryOptions()
    let sizes = FrameSummarizer.scratchBytes(maxWidth: width, maxHeight: height, options: options)
    let mesh = UnsafeMutableRawBufferPointer.allocate(byteCount: sizes.mesh, alignment: 64)
    let det = UnsafeMutableRawBufferPointer.allocate(byteCount: sizes.detection, alignment: 64)
    defer { mesh.deallocate(); det.deallocate() }
    var s = FrameSummarizer(maxWidth: width, maxHeight: height, options: options, meshScratch: mesh, detectionScratch: det)
    return body(&s)
}

@Test func backgroundAndNoiseOfAFlatNoisyFrame() {
    let frame = syntheticFrame(width: 512, height: 384, sky: 1000, sigma: 12, stars: [])
    let summary = withSummarizer(width: 512, height: 384) { s in frame.withView { s.summarize($0) } }
    #expect(abs(summary.background - 1000) < 1.0)
    #expect(abs(summary.noise - 12) < 0.6)
    // A 5-sigma threshold over 200k noise pixels gives essentially no false detections of area 5.
    #expect(summary.stars == 0)
    #expect(summary.saturatedPixels == 0)
}

@Test func countsEveryInjectedStarAndIgnoresAGradient() {
    var stars: [(x: Double, y: Double, peak: Double)] = []
    for i in 0..<40 {
        stars.append((x: 20 + Double(i % 8) * 60 + 0.3, y: 20 + Double(i / 8) * 70 + 0.6, peak: 200 + Double(i) * 50))
    }
    let frame = syntheticFrame(width: 512, height: 384, sky: 800, sigma: 10, stars: stars, gradient: 100)
    let summary = withSummarizer(width: 512, height: 384) { s in frame.withView { s.summarize($0) } }
    #expect(summary.stars == 40)
    #expect(summary.backgroundRange > 60, "the mesh follows the 100 ADU gradient")
    // Box sigmas include the gradient within a box (12 ADU across 64 px), as SExtractor's do.
    #expect(abs(summary.noise - 10) < 1.0)
}

@Test func saturationIsCountedAndKeptOutOfTheBackground() {
    let frame = syntheticFrame(width: 256, height: 256, sky: 500, sigma: 5, stars: [])
    for y in 100..<140 { for x in 100..<140 { frame[x, y] = 65535 } }
    let summary = withSummarizer(width: 256, height: 256) { s in frame.withView { s.summarize($0, saturation: 65535) } }
    #expect(summary.saturatedPixels == 1600)
    #expect(abs(summary.saturatedFraction - 1600.0 / 65536.0) < 1e-12)
    #expect(abs(summary.background - 500) < 1.0)
    #expect(summary.stars == 1, "the saturated block is one source")
}

@Test func anAllSaturatedFrameDoesNotCrash() {
    let frame = OwnedImage<UInt16>(width: 128, height: 128, fill: 65535)
    let summary = withSummarizer(width: 128, height: 128) { s in frame.withView { s.summarize($0, saturation: 65535) } }
    #expect(summary.saturatedFraction == 1)
    #expect(summary.background == 0)
}

@Test func starCountIsTruncatedAtCapacity() {
    // A checkerboard of bright 3x3 blocks: far more sources than a capacity of 10.
    let frame = syntheticFrame(width: 256, height: 256, sky: 100, sigma: 3, stars: [])
    for by in stride(from: 8, to: 248, by: 8) { for bx in stride(from: 8, to: 248, by: 8) {
        for y in by..<(by + 3) { for x in bx..<(bx + 3) { frame[x, y] = 5000 } }
    } }
    var options = FrameSummaryOptions()
    options.maxStars = 10
    let sizes = FrameSummarizer.scratchBytes(maxWidth: 256, maxHeight: 256, options: options)
    let mesh = UnsafeMutableRawBufferPointer.allocate(byteCount: sizes.mesh, alignment: 64)
    let det = UnsafeMutableRawBufferPointer.allocate(byteCount: sizes.detection, alignment: 64)
    defer { mesh.deallocate(); det.deallocate() }
    var s = FrameSummarizer(maxWidth: 256, maxHeight: 256, options: options, meshScratch: mesh, detectionScratch: det)
    let summary = frame.withView { s.summarize($0) }
    #expect(summary.stars == 10)
    #expect(summary.starsTruncated)
}

@Test func selectKthMatchesSorting() {
    var state: UInt64 = 3
    for n in [1, 2, 3, 10, 101, 1000] {
        var values = (0..<n).map { _ -> UInt16 in
            state = state &* 6364136223846793005 &+ 1
            return UInt16(truncatingIfNeeded: state >> 50)  // few distinct values: many ties
        }
        let sorted = values.sorted()
        for k in [0, n / 2, n - 1] {
            let got = values.withUnsafeMutableBufferPointer { selectKth($0, k) }
            #expect(got == sorted[k])
        }
    }
}

@Test func measuringAFrameAllocatesNothing() {
    guard sky_allocations_supported() != 0 else {
        print("skipping: allocation counting needs glibc malloc interposition")
        return
    }
    var stars: [(x: Double, y: Double, peak: Double)] = []
    for i in 0..<30 { stars.append((x: 20 + Double(i % 6) * 80, y: 20 + Double(i / 6) * 90, peak: 800)) }
    let frame = syntheticFrame(width: 512, height: 512, sky: 900, sigma: 10, stars: stars)
    let options = FrameSummaryOptions()
    let sizes = FrameSummarizer.scratchBytes(maxWidth: 512, maxHeight: 512, options: options)
    let mesh = UnsafeMutableRawBufferPointer.allocate(byteCount: sizes.mesh, alignment: 64)
    let det = UnsafeMutableRawBufferPointer.allocate(byteCount: sizes.detection, alignment: 64)
    defer { mesh.deallocate(); det.deallocate() }
    var s = FrameSummarizer(maxWidth: 512, maxHeight: 512, options: options, meshScratch: mesh, detectionScratch: det)
    frame.withView { view in
        _ = s.summarize(view)  // warm-up: nothing lazy should remain after this
        // The counter itself must see allocations, or a zero below would prove nothing.
        sky_allocations_begin()
        let probe = [Int](repeating: 1, count: Int.random(in: 10...20))
        let seen = sky_allocations_end()
        #expect(seen >= 1 && probe.count >= 10)

        sky_allocations_begin()
        var found = 0
        for _ in 0..<20 { found &+= s.summarize(view).stars }
        let allocations = sky_allocations_end()
        #expect(allocations == 0, "summarize allocated \(allocations) times in 20 frames")
        #expect(found == 20 * 30)
    }
}
