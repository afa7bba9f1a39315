import Foundation
import SkyCore
import Testing
@testable import SkyNN

@Suite struct BatchNormTests {
    /// Conv + batch norm (relu), a depthwise conv + batch norm (leaky), dense + batch norm, softmax.
    static func bnNet(seed: UInt64 = 11) -> Model {
        var b = ModelBuilder(name: "bn", input: TensorShape(h: 7, w: 7, c: 2), seed: seed)
        b.convBN(4, kernel: 3, .relu)
        b.add(.conv2d(Conv2D(outChannels: 4, kernel: 3, stride: 2, padding: 1, groups: 4, activation: .none)))
        b.add(.batchNorm(BatchNorm(activation: .leaky(alpha: 0.1))))
        b.add(.flatten)
        b.add(.dense(outFeatures: 6, activation: .none))
        b.add(.batchNorm(BatchNorm(activation: .relu)))
        b.add(.dense(outFeatures: 3, activation: .none))
        b.add(.softmax)
        return b.model
    }

    /// Gives every batch norm non-trivial gamma, beta and running statistics.
    static func randomizeBatchNorm(_ model: Model, seed: UInt64) -> Model {
        var m = model, r = SeededRandom(seed: seed)
        for i in m.nodes.indices {
            guard case .batchNorm = m.nodes[i].op, let c = m.nodes[i].weights?.float?.count else { continue }
            func vals(_ lo: Double, _ hi: Double) -> ParamArray<Float> { ParamArray((0..<c).map { _ in Float(r.uniform(lo, hi)) }) }
            m.nodes[i].weights = LayerWeights(float: vals(0.5, 2), floatBias: vals(-0.5, 0.5), runningMean: vals(-1, 1), runningVar: vals(0.2, 3))
        }
        return m
    }

    @Test(arguments: [true, false])
    func gradientsMatchFiniteDifferences(training: Bool) throws {
        let model = Self.randomizeBatchNorm(Self.bnNet(), seed: 3)
        let trainer = try Trainer(model: model, config: TrainingConfig())
        let net = trainer.network
        let xs = TestModels.inputs(model, count: 4, seed: 6)
        let targets: [[Float]] = [[0], [1], [2], [1]]
        // The loss of the whole batch: with batch statistics every item depends on every other.
        func loss() -> (Double, [[Float]]) {
            let outs = net.forward(batch: xs, training: training)
            var total = 0.0, gs: [[Float]] = []
            for (o, t) in zip(outs, targets) { let (l, g) = trainer.lossAndGradient(o, target: t); total += l; gs.append(g) }
            return (total, gs)
        }
        net.zeroGradients()
        net.backward(outputGradients: loss().1)
        var checked = 0
        func check(_ what: String, _ analytic: Float, _ perturb: (Float) -> Void, _ value: Float) {
            let eps: Float = 5e-4
            perturb(value + eps); let lp = loss().0
            perturb(value - eps); let lm = loss().0
            perturb(value)
            let numeric = (lp - lm) / Double(2 * eps)
            let err = abs(numeric - Double(analytic)) / max(2e-2, abs(numeric) + abs(Double(analytic)))
            #expect(err < 0.05, "\(what): numeric \(numeric) analytic \(analytic) (training \(training))")
            checked += 1
        }
        for i in net.weights.indices where !net.weights[i].isEmpty {
            for j in stride(from: 0, to: net.weights[i].count, by: max(1, net.weights[i].count / 6)) {
                check("node \(i) weight \(j)", net.gradW[i][j], { net.weights[i][j] = $0 }, net.weights[i][j])
            }
            for j in 0..<min(2, net.biases[i].count) {
                check("node \(i) bias \(j)", net.gradB[i][j], { net.biases[i][j] = $0 }, net.biases[i][j])
            }
        }
        #expect(checked > 30)
    }

