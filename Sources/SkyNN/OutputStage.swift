import CSkyKernels
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
    /// Per-channel scales where the layer requantizes in float (`Requantization.float`), else nil.
    public var floatScales: [Float]?

    public init(activation: Activation, input: QuantParams, weightScales: [Float], output: QuantParams,
                requantization: Requantization = .fixedPoint) {
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
        // Model.validate rejects a float stage with a leaky slope; the slope wins here.
        floatScales = requantization == .float && leaky == nil ? multipliers.map(floatRequantizationScale) : nil
    }

    @inline(__always)
    public func apply(_ acc: Int32, channel: Int) -> Int8 {
        if let floatScales {
            return requantizeInFloat(acc, scale: floatScales[channel], outputZeroPoint: outputZeroPoint, min: activationMin, max: activationMax)
        }
        var q = multipliers[channel].apply(acc)
        if let leaky, q < 0 { q = leaky.apply(q) }
        let v = q &+ outputZeroPoint
        return Int8(truncatingIfNeeded: min(max(v, activationMin), activationMax))
    }
}

extension OutputStage {
    /// The C kernels' view of this stage, over per-channel arrays the caller keeps alive:
    /// multipliers' mantissas and shifts, and the float scales where the stage has them.
    public func cStage(multiplier: UnsafePointer<Int32>, shift: UnsafePointer<Int32>, floatScale: UnsafePointer<Float>?) -> sky_requant_s8 {
        sky_requant_s8(multiplier: multiplier, shift: shift, output_zero_point: outputZeroPoint,
                       act_min: activationMin, act_max: activationMax, leaky: leaky == nil ? 0 : 1,
                       leaky_multiplier: leaky?.mantissa ?? 0, leaky_shift: leaky?.shift ?? 0,
                       float_scale: floatScales == nil ? nil : floatScale)
    }

    /// The C kernels' view of this stage for channels [first, ...), valid inside `body`
    /// (the executor keeps the arrays in memory it owns instead).
    public func withCStage<R>(from first: Int = 0, _ body: (inout sky_requant_s8) throws -> R) rethrows -> R {
        let mult = multipliers.map(\.mantissa), shift = multipliers.map(\.shift), scales = floatScales ?? [0]
        return try mult.withUnsafeBufferPointer { mp in try shift.withUnsafeBufferPointer { sp in try scales.withUnsafeBufferPointer { fp in
            var rq = cStage(multiplier: mp.baseAddress! + first, shift: sp.baseAddress! + first, floatScale: fp.baseAddress! + first)
            return try body(&rq)
        } } }
    }
}
