/// The graph of a model: nodes in topological order, NHWC activations per item
/// (batch is an outer dimension the executor adds). Node 0 is the input.
public struct TensorShape: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public var h: Int
    public var w: Int
    public var c: Int
    public init(h: Int, w: Int, c: Int) { self.h = h; self.w = w; self.c = c }
    public var elements: Int { h * w * c }
    public var description: String { "\(h)x\(w)x\(c)" }
}

/// Activation fused into the producer's output clamp (int8) or applied after it (float).
public enum Activation: Sendable, Equatable, Codable {
    case none
    case relu
    case relu6
    case leaky(alpha: Float)

    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .none: return x
        case .relu: return max(x, 0)
        case .relu6: return min(max(x, 0), 6)
        case let .leaky(a): return x < 0 ? x * a : x
        }
    }
}

/// Per-tensor asymmetric int8 quantization: real = scale * (q - zeroPoint).
public struct QuantParams: Sendable, Equatable, Codable {
    public var scale: Float
    public var zeroPoint: Int32
    public init(scale: Float, zeroPoint: Int32) { self.scale = scale; self.zeroPoint = zeroPoint }

    /// TFLite's AffineQuantize: round(x / scale) half away from zero (TfLiteRound), plus the
    /// zero point, clamped to int8.
    @inline(__always) public func quantize(_ x: Float) -> Int8 {
        let q = (x / scale).rounded(.toNearestOrAwayFromZero) + Float(zeroPoint)
        return Int8(max(-128, min(127, q)))
    }
    @inline(__always) public func dequantize(_ q: Int8) -> Float { scale * Float(Int32(q) - zeroPoint) }
}

public struct Conv2D: Sendable, Equatable, Codable {
    public var outChannels: Int
    public var kernelH: Int
    public var kernelW: Int
    public var strideH: Int = 1
    public var strideW: Int = 1
    public var padTop: Int = 0
    public var padLeft: Int = 0
    public var padBottom: Int = 0
    public var padRight: Int = 0
    /// 1 for a plain convolution; input channels for depthwise.
    public var groups: Int = 1
    public var activation: Activation = .none

    public init(outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1,
                activation: Activation = .none) {
        self.outChannels = outChannels; kernelH = kernel; kernelW = kernel
        strideH = stride; strideW = stride
        padTop = padding; padLeft = padding; padBottom = padding; padRight = padding
        self.groups = groups; self.activation = activation
    }
}

public struct Pool: Sendable, Equatable, Codable {
    public var size: Int
    public var stride: Int
    public init(size: Int, stride: Int? = nil) { self.size = size; self.stride = stride ?? size }
}

/// Batch normalization over channels, a training-graph op: training normalizes with
/// the mini-batch's statistics, inference with the running ones. Conversion
/// (`BatchNormFolding`, run by `Quantizer`) folds it into the conv2d or dense node
/// before it, so int8 models never contain one. Parameters: float = gamma, floatBias = beta,
/// runningMean and runningVar, one value per channel.
public struct BatchNorm: Sendable, Equatable, Codable {
    public var epsilon: Float = 1e-5
    /// Weight of the new batch statistic in the running averages.
    public var momentum: Float = 0.1
    /// Applied after normalization; folding moves it into the producer.
    public var activation: Activation = .none
    public init(epsilon: Float = 1e-5, momentum: Float = 0.1, activation: Activation = .none) {
        self.epsilon = epsilon; self.momentum = momentum; self.activation = activation
    }
}

public enum Op: Sendable, Equatable, Codable {
    case input
    /// Weights OHWI: [outChannels][kernelH][kernelW][inChannels / groups].
    case conv2d(Conv2D)
    /// Weights [outFeatures][inFeatures]; the input is read in HWC order.
    case dense(outFeatures: Int, activation: Activation)
    case maxPool(Pool)
    case avgPool(Pool)
    case globalAvgPool
    case add(activation: Activation)
    /// Along channels.
    case concat
    case flatten
    case upsampleNearest(factor: Int)
    /// Output-only ops, computed in float on the dequantized input.
    case sigmoid
    case softmax
    /// Float training graphs only (folded at conversion).
    case batchNorm(BatchNorm)

