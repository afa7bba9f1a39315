import Foundation
import Testing
@testable import SkyNN

@Suite struct TrainingTests {
    /// A small net through every trainable op kind.
    static func smallNet(seed: UInt64 = 3, classes: Int = 3) -> Model {
        var b = ModelBuilder(name: "small", input: TensorShape(h: 9, w: 9, c: 2), seed: seed)
        let c1 = b.conv(6, kernel: 3, stride: 1, .leaky(alpha: 0.1))
        let dw = b.add(.conv2d(Conv2D(outChannels: 6, kernel: 3, stride: 2, padding: 1, groups: 6, activation: .none)), inputs: [c1])
        let g = b.add(.conv2d(Conv2D(outChannels: 6, kernel: 1, groups: 2, activation: .none)), inputs: [dw])
        let s = b.add(.add(activation: .none), inputs: [dw, g])
        let cat = b.add(.concat, inputs: [s, dw])
        let up = b.add(.upsampleNearest(factor: 2), inputs: [cat])
        let mp = b.add(.maxPool(Pool(size: 2)), inputs: [up])
        let ap = b.add(.avgPool(Pool(size: 2, stride: 1)), inputs: [mp])
        let f = b.add(.flatten, inputs: [ap])
        b.add(.dense(outFeatures: 5, activation: .none), inputs: [f])
        b.add(.dense(outFeatures: classes, activation: .none))
        b.add(.softmax)
        return b.model
    }

    @Test func forwardMatchesTheFloatReference() throws {
        for model in [Self.smallNet(), ModelZoo.autoencoder(), TestModels.allOps()] {
            let net = try FloatNetwork(model)
            for x in TestModels.inputs(model, count: 2, seed: 5) {
                let a = net.forward(x), b = try FloatReference.forward(model, input: x)
                #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "\(model.name)")
            }
        }
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        let model = Self.smallNet()
        let trainer = try Trainer(model: model, config: TrainingConfig())
        let net = trainer.network
        let x = TestModels.inputs(model, count: 1, seed: 6)[0], target: [Float] = [1]
        func loss() -> Double { trainer.lossAndGradient(net.forward(x), target: target).0 }
        net.zeroGradients()
        let (_, g) = trainer.lossAndGradient(net.forward(x), target: target)
        net.backward(outputGradient: g)
        var checked = 0, worst = 0.0
        for i in net.weights.indices where !net.weights[i].isEmpty {
            for j in stride(from: 0, to: net.weights[i].count, by: max(1, net.weights[i].count / 7)) {
                let w0 = net.weights[i][j], eps: Float = 1e-2
                net.weights[i][j] = w0 + eps; let lp = loss()
                net.weights[i][j] = w0 - eps; let lm = loss()
                net.weights[i][j] = w0
                let numeric = (lp - lm) / Double(2 * eps), analytic = Double(net.gradW[i][j])
                let err = abs(numeric - analytic) / max(1e-2, abs(numeric) + abs(analytic))
                worst = max(worst, err); checked += 1
                #expect(err < 0.05, "node \(i) weight \(j): numeric \(numeric) analytic \(analytic)")
            }
            let b0 = net.biases[i][0]
            net.biases[i][0] = b0 + 1e-2; let lp = loss()
            net.biases[i][0] = b0 - 1e-2; let lm = loss()
            net.biases[i][0] = b0
            #expect(abs((lp - lm) / 2e-2 - Double(net.gradB[i][0])) < 0.05 * max(0.05, abs(Double(net.gradB[i][0]))), "node \(i) bias")
        }
        #expect(checked > 30)
    }

