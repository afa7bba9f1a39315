/// Requantization of a conv/dense accumulator to the output tensor: per-channel
/// multiplier M = s_in * s_w[oc] / s_out, output zero point, fused activation.
/// ReLU and ReLU6 are the clamp bounds (TFLite's CalculateActivationRangeQuantized);
/// leaky ReLU scales the negative requantized value by a second multiplier (alpha).
public struct OutputStage: Sendable {
    public var multipliers: [QuantizedMultiplier]
    public var outputZeroPoint: Int32
    public var activationMin: Int32
    public var activationMax: Int32
    public var leaky: QuantizedMultiplier?

    public init(activation: Activation, input: QuantParams, weightScales: [Float], output: QuantParams) {
        multipliers = weightScales.map { QuantizedMultiplier(Double(input.scale) * Double($0) / Double(output.scale)) }
        outputZeroPoint = output.zeroPoint
        var lo: Int32 = -128, hi: Int32 = 127
        leaky = nil
        switch activation {
        case .none: break
        case .relu: lo = max(lo, output.zeroPoint)
        case .relu6:
            lo = max(lo, output.zeroPoint)
            hi = min(hi, output.zeroPoint + Int32((6 / output.scale).rounded()))
        case .leaky(let a): leaky = QuantizedMultiplier(Double(a))
        }
        activationMin = lo; activationMax = hi
    }

    @inline(__always)
    public func apply(_ acc: Int32, channel: Int) -> Int8 {
        var q = multipliers[channel].apply(acc)
        if let leaky, q < 0 { q = leaky.apply(q) }
        let v = q &+ outputZeroPoint
        return Int8(truncatingIfNeeded: min(max(v, activationMin), activationMax))
    }
}
