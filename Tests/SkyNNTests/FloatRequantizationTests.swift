import CSkyKernels
import SkyCore
import Testing
@testable import SkyNN

/// The float output stage (`Requantization.float`): its bound against TFLite's fixed point,
/// where the quantizer chooses it, and how the model file carries it. Its kernels are
/// compared bit for bit with the reference by the GEMM, convolution and executor tests,
/// which draw float stages among the others.
@Suite struct FloatRequantizationTests {
    @Test func staysWithinOneLSBOfTheFixedPointStage() {
        var r = SeededRandom(seed: 4242)
        for _ in 0..<400 {
            let real = r.uniform(0.0005, 0.5)
            let m = QuantizedMultiplier(real)
            let zp = Int32(r.index(256)) - 128
            let scale = floatRequantizationScale(m)
            for _ in 0..<250 {
                // Accumulators whose result lands in and around the int8 range, ties included.
                let acc = Int32((r.uniform(-300, 300) / m.realValue).rounded())
                let fixed = requantize(acc, m, outputZeroPoint: zp), float = requantizeInFloat(acc, scale: scale, outputZeroPoint: zp)
                #expect(abs(Int(fixed) - Int(float)) <= 1, "acc \(acc) multiplier \(real) zp \(zp)")
                // The float stage rounds acc x M to nearest, up to float rounding; the fixed
                // point rounds twice (to 2^-r, then to an integer) and can be off by up to
                // 1/2 + 2^-(r+1): TFLite's double rounding, where most of their differences come from.
                let exact = min(max(Double(acc) * m.realValue + Double(zp), -128), 127)
                #expect(abs(Double(float) - exact) <= 0.5 + 1e-4, "acc \(acc) multiplier \(real) zp \(zp)")
            }
        }
    }

    /// Every kernel's float stage (the u8 kernel's too) against the reference on every
    /// accumulator of a range: k = 2 with weights 63 and 1 (7-bit, so the u8 kernel takes
    /// them) over all 65,536 input pairs. Multipliers near 2^-6 carry that range across
    /// int8, some 250 accumulators per output value; channels 0-3 have exactly 2^-6, whose
    /// halves are exact ties, where rounding half away from zero instead of to even parts.
    /// Layer widths 16, 20 (a channel tail) and 3 (the 1-4 channel paths), with and without
    /// an activation clamp.
    @Test(arguments: availableGemmKernels() + (sky_gemm_s8_available() & (1 << SKY_GEMM_AVX2) != 0 ? [Int32(SKY_GEMM_AVX2_U8)] : []))
    func kernelsMatchTheReferenceOnEveryAccumulatorOfARange(kernel: Int32) {
        let k = 2, m = 256 * 256, zp: Int32 = -128
        var r = SeededRandom(seed: 77)
        var a = [Int8](repeating: 0, count: m * 32)
        for i in 0..<m { a[i * 32] = Int8(truncatingIfNeeded: i >> 8); a[i * 32 + 1] = Int8(truncatingIfNeeded: i & 255) }
        var ties = 0
        for (n, activation) in [(16, Activation.none), (20, .relu6), (3, .relu)] {
            let w = (0..<n).flatMap { _ in [Int8(63), Int8(1)] }
            let bias = (0..<n).map { _ in Int32(r.index(2_001)) - 1_000 }
            // M = 0.5 x s_w / 8: exactly 2^-6 for s_w = 2^-2 (channels 0-3), near it otherwise.
            let stage = OutputStage(activation: activation, input: QuantParams(scale: 0.5, zeroPoint: zp),
                                    weightScales: (0..<n).map { $0 < 4 ? 0.25 : Float(r.uniform(0.2, 0.3)) },
                                    output: QuantParams(scale: 8, zeroPoint: 3), requantization: .float)
            var expected = [Int8](repeating: 0, count: m * n)
            expected.withUnsafeMutableBufferPointer { e in
                for i in 0..<m {
                    for j in 0..<n {
                        let acc = bias[j] &+ (Int32(a[i * 32]) - zp) &* 63 &+ (Int32(a[i * 32 + 1]) - zp)
                        e[i * n + j] = stage.apply(acc, channel: j)
                        // The data's own check: the ties are there to catch the wrong rounding.
                        let v = Float(3).addingProduct(Float(acc), stage.floatScales![j])
                        if v > Float(stage.activationMin), v < Float(stage.activationMax),
                           v.rounded(.toNearestOrAwayFromZero) != v.rounded(.toNearestOrEven) { ties += 1 }
                    }
                }
            }
            let packed = UnsafeMutableRawPointer.allocate(byteCount: sky_gemm_s8_packed_size(Int32(n), Int32(k)), alignment: 64)
            defer { packed.deallocate() }
            let chosen = sky_gemm_s8_pack_for(kernel, w, bias, zp, Int32(n), Int32(k), packed)
            #expect(chosen == kernel || (kernel == SKY_GEMM_AVX2_U8 && n <= 4 && chosen == SKY_GEMM_AVX2))
            var got = [Int8](repeating: 0, count: m * n)
            stage.withCStage { sky_gemm_s8(a, 32, Int32(m), packed, &$0, &got, n) }
            let wrong = zip(got, expected).filter { $0 != $1 }.count
            #expect(wrong == 0, "kernel \(kernel), \(n) channels, \(activation): \(wrong) of \(m * n) outputs differ")
        }
        #expect(ties > 1000, "\(ties) exact ties in range")
    }

