import CSkyKernels
import SkyCore
@testable import SkyNN

/// One random int8 convolution for the kernel tests: 1-4 input channels often (first
/// layers), a third wide and short (rows of 24+ output pixels take the AVX2 direct
/// path), rectangular kernels, strides, asymmetric padding, groups, and the output
/// Int8Kernels.conv2d (the specification) gives for it.
struct RandomConvolutionCase {
    let c: Conv2D, xs: TensorShape, ys: TensorShape, zp: Int32, stage: OutputStage
    let x: [Int8], w: [Int8], bias: [Int32], expected: [Int8]
    /// Rows per sky_conv_s8 call: the call sequence cuts the image anywhere.
    let tile: Int

    /// `groupsOneIn`: one case in that many is grouped. `weights(count, &r)` draws the weights.
    init(_ r: inout SeededRandom, groupsOneIn: Int, weights: (Int, inout SeededRandom) -> [Int8]) {
        let groups = r.index(groupsOneIn) == 0 ? 2 + r.index(2) : 1
        let cg = r.index(2) == 0 ? 1 + r.index(4) : 1 + r.index(40), cin = cg * groups
        var c = Conv2D(outChannels: (1 + r.index(40)) * groups, kernel: 1, groups: groups)
        c.kernelH = 1 + r.index(5); c.kernelW = 1 + r.index(5)
        c.strideH = 1 + r.index(3); c.strideW = 1 + r.index(3)
        c.padTop = r.index(c.kernelH); c.padLeft = r.index(c.kernelW)
        let wide = r.index(3) == 0
        let xs = wide ? TensorShape(h: c.kernelH + r.index(4), w: 24 * c.strideW + c.kernelW + r.index(30), c: cin)
                      : TensorShape(h: c.kernelH + r.index(18), w: c.kernelW + r.index(18), c: cin)
        self.init(c, xs, bottom: 0, right: 0, &r, weights: weights)
    }

    /// Shapes for the AVX2 u8 kernel's direct path and its edges: ungrouped, 9-40 output
    /// channels mostly (some 5-8, which decline it), input channels whose kernel rows are a
    /// whole number of 4-byte groups or not (kw*c % 4), strides 1-2 (3 now and then),
    /// padding on all four sides, and output rows of 1-40 pixels, below and above the
    /// length where it starts.
    init(directCandidate r: inout SeededRandom, weights: (Int, inout SeededRandom) -> [Int8]) {
        let cin = [4, 8, 12, 16, 32, 3, 6, 1 + r.index(40)][r.index(8)]
        var c = Conv2D(outChannels: r.index(6) == 0 ? 5 + r.index(4) : 9 + r.index(32), kernel: 1)
        c.kernelH = 1 + r.index(5); c.kernelW = 1 + r.index(5)
        c.strideH = 1 + r.index(2); c.strideW = r.index(6) == 0 ? 3 : 1 + r.index(2)
        c.padTop = r.index(c.kernelH); c.padLeft = r.index(c.kernelW)
        let bottom = r.index(c.kernelH), right = r.index(c.kernelW)
        let ow = 1 + r.index(40)   /* columns that give about ow output pixels per row */
        let xs = TensorShape(h: max(1, c.kernelH - c.padTop - bottom) + r.index(6),
                             w: max(1, (ow - 1) * c.strideW + c.kernelW - c.padLeft - right + r.index(c.strideW)), c: cin)
        self.init(c, xs, bottom: bottom, right: right, &r, weights: weights)
    }

    /// A first layer: 3x3, padding 1, `channels` input channels, 9-24 output channels,
    /// rows of 24-40 pixels.
    init(firstLayer channels: Int, _ r: inout SeededRandom, weights: (Int, inout SeededRandom) -> [Int8]) {
        var c = Conv2D(outChannels: 9 + r.index(16), kernel: 3)
        c.padTop = 1; c.padLeft = 1
        self.init(c, TensorShape(h: 3 + r.index(12), w: 24 + r.index(17), c: channels), bottom: 1, right: 1, &r, weights: weights)
    }

    /// Rows of 12-15 KB (3x3 kernels over 128 or 150 channels, 96 columns; 25-30 KB widened
    /// to int16), so that the direct paths' buffer of input rows (96 KB) holds 6-7 of them (3
    /// widened) and a call's rows come in several bands; strides 1-2, 9-12 output channels;
    /// calls of at least 3/4 of the image (smaller ones would fit their rows in one band).
    init(longRows r: inout SeededRandom, weights: (Int, inout SeededRandom) -> [Int8]) {
        var c = Conv2D(outChannels: 9 + r.index(4), kernel: 3)
        c.strideH = 1 + r.index(2); c.strideW = 1 + r.index(2)
        c.padTop = r.index(3); c.padLeft = r.index(3)
        self.init(c, TensorShape(h: 9 + r.index(4), w: 96, c: r.index(2) == 0 ? 128 : 150), bottom: r.index(3), right: r.index(3), &r,
                  tileFrom: 0.75, weights: weights)
    }

