import Foundation
import SkyCore

/// Mini-batch training of a float model: Adam with decoupled weight decay,
/// cross-entropy (softmax or sigmoid output) or MSE (autoencoders), seeded
/// shuffling and augmentation, early stopping on a validation split, checkpoints.
public struct TrainingConfig: Sendable {
    public enum Loss: String, Sendable { case crossEntropy, mse }
    public var loss: Loss = .crossEntropy
    public var epochs = 20
    public var batchSize = 16
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var weightDecay: Float = 1e-4
    public var validationFraction = 0.2
    /// Epochs without validation improvement before stopping.
    public var patience = 5
    public var seed: UInt64 = 1
    public var flips = false
    public var rotations = false
    public var noiseSigma: Float = 0
    /// Written whenever the validation loss improves.
    public var checkpointPath: String?
    public init() {}
}

public struct EpochReport: Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var validationLoss: Double
    /// Classifiers only.
    public var validationAccuracy: Double?
    public var seconds: Double
    public var line: String {
        var s = String(format: "epoch %3d  train loss %.4f  val loss %.4f", epoch, trainLoss, validationLoss)
        if let a = validationAccuracy { s += String(format: "  val acc %.2f%%", a * 100) }
        return s + String(format: "  %.1fs", seconds)
    }
}

public final class Trainer {
    public let config: TrainingConfig
    public let network: FloatNetwork
    private var m: [[Float]], v: [[Float]], mb: [[Float]], vb: [[Float]]
    private var step = 0
    private var rng: SeededRandom

    public init(model: Model, config: TrainingConfig) throws {
        if config.loss == .crossEntropy, let last = model.nodes.last, !last.op.isOutputFunction {
            throw ModelError.invalid(node: model.nodes.count - 1, name: last.name,
                                     reason: "cross-entropy needs a softmax or sigmoid output; use --loss mse for a model without one")
        }
        self.config = config
        network = try FloatNetwork(model)
        m = network.weights.map { [Float](repeating: 0, count: $0.count) }; v = m
        mb = network.biases.map { [Float](repeating: 0, count: $0.count) }; vb = mb
        rng = SeededRandom(seed: config.seed)
    }

    /// Loss of one item and the gradient with respect to the network's pre-output-function output.
    func lossAndGradient(_ out: [Float], target: [Float]) -> (Double, [Float]) {
        let last = network.model.nodes.last!.op
        switch (config.loss, last) {
        case (.crossEntropy, .softmax):
            let label = Int(target[0])
            var g = out
            g[label] -= 1
            return (-Double(log(max(out[label], 1e-12))), g)
        case (.crossEntropy, .sigmoid):
            let y = target[0], p = out[0]
            return (-Double(y * log(max(p, 1e-12)) + (1 - y) * log(max(1 - p, 1e-12))), [p - y])
        default:
            let n = Float(out.count)
            var g = [Float](repeating: 0, count: out.count), l = 0.0
            for j in 0..<out.count { let d = out[j] - target[j]; l += Double(d * d) / Double(n); g[j] = 2 * d / n }
            // The network takes the gradient with respect to the output function's input:
            // through the function's Jacobian when the loss is MSE on its output.
            switch last {
            case .sigmoid:
                for j in g.indices { g[j] *= out[j] * (1 - out[j]) }
            case .softmax:
                var dot: Float = 0
                for j in g.indices { dot += g[j] * out[j] }
                for j in g.indices { g[j] = out[j] * (g[j] - dot) }
            default: break
            }
            return (l, g)
        }
    }

    public func augment(_ x: [Float], _ shape: TensorShape) -> [Float] {
        var y = x
        func remap(_ f: (Int, Int) -> (Int, Int)) {
            var out = y
            for r in 0..<shape.h { for c in 0..<shape.w {
                let (sr, sc) = f(r, c)
                for ch in 0..<shape.c { out[(r * shape.w + c) * shape.c + ch] = y[(sr * shape.w + sc) * shape.c + ch] }
            } }
            y = out
        }
        if config.flips {
            if rng.index(2) == 1 { remap { r, c in (r, shape.w - 1 - c) } }
            if rng.index(2) == 1 { remap { r, c in (shape.h - 1 - r, c) } }
        }
        if config.rotations && shape.h == shape.w {
            for _ in 0..<rng.index(4) { remap { r, c in (shape.w - 1 - c, r) } }
        }
        if config.noiseSigma > 0 { for j in 0..<y.count { y[j] += Float(rng.gaussian()) * config.noiseSigma } }
        return y
    }

    /// Whether the target is the input itself: an autoencoder, whatever labels the dataset carries.
    func reconstructs(_ data: Dataset) -> Bool {
        data.targetSize == 0 || network.model.outputShape == network.model.inputShape
    }

