import CSkyKernels
import SkyCore
import Testing
@testable import SkyNN

/// Every C GEMM kernel against the Swift int8 reference (Int8Kernels.dense,
/// the specification) on random shapes, zero points, multipliers and activations.
@Suite struct GemmKernelTests {
    @Test(arguments: availableGemmKernels())
    func kernelIsBitExactOnRandomShapes(kernel: Int32) {
        var r = SeededRandom(seed: UInt64(100 + kernel))
        for _ in 0..<150 {
            // A quarter of the layers have 1-4 channels (the AVX2 kernel's dot-product path).
            let m = 1 + r.index(19), n = r.index(4) == 0 ? 1 + r.index(4) : 1 + r.index(67), k = 1 + r.index(300)
            let zp = Int32(r.index(256)) - 128
            let inQ = QuantParams(scale: Float(r.uniform(0.001, 0.1)), zeroPoint: zp)
            let weightScales = (0..<n).map { _ in Float(r.uniform(0.001, 0.05)) }
            // Now and then multipliers above 1 (left shifts), biases near 1.5e9, or multipliers
            // near 1 with accumulators near 2^31 (the edges of the AVX2 stage's short rounding,
            // which declines where they could overflow it, and of left shifts that wrap).
            let draw = r.index(8)
            let outScale = draw == 0 ? r.uniform(0.00005, 0.0005)
                : draw == 1 ? Double(inQ.scale) * Double(weightScales[0]) * r.uniform(0.5, 2) : r.uniform(0.01, 2)
            let outQ = QuantParams(scale: Float(outScale), zeroPoint: Int32(r.index(256)) - 128)
            let biasRange = draw == 1 ? 2_100_000_000 : r.index(8) == 0 ? 1_500_000_000 : 50_000
            let acts: [Activation] = [.none, .relu, .relu6, .leaky(alpha: 0.1)]
            let stage = OutputStage(activation: acts[r.index(4)], input: inQ, weightScales: weightScales, output: outQ,
                                    requantization: r.index(3) == 0 ? .float : .fixedPoint)
            let kp = Int(sky_gemm_s8_k_padded(Int32(k)))
            let lda = kp + 32 * r.index(2)
            var a = [Int8](repeating: 0, count: m * lda)
            for i in 0..<m { for q in 0..<k { a[i * lda + q] = Int8(truncatingIfNeeded: r.index(256)) } }
            let w = (0..<(n * k)).map { _ in Int8(r.index(255) - 127) }
            let bias = (0..<n).map { _ in Int32(r.index(2 * biasRange + 1) - biasRange) }
            var expected = [Int8](repeating: 0, count: m * n)
            for i in 0..<m {
                let row = Array(a[(i * lda)..<(i * lda + k)])
                expected.withUnsafeMutableBufferPointer { e in
                    Int8Kernels.dense(row, count: k, inputZeroPoint: zp, outFeatures: n, weights: w, bias: bias, stage: stage, e.baseAddress! + i * n)
                }
            }
            let packed = UnsafeMutableRawPointer.allocate(byteCount: sky_gemm_s8_packed_size(Int32(n), Int32(k)), alignment: 64)
            defer { packed.deallocate() }
            #expect(sky_gemm_s8_pack_for(kernel, w, bias, zp, Int32(n), Int32(k), packed) == kernel)
            var got = [Int8](repeating: 0, count: m * n)
            stage.withCStage { rq in sky_gemm_s8(a, lda, Int32(m), packed, &rq, &got, n) }
            #expect(got == expected, "kernel \(kernel) m=\(m) n=\(n) k=\(k) float stage \(stage.floatScales != nil)")
            if got != expected { return }
        }
    }

    @Test func theFastestAvailableKernelIsChosenAndTheMaskRestrictsIt() {
        let all = sky_gemm_s8_available()
        #expect(all & 1 != 0, "the portable kernel is always there")
        if sky_cpu_features() & UInt32(SKY_CPU_AVX2) != 0 { #expect(all & (1 << SKY_GEMM_AVX2) != 0) }
        sky_cpu_set_feature_mask(0)
        defer { sky_cpu_set_feature_mask(0xFFFF_FFFF) }
        #expect(sky_gemm_s8_available() == 1)
    }
}
