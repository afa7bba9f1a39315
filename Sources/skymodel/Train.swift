import ArgumentParser
import Foundation
import SkyNN

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a float model (Adam, CE or MSE, augmentation, early stopping); prints one line per epoch.")
    @Argument(help: "Float model file (skymodel create)") var model: String
    @Option(help: "Dataset (skymodel synth)") var data: String
    @Option(name: .shortAndLong) var output: String
    @Option var epochs = 20
    @Option var batch = 16
    @Option(name: .customLong("lr")) var learningRate: Float = 1e-3
    @Option(name: .customLong("weight-decay")) var weightDecay: Float = 1e-4
    @Option(help: "ce (cross-entropy) or mse; default: mse for autoencoders, else ce") var loss: String?
    @Option(help: "Validation fraction") var validation = 0.2
    @Option var patience = 5
    @Option var seed: UInt64 = 1
    @Flag var flips = false
    @Flag var rotations = false
    @Option(help: "Gaussian noise sigma added to training items") var noise: Float = 0
    @Option(help: "Checkpoint written on every validation improvement") var checkpoint: String?

    func run() throws {
        let m = try ModelFile.load(model)
        let d = try Dataset.read(data)
        var c = TrainingConfig()
        let lossName = loss ?? (m.outputShape == m.inputShape ? "mse" : "ce")
        guard let l = ["ce": TrainingConfig.Loss.crossEntropy, "mse": .mse][lossName] else { throw ValidationError("loss must be ce or mse") }
        guard epochs > 0, batch > 0, validation > 0, validation < 1 else { throw ValidationError("epochs and batch positive, validation in (0, 1)") }
        c.loss = l; c.epochs = epochs; c.batchSize = batch; c.learningRate = learningRate; c.weightDecay = weightDecay
        c.validationFraction = validation; c.patience = patience; c.seed = seed; c.flips = flips; c.rotations = rotations
        c.noiseSigma = noise; c.checkpointPath = checkpoint
        let (best, reports) = try Trainer(model: m, config: c).train(d) { print($0.line) }
        try ModelFile.write(best, to: output)
        print("wrote \(output) (best validation loss \(String(format: "%.4f", reports.map(\.validationLoss).min() ?? .nan)), \(reports.count) epochs)")
    }
}
