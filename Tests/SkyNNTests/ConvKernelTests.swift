import CSkyKernels
import SkyCore
import Testing
@testable import SkyNN

/// sky_conv_s8 (the AVX2 kernel gathers and widens its rows from the image itself;
/// the others run im2col + GEMM) against Int8Kernels.conv2d, the specification, on
/// random convolutions: 1-4 input channels often (first layers), wide rows (the AVX2
/// kernel's direct path), rectangular kernels,
/// strides, asymmetric padding, groups, row ranges that cut the image anywhere.
@Suite struct ConvKernelTests {
    @Test(arguments: availableGemmKernels())
    func convolutionIsBitExactOnRandomShapes(kernel: Int32) {
        var r = SeededRandom(seed: UInt64(700 + kernel))
        for _ in 0..<60 {
            let groups = r.index(4) == 0 ? 2 + r.index(2) : 1
            let cg = r.index(2) == 0 ? 1 + r.index(4) : 1 + r.index(40), cin = cg * groups
            var c = Conv2D(outChannels: (1 + r.index(40)) * groups, kernel: 1, groups: groups)
            c.kernelH = 1 + r.index(5); c.kernelW = 1 + r.index(5)
            c.strideH = 1 + r.index(3); c.strideW = 1 + r.index(3)
            c.padTop = r.index(c.kernelH); c.padLeft = r.index(c.kernelW)
            // A third are wide and short: rows of 24+ output pixels take the AVX2 direct path.
            let wide = r.index(3) == 0
            let xs = wide ? TensorShape(h: c.kernelH + r.index(4), w: 24 * c.strideW + c.kernelW + r.index(30), c: cin)
                          : TensorShape(h: c.kernelH + r.index(18), w: c.kernelW + r.index(18), c: cin)
            let ys = TensorShape(h: (xs.h + c.padTop - c.kernelH) / c.strideH + 1, w: (xs.w + c.padLeft - c.kernelW) / c.strideW + 1,
                                 c: c.outChannels)
            let zp = Int32(r.index(256)) - 128
            let inQ = QuantParams(scale: Float(r.uniform(0.001, 0.1)), zeroPoint: zp)
            let outQ = QuantParams(scale: Float(r.uniform(0.01, 2)), zeroPoint: Int32(r.index(256)) - 128)
            let acts: [Activation] = [.none, .relu, .relu6, .leaky(alpha: 0.1)]
            let stage = OutputStage(activation: acts[r.index(4)], input: inQ,
                                    weightScales: (0..<c.outChannels).map { _ in Float(r.uniform(0.001, 0.05)) }, output: outQ)
            let k = c.kernelH * c.kernelW * cg, ocg = c.outChannels / groups
            let x = (0..<xs.elements).map { _ in Int8(truncatingIfNeeded: r.index(256)) }
            let w = (0..<(c.outChannels * k)).map { _ in Int8(r.index(255) - 127) }
            let bias = (0..<c.outChannels).map { _ in Int32(r.index(100_001)) - 50_000 }
            var expected = [Int8](repeating: 0, count: ys.elements)
            Int8Kernels.conv2d(x, xs, inputZeroPoint: zp, c, weights: w, bias: bias, stage: stage, &expected, ys)

            let m = ys.h * ys.w, kp = Int(sky_gemm_s8_k_padded(Int32(k))), tile = 1 + r.index(m)
            let packedStride = (sky_gemm_s8_packed_size(Int32(ocg), Int32(k)) + 63) / 64 * 64
            let packed = UnsafeMutableRawPointer.allocate(byteCount: packedStride * groups, alignment: 64)
            defer { packed.deallocate() }
            var scratch = [Int8](repeating: 0, count: tile * kp)
            let mult = stage.multipliers.map(\.mantissa), shift = stage.multipliers.map(\.shift)
            var got = [Int8](repeating: 0, count: ys.elements)
            for g in 0..<groups {
                #expect(sky_gemm_s8_pack_for(kernel, Array(w[(g * ocg * k)...]), Array(bias[(g * ocg)...]), zp, Int32(ocg), Int32(k),
                                             packed + g * packedStride) == kernel)
                mult.withUnsafeBufferPointer { mp in shift.withUnsafeBufferPointer { sp in
                    var rq = sky_requant_s8(multiplier: mp.baseAddress! + g * ocg, shift: sp.baseAddress! + g * ocg,
                                            output_zero_point: stage.outputZeroPoint, act_min: stage.activationMin,
                                            act_max: stage.activationMax, leaky: stage.leaky == nil ? 0 : 1,
                                            leaky_multiplier: stage.leaky?.mantissa ?? 0, leaky_shift: stage.leaky?.shift ?? 0)
                    got.withUnsafeMutableBufferPointer { y in
                        for row0 in stride(from: 0, to: m, by: tile) {
                            sky_conv_s8(x, Int32(xs.h), Int32(xs.w), Int32(xs.c), Int32(c.kernelH), Int32(c.kernelW),
                                        Int32(c.strideH), Int32(c.strideW), Int32(c.padTop), Int32(c.padLeft), Int32(ys.w),
                                        Int32(row0), Int32(min(tile, m - row0)), Int32(g * cg), Int32(cg), Int8(truncatingIfNeeded: zp),
                                        packed + g * packedStride, &rq, y.baseAddress! + row0 * ys.c + g * ocg, ys.c, &scratch, kp)
                        }
                    }
                } }
            }
            #expect(got == expected, "kernel \(kernel) \(xs) -> \(ys) k\(c.kernelH)x\(c.kernelW) s\(c.strideH)x\(c.strideW) groups \(groups)")
            if got != expected { return }
        }
    }
}
