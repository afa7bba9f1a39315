import CSkyKernels
import Testing

/// The Swift reference for sky_histogram_u16: one counter per value.
private func referenceHistogram(_ pixels: [UInt16]) -> [UInt32] {
    var h = [UInt32](repeating: 0, count: 65536)
    for p in pixels { h[Int(p)] += 1 }
    return h
}

@Test(arguments: [0, 1, 2, 3, 17, 1000, 65_537])
func histogramMatchesTheReference(count: Int) {
    var state: UInt64 = UInt64(count) &+ 1
    let pixels = (0..<count).map { i -> UInt16 in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return i % 3 == 0 ? 1000 : UInt16(truncatingIfNeeded: state >> 48)  // runs of equal values too
    }
    var hist = [UInt32](repeating: 0, count: 65536)
    hist[5] = 7  // accumulates: existing counts are kept
    pixels.withUnsafeBufferPointer { p in
        hist.withUnsafeMutableBufferPointer { sky_histogram_u16(p.baseAddress, p.count, $0.baseAddress) }
    }
    var expected = referenceHistogram(pixels)
    expected[5] += 7
    #expect(hist == expected)
}

@Test func featureMaskRestrictsDispatch() {
    let all = sky_cpu_features()
    sky_cpu_set_feature_mask(0)
    #expect(sky_cpu_features() == 0)
    sky_cpu_set_feature_mask(0xFFFF_FFFF)
    #expect(sky_cpu_features() == all)
    #if arch(x86_64)
    // Every x86-64 machine this runs on has SSE4.1 (since 2008); AVX2 implies it.
    if all & UInt32(SKY_CPU_AVX2) != 0 { #expect(all & UInt32(SKY_CPU_SSE41) != 0) }
    #endif
}