    /// The activation a producer applies to its own output (conv2d, dense, batch norm), else nil.
    public var fusedActivation: Activation? {
        switch self {
        case .conv2d(let c): return c.activation
        case .dense(_, let a): return a
        case .batchNorm(let bn): return bn.activation
        default: return nil
        }
    }
    public var hasWeights: Bool {
        switch self { case .conv2d, .dense: return true; default: return false }
    }
    /// Int8 ops whose output keeps the input's quantization.
    public var keepsInputQuantization: Bool {
        switch self {
        case .maxPool, .avgPool, .globalAvgPool, .flatten, .upsampleNearest: return true
        default: return false
        }
    }
    /// Ops with trainable float parameters: the weighted ops and batch norm.
    public var hasFloatParameters: Bool {
        if case .batchNorm = self { return true }
        return hasWeights
    }
    public var isOutputFunction: Bool {
        switch self { case .sigmoid, .softmax: return true; default: return false }
    }
    public var kindName: String {
        switch self {
        case .input: return "input"
        case .conv2d(let c): return c.groups == 1 ? "conv2d" : "conv2d/g\(c.groups)"
        case .dense: return "dense"
        case .maxPool: return "maxpool"
        case .avgPool: return "avgpool"
        case .globalAvgPool: return "globalavgpool"
        case .add: return "add"
        case .concat: return "concat"
        case .flatten: return "flatten"
        case .upsampleNearest: return "upsample"
        case .sigmoid: return "sigmoid"
        case .softmax: return "softmax"
        case .batchNorm: return "batchnorm"
        }
    }
}

/// Parameters of a conv2d or dense node. Float weights are the training
/// weights (kept for evaluation); int8 weights, per-channel scales and int32
/// bias appear after quantization. A batch-norm node keeps gamma in `float`, beta
/// in `floatBias` and its running statistics in `runningMean` / `runningVar`.
public struct LayerWeights: Sendable {
    public var float: ParamArray<Float>?
    public var floatBias: ParamArray<Float>?
    public var int8: ParamArray<Int8>?
    public var scales: ParamArray<Float>?
    public var bias: ParamArray<Int32>?
    public var runningMean: ParamArray<Float>?
    public var runningVar: ParamArray<Float>?
    public init(float: ParamArray<Float>? = nil, floatBias: ParamArray<Float>? = nil, int8: ParamArray<Int8>? = nil,
                scales: ParamArray<Float>? = nil, bias: ParamArray<Int32>? = nil,
                runningMean: ParamArray<Float>? = nil, runningVar: ParamArray<Float>? = nil) {
        self.float = float; self.floatBias = floatBias; self.int8 = int8; self.scales = scales; self.bias = bias
        self.runningMean = runningMean; self.runningVar = runningVar
    }
}

public struct Node: Sendable {
    public var name: String
    public var op: Op
    public var inputs: [Int]
    /// Quantization of this node's output (nil before quantization).
    public var quant: QuantParams?
    public var weights: LayerWeights?
    /// How a quantized conv or dense node requantizes its accumulators.
    public var requantization: Requantization
    public init(name: String, op: Op, inputs: [Int], quant: QuantParams? = nil, weights: LayerWeights? = nil,
                requantization: Requantization = .fixedPoint) {
        self.name = name; self.op = op; self.inputs = inputs; self.quant = quant; self.weights = weights
        self.requantization = requantization
    }
}

public struct Model: Sendable {
    public var name: String
    public var inputShape: TensorShape
    public var nodes: [Node]

    public init(name: String, inputShape: TensorShape, nodes: [Node]) {
        self.name = name; self.inputShape = inputShape; self.nodes = nodes
    }

    /// Int8-runnable: every node quantized and no batch norm left unfolded.
    public var isQuantized: Bool {
        !hasBatchNorm && nodes.allSatisfy { n in
            n.op.isOutputFunction || (n.quant != nil && (!n.op.hasWeights || (n.weights?.int8 != nil && n.weights?.scales != nil && n.weights?.bias != nil)))
        }
    }
    public var hasFloatWeights: Bool {
        nodes.allSatisfy { n in
            guard n.op.hasFloatParameters else { return true }
            guard let w = n.weights, w.float != nil, w.floatBias != nil else { return false }
            if case .batchNorm = n.op { return w.runningMean != nil && w.runningVar != nil }
            return true
        }
    }
    public var hasBatchNorm: Bool { nodes.contains { if case .batchNorm = $0.op { return true }; return false } }
    public var outputShape: TensorShape { (try? shapes().last) ?? inputShape }
}

public enum ModelError: Error, Equatable, CustomStringConvertible {
    case invalid(node: Int, name: String, reason: String)
    case notQuantized(String)
    case noFloatWeights(String)
    case badInput(String)

    public var description: String {
        switch self {
        case let .invalid(i, n, r): return "node \(i) (\(n)): \(r)"
        case let .notQuantized(s): return "model is not quantized: \(s)"
        case let .noFloatWeights(s): return "model has no float weights: \(s)"
        case let .badInput(s): return "bad input: \(s)"
        }
    }
}
