import Testing
@testable import SkyImage

/// The C matched filter against its Swift reference (SourceFilter.matched).
@Suite struct MatchedFilterKernelTests {
    @Test(arguments: [(1, 1), (2, 5), (3, 3), (17, 9), (64, 33), (130, 7)])
    func cKernelMatchesSwiftReference(width: Int, height: Int) {
        let n = width * height
        let image = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        let ivar = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        let outs = (0..<4).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: n) }
        defer { image.deallocate(); ivar.deallocate(); outs.forEach { $0.deallocate() } }
        var state: UInt64 = UInt64(width * 1000 + height)
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 40) / Double(1 << 24))
        }
        for i in 0..<n {
            image[i] = (next() - 0.3) * 200
            // Some pixels without a noise estimate (ivar 0), as masked ones would be.
            ivar[i] = next() < 0.05 ? 0 : SourceFilter.inverseVariance(1 + 20 * next())
        }
        SourceFilter.matched(image, inverseVariance: ivar, width: width, height: height, convolved: outs[0], snr: outs[1])
        SourceFilter.matchedFast(image, inverseVariance: ivar, width: width, height: height, convolved: outs[2], snr: outs[3])
        for i in 0..<n {
            // Same operation order; only contraction into FMA (on targets that fuse) may differ.
            #expect(abs(outs[0][i] - outs[2][i]) <= 1e-5 * max(1, abs(outs[0][i])), "conv at \(i)")
            #expect(abs(outs[1][i] - outs[3][i]) <= 1e-5 * max(1, abs(outs[1][i])), "snr at \(i)")
        }
    }
}
