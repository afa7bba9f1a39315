import Foundation
import Testing
@testable import SkyNN

@Suite struct QuantizationTests {
    @Test func parametersContainTheRangeAndRepresentZeroExactly() {
        for (lo, hi) in [(Float(-1), Float(3)), (0, 6), (-2, 0), (0.5, 2), (-0.001, 0.002), (0, 0)] {
            let q = Quantizer.params(lo: lo, hi: hi)
            #expect(q.dequantize(q.quantize(0)) == 0, "zero is exact for \(lo)...\(hi)")
            #expect(abs(q.dequantize(q.quantize(min(lo, 0))) - min(lo, 0)) <= q.scale)
            #expect(abs(q.dequantize(q.quantize(max(hi, 0))) - max(hi, 0)) <= q.scale)
        }
    }

    @Test func weightsArePerChannelSymmetricAndBiasIsAtInputTimesWeightScale() throws {
        let float = ModelZoo.autoencoder()
        let q = try Quantizer.quantize(float, calibration: TestModels.inputs(float, count: 4, seed: 9),
                                       options: Quantizer.Options(biasCorrection: false))
        let node = q.nodes[1], w = node.weights!
        let per = w.int8!.count / w.scales!.count
        for o in 0..<w.scales!.count {
            let row = (0..<per).map { Int(w.int8![o * per + $0]) }
            #expect(row.allSatisfy { $0 >= -127 && $0 <= 127 })
            #expect(row.map(abs).max() == 127, "the largest weight of each channel maps to 127")
            let expectedBias = (Double(w.floatBias![o]) / (Double(q.nodes[0].quant!.scale) * Double(w.scales![o]))).rounded()
            #expect(Double(w.bias![o]) == expectedBias)
        }
    }

    @Test func percentileRangesAreNarrowerThanMinMax() throws {
        let float = TestModels.allOps()
        let calib = TestModels.inputs(float, count: 6, seed: 3)
        let a = try Quantizer.quantize(float, calibration: calib, method: .minMax)
        let b = try Quantizer.quantize(float, calibration: calib, method: .percentile(99))
        var narrower = 0
        for i in 1..<float.nodes.count where !float.nodes[i].op.isOutputFunction {
            #expect(b.nodes[i].quant!.scale <= a.nodes[i].quant!.scale * 1.0001)
            if b.nodes[i].quant!.scale < a.nodes[i].quant!.scale * 0.99 { narrower += 1 }
        }
        #expect(narrower > 0)
        #expect(throws: ModelError.self) { try Quantizer.quantize(float, calibration: []) }
        #expect(throws: ModelError.self) { try Quantizer.quantize(float, calibration: [[1, 2, 3]]) }
    }

    /// A small real/bogus-style classifier (conv pairs, max pools, flatten, dense, sigmoid),
    /// its convolutions trained with batch norm and folded at quantization, keeps its
    /// answer in int8 on held-out items used for neither training nor calibration.
    @Test func trainedClassifierKeepsItsAnswersInInt8OnHeldOutData() throws {
        let shape = TensorShape(h: 15, w: 15, c: 2)
        var b = ModelBuilder(name: "cls", input: shape, seed: 4)
        b.convBN(8); b.convBN(8); b.add(.maxPool(Pool(size: 2)))
        b.convBN(16); b.add(.maxPool(Pool(size: 2)))
        b.add(.flatten); b.add(.dense(outFeatures: 32, activation: .relu))
        b.add(.dense(outFeatures: 1, activation: .none)); b.add(.sigmoid)
        let data = SyntheticStamps.make(count: 200, shape: shape, classes: 2, seed: 8)
        var config = TrainingConfig()
        config.epochs = 5; config.learningRate = 3e-3; config.batchSize = 16; config.seed = 2
        let (cls, _) = try Trainer(model: b.model, config: config).train(data)
        #expect(cls.hasBatchNorm)
        let calibration = SyntheticStamps.make(count: 64, shape: shape, classes: 2, seed: 55).items
        let q = try Quantizer.quantize(cls, calibration: calibration)
        #expect(!q.hasBatchNorm)
        let heldOut = SyntheticStamps.make(count: 600, shape: shape, classes: 2, seed: 77)
        let agreement = try Agreement.measure(float: cls, int8: try Executor(model: q), data: heldOut)
        print("classifier: \(agreement)")
        #expect(agreement.top1! >= 0.99)
        // 7-bit weights (the AVX2 u8 kernel's condition) on the same trained model.
        let q7 = try Quantizer.quantize(cls, calibration: calibration, weightBits: 7)
        let agreement7 = try Agreement.measure(float: cls, int8: try Executor(model: q7), data: heldOut)
        print("classifier, 7-bit weights: \(agreement7)")
        #expect(agreement7.top1! >= 0.99)
    }

