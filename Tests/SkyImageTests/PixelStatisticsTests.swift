import Testing
@testable import SkyImage

/// PixelStatistics against a plain sort-based reference written here.
@Suite struct PixelStatisticsTests {
    /// The definition, spelled out: sort, take the middle (mean of the two middles for
    /// an even count), same for absolute deviations.
    static func reference(_ values: [Double]) -> (median: Double, sigma: Double, mean: Double) {
        func median(_ v: [Double]) -> Double {
            let s = v.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        let m = median(values)
        return (m, 1.4826 * median(values.map { abs($0 - m) }), values.reduce(0, +) / Double(values.count))
    }

    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: [(1, 1), (2, 1), (7, 5), (16, 16), (33, 20), (101, 3)])
    func floatMatchesReference(width: Int, height: Int) {
        var rng = SeededRandom(state: UInt64(width * 1000 + height))
        let image = OwnedImage<Float>(width: width, height: height, fill: 0)
        var finite: [Double] = []
        var nans = 0
        for i in 0..<image.storage.count {
            let roll = Int.random(in: 0..<10, using: &rng)
            let v: Float = roll == 0 ? .nan : roll == 1 ? Float(Int.random(in: 0..<3, using: &rng))   // ties
                : Float.random(in: -50...300, using: &rng)
            image.storage[i] = v
            if v.isNaN { nans += 1 } else { finite.append(Double(v)) }
        }
        let s = PixelStatistics.of(image)
        #expect(s.count == finite.count && s.nanCount == nans)
        guard !finite.isEmpty else { #expect(s.median.isNaN && s.mean.isNaN); return }
        let r = Self.reference(finite)
        #expect(s.min == finite.min()! && s.max == finite.max()!)
        #expect(abs(s.mean - r.mean) <= 1e-9 * Swift.max(1, abs(r.mean)))
        #expect(s.median == r.median)
        #expect(abs(s.sigma - r.sigma) <= 1e-5 * Swift.max(1, r.sigma))
    }

    @Test func uint16MatchesReferenceAndFloatPath() {
        var rng = SeededRandom(state: 42)
        for (width, height) in [(1, 1), (2, 1), (3, 1), (50, 41), (64, 64)] {
            let u = OwnedImage<UInt16>(width: width, height: height, fill: 0)
            let f = OwnedImage<Float>(width: width, height: height, fill: 0)
            for i in 0..<u.storage.count {
                // A sky-like level with noise plus rare bright pixels and the extremes.
                let v: UInt16 = Int.random(in: 0..<50, using: &rng) == 0
                    ? [0, 65535, 60000].randomElement(using: &rng)!
                    : UInt16(1000 + Int.random(in: -30...30, using: &rng))
                u.storage[i] = v
                f.storage[i] = Float(v)
            }
            let values = u.storage.map(Double.init)
            let r = Self.reference(values)
            let s = PixelStatistics.of(u)
            #expect(s.count == values.count && s.nanCount == 0)
            #expect(s.min == values.min()! && s.max == values.max()!)
            #expect(s.median == r.median && s.sigma == r.sigma, "\(width)x\(height)")
            #expect(abs(s.mean - r.mean) < 1e-9 * r.mean)
            let viaFloat = PixelStatistics.of(f)
            #expect(viaFloat.median == s.median && viaFloat.sigma == s.sigma)
        }
    }

    @Test func halfIntegerMedianAndMAD() {
        // 1, 2, 4, 7: median 3; deviations 2, 1, 1, 4 -> MAD 1.5.
        let u = OwnedImage<UInt16>(width: 4, height: 1, fill: 0)
        for (i, v) in [7, 1, 4, 2].enumerated() { u.storage[i] = UInt16(v) }
        let s = PixelStatistics.of(u)
        #expect(s.median == 3 && s.sigma == 1.4826 * 1.5 && s.mean == 3.5)
    }

    @Test func constantAndEmptyImages() {
        let flat = OwnedImage<Float>(width: 300, height: 200, fill: 17)
        let s = PixelStatistics.of(flat)
        #expect(s.median == 17 && s.sigma == 0 && s.min == 17 && s.max == 17 && s.mean == 17)
        let allNaN = OwnedImage<Float>(width: 3, height: 3, fill: .nan)
        let n = PixelStatistics.of(allNaN)
        #expect(n.count == 0 && n.nanCount == 9 && n.median.isNaN)
        let infinite = OwnedImage<Float>(width: 2, height: 1, fill: .infinity)
        infinite.storage[1] = 4
        let i = PixelStatistics.of(infinite)
        #expect(i.count == 1 && i.nanCount == 1 && i.mean == 4)
        let flat16 = OwnedImage<UInt16>(width: 10, height: 10, fill: 65535)
        let t = PixelStatistics.of(flat16)
        #expect(t.median == 65535 && t.sigma == 0 && t.min == 65535)
    }

    @Test func stridedViewsAndCallerScratch() {
        let big = OwnedImage<UInt16>(width: 10, height: 10, fill: 60000)
        let sub = big.view.subview(x: 2, y: 3, width: 4, height: 3)
        for y in 0..<3 { for x in 0..<4 { sub[x, y] = UInt16(y * 4 + x) } }   // 0...11
        let histogram = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: 65_536)
        defer { histogram.deallocate() }
        histogram.initialize(repeating: 123)   // garbage must not leak into the result
        let s = withExtendedLifetime(big) { PixelStatistics.of(sub, histogram: histogram) }
        #expect(s.count == 12 && s.max == 11 && s.median == 5.5 && s.mean == 5.5)

        let bigF = OwnedImage<Float>(width: 10, height: 10, fill: 1e9)
        let subF = bigF.view.subview(x: 1, y: 1, width: 3, height: 3)
        for y in 0..<3 { for x in 0..<3 { subF[x, y] = Float(y * 3 + x) } }       // 0...8
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: 9)
        defer { scratch.deallocate() }
        let f = withExtendedLifetime(bigF) { PixelStatistics.of(subF, scratch: scratch) }
        #expect(f.count == 9 && f.max == 8 && f.median == 4 && f.sigma == 1.4826 * 2)
    }
}
