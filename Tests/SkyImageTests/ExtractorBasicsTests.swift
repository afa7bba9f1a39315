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

/// Extraction of a uint16 frame as the site does it (converted to floats), with the extractor's catalogue.
private func extract(_ frame: OwnedImage<UInt16>, saturation: Float = .infinity, capacity: Int = 20_000)
    -> (catalog: SourceCatalog, model: BackgroundModel, saturated: Int) {
    let image = OwnedImage<Float>(width: frame.width, height: frame.height, fill: 0)
    var saturated = 0
    for i in 0..<frame.storage.count {
        image.storage[i] = Float(frame.storage[i])
        if image.storage[i] >= saturation { saturated += 1 }
    }
    var options = ExtractionOptions()
    options.saturation = saturation
    options.capacity = capacity
    let extractor = SourceExtractor(maxWidth: frame.width, maxHeight: frame.height, options: options)
    let catalog = try! image.withView { try extractor.extract($0) }
    return (catalog, extractor.background!, saturated)
}

@Test func backgroundAndNoiseOfAFlatNoisyFrame() {
    let frame = syntheticFrame(width: 512, height: 384, sky: 1000, sigma: 12, stars: [])
    let (catalog, model, saturated) = extract(frame)
    #expect(abs(Double(model.global) - 1000) < 1.0)
    #expect(abs(Double(model.globalRMS) - 12) < 1.2)
    // A 5-sigma threshold over 200k noise pixels gives essentially no false detections of area 5.
    #expect(catalog.count == 0)
    #expect(saturated == 0)
}

@Test func findsEveryInjectedStarAndFollowsAGradient() {
    var stars: [(x: Double, y: Double, peak: Double)] = []
    for i in 0..<40 {
        stars.append((x: 20 + Double(i % 8) * 60 + 0.3, y: 20 + Double(i / 8) * 70 + 0.6, peak: 200 + Double(i) * 50))
    }
    let frame = syntheticFrame(width: 512, height: 384, sky: 800, sigma: 10, stars: stars, gradient: 100)
    let (catalog, model, _) = extract(frame)
    #expect(catalog.count == 40)
    for s in stars {
        #expect(catalog.sources.contains { abs($0.x - s.x) < 0.3 && abs($0.y - s.y) < 0.3 }, "star at \(s.x), \(s.y)")
    }
    #expect((model.levelMesh.max()! - model.levelMesh.min()!) > 60, "the mesh follows the 100 ADU gradient")
}

@Test func aSaturatedBlockIsOneSaturatedSourceAndStaysOutOfTheBackground() {
    let frame = syntheticFrame(width: 256, height: 256, sky: 500, sigma: 5, stars: [])
    for y in 100..<140 { for x in 100..<140 { frame[x, y] = 65535 } }
    let (catalog, model, saturated) = extract(frame, saturation: 65535)
    #expect(saturated == 1600)
    #expect(abs(Double(model.global) - 500) < 1.0)
    #expect(catalog.count == 1, "the saturated block is one source")
    #expect(catalog.sources.first?.flags.contains(.saturated) == true)
}

@Test func anAllSaturatedFrameDoesNotCrash() {
    let frame = OwnedImage<UInt16>(width: 128, height: 128, fill: 65535)
    let (catalog, model, saturated) = extract(frame, saturation: 65535)
    #expect(saturated == 128 * 128)
    #expect(abs(Double(model.global) - 65535) < 1)
    #expect(catalog.count == 0)
}

@Test func theCatalogueIsTruncatedAtCapacity() {
    // A checkerboard of bright 3x3 blocks: far more sources than a capacity of 10.
    let frame = syntheticFrame(width: 256, height: 256, sky: 100, sigma: 3, stars: [])
    for by in stride(from: 8, to: 248, by: 8) { for bx in stride(from: 8, to: 248, by: 8) {
        for y in by..<(by + 3) { for x in bx..<(bx + 3) { frame[x, y] = 5000 } }
    } }
    let (catalog, _, _) = extract(frame, capacity: 10)
    #expect(catalog.count <= 10)
    #expect(catalog.overflowed)
    #expect(catalog.detected > 100)
}

@Test func heapSortMatchesSorting() {
    var state: UInt64 = 5
    for n in [0, 1, 2, 3, 10, 101, 1000] {
        var values = (0..<n).map { _ -> Int32 in
            state = state &* 6364136223846793005 &+ 1
            return Int32(truncatingIfNeeded: state >> 52)  // many ties
        }
        let sorted = values.sorted()
        values.withUnsafeMutableBufferPointer { heapSort($0, by: <) }
        #expect(values == sorted)
    }
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

/// Per-source flags and fluxes on stars placed for them: a close pair is split and both
/// halves flagged blended; a star cut by the left edge is truncated and its aperture crosses
/// the border; an isolated star's isophotal and aperture fluxes come near its true total with
/// errors near what the sky noise gives.
@Test func flagsAndFluxesOfPlacedStars() throws {
    // Gaussian stars of sigma 1.5 px: total flux = 2 pi sigma^2 peak.
    let peak = 2000.0, total = 2 * Double.pi * 1.5 * 1.5 * peak
    let stars: [(x: Double, y: Double, peak: Double)] = [(100, 100, peak), (105.5, 100, 0.6 * peak), (1.5, 200, peak), (300, 200, peak)]
    let (catalog, model, _) = extract(syntheticFrame(width: 400, height: 300, sky: 1000, sigma: 10, stars: stars))
    func near(_ x: Double, _ y: Double) -> Source? { catalog.sources.first { abs($0.x - x) < 1.5 && abs($0.y - y) < 1.5 } }
    let pairA = try #require(near(100, 100)), pairB = try #require(near(105.5, 100))
    #expect(pairA.flags.contains(.blended) && pairB.flags.contains(.blended), "the pair is deblended: \(pairA.flags) \(pairB.flags)")
    let edge = try #require(catalog.sources.first { $0.x < 4 && abs($0.y - 200) < 2 })
    #expect(edge.flags.contains(.truncated) && edge.flags.contains(.nearEdge), "\(edge.flags)")
    let lone = try #require(near(300, 200))
    #expect(lone.flags.isDisjoint(with: [.blended, .truncated, .nearEdge, .saturated]))
    #expect(abs(lone.apertureFlux / total - 1) < 0.05, "aperture \(lone.apertureFlux) of \(total)")
    #expect(lone.flux < total && lone.flux > 0.8 * total, "isophotal \(lone.flux): inside the isophote only")
    // Sky-limited errors: sqrt(pixels) x sigma, so an aperture error of the order of its radius x 10 x sqrt(pi).
    let skyError = Double(model.globalRMS) * (Double.pi * lone.apertureRadius * lone.apertureRadius).squareRoot()
    #expect(lone.apertureFluxError >= skyError * 0.8 && lone.apertureFluxError < skyError * 1.5,
            "aperture error \(lone.apertureFluxError), sky alone \(skyError)")
    #expect(lone.fluxError > 0 && lone.fluxError < lone.apertureFluxError * 2)
    #expect(abs(lone.fwhm - 2.3548 * 1.5) < 0.3 && lone.ellipticity < 0.1)
}