    @Test func trainingModeUsesBatchStatisticsAndUpdatesRunningOnes() throws {
        let model = Self.bnNet()
        let net = try FloatNetwork(model)
        let xs = TestModels.inputs(model, count: 8, seed: 2).map { $0.map { $0 * 3 + 1 } }
        net.forward(batch: xs, training: true)
        // Node 2 normalizes node 1 over the batch: each channel has mean beta (0) and unit variance before relu.
        let conv = (0..<8).map { net.output(1, item: $0) }, c = 4
        for ch in 0..<c {
            let v = conv.flatMap { o in stride(from: ch, to: o.count, by: c).map { Double(o[$0]) } }
            let mean = v.reduce(0, +) / Double(v.count)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)
            var worst = 0.0
            for b in 0..<8 {
                let y = net.output(2, item: b)
                for j in stride(from: ch, to: y.count, by: c) {
                    let expected: Double = max(0, (Double(conv[b][j]) - mean) / (variance + 1e-5).squareRoot())
                    worst = max(worst, abs(Double(y[j]) - expected))
                }
            }
            #expect(worst < 1e-4, "channel \(ch)")
            #expect(abs(Double(net.runningMean[2][ch]) - 0.1 * mean) < 1e-5)
        }
        let trained = net.trainedModel
        #expect(trained.nodes[2].weights!.runningMean!.array == net.runningMean[2])
        // Inference mode follows the reference definition (running statistics).
        let x = xs[0], y = net.forward(x), ref = try FloatReference.forward(trained, input: x)
        #expect(zip(y, ref).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test func foldingKeepsTheInferenceOutputsAndRemovesEveryBatchNorm() throws {
        for model in [Self.randomizeBatchNorm(Self.bnNet(), seed: 4),
                      Self.randomizeBatchNorm(ModelZoo.autoencoder(seed: 2, batchNorm: true), seed: 5)] {
            let (folded, folds) = try BatchNormFolding.foldReporting(model)
            #expect(!folded.hasBatchNorm)
            #expect(folds.count == model.nodes.filter { $0.op.kindName == "batchnorm" }.count)
            #expect(folded.nodes.count == model.nodes.count - folds.count)
            #expect(folded.nodes.contains { $0.name.contains("+batchnorm") })
            for x in TestModels.inputs(model, count: 3, seed: 7) {
                let a = try FloatReference.forward(model, input: x), b = try FloatReference.forward(folded, input: x)
                let scale = a.map { abs($0) }.max()!
                let worst = zip(a, b).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-5 * max(scale, 1e-3), "\(model.name): worst \(worst) of \(scale)")
            }
            // Quantization folds too: the int8 model has no batch norm and runs.
            let q = try Quantizer.quantize(model, calibration: TestModels.inputs(model, count: 4, seed: 8))
            #expect(q.isQuantized && !q.hasBatchNorm && q.nodes.count == folded.nodes.count)
            _ = try Executor(model: q).run(TestModels.inputs(model, count: 1, seed: 9)[0], batch: 1)
        }
    }

    @Test func unfoldableBatchNormIsAClearError() throws {
        var b = ModelBuilder(name: "pool-bn", input: TensorShape(h: 8, w: 8, c: 2))
        b.conv(4, .none); b.add(.maxPool(Pool(size: 2))); b.add(.batchNorm(BatchNorm()))
        #expect(throws: ModelError.self) { try BatchNormFolding.fold(b.model) }
        var r = ModelBuilder(name: "shared", input: TensorShape(h: 8, w: 8, c: 2))
        let c = r.conv(4, .none); let bn = r.add(.batchNorm(BatchNorm()))
        r.add(.add(activation: .relu), inputs: [c, bn])
        #expect(throws: ModelError.self) { try BatchNormFolding.fold(r.model) }
        var a = ModelBuilder(name: "activated", input: TensorShape(h: 8, w: 8, c: 2))
        a.conv(4, .relu); a.add(.batchNorm(BatchNorm()))
        #expect(throws: ModelError.self) { try Quantizer.quantize(a.model, calibration: TestModels.inputs(a.model, count: 1, seed: 1)) }
        // An unfolded model is not int8-runnable.
        #expect(throws: ModelError.self) { try Executor(model: Self.bnNet()) }
    }

    @Test func modelFileKeepsTheRunningStatistics() throws {
        let model = Self.randomizeBatchNorm(Self.bnNet(), seed: 12)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bn-\(UUID().uuidString).skynn").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelFile.write(model, to: path)
        let back = try ModelFile.load(path)
        for (m, n) in zip(model.nodes, back.nodes) {
            #expect(m.op == n.op)
            #expect(m.weights?.runningMean?.array == n.weights?.runningMean?.array)
            #expect(m.weights?.runningVar?.array == n.weights?.runningVar?.array)
        }
        let summary = try ModelSummary.text(back)
        #expect(summary.contains("batchnorm leaky(0.1)"))
        #expect(summary.contains("batch norm folded at conversion: batchnorm2 into conv2d1"))
    }
}
