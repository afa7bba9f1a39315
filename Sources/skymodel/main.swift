import ArgumentParser
import Foundation
import SkyEdge
import SkyNN

struct Main: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skymodel",
        abstract: "Create, train, quantize, inspect, evaluate and benchmark SkyNN models.",
        subcommands: [Create.self, Synth.self, Train.self, Quantize.self, Inspect.self, Eval.self, Bench.self, Latency.self, Predict.self])
}

enum Arch: String, ExpressibleByArgument, CaseIterable {
    case realbogus, quality, autoencoder
    func model(seed: UInt64, batchNorm: Bool = false) -> Model {
        switch self {
        case .realbogus: return ModelZoo.realBogus(seed: seed, batchNorm: batchNorm)
        case .quality: return ModelZoo.quality(seed: seed, batchNorm: batchNorm)
        case .autoencoder: return ModelZoo.autoencoder(seed: seed, batchNorm: batchNorm)
        }
    }
}

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a float model of a zoo architecture with seeded initial weights.")
    @Option(help: "realbogus | quality | autoencoder") var arch: Arch
    @Option var seed: UInt64 = 1
    @Flag(name: .customLong("batch-norm"), help: "Linear convolutions followed by batch norm (folded by quantize)") var batchNorm = false
    @Option(name: .shortAndLong) var output: String
    func run() throws {
        try ModelFile.write(arch.model(seed: seed, batchNorm: batchNorm), to: output)
        print("wrote \(output)")
    }
}

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a synthetic labelled stamp dataset (star / cosmic ray / streak).")
    @Option var count: Int = 600
    @Option(help: "HxWxC, e.g. 63x63x3") var shape: String = "63x63x3"
    @Option var classes: Int = 2
    @Option var seed: UInt64 = 1
    @Option(help: "Source amplitude range LO,HI over noise of sigma 0.1 (faint sources, e.g. 0.15,0.5, make a harder set)") var amplitude: String = "0.8,1.5"
    @Option(name: .shortAndLong) var output: String
    func run() throws {
        let d = try parseShape(shape)
        guard (2...3).contains(classes), count > 0 else { throw ValidationError("classes must be 2 or 3, count positive") }
        let a = amplitude.split(separator: ",").compactMap { Double($0) }
        guard a.count == 2, a[0] > 0, a[0] <= a[1], a[1].isFinite else { throw ValidationError("amplitude must be LO,HI with 0 < LO <= HI") }
        try SyntheticStamps.make(count: count, shape: d, classes: classes, seed: seed, amplitude: a[0]...a[1]).write(to: output)
        print("wrote \(output): \(count) items \(d), \(classes) classes")
    }
}