    @Test func trainedAutoencoderKeepsItsErrorRankingInInt8OnHeldOutData() throws {
        var config = TrainingConfig()
        config.learningRate = 3e-3; config.batchSize = 8; config.seed = 2; config.loss = .mse; config.epochs = 4
        var a = ModelBuilder(name: "ae", input: TensorShape(h: 16, w: 16, c: 1), seed: 5)
        a.conv(8, stride: 2); a.conv(8); a.add(.upsampleNearest(factor: 2)); a.conv(1, .none)
        let images = SyntheticStamps.make(count: 120, shape: TensorShape(h: 16, w: 16, c: 1), classes: 3, seed: 9)
        let aeData = Dataset(shape: images.shape, targetSize: 0, items: images.items, targets: images.items)
        let (ae, reports) = try Trainer(model: a.model, config: config).train(aeData)
        #expect(reports.last!.trainLoss < reports.first!.trainLoss)
        let calibration = SyntheticStamps.make(count: 64, shape: aeData.shape, classes: 3, seed: 56).items
        let qa = try Quantizer.quantize(ae, calibration: calibration)
        let aeHeldOut = SyntheticStamps.make(count: 600, shape: aeData.shape, classes: 3, seed: 78)
        let ar = try Agreement.measure(float: ae, int8: try Executor(model: qa), data: aeHeldOut)
        print("autoencoder: \(ar)")
        #expect(ar.errorRankCorrelation! >= 0.98)
    }

    /// Weight rounding shifts a channel's mean output by sum (W_q - W) E[x]; with inputs of
    /// non-zero mean that shows, and bias correction removes it.
    @Test func biasCorrectionRemovesTheMeanOutputShiftOfWeightRounding() throws {
        var b = ModelBuilder(name: "conv", input: TensorShape(h: 12, w: 12, c: 8), seed: 21)
        b.conv(16, kernel: 5, .none)
        let calibration = TestModels.inputs(b.model, count: 16, seed: 4).map { $0.map { $0 * 0.3 + 1 } }
        func meanShift(_ correct: Bool) throws -> Double {
            let q = try Quantizer.quantize(b.model, calibration: calibration, options: .init(biasCorrection: correct))
            var sum = [Double](repeating: 0, count: 16)
            for x in calibration {
                let f = try FloatReference.forward(b.model, input: x), r = try Int8Reference.run(q, input: x).output
                for j in f.indices { sum[j % 16] += Double(r[j] - f[j]) }
            }
            return sum.map { abs($0) }.reduce(0, +) / Double(calibration.count * 144)
        }
        let without = try meanShift(false), with = try meanShift(true)
        print("mean |channel shift|: \(without) without bias correction, \(with) with")
        #expect(with < without * 0.5)
    }

    /// Two logits closer than the last tensor's int8 step: a requantized output would tie
    /// them (and argmax would pick the first); the float last layer keeps their order.
    @Test func nearTieLogitsKeepTheirOrderInTheFloatLastLayer() throws {
        // The third input spreads the logits' range, so their int8 step is far coarser than the input's.
        var m = Model(name: "tie", inputShape: TensorShape(h: 1, w: 1, c: 3), nodes: [Node(name: "input", op: .input, inputs: [])])
        m.nodes.append(Node(name: "logits", op: .dense(outFeatures: 2, activation: .none), inputs: [0],
                            weights: LayerWeights(float: ParamArray([1, 0, 100, 0, 1, 100]), floatBias: ParamArray([0, 0]))))
        m.nodes.append(Node(name: "softmax", op: .softmax, inputs: [1]))
        let q = try Quantizer.quantize(m, calibration: [[-10, -10, -10], [10, 10, 10]])
        let qin = q.nodes[0].quant!
        let x0 = qin.dequantize(qin.quantize(1))
        let x: [Float] = [x0, x0 + qin.scale, 0]
        #expect(q.nodes[1].quant!.scale > 20 * qin.scale)
        let ex = try Executor(model: q)
        let out = ex.run(x, batch: 1)
        let ref = try Int8Reference.run(q, input: x)
        #expect(ref.tensors[1][0] == ref.tensors[1][1], "the int8 logits tie")
        #expect(argmax(out) == 1 && out[1] > out[0])
        #expect(out == ref.output)
    }
}
