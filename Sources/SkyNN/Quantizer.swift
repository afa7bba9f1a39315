/// Post-training static quantization (DESIGN.md section 5): weights per output
/// channel, symmetric in [-127, 127]; activations per tensor, asymmetric, from
/// the ranges the float model produces on calibration inputs (min/max, or a
/// percentile that ignores rare outliers); int32 bias at s_in * s_w.
public enum Quantizer {
    public enum RangeMethod: Sendable, Equatable {
        case minMax
        /// Two-sided: the p-th and (100-p)-th percentiles, e.g. 99.99.
        case percentile(Double)
    }

    /// weightBits 7 narrows weights to [-63, 63] (WeightBits.swift says why).
    public static func quantize(_ model: Model, calibration: [[Float]], method: RangeMethod = .minMax, weightBits: Int = 8) throws -> Model {
        let wmax = try WeightBits.largestWeight(bits: weightBits)
        guard !calibration.isEmpty else { throw ModelError.badInput("no calibration inputs") }
        let s = try model.shapes()
        guard model.hasFloatWeights else { throw ModelError.noFloatWeights(model.name) }
        let n = model.nodes.count
        // Samples per node, strided so memory stays bounded on large calibration sets.
        var lo = [Float](repeating: 0, count: n), hi = [Float](repeating: 0, count: n)
        var samples = [[Float]](repeating: [], count: n)
        let budget = 200_000
        // im2col + sgemm forward (FloatNetwork, held to FloatReference by the tests): calibration is the slow part.
        let net = try FloatNetwork(model)
        for input in calibration {
            guard input.count == model.inputShape.elements else {
                throw ModelError.badInput("calibration item has \(input.count) values, model needs \(model.inputShape.elements)")
            }
            net.forward(input)
            let outs = (0..<n).map { net.output($0) }
            for i in 0..<n {
                for v in outs[i] { lo[i] = min(lo[i], v); hi[i] = max(hi[i], v) }
                if case .percentile = method {
                    let step = max(1, outs[i].count * calibration.count / budget)
                    var j = 0
                    while j < outs[i].count { samples[i].append(outs[i][j]); j += step }
                }
            }
        }
        if case .percentile(let p) = method {
            for i in 0..<n where !samples[i].isEmpty {
                let sorted = samples[i].sorted()
                func at(_ q: Double) -> Float { sorted[min(sorted.count - 1, max(0, Int((q / 100 * Double(sorted.count - 1)).rounded())))] }
                lo[i] = min(0, at(100 - p)); hi[i] = max(0, at(p))
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
            let fwa = fw.array, fba = fb.array
            var q = [Int8](repeating: 0, count: fw.count), scales = [Float](repeating: 1, count: oc), bias = [Int32](repeating: 0, count: oc)
            let sIn = out.nodes[node.inputs[0]].quant!.scale
            for o in 0..<oc {
                var m: Float = 0
                for j in 0..<per { m = max(m, abs(fwa[o * per + j])) }
                let sw = m > 0 ? m / wmax : 1
                scales[o] = sw
                for j in 0..<per { q[o * per + j] = Int8(max(-wmax, min(wmax, (fwa[o * per + j] / sw).rounded()))) }
                let b = (Double(fba[o]) / (Double(sIn) * Double(sw))).rounded()
                bias[o] = Int32(max(-Double(1 << 30), min(Double(1 << 30), b)))
            }
            out.nodes[i].weights = LayerWeights(float: fw, floatBias: fb, int8: ParamArray(q), scales: ParamArray(scales), bias: ParamArray(bias))
        }
        return out
    }

    /// Asymmetric int8 parameters whose range contains [lo, hi] and zero exactly.
    public static func params(lo: Float, hi: Float) -> QuantParams {
        let l = min(lo, 0), h = max(hi, 0)
        let scale = h > l ? (h - l) / 255 : 1
        let zp = (-128 - l / scale).rounded()
        return QuantParams(scale: scale, zeroPoint: Int32(max(-128, min(127, zp))))
    }
}