    @Test func clampsToTheActivationRangeLikeTheFixedPointStage() {
        let out = QuantParams(scale: 0.05, zeroPoint: -20)
        let stage = OutputStage(activation: .relu6, input: QuantParams(scale: 1, zeroPoint: 0), weightScales: [0.05], output: out,
                                requantization: .float)
        #expect(stage.floatScales != nil)
        #expect(stage.apply(-1000, channel: 0) == Int8(-20))                  // ReLU: the zero point
        #expect(stage.apply(1_000_000, channel: 0) == Int8(-20 + 120))        // ReLU6: 6 / 0.05 above it
        #expect(stage.apply(37, channel: 0) == Int8(-20 + 37))
        let leaky = OutputStage(activation: .leaky(alpha: 0.1), input: QuantParams(scale: 1, zeroPoint: 0), weightScales: [0.05],
                                output: out, requantization: .float)
        #expect(leaky.floatScales == nil, "a leaky slope keeps the fixed-point stage")
    }

    @Test func theQuantizerChoosesFloatForLayersWithFewMACsPerOutput() throws {
        let q = try TestModels.quantized(TestModels.allOps())
        let shapes = try q.shapes()
        for (i, node) in q.nodes.enumerated() where node.op.hasWeights {
            let k = node.weights!.int8!.count / shapes[i].c
            var leaky = false
            if case .conv2d(let c) = node.op, case .leaky = c.activation { leaky = true }
            var grouped = false
            if case .conv2d(let c) = node.op { grouped = c.groups > 1 }
            let expected: Requantization = k <= Quantizer.defaultFloatRequantizationMaxK && !leaky && !grouped ? .float : .fixedPoint
            #expect(node.requantization == expected, "node \(i) \(node.op.kindName) k=\(k)")
        }
        #expect(q.nodes.contains { $0.requantization == .float } && q.nodes.contains { $0.op.hasWeights && $0.requantization == .fixedPoint })
        var options = Quantizer.Options()
        options.floatRequantizationMaxK = 0
        let exact = try Quantizer.quantize(TestModels.allOps(), calibration: TestModels.inputs(TestModels.allOps(), count: 4, seed: 9), options: options)
        #expect(exact.nodes.allSatisfy { $0.requantization == .fixedPoint })
    }

    @Test func theModelFileCarriesItAndOlderVersionsCannot() throws {
        let q = try TestModels.quantized(TestModels.smallRealBogus())
        #expect(q.nodes[1].requantization == .float)
        let bytes = try ModelFile.encode(q)
        #expect(bytes.withUnsafeBytes { readLE($0, 8) as UInt32 } == 2)
        let loaded = try bytes.withUnsafeBytes { try ModelFile.decode($0, owner: ModelFileTests.Box(bytes), path: "m.skynn") }
        #expect(loaded.nodes.map(\.requantization) == q.nodes.map(\.requantization))
        // Claiming version 1 with a float layer in the graph is refused, not run otherwise.
        var old = bytes
        old[8] = 1
        do {
            _ = try old.withUnsafeBytes { try ModelFile.decode($0, owner: ModelFileTests.Box(old), path: "m.skynn") }
            Issue.record("a version-1 file with a float layer was accepted")
        } catch let e as ModelFileError {
            guard case .corrupt = e else { Issue.record("expected corrupt, got \(e)"); return }
            #expect(e.description.contains("version 2"), "\(e)")
        }
        // Without float layers the file stays version 1, readable by earlier builds.
        var fixed = q
        for i in fixed.nodes.indices { fixed.nodes[i].requantization = .fixedPoint }
        #expect(try ModelFile.encode(fixed).withUnsafeBytes { readLE($0, 8) as UInt32 } == 1)
    }

    @Test func validationRefusesFloatWhereItDoesNotApply() throws {
        var q = try TestModels.quantized(TestModels.allOps())
        q.nodes[1].requantization = .float   // conv with a leaky slope
        #expect(throws: ModelError.self) { try q.validate() }
        var pool = try TestModels.quantized(TestModels.smallRealBogus())
        let p = pool.nodes.firstIndex { if case .maxPool = $0.op { return true }; return false }!
        pool.nodes[p].requantization = .float
        #expect(throws: ModelError.self) { try pool.validate() }
    }
}
