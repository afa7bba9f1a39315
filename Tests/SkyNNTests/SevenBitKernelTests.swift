import CAllocationCounter
import CSkyKernels
import SkyCore
import Testing
@testable import SkyNN

private let hasAVX2 = sky_gemm_s8_available() & (1 << SKY_GEMM_AVX2) != 0
private let u8Kernel = Int32(SKY_GEMM_AVX2_U8), exactKernel = Int32(SKY_GEMM_AVX2)

/// The AVX2 u8 x s8 kernel (vpmaddubsw) for 7-bit weights, against the Swift int8
/// reference (the specification), and the pack-time choice between it and the exact
/// int16 kernel: 7-bit weights of more than 4 channels take it, any weight outside
/// [-64, 63] keeps the exact kernel.
@Suite(.enabled(if: hasAVX2, "no AVX2: the u8 kernel does not exist here")) struct SevenBitKernelTests {
    /// Weights in [-64, 63] (the bound itself often, where saturation would show first),
    /// or, with `outlier`, one weight outside it.
    static func weights(_ count: Int, _ r: inout SeededRandom, outlier: Bool) -> [Int8] {
        var w = (0..<count).map { _ in r.index(4) == 0 ? (r.index(2) == 0 ? Int8(-64) : 63) : Int8(r.index(128) - 64) }
        if outlier { w[r.index(count)] = r.index(2) == 0 ? -65 - Int8(r.index(63)) : 64 + Int8(r.index(64)) }
        return w
    }


    static func randomStage(_ n: Int, _ zp: Int32, _ r: inout SeededRandom) -> OutputStage {
        let acts: [Activation] = [.none, .relu, .relu6, .leaky(alpha: 0.1)]
        return OutputStage(activation: acts[r.index(4)], input: QuantParams(scale: Float(r.uniform(0.001, 0.1)), zeroPoint: zp),
                           weightScales: (0..<n).map { _ in Float(r.uniform(0.001, 0.05)) },
                           output: QuantParams(scale: Float(r.uniform(0.01, 2)), zeroPoint: Int32(r.index(256)) - 128),
                           requantization: r.index(3) == 0 ? .float : .fixedPoint)
    }

    @Test(arguments: [false, true])
    func gemmIsBitExactAndTheKernelFollowsTheWeights(outlier: Bool) {
        var r = SeededRandom(seed: outlier ? 811 : 810)
        for _ in 0..<150 {
            // Edge sizes often: 1 row, 5 and 8 channels (one vector), 16, 17, k 1..4 and around 32.
            let m = r.index(4) == 0 ? 1 : 1 + r.index(19)
            let n = [5, 8, 9, 16, 17, 1 + r.index(67)][r.index(6)], k = [1, 3, 4, 31, 33, 1 + r.index(300)][r.index(6)]
            let zp = Int32(r.index(256)) - 128
            let stage = Self.randomStage(n, zp, &r)
            let kp = Int(sky_gemm_s8_k_padded(Int32(k))), lda = kp + 32 * r.index(2)
            var a = [Int8](repeating: 0, count: m * lda)
            for i in 0..<m { for q in 0..<k { a[i * lda + q] = r.index(4) == 0 ? (r.index(2) == 0 ? -128 : 127) : Int8(truncatingIfNeeded: r.index(256)) } }
            let w = Self.weights(n * k, &r, outlier: outlier)
            let bias = (0..<n).map { _ in Int32(r.index(100_001)) - 50_000 }
            var expected = [Int8](repeating: 0, count: m * n)
            expected.withUnsafeMutableBufferPointer { e in
                for i in 0..<m {
                    Int8Kernels.dense(Array(a[(i * lda)..<(i * lda + k)]), count: k, inputZeroPoint: zp, outFeatures: n,
                                      weights: w, bias: bias, stage: stage, e.baseAddress! + i * n)
                }
            }
            let packed = UnsafeMutableRawPointer.allocate(byteCount: sky_gemm_s8_packed_size(Int32(n), Int32(k)), alignment: 64)
            defer { packed.deallocate() }
            let chosen = sky_gemm_s8_pack_for(u8Kernel, w, bias, zp, Int32(n), Int32(k), packed)
            #expect(chosen == (outlier || n <= 4 ? exactKernel : u8Kernel), "n=\(n) outlier \(outlier)")
            #expect(sky_gemm_s8_kernel(packed) == chosen)
            var got = [Int8](repeating: 0, count: m * n)
            stage.withCStage { sky_gemm_s8(a, lda, Int32(m), packed, &$0, &got, n) }
            #expect(got == expected, "m=\(m) n=\(n) k=\(k) outlier \(outlier)")
            if got != expected { return }
        }
    }

    @Test func layersOfFourChannelsOrFewerKeepTheExactKernel() {
        var r = SeededRandom(seed: 812)
        for n in 1...4 {
            let w = Self.weights(n * 27, &r, outlier: false), bias = [Int32](repeating: 0, count: n)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: sky_gemm_s8_packed_size(Int32(n), 27), alignment: 64)
            defer { packed.deallocate() }
            #expect(sky_gemm_s8_pack_for(u8Kernel, w, bias, 0, Int32(n), 27, packed) == exactKernel)
        }
    }

    /// sky_conv_s8 on random convolutions, as ConvKernelTests, with 7-bit weights: small-k
    /// first layers (1-4 input channels), wide rows, rectangular kernels, strides, padding,
    /// groups (gathered through im2col), row ranges that cut the image anywhere, and images
    /// that end right after the last interior pixel (the 16-byte gathers must stay inside).
    @Test func convolutionIsBitExactOnRandomShapes() {
        var r = SeededRandom(seed: 813)
        var u8Layers = 0
        for _ in 0..<70 {
            let t = RandomConvolutionCase(&r, groupsOneIn: 5) { n, r in Self.weights(n, &r, outlier: false) }
            let (got, chosen, _) = t.run(kernel: u8Kernel)
            let ocg = t.c.outChannels / t.c.groups
            #expect(chosen.allSatisfy { $0 == (ocg > 4 ? u8Kernel : exactKernel) })
            u8Layers += chosen.filter { $0 == u8Kernel }.count
            #expect(got == t.expected, "\(t.description)")
            if got != t.expected { return }
        }
        #expect(u8Layers > 40, "most layers must take the u8 kernel")
    }

    /// The u8 kernel's direct path (kernel rows read straight from unsigned copies of the
    /// input rows) on shapes drawn around it: kw*c a multiple of 4 or not, strides 1-3,
    /// padding on every side, rows of 1-40 output pixels, calls that start and end mid-row.
    /// Most cases must take it, and some must not (every one is checked either way); the
    /// exact kernel runs each case too.
    @Test func directConvolutionIsBitExactOnRandomShapes() {
        var r = SeededRandom(seed: 814)
        var direct = 0, gathered = 0
        for _ in 0..<120 {
            let t = RandomConvolutionCase(directCandidate: &r) { n, r in Self.weights(n, &r, outlier: false) }
            let (got, chosen, u8Direct) = t.run(kernel: u8Kernel)
            #expect(chosen == [u8Kernel], "\(t.description)")
            if u8Direct[0] { direct += 1 } else { gathered += 1 }
            // The exact kernel's row gathering on the same shapes (images smaller than the kernel too).
            let (exact, _, _) = t.run(kernel: exactKernel)
            for (output, path) in [(got, u8Direct[0] ? "u8 direct" : "u8 gathered"), (exact, "exact")] {
                let first = zip(output, t.expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                #expect(first == nil, "\(t.description) tile \(t.tile) \(path): first wrong output \(first ?? -1)")
                if first != nil { return }
            }
        }
        #expect(direct > 50, "most shapes must take the direct path (\(direct) did)")
        #expect(gathered > 10, "some shapes must decline it (\(gathered) did)")
    }

    /// Input rows too long for the direct paths' buffer to hold all that a call reads: the
    /// call copies them band by band, each band starting at the first input row of an output
    /// row; whole images and tiles that start and end mid-row. The u8 kernel flips them, the
    /// exact kernel widens them to int16 (its own direct path: rows of 24+ pixels).
    @Test func directConvolutionReadsLongRowsInBands() {
        var r = SeededRandom(seed: 816)
        for _ in 0..<3 {
            let t = RandomConvolutionCase(longRows: &r) { n, r in Self.weights(n, &r, outlier: false) }
            let (got, _, u8Direct) = t.run(kernel: u8Kernel)
            let (exact, _, exactDirect) = t.run(kernel: exactKernel)
            #expect(u8Direct == [true] && exactDirect == [true], "\(t.description)")
            for (output, path) in [(got, "u8"), (exact, "exact")] {
                let first = zip(output, t.expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                #expect(first == nil, "\(t.description) tile \(t.tile) \(path): first wrong output \(first ?? -1)")
            }
        }
    }

    /// 1- and 3-channel first layers (kernel rows of 3 and 9 bytes, not whole 4-byte groups,
    /// nor whole int16 pairs) packed as convolutions take the direct path, reading the copy
    /// of their weights laid out at pack time with each kernel row padded to whole groups (the
    /// u8 kernel) or pairs (the exact kernel); packed as plain GEMMs (no kernel geometry) they
    /// take the row gathering. All are exact.
    @Test func firstLayersReadWeightsLaidOutAtPackTime() {
        var r = SeededRandom(seed: 815)
        for channels in [1, 3, 1, 3, 6, 1, 3] {
            let t = RandomConvolutionCase(firstLayer: channels, &r) { n, r in Self.weights(n, &r, outlier: false) }
            for kernel in [u8Kernel, exactKernel] {
                let conv = t.run(kernel: kernel), gemm = t.run(kernel: kernel, gemmPacking: true)
                // Kernel rows of whole groups (quads for u8, pairs for the exact kernel) need no copy.
                let whole = (3 * channels) % (kernel == u8Kernel ? 4 : 2) == 0
                #expect(conv.direct == [true] && gemm.direct == [whole], "kernel \(kernel) \(t.description)")
                #expect(conv.output == t.expected, "kernel \(kernel) \(t.description) direct")
                #expect(gemm.output == t.expected, "kernel \(kernel) \(t.description) gathered")
            }
        }
    }

    @Test func sevenBitModelsRunBitExactAndAllocateNothing() throws {
        for float in [TestModels.allOps(), TestModels.smallRealBogus()] {
            let q = try Quantizer.quantize(float, calibration: TestModels.inputs(float, count: 4, seed: 9), weightBits: 7)
            #expect(WeightBits.fitsSevenBits(q))
            let eight = try TestModels.quantized(float)
            #expect(!WeightBits.fitsSevenBits(eight), "8-bit quantization uses the whole range")
            let batch = 3
            let ex = try Executor(model: q, maxBatch: 4, threads: 1)
            let items = TestModels.inputs(float, count: batch, seed: 21)
            let out = ex.run(items.flatMap { $0 }, batch: batch)
            for (b, x) in items.enumerated() {
                let ref = try Int8Reference.run(q, input: x)
                #expect(Array(out[(b * ex.outputCount)..<((b + 1) * ex.outputCount)]) == ref.output, "\(q.name) item \(b)")
                // One item over several threads: the u8 kernel's direct convolutions split in
                // tiles of whole output rows across the threads.
                for threads in [2, 3] {
                    let spread = try Executor(model: q, maxBatch: 1, threads: threads)
                    #expect(spread.run(x, batch: 1) == ref.output, "\(q.name) item \(b) on \(threads) threads")
                }
            }
            let input = items.flatMap { $0 }
            let output = UnsafeMutablePointer<Float>.allocate(capacity: batch * ex.outputCount)
            defer { output.deallocate() }
            input.withUnsafeBufferPointer { inp in
                ex.run(input: inp.baseAddress!, batch: batch, output: output)
                sky_allocations_begin()
                for i in 0..<20 { ex.run(input: inp.baseAddress!, batch: 1 + i % batch, output: output) }
                let count = UInt64(sky_allocations_end())
                #expect(count == 0, "\(q.name): \(count) allocations in 20 runs")
            }
        }
    }

    @Test func weightBitsOutsideSevenAndEightAreRefused() {
        let float = TestModels.smallRealBogus()
        #expect(throws: ModelError.self) { try Quantizer.quantize(float, calibration: TestModels.inputs(float, count: 1, seed: 1), weightBits: 4) }
    }
}
