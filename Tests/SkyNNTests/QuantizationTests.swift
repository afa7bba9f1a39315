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
        let q = try TestModels.quantized(float)
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

    @Test func trainedClassifierAndAutoencoderKeepTheirAnswersInInt8() throws {
        let shape = TensorShape(h: 15, w: 15, c: 1)
        var b = ModelBuilder(name: "cls", input: shape, seed: 4)
        b.conv(8); b.add(.maxPool(Pool(size: 2))); b.conv(8); b.add(.globalAvgPool)
        b.add(.dense(outFeatures: 3, activation: .none)); b.add(.softmax)
        let data = SyntheticStamps.make(count: 180, shape: shape, classes: 3, seed: 8)
        var config = TrainingConfig()
        config.epochs = 8; config.learningRate = 3e-3; config.batchSize = 8; config.seed = 2
        let (cls, _) = try Trainer(model: b.model, config: config).train(data)
        let q = try Quantizer.quantize(cls, calibration: Array(data.items[0..<32]))
        let heldOut = SyntheticStamps.make(count: 150, shape: shape, classes: 3, seed: 77)
        let agreement = try Agreement.measure(float: cls, int8: try Executor(model: q), data: heldOut)
        print("classifier: \(agreement)")
        #expect(agreement.top1! >= 0.97)
        // 7-bit weights (the AVX2 u8 kernel's condition) on the same trained model.
        let q7 = try Quantizer.quantize(cls, calibration: Array(data.items[0..<32]), weightBits: 7)
        let agreement7 = try Agreement.measure(float: cls, int8: try Executor(model: q7), data: heldOut)
        print("classifier, 7-bit weights: \(agreement7)")
        #expect(agreement7.top1! >= 0.97)

        var a = ModelBuilder(name: "ae", input: TensorShape(h: 16, w: 16, c: 1), seed: 5)
        a.conv(8, stride: 2); a.conv(8); a.add(.upsampleNearest(factor: 2)); a.conv(1, .none)
        let images = SyntheticStamps.make(count: 120, shape: TensorShape(h: 16, w: 16, c: 1), classes: 3, seed: 9)
        let aeData = Dataset(shape: images.shape, targetSize: 0, items: images.items, targets: images.items)
        config.loss = .mse; config.epochs = 4
        let (ae, reports) = try Trainer(model: a.model, config: config).train(aeData)
        #expect(reports.last!.trainLoss < reports.first!.trainLoss)
        let qa = try Quantizer.quantize(ae, calibration: Array(aeData.items[0..<32]))
        let aeHeldOut = SyntheticStamps.make(count: 100, shape: aeData.shape, classes: 3, seed: 78)
        let ar = try Agreement.measure(float: ae, int8: try Executor(model: qa), data: aeHeldOut)
        print("autoencoder: \(ar)")
        #expect(ar.errorRankCorrelation! >= 0.95)
    }
}
