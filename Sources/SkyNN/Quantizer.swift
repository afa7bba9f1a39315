/// Post-training static quantization (DESIGN.md section 5): weights per output
/// channel, symmetric in [-127, 127]; activations per tensor, asymmetric, from
/// the ranges the float model produces on calibration inputs (min/max, a
/// percentile that ignores rare outliers, or the clipping that minimizes the
/// quantization error); int32 bias at s_in * s_w, corrected for the mean error
/// the rounded weights add.
public enum Quantizer {
    public enum RangeMethod: Sendable, Equatable {
        case minMax
        /// Two-sided: the p-th and (100-p)-th percentiles, e.g. 99.99.
        case percentile(Double)
        /// Per tensor, the range (min/max shrunk by a factor) with the least squared
        /// quantization error over the calibration samples.
        case mse
    }

    public struct Options: Sendable, Equatable {
        public var method: RangeMethod = .minMax
        /// Subtract E[(W_q - W) x] over the calibration inputs from each channel's bias, so
        /// that weight rounding does not shift a channel's mean output.
        public var biasCorrection = true
        /// 8, or 7: weights in [-63, 63], which the AVX2 u8 kernel runs exactly (WeightBits.swift).
        public var weightBits = 8
        /// Layers with at most this many MACs per output (kernel h x w x input channels, or
        /// a dense layer's inputs) and no leaky slope requantize in float
        /// (`Requantization.float`); 0 keeps every layer on TFLite's fixed point.
        public var floatRequantizationMaxK = Quantizer.defaultFloatRequantizationMaxK
        public init(method: RangeMethod = .minMax, biasCorrection: Bool = true, weightBits: Int = 8,
                    floatRequantizationMaxK: Int = Quantizer.defaultFloatRequantizationMaxK) {
            self.method = method; self.biasCorrection = biasCorrection; self.weightBits = weightBits
            self.floatRequantizationMaxK = floatRequantizationMaxK
        }
    }

    /// 32: the first layers of image models (3x3 over 1 or 3 channels: 9 or 27 MACs per
    /// output), and 1x1 convolutions or dense layers of up to 32 inputs, where the exact
    /// output stage costs about as much as the MACs; a 3x3 over 16 channels (144 MACs)
    /// pays it a small share and stays bit-exact, as do grouped and depthwise layers.
    public static let defaultFloatRequantizationMaxK = 32

    static func requantization(_ op: Op, macsPerOutput k: Int, options: Options) -> Requantization {
        // Grouped and depthwise convolutions run kernels whose output stage is scalar anyway:
        // float would cost them TFLite's bit-exactness for no speed.
        if case .conv2d(let c) = op, c.groups != 1 { return .fixedPoint }
        guard op.hasWeights, let activation = op.fusedActivation else { return .fixedPoint }
        if case .leaky = activation { return .fixedPoint }
        return k <= options.floatRequantizationMaxK ? .float : .fixedPoint
    }

    public static func quantize(_ model: Model, calibration: [[Float]], method: RangeMethod = .minMax, weightBits: Int = 8) throws -> Model {
        try quantize(model, calibration: calibration, options: Options(method: method, weightBits: weightBits))
    }