    /// `tileFrom`: the least fraction of the output pixels a call takes (tiles are drawn from it up to all).
    private init(_ c: Conv2D, _ xs: TensorShape, bottom: Int, right: Int, _ r: inout SeededRandom, tileFrom: Double = 0,
                 weights: (Int, inout SeededRandom) -> [Int8]) {
        self.xs = xs
        ys = TensorShape(h: (xs.h + c.padTop + bottom - c.kernelH) / c.strideH + 1,
                         w: (xs.w + c.padLeft + right - c.kernelW) / c.strideW + 1, c: c.outChannels)
        zp = Int32(r.index(256)) - 128
        let acts: [Activation] = [.none, .relu, .relu6, .leaky(alpha: 0.1)]
        // Now and then a tiny output scale (multipliers above 1: left shifts), and biases
        // near 1.5e9 (accumulators too large for the AVX2 stage's short rounding).
        let outScale = r.index(8) == 0 ? r.uniform(0.00005, 0.0005) : r.uniform(0.01, 2)
        stage = OutputStage(activation: acts[r.index(4)], input: QuantParams(scale: Float(r.uniform(0.001, 0.1)), zeroPoint: zp),
                            weightScales: (0..<c.outChannels).map { _ in Float(r.uniform(0.001, 0.05)) },
                            output: QuantParams(scale: Float(outScale), zeroPoint: Int32(r.index(256)) - 128),
                            requantization: r.index(3) == 0 ? .float : .fixedPoint)
        let biasRange = r.index(8) == 0 ? 1_500_000_000 : 50_000
        let k = c.kernelH * c.kernelW * (xs.c / c.groups)
        x = (0..<xs.elements).map { _ in Int8(truncatingIfNeeded: r.index(256)) }
        w = weights(c.outChannels * k, &r)
        bias = (0..<c.outChannels).map { _ in Int32(r.index(2 * biasRange + 1) - biasRange) }
        var expected = [Int8](repeating: 0, count: ys.elements)
        Int8Kernels.conv2d(x, xs, inputZeroPoint: zp, c, weights: w, bias: bias, stage: stage, &expected, ys)
        self.expected = expected
        self.c = c
        let least = max(1, Int(Double(ys.h * ys.w) * tileFrom))
        tile = least + r.index(ys.h * ys.w - least + 1)
    }

    var description: String {
        "\(xs) -> \(ys) k\(c.kernelH)x\(c.kernelW) s\(c.strideH)x\(c.strideW) pad \(c.padTop),\(c.padLeft) groups \(c.groups)"
    }

    /// Packs each group's weights for `kernel` (as a convolution, as the executor does, or
    /// with `gemmPacking` as a plain GEMM, without the kernel geometry) and runs sky_conv_s8
    /// over the image in tiles; returns the output, the kernel the packing chose for each
    /// group, and whether each group ran on a kernel's direct path (sky_conv_s8_direct).
    func run(kernel: Int32, gemmPacking: Bool = false) -> (output: [Int8], chosen: [Int32], direct: [Bool]) {
        let groups = c.groups, cg = xs.c / groups, ocg = c.outChannels / groups
        let k = c.kernelH * c.kernelW * cg, m = ys.h * ys.w, kp = Int(sky_gemm_s8_k_padded(Int32(k)))
        let (kh, kw) = (Int32(c.kernelH), Int32(c.kernelW))
        let packedStride = (sky_conv_s8_packed_size(Int32(ocg), kh, kw, Int32(cg)) + 63) / 64 * 64
        let packed = UnsafeMutableRawPointer.allocate(byteCount: packedStride * groups, alignment: 64)
        defer { packed.deallocate() }
        var scratch = [Int8](repeating: 0, count: tile * kp)
        var got = [Int8](repeating: 0, count: ys.elements)
        var chosen: [Int32] = [], direct: [Bool] = []
        for g in 0..<groups {
            let wg = Array(w[(g * ocg * k)...]), bg = Array(bias[(g * ocg)...])
            chosen.append(gemmPacking ? sky_gemm_s8_pack_for(kernel, wg, bg, zp, Int32(ocg), Int32(k), packed + g * packedStride)
                                      : sky_conv_s8_pack_for(kernel, wg, bg, zp, Int32(ocg), kh, kw, Int32(cg), packed + g * packedStride))
            stage.withCStage(from: g * ocg) { rq in
                direct.append(sky_conv_s8_direct(packed + g * packedStride, &rq, Int32(xs.c), Int32(cg), Int32(c.kernelH),
                                                 Int32(c.kernelW), Int32(c.strideW), Int32(ys.w)) != 0)
                got.withUnsafeMutableBufferPointer { y in
                    for row0 in stride(from: 0, to: m, by: tile) {
                        sky_conv_s8(x, Int32(xs.h), Int32(xs.w), Int32(xs.c), Int32(c.kernelH), Int32(c.kernelW),
                                    Int32(c.strideH), Int32(c.strideW), Int32(c.padTop), Int32(c.padLeft), Int32(ys.w),
                                    Int32(row0), Int32(min(tile, m - row0)), Int32(g * cg), Int32(cg), Int8(truncatingIfNeeded: zp),
                                    packed + g * packedStride, &rq, y.baseAddress! + row0 * ys.c + g * ocg, ys.c, &scratch, kp)
                    }
                }
            }
        }
        return (got, chosen, direct)
    }
}