    /// MSE on the output of a sigmoid or softmax: the gradient handed to the network is the
    /// one with respect to the function's input, through its Jacobian. Checked against
    /// finite differences of the loss on the logits' producer weights.
    @Test(arguments: ["sigmoid", "softmax"])
    func mseThroughAnOutputFunctionMatchesFiniteDifferences(function: String) throws {
        var b = ModelBuilder(name: "mse-\(function)", input: TensorShape(h: 5, w: 5, c: 1), seed: 7)
        b.add(.flatten)
        b.add(.dense(outFeatures: function == "sigmoid" ? 1 : 3, activation: .none))
        b.add(function == "sigmoid" ? .sigmoid : .softmax)
        var config = TrainingConfig()
        config.loss = .mse
        let trainer = try Trainer(model: b.model, config: config)
        let net = trainer.network
        let x = TestModels.inputs(b.model, count: 1, seed: 8)[0]
        let target: [Float] = function == "sigmoid" ? [0.9] : [0.1, 0.7, 0.2]
        net.zeroGradients()
        net.backward(outputGradient: trainer.lossAndGradient(net.forward(x), target: target).1)
        let i = b.model.nodes.count - 2   // the dense layer
        var checked = 0
        for j in stride(from: 0, to: net.weights[i].count, by: 3) {
            let w0 = net.weights[i][j], eps: Float = 1e-2
            net.weights[i][j] = w0 + eps; let lp = trainer.lossAndGradient(net.forward(x), target: target).0
            net.weights[i][j] = w0 - eps; let lm = trainer.lossAndGradient(net.forward(x), target: target).0
            net.weights[i][j] = w0
            let numeric = (lp - lm) / Double(2 * eps), analytic = Double(net.gradW[i][j])
            #expect(abs(numeric - analytic) <= 0.05 * max(1e-3, abs(numeric) + abs(analytic)), "weight \(j): numeric \(numeric) analytic \(analytic)")
            checked += 1
        }
        #expect(checked >= 8)
    }

    @Test func crossEntropyWithoutAnOutputFunctionIsRefused() throws {
        var b = ModelBuilder(name: "no-output", input: TensorShape(h: 5, w: 5, c: 1), seed: 7)
        b.add(.flatten); b.add(.dense(outFeatures: 2, activation: .none))
        #expect(throws: ModelError.self) { try Trainer(model: b.model, config: TrainingConfig()) }
    }

    @Test func aSmallNetworkLearnsTheSeparableSyntheticTask() throws {
        var b = ModelBuilder(name: "tiny", input: TensorShape(h: 15, w: 15, c: 1), seed: 4)
        b.conv(8); b.add(.maxPool(Pool(size: 2))); b.conv(8); b.add(.globalAvgPool)
        b.add(.dense(outFeatures: 3, activation: .none)); b.add(.softmax)
        let data = SyntheticStamps.make(count: 240, shape: TensorShape(h: 15, w: 15, c: 1), classes: 3, seed: 8)
        var config = TrainingConfig()
        config.epochs = 12; config.learningRate = 3e-3; config.batchSize = 8; config.flips = true; config.rotations = true
        config.noiseSigma = 0.02; config.seed = 2; config.patience = 4
        let (model, reports) = try Trainer(model: b.model, config: config).train(data) { print($0.line) }
        let test = SyntheticStamps.make(count: 90, shape: TensorShape(h: 15, w: 15, c: 1), classes: 3, seed: 99)
        var correct = 0
        for i in 0..<test.count where argmax(try FloatReference.forward(model, input: test.items[i])) == test.label(i) { correct += 1 }
        #expect(Double(correct) / Double(test.count) >= 0.9, "test accuracy \(correct)/\(test.count)")
        #expect(reports.last!.trainLoss < reports.first!.trainLoss)
        // Deterministic by seed.
        let (again, _) = try Trainer(model: b.model, config: { var c = config; c.epochs = 1; return c }()).train(data)
        let (again2, _) = try Trainer(model: b.model, config: { var c = config; c.epochs = 1; return c }()).train(data)
        #expect(again.nodes[1].weights!.float!.array == again2.nodes[1].weights!.float!.array)
    }
}
