import CSkyKernels
import SkyCore
import Testing
@testable import SkyNN

/// The C kernels the executor runs around the GEMMs, against their Swift specifications.
@Suite struct LayerKernelTests {
    @Test func maxPoolingKernelMatchesTheReference() {
        var r = SeededRandom(seed: 77)
        for _ in 0..<40 {
            let p = Pool(size: 1 + r.index(4), stride: 1 + r.index(4))
            let xs = TensorShape(h: p.size + r.index(20), w: p.size + r.index(20), c: 1 + r.index(70))
            let ys = TensorShape(h: (xs.h - p.size) / p.stride + 1, w: (xs.w - p.size) / p.stride + 1, c: xs.c)
            let x = (0..<xs.elements).map { _ in Int8(truncatingIfNeeded: r.index(256)) }
            var expected = [Int8](repeating: 0, count: ys.elements), got = expected
            Int8Kernels.maxPool(x, xs, p, &expected, ys)
            sky_maxpool_s8(x, Int32(xs.w), Int32(xs.c), Int32(p.size), Int32(p.stride), Int32(ys.h), Int32(ys.w), &got)
            #expect(got == expected, "\(xs) pool \(p.size) stride \(p.stride)")
        }
    }

    @Test func upsamplingKernelMatchesTheReference() {
        var r = SeededRandom(seed: 79)
        for _ in 0..<30 {
            let xs = TensorShape(h: 1 + r.index(12), w: 1 + r.index(12), c: 1 + r.index(40)), f = 1 + r.index(4)
            let x = (0..<xs.elements).map { _ in Int8(truncatingIfNeeded: r.index(256)) }
            var expected = [Int8](repeating: 0, count: xs.elements * f * f), got = expected
            Int8Kernels.upsampleNearest(x, xs, factor: f, &expected)
            sky_upsample_nearest_s8(x, Int32(xs.h), Int32(xs.w), Int32(xs.c), Int32(f), &got)
            #expect(got == expected, "\(xs) factor \(f)")
        }
    }

    /// TFLite's convention: ties round away from zero (ONNX's QuantizeLinear rounds them to even).
    @Test func inputQuantizationRoundsHalfAwayFromZero() {
        let q = QuantParams(scale: 1, zeroPoint: 0)
        #expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, -0.49999997].map { q.quantize($0) } == [1, 2, 3, -1, -2, -3, 0, 0])
    }

    @Test func inputQuantizationMatchesQuantParamsBitForBit() {
        var r = SeededRandom(seed: 78)
        for _ in 0..<20 {
            let q = QuantParams(scale: Float(r.uniform(0.0005, 0.2)), zeroPoint: Int32(r.index(256)) - 128)
            var x = (0..<(1 + r.index(300))).map { _ in Float(r.uniform(-40, 40)) }
            // Ties, the clamp edges and values that are not numbers, at both ends (the vector
            // loop and the scalar tail).
            let edges: [Float] = [0, 0.5 * q.scale, -0.5 * q.scale, 1.5 * q.scale, -2.5 * q.scale, .nan, .infinity, -.infinity,
                                  1e30, -1e30, Float(127 - q.zeroPoint) * q.scale, Float(-128 - q.zeroPoint) * q.scale,
                                  3.5 * q.scale, -3.5 * q.scale, 0.49999997 * q.scale, -0.49999997 * q.scale]
            x = edges + x + edges
            var got = [Int8](repeating: 0, count: x.count)
            sky_quantize_f32_s8(x, x.count, q.scale, q.zeroPoint, &got)
            #expect(got == x.map { q.quantize($0) }, "scale \(q.scale) zp \(q.zeroPoint)")
        }
    }
}