/// Cores of the named (or detected) board profile in Boards/; all host cores where none matches.
func boardCores(_ name: String?) throws -> Int {
    let dir = BoardProfiles.defaultDirectory()
    if let name { return try BoardProfiles.load(name, from: dir).cores }
    return BoardProfiles.detect(in: dir)?.cores ?? ProcessInfo.processInfo.activeProcessorCount
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print float-reference and int8 outputs for a deterministic input (for Tools/ort_compare.py --check).")
    @Argument var file: String
    @Option(help: "Input pattern salt: x[j] = ((j + 13 salt) * 7919 mod 255) / 128 - 1, HWC order") var salt = 0
    func run() throws {
        let model = try ModelFile.load(file)
        let n = model.inputShape.elements
        let x = (0..<n).map { j -> Float in Float(((j + salt * 13) * 7919) % 255) / 128 - 1 }
        var o: [String: [Float]] = [:]
        if model.hasFloatWeights { o["float"] = try FloatReference.forward(model, input: x) }
        if model.isQuantized { o["int8"] = try Executor(model: model).run(x, batch: 1) }
        let data = try JSONSerialization.data(withJSONObject: o.mapValues { $0.map(Double.init) }, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

struct Latency: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Median int8 latency per call of one model file (quantized here from pattern inputs if it is float only); JSON.")
    @Argument var file: String
    @Option var threads = 1
    @Option var repeats = 20
    func run() throws {
        var model = try ModelFile.load(file)
        if !model.isQuantized { model = try Benchmark.quantizeForTiming(model) }
        var o: [String: Double] = [:]
        for batch in [1, 64] { o["batch\(batch)_ms"] = try Benchmark.latencyMs(model, batch: batch, threads: threads, repeats: repeats) }
        let data = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

func parseShape(_ s: String) throws -> TensorShape {
    let p = s.split(separator: "x").compactMap { Int($0) }
    guard p.count == 3, p.allSatisfy({ $0 > 0 }) else { throw ValidationError("shape must be HxWxC, got \(s)") }
    return TensorShape(h: p[0], w: p[1], c: p[2])
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print layers, shapes, parameters, MACs and arena bytes of a model file.")
    @Argument var file: String
    @Option(help: "Batch size for the second arena figure") var batch: Int = 64
    @Option(help: "Threads the arena is planned for (default: the board profile's cores, as eval and bench)") var threads: Int?
    @Option(help: "Board profile name (default: detected)") var board: String?
    func run() throws {
        let threads = try self.threads ?? boardCores(board)
        do { print(try ModelSummary.text(try ModelFile.load(file), batch: batch, threads: threads)) } catch {
            throw ValidationError("\(error)")
        }
    }
}

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Post-training static quantization from calibration data (batch norm folded first); reports float-vs-int8 agreement on held-out data.")
    @Argument var input: String
    @Option(name: .shortAndLong) var output: String
    @Option(help: "Dataset file (skymodel synth); calibration uses its first items") var data: String
    @Option(name: .customLong("held-out"), help: "Dataset for the agreement, used for neither training nor calibration (default: the items of --data after the calibration items)") var heldOut: String?
    @Option(help: "Calibration items") var calibration: Int = 64
    @Option(help: "Activation ranges: minmax, mse (least quantization error), or a percentile such as 99.99") var method: String = "minmax"
    @Flag(name: .customLong("no-bias-correction"), help: "Keep the plain rounded bias (no correction of the weight-rounding shift)") var noBiasCorrection = false
    @Option(name: .customLong("weight-bits"), help: "8, or 7 ([-63, 63]: the faster exact u8 kernel on AVX2 without VNNI)") var weightBits: Int = 8
    @Option(name: .customLong("float-requantization-max-k"),
            help: "Layers with at most this many MACs per output (first layers) requantize in float, within one LSB of TFLite's fixed point; 0: fixed point everywhere")
    var floatRequantizationMaxK: Int = Quantizer.defaultFloatRequantizationMaxK
    func run() throws {
        guard WeightBits.supported.contains(weightBits) else { throw ValidationError("--weight-bits must be 7 or 8") }
        guard floatRequantizationMaxK >= 0 else { throw ValidationError("--float-requantization-max-k must be 0 or more") }
        let model = try ModelFile.load(input)
        let d = try Dataset.read(data)
        guard d.shape == model.inputShape else { throw ValidationError("dataset items are \(d.shape), model input is \(model.inputShape)") }
        guard calibration > 0, d.count >= calibration else { throw ValidationError("dataset has \(d.count) items; need at least \(calibration)") }
        let m: Quantizer.RangeMethod
        if method == "minmax" { m = .minMax } else if method == "mse" { m = .mse } else if let p = Double(method), p > 50, p <= 100 { m = .percentile(p) } else {
            throw ValidationError("method must be minmax, mse or a percentile in (50, 100]")
        }
        let q = try Quantizer.quantize(model, calibration: Array(d.items[0..<calibration]),
                                       options: .init(method: m, biasCorrection: !noBiasCorrection, weightBits: weightBits,
                                                      floatRequantizationMaxK: floatRequantizationMaxK))
        try ModelFile.write(q, to: output)
        let held = try heldOut.map(Dataset.read) ?? d.subset(calibration..<d.count)
        guard held.shape == model.inputShape else { throw ValidationError("held-out items are \(held.shape), model input is \(model.inputShape)") }
        let floatLayers = q.nodes.filter { $0.requantization == .float }.count
        var line = "wrote \(output) (\(method)\(noBiasCorrection ? "" : ", bias corrected"), \(weightBits)-bit weights, \(calibration) calibration items, "
            + "\(floatLayers) layer\(floatLayers == 1 ? "" : "s") requantized in float)"
        if held.count > 0 { line += "; float vs int8 on held-out data: \(try Agreement.measure(float: model, int8: try Executor(model: q), data: held))" }
        print(line)
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the int8 model (and the float model where kept) on a dataset.")
    @Argument var file: String
    @Option var data: String
    @Option(help: "Threads (default: the board profile's cores)") var threads: Int?
    @Option(help: "Board profile name (default: detected)") var board: String?
    @Option var batch: Int = 64
    func run() throws {
        let threads = try self.threads ?? boardCores(board)
        let model = try ModelFile.load(file)
        let d = try Dataset.read(data)
        guard d.shape == model.inputShape else { throw ValidationError("dataset items are \(d.shape), model input is \(model.inputShape)") }
        let ex = try Executor(model: model, maxBatch: batch, threads: threads)
        // Labels mean classes only for a classifier (an autoencoder reconstructs its input).
        let classifies = d.targetSize == 1 && model.outputShape != model.inputShape
        var correct = 0
        var i = 0
        let t0 = Date()
        while i < d.count {
            let b = min(batch, d.count - i)
            let out = ex.run(d.items[i..<(i + b)].flatMap { $0 }, batch: b)
            for j in 0..<b where classifies {
                let o = Array(out[(j * ex.outputCount)..<((j + 1) * ex.outputCount)])
                let predicted = o.count == 1 ? (o[0] >= 0.5 ? 1 : 0) : argmax(o)
                if predicted == d.label(i + j) { correct += 1 }
            }
            i += b
        }
        let ms = Date().timeIntervalSince(t0) * 1000
        var line = String(format: "%d items in %.1f ms (%.3f ms/item, batch %d, %d threads)", d.count, ms, ms / Double(d.count), batch, threads)
        if classifies { line += String(format: "; int8 accuracy %.2f%%", 100 * Double(correct) / Double(d.count)) }
        if model.hasFloatWeights { line += "; float vs int8 on this data: \(try Agreement.measure(float: model, int8: ex, data: d))" }
        print(line)
    }
}
Main.main()
