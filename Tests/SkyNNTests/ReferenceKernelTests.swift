import Testing
@testable import SkyNN

@Suite struct ReferenceKernelTests {
    /// 3x3 single-channel input, 2x2 kernel, padding 1 on the left/top only, worked by hand.
    @Test func int8ConvPadsWithTheInputZeroPoint() {
        let x: [Int8] = [10, 11, 12,
                         13, 14, 15,
                         16, 17, 18]       // zero point 10: real values 0...8
        let w: [Int8] = [1, 2,
                         3, 4]
        var c = Conv2D(outChannels: 1, kernel: 2)
        c.padTop = 1; c.padLeft = 1
        let stage = OutputStage(activation: .none, input: QuantParams(scale: 1, zeroPoint: 10), weightScales: [1],
                                output: QuantParams(scale: 1, zeroPoint: -3))
        var y = [Int8](repeating: 0, count: 9)
        let bias: [Int32] = [5]
        Int8Kernels.conv2d(x, TensorShape(h: 3, w: 3, c: 1), inputZeroPoint: 10, c, weights: w, bias: bias, stage: stage,
                           &y, TensorShape(h: 3, w: 3, c: 1))
        // out(0,0) = 4*0 + 5 = 5; out(0,1) = 3*0 + 4*1 + 5 = 9; out(1,1) = 1*0 + 2*1 + 3*3 + 4*4 + 5 = 32
        // out(2,2) = 1*4 + 2*5 + 3*7 + 4*8 + 5 = 72; each minus 3 (output zero point).
        #expect(y[0] == 2 && y[1] == 6 && y[4] == 29 && y[8] == 69)
    }

    @Test func activationsAreTheClampBounds() {
        let out = QuantParams(scale: 0.05, zeroPoint: -20)
        let relu6 = OutputStage(activation: .relu6, input: QuantParams(scale: 1, zeroPoint: 0), weightScales: [0.05], output: out)
        #expect(relu6.activationMin == -20 && relu6.activationMax == 100)   // zp + round(6 / 0.05)
        #expect(relu6.apply(-1000, channel: 0) == -20 && relu6.apply(1000, channel: 0) == 100)
        let leaky = OutputStage(activation: .leaky(alpha: 0.25), input: QuantParams(scale: 1, zeroPoint: 0), weightScales: [0.05], output: out)
        #expect(leaky.apply(-40, channel: 0) == -30)   // -40 * 0.25 = -10, plus zp -20
        #expect(leaky.apply(40, channel: 0) == 20)
    }

    @Test func tfliteAveragePoolRoundsHalfAwayFromZero() {
        #expect(Int8Kernels.roundedAverage(6, 4) == 2)    // 1.5 -> 2
        #expect(Int8Kernels.roundedAverage(-6, 4) == -2)  // -1.5 -> -2
        #expect(Int8Kernels.roundedAverage(5, 4) == 1)    // 1.25 -> 1
        #expect(Int8Kernels.roundedAverage(-508, 4) == -127)
    }

    @Test func int8AddMatchesRealArithmeticWithinOneStep() {
        let a = QuantParams(scale: 0.02, zeroPoint: 3), b = QuantParams(scale: 0.05, zeroPoint: -7), o = QuantParams(scale: 0.06, zeroPoint: 1)
        let p = Int8Kernels.AddParams(a, b, o, activation: .none)
        for qa in stride(from: -128, through: 127, by: 5) { for qb in stride(from: -128, through: 127, by: 7) {
            let x: [Int8] = [Int8(qa)], y: [Int8] = [Int8(qb)]
            var z: [Int8] = [0]
            Int8Kernels.add(x, y, count: 1, p, &z)
            let real = a.dequantize(Int8(qa)) + b.dequantize(Int8(qb))
            let ideal = max(-128, min(127, (real / o.scale).rounded() + 1))
            #expect(abs(Float(z[0]) - ideal) <= 1)
        } }
    }

    @Test func groupedConvolutionIsIndependentConvolutionsPerGroup() throws {
        var b = ModelBuilder(name: "g", input: TensorShape(h: 5, w: 6, c: 4), seed: 3)
        b.add(.conv2d(Conv2D(outChannels: 6, kernel: 3, padding: 1, groups: 2, activation: .none)))
        let grouped = b.model
        let x = TestModels.inputs(grouped, count: 1, seed: 4)[0]
        let y = try FloatReference.forward(grouped, input: x)
        let w = grouped.nodes[1].weights!.float!.array, bias = grouped.nodes[1].weights!.floatBias!.array
        for g in 0..<2 {
            var one = ModelBuilder(name: "one", input: TensorShape(h: 5, w: 6, c: 2), seed: 1)
            one.add(.conv2d(Conv2D(outChannels: 3, kernel: 3, padding: 1, activation: .none)))
            var m = one.model
            let wg: [Float] = Array(w[(g * 54)..<(g * 54 + 54)])
            let bg: [Float] = Array(bias[(g * 3)..<(g * 3 + 3)])
            m.nodes[1].weights = LayerWeights(float: ParamArray(wg), floatBias: ParamArray(bg))
            var xg: [Float] = []
            for p in 0..<30 { xg.append(x[p * 4 + g * 2]); xg.append(x[p * 4 + g * 2 + 1]) }
            let yg = try FloatReference.forward(m, input: xg)
            for p in 0..<30 { for ch in 0..<3 { #expect(abs(yg[p * 3 + ch] - y[p * 6 + g * 3 + ch]) < 1e-5) } }
        }
    }

    @Test func int8ReferenceTracksTheFloatModel() throws {
        for float in [TestModels.allOps(), ModelZoo.autoencoder()] {
            let q = try TestModels.quantized(float, seed: 11)
            let s = try q.shapes()
            for x in TestModels.inputs(float, count: 2, seed: 12) {
                let f = try FloatReference.forwardAll(float, input: x)
                let r = try Int8Reference.run(q, input: x)
                // Every int8 tensor dequantizes to within a few steps of the float tensor.
                for i in 0..<q.nodes.count where !q.nodes[i].op.isOutputFunction {
                    let qp = q.nodes[i].quant!
                    let range = Float(255) * qp.scale
                    var worst: Float = 0
                    for j in 0..<s[i].elements { worst = max(worst, abs(qp.dequantize(r.tensors[i][j]) - f[i][j])) }
                    #expect(worst <= range * 0.08, "node \(i) \(q.nodes[i].name): worst error \(worst) of range \(range)")
                }
            }
        }
    }
}
