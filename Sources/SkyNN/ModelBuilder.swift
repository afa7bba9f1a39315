import SkyCore

/// Builds float models layer by layer, with He-initialized weights from a seed.
public struct ModelBuilder {
    public private(set) var model: Model
    private var rng: SeededRandom
    public private(set) var last = 0

    public init(name: String, input: TensorShape, seed: UInt64 = 1) {
        model = Model(name: name, inputShape: input, nodes: [Node(name: "input", op: .input, inputs: [])])
        rng = SeededRandom(seed: seed)
    }

    private func shape(_ i: Int) -> TensorShape { (try? model.shapes())?[i] ?? model.inputShape }

    @discardableResult
    public mutating func add(_ op: Op, inputs: [Int]? = nil, name: String? = nil) -> Int {
        let ins = inputs ?? [last]
        var weights: LayerWeights?
        let x = shape(ins[0])
        var fanIn = 0, count = 0, out = 0
        switch op {
        case .conv2d(let c):
            fanIn = c.kernelH * c.kernelW * (x.c / c.groups); count = c.outChannels * fanIn; out = c.outChannels
        case .dense(let n, _):
            fanIn = x.elements; count = n * fanIn; out = n
        case .batchNorm:
            // Identity at the start: gamma 1, beta 0, running mean 0, running variance 1.
            let c = x.c
            weights = LayerWeights(float: ParamArray([Float](repeating: 1, count: c)), floatBias: ParamArray([Float](repeating: 0, count: c)),
                                   runningMean: ParamArray([Float](repeating: 0, count: c)), runningVar: ParamArray([Float](repeating: 1, count: c)))
        default: break
        }
        if count > 0 {
            let sd = (2.0 / Double(fanIn)).squareRoot()
            let w = (0..<count).map { _ in Float(rng.gaussian() * sd) }
            let b = (0..<out).map { _ in Float(rng.gaussian() * 0.01) }
            weights = LayerWeights(float: ParamArray(w), floatBias: ParamArray(b))
        }
        model.nodes.append(Node(name: name ?? "\(op.kindName)\(model.nodes.count)", op: op, inputs: ins, weights: weights))
        last = model.nodes.count - 1
        return last
    }

    @discardableResult
    public mutating func conv(_ out: Int, kernel: Int = 3, stride: Int = 1, padding: Int? = nil, groups: Int = 1,
                              _ act: Activation = .relu) -> Int {
        add(.conv2d(Conv2D(outChannels: out, kernel: kernel, stride: stride, padding: padding ?? kernel / 2,
                           groups: groups, activation: act)))
    }

    /// A linear convolution followed by batch norm carrying the activation (folded at conversion).
    @discardableResult
    public mutating func convBN(_ out: Int, kernel: Int = 3, stride: Int = 1, padding: Int? = nil, groups: Int = 1,
                                _ act: Activation = .relu) -> Int {
        conv(out, kernel: kernel, stride: stride, padding: padding, groups: groups, .none)
        return add(.batchNorm(BatchNorm(activation: act)))
    }

    /// conv, or convBN when `batchNorm`.
    @discardableResult
    mutating func conv(_ out: Int, stride: Int = 1, _ act: Activation = .relu, batchNorm: Bool) -> Int {
        batchNorm ? convBN(out, stride: stride, act) : conv(out, stride: stride, act)
    }
}

/// The three model families of the site runtime (architectures; weights come from training).
/// With `batchNorm`, every hidden convolution is linear and followed by batch norm with
/// the activation (the training graph); conversion folds them back to the plain architecture.
public enum ModelZoo {
    /// braai-like real/bogus VGG net on 63x63x3 stamps.
    public static func realBogus(seed: UInt64 = 1, batchNorm: Bool = false) -> Model {
        var b = ModelBuilder(name: "realbogus", input: TensorShape(h: 63, w: 63, c: 3), seed: seed)
        b.conv(16, batchNorm: batchNorm); b.conv(16, batchNorm: batchNorm); b.add(.maxPool(Pool(size: 2)))
        b.conv(32, batchNorm: batchNorm); b.conv(32, batchNorm: batchNorm); b.add(.maxPool(Pool(size: 4)))
        b.add(.flatten); b.add(.dense(outFeatures: 256, activation: .relu)); b.add(.dense(outFeatures: 1, activation: .none))
        b.add(.sigmoid)
        return b.model
    }

    /// Frame-quality CNN on a 1x128x128 thumbnail: four conv3x3 + maxpool blocks, dense 256, dense 3.
    public static func quality(seed: UInt64 = 2, batchNorm: Bool = false) -> Model {
        var b = ModelBuilder(name: "quality", input: TensorShape(h: 128, w: 128, c: 1), seed: seed)
        for c in [16, 32, 64, 128] { b.conv(c, batchNorm: batchNorm); b.add(.maxPool(Pool(size: 2))) }
        b.add(.flatten); b.add(.dense(outFeatures: 256, activation: .relu)); b.add(.dense(outFeatures: 3, activation: .none))
        b.add(.softmax)
        return b.model
    }

    /// Convolutional autoencoder on 64x64 single-channel tiles.
    public static func autoencoder(seed: UInt64 = 3, batchNorm: Bool = false) -> Model {
        var b = ModelBuilder(name: "autoencoder", input: TensorShape(h: 64, w: 64, c: 1), seed: seed)
        b.conv(16, stride: 2, batchNorm: batchNorm); b.conv(32, stride: 2, batchNorm: batchNorm); b.conv(32, batchNorm: batchNorm)
        b.add(.upsampleNearest(factor: 2)); b.conv(16, batchNorm: batchNorm)
        b.add(.upsampleNearest(factor: 2)); b.conv(1, .none)
        return b.model
    }
}