    /// Folds batch norm first (`BatchNormFolding`): the int8 model never contains it.
    /// The last int8 tensor (the logits, or an autoencoder's reconstruction) always keeps
    /// its min/max range: clipping it would merge the largest logits or hide the largest
    /// reconstruction errors, the values the output is read for.
    /// weightBits 7 narrows weights to [-63, 63] (WeightBits.swift says why).
    public static func quantize(_ unfolded: Model, calibration: [[Float]], options: Options) throws -> Model {
        let wmax = try WeightBits.largestWeight(bits: options.weightBits)
        guard !calibration.isEmpty else { throw ModelError.badInput("no calibration inputs") }
        let model = try BatchNormFolding.fold(unfolded)
        let s = try model.shapes()
        guard model.hasFloatWeights else { throw ModelError.noFloatWeights(model.name) }
        let n = model.nodes.count
        let lastInt8 = model.nodes[n - 1].op.isOutputFunction ? model.nodes[n - 1].inputs[0] : n - 1
        // Samples per node, strided so memory stays bounded on large calibration sets.
        var lo = [Float](repeating: 0, count: n), hi = [Float](repeating: 0, count: n)
        var samples = [[Float]](repeating: [], count: n)
        // Mean of every element of the tensors that feed a weighted node (bias correction).
        var means = [[Double]](repeating: [], count: n)
        for node in model.nodes where node.op.hasWeights && options.biasCorrection {
            means[node.inputs[0]] = [Double](repeating: 0, count: s[node.inputs[0]].elements)
        }
        let sampling: Bool = { if case .minMax = options.method { return false }; return true }()
        let budget = 200_000
        // im2col + sgemm forward (FloatNetwork, held to FloatReference by the tests): calibration is the slow part.
        let net = try FloatNetwork(model)
        for input in calibration {
            guard input.count == model.inputShape.elements else {
                throw ModelError.badInput("calibration item has \(input.count) values, model needs \(model.inputShape.elements)")
            }
            net.forward(input)
            for i in 0..<n {
                let out = net.output(i)
                for v in out { lo[i] = min(lo[i], v); hi[i] = max(hi[i], v) }
                if !means[i].isEmpty { for j in out.indices { means[i][j] += Double(out[j]) } }
                if sampling && i != lastInt8 {
                    let step = max(1, out.count * calibration.count / budget)
                    var j = 0
                    while j < out.count { samples[i].append(out[j]); j += step }
                }
            }
        }
        for i in 0..<n where !samples[i].isEmpty {
            switch options.method {
            case .minMax: break
            case .percentile(let p):
                let sorted = samples[i].sorted()
                func at(_ q: Double) -> Float { sorted[min(sorted.count - 1, max(0, Int((q / 100 * Double(sorted.count - 1)).rounded())))] }
                lo[i] = min(0, at(100 - p)); hi[i] = max(0, at(p))
            case .mse:
                (lo[i], hi[i]) = leastErrorRange(samples[i], lo: lo[i], hi: hi[i])
            }
        }
        var out = model
        for i in 0..<n {
            let node = model.nodes[i]
            if node.op.isOutputFunction { out.nodes[i].quant = nil; continue }
            if node.op.keepsInputQuantization {
                out.nodes[i].quant = out.nodes[node.inputs[0]].quant
            } else {
                out.nodes[i].quant = params(lo: lo[i], hi: hi[i])
            }
            guard node.op.hasWeights, let w = node.weights, let fw = w.float, let fb = w.floatBias else { continue }
            let (_, oc) = model.weightCount(i, s)
            let per = fw.count / oc
            let fwa = fw.array
            var fba = fb.array.map(Double.init)
            var q = [Int8](repeating: 0, count: fw.count), scales = [Float](repeating: 1, count: oc), bias = [Int32](repeating: 0, count: oc)
            for o in 0..<oc {
                var m: Float = 0
                for j in 0..<per { m = max(m, abs(fwa[o * per + j])) }
                let sw = m > 0 ? m / wmax : 1
                scales[o] = sw
                for j in 0..<per { q[o * per + j] = Int8(max(-wmax, min(wmax, (fwa[o * per + j] / sw).rounded()))) }
            }
            if options.biasCorrection {
                let mean = means[node.inputs[0]].map { Float($0 / Double(calibration.count)) }
                let error = weightRoundingError(node.op, q: q, scales: scales, float: fwa, inputMean: mean, s[node.inputs[0]], s[i])
                for o in 0..<oc { fba[o] -= error[o] }
            }
            let sIn = out.nodes[node.inputs[0]].quant!.scale
            for o in 0..<oc {
                let b = (fba[o] / (Double(sIn) * Double(scales[o]))).rounded()
                bias[o] = Int32(max(-Double(1 << 30), min(Double(1 << 30), b)))
            }
            out.nodes[i].weights = LayerWeights(float: fw, floatBias: fb, int8: ParamArray(q), scales: ParamArray(scales), bias: ParamArray(bias))
            out.nodes[i].requantization = requantization(node.op, macsPerOutput: per, options: options)
        }
        return out
    }

    /// Per output channel, the mean over output positions of sum (W_q - W) x on the mean
    /// input (padding reads zero, as in the float model).
    static func weightRoundingError(_ op: Op, q: [Int8], scales: [Float], float: [Float], inputMean: [Float],
                                    _ xs: TensorShape, _ ys: TensorShape) -> [Double] {
        let oc = scales.count, per = float.count / oc
        var delta = [Float](repeating: 0, count: float.count)
        for o in 0..<oc { for j in 0..<per { delta[o * per + j] = Float(q[o * per + j]) * scales[o] - float[o * per + j] } }
        var y = [Float](repeating: 0, count: ys.elements)
        switch op {
        case .conv2d(var c):
            c.activation = .none
            FloatReference.conv(inputMean, xs, c, delta, [Float](repeating: 0, count: oc), &y, ys)
        case .dense:
            for o in 0..<oc { var acc: Float = 0; for j in 0..<per { acc += delta[o * per + j] * inputMean[j] }; y[o] = acc }
        default: break
        }
        var error = [Double](repeating: 0, count: oc)
        let positions = ys.elements / oc
        for p in 0..<positions { for o in 0..<oc { error[o] += Double(y[p * oc + o]) } }
        return error.map { $0 / Double(positions) }
    }

    /// The [lo, hi] among min/max shrunk by factors 1, 0.98, ... 0.3 with the least
    /// summed squared error between the samples and their quantized values.
    static func leastErrorRange(_ samples: [Float], lo: Float, hi: Float) -> (Float, Float) {
        var best = (lo, hi), bestError = Double.infinity
        for k in 0...35 {
            let f = 1 - Float(k) * 0.02
            let q = params(lo: lo * f, hi: hi * f)
            var e = 0.0
            for v in samples { let d = Double(v - q.dequantize(q.quantize(v))); e += d * d }
            if e < bestError { bestError = e; best = (lo * f, hi * f) }
        }
        return best
    }

    /// Asymmetric int8 parameters whose range contains [lo, hi] and zero exactly.
    public static func params(lo: Float, hi: Float) -> QuantParams {
        let l = min(lo, 0), h = max(hi, 0)
        let scale = h > l ? (h - l) / 255 : 1
        let zp = (-128 - l / scale).rounded()
        return QuantParams(scale: scale, zeroPoint: Int32(max(-128, min(127, zp))))
    }
}