    /// Mean loss and accuracy (classifiers) over a dataset, no gradient.
    public func evaluate(_ data: Dataset) -> (Double, Double?) {
        var loss = 0.0, correct = 0
        for i in 0..<data.count {
            let out = network.forward(data.items[i])
            loss += lossAndGradient(out, target: reconstructs(data) ? data.items[i] : data.targets[i]).0
            if config.loss == .crossEntropy && !reconstructs(data) {
                let predicted = out.count == 1 ? (out[0] >= 0.5 ? 1 : 0) : argmax(out)
                if predicted == data.label(i) { correct += 1 }
            }
        }
        return (loss / Double(max(1, data.count)), config.loss == .crossEntropy ? Double(correct) / Double(max(1, data.count)) : nil)
    }

    private func adamStep(batch: Int) {
        step += 1
        let c = config, scale = 1 / Float(batch)
        let bc1 = 1 - pow(c.beta1, Float(step)), bc2 = 1 - pow(c.beta2, Float(step))
        for i in network.weights.indices where !network.weights[i].isEmpty {
            // Batch-norm scales are not decayed: shrinking gamma only rescales the next layer's input.
            let decay: Float = { if case .batchNorm = network.model.nodes[i].op { return 0 }; return c.weightDecay }()
            for j in network.weights[i].indices {
                let g = network.gradW[i][j] * scale
                m[i][j] = c.beta1 * m[i][j] + (1 - c.beta1) * g
                v[i][j] = c.beta2 * v[i][j] + (1 - c.beta2) * g * g
                network.weights[i][j] -= c.learningRate * ((m[i][j] / bc1) / ((v[i][j] / bc2).squareRoot() + 1e-8) + decay * network.weights[i][j])
            }
            for j in network.biases[i].indices {
                let g = network.gradB[i][j] * scale
                mb[i][j] = c.beta1 * mb[i][j] + (1 - c.beta1) * g
                vb[i][j] = c.beta2 * vb[i][j] + (1 - c.beta2) * g * g
                network.biases[i][j] -= c.learningRate * (mb[i][j] / bc1) / ((vb[i][j] / bc2).squareRoot() + 1e-8)
            }
        }
    }

    /// Trains; returns the model with the best validation loss and the per-epoch reports.
    public func train(_ data: Dataset, progress: (EpochReport) -> Void = { _ in }) throws -> (Model, [EpochReport]) {
        guard data.count >= 2 else { throw ModelError.badInput("need at least two items") }
        guard data.shape == network.model.inputShape else { throw ModelError.badInput("items are \(data.shape), model input is \(network.model.inputShape)") }
        var order = Array(0..<data.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.index(i + 1)) }
        let nVal = max(1, Int(Double(data.count) * config.validationFraction))
        let val = Dataset(shape: data.shape, targetSize: data.targetSize, items: order[0..<nVal].map { data.items[$0] }, targets: order[0..<nVal].map { data.targets[$0] })
        var trainIdx = Array(order[nVal...])
        var best = (loss: Double.infinity, model: network.trainedModel)
        var reports: [EpochReport] = [], sinceBest = 0
        for epoch in 1...max(1, config.epochs) {
            let t0 = Date()
            for i in stride(from: trainIdx.count - 1, to: 0, by: -1) { trainIdx.swapAt(i, rng.index(i + 1)) }
            var total = 0.0
            network.zeroGradients()
            var xs: [[Float]] = [], targets: [[Float]] = []
            for (n, idx) in trainIdx.enumerated() {
                let x = augment(data.items[idx], data.shape)
                xs.append(x); targets.append(reconstructs(data) ? x : data.targets[idx])
                guard xs.count == config.batchSize || n == trainIdx.count - 1 else { continue }
                let outs = network.forward(batch: xs, training: true)
                var gs: [[Float]] = []
                for (out, target) in zip(outs, targets) {
                    let (l, g) = lossAndGradient(out, target: target)
                    total += l; gs.append(g)
                }
                network.backward(outputGradients: gs)
                adamStep(batch: xs.count); network.zeroGradients()
                xs.removeAll(keepingCapacity: true); targets.removeAll(keepingCapacity: true)
            }
            let (vl, va) = evaluate(val)
            let r = EpochReport(epoch: epoch, trainLoss: total / Double(trainIdx.count), validationLoss: vl, validationAccuracy: va,
                                seconds: Date().timeIntervalSince(t0))
            reports.append(r)
            progress(r)
            if vl < best.loss {
                best = (vl, network.trainedModel); sinceBest = 0
                if let p = config.checkpointPath { try ModelFile.write(best.model, to: p) }
            } else {
                sinceBest += 1
                if sinceBest >= config.patience { break }
            }
        }
        return (best.model, reports)
    }
}
