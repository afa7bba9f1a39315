/// Fixed-point requantization of the TFLite int8 convention (DESIGN.md section 5):
/// a real multiplier M = input_scale x weight_scale / output_scale in (0, 1) or
/// above is stored as a Q31 mantissa and a power-of-two shift, and applied to an
/// int32 accumulator with rounding exactly as TFLite's reference kernels do.
/// This is the specification the optimized C kernels must match bit for bit.
public struct QuantizedMultiplier: Sendable, Equatable {
    /// Q31 mantissa in [2^30, 2^31), or 0 for a zero multiplier.
    public var mantissa: Int32
    /// Left shift when positive, right shift when negative.
    public var shift: Int32

    public init(mantissa: Int32, shift: Int32) {
        self.mantissa = mantissa
        self.shift = shift
    }

    /// TFLite's QuantizeMultiplier: frexp, then round the fraction to Q31.
    public init(_ real: Double) {
        precondition(real >= 0 && real.isFinite, "requantization multipliers are finite and non-negative")
        if real == 0 { self.init(mantissa: 0, shift: 0); return }
        let e = real.exponent + 1              // real = f * 2^e with f in [0.5, 1)
        let f = real.significand / 2
        var q = (f * Double(1 << 31)).rounded()
        var exponent = Int32(e)
        if q == Double(1 << 31) { q /= 2; exponent += 1 }
        if exponent < -31 { self.init(mantissa: 0, shift: 0); return }
        self.init(mantissa: Int32(q), shift: exponent)
    }

    /// The multiplier this represents, for checks.
    public var realValue: Double { Double(mantissa) / Double(1 << 31) * pow2(Int(shift)) }

    /// TFLite's MultiplyByQuantizedMultiplier(x, mantissa, shift).
    @inline(__always)
    public func apply(_ x: Int32) -> Int32 {
        let leftShift = shift > 0 ? shift : 0
        let rightShift = shift > 0 ? 0 : -shift
        let shifted = Int32(truncatingIfNeeded: Int64(x) << Int64(leftShift))
        // A left shift that overflows saturates in TFLite because of the doubling multiply below;
        // callers keep accumulators small enough that it does not happen.
        return roundingDivideByPOT(saturatingRoundingDoublingHighMul(shifted, mantissa), rightShift)
    }
}

/// gemmlowp's SaturatingRoundingDoublingHighMul: round(a * b / 2^31), saturating the one overflow case.
@inline(__always)
public func saturatingRoundingDoublingHighMul(_ a: Int32, _ b: Int32) -> Int32 {
    if a == b && a == Int32.min { return Int32.max }
    let ab = Int64(a) * Int64(b)
    let nudge: Int64 = ab >= 0 ? (1 << 30) : (1 - (1 << 30))
    // Division truncates toward zero, as in the C++ reference.
    return Int32(truncatingIfNeeded: (ab + nudge) / (1 << 31))
}

/// gemmlowp's RoundingDivideByPOT: x / 2^exponent, rounding half away from zero.
@inline(__always)
public func roundingDivideByPOT(_ x: Int32, _ exponent: Int32) -> Int32 {
    precondition(exponent >= 0 && exponent <= 31)
    let mask = Int32(truncatingIfNeeded: (Int64(1) << Int64(exponent)) - 1)
    let remainder = x & mask
    let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
    return (x >> exponent) + (remainder > threshold ? 1 : 0)
}

/// Requantizes an int32 accumulator to int8 with the output zero point and the
/// fused activation clamp (ReLU is a clamp at the zero point).
@inline(__always)
public func requantize(_ acc: Int32, _ m: QuantizedMultiplier, outputZeroPoint: Int32,
                       min lo: Int32 = -128, max hi: Int32 = 127) -> Int8 {
    let v = m.apply(acc) &+ outputZeroPoint
    return Int8(truncatingIfNeeded: Swift.min(Swift.max(v, lo), hi))
}

/// How a conv or dense layer's int32 accumulators become int8 outputs (a property of the
/// layer, stored in the model file, so the reference and every kernel agree on it).
public enum Requantization: String, Sendable, Equatable, Codable {
    /// TFLite's fixed-point MultiplyByQuantizedMultiplier, bit for bit (the default).
    case fixedPoint
    /// In float: round_half_even(fma(Float(acc), scale, zp)) clamped to the activation
    /// range, `scale` being the fixed-point multiplier rounded to Float
    /// (`floatRequantizationScale`). Within one LSB of `fixedPoint` (both are within
    /// half an LSB and a few float roundings of acc x M), and three vector operations per
    /// eight outputs where the exact sequence takes eleven: the quantizer chooses it for
    /// layers with so few MACs per output (first layers: 9 to 27) that the output stage
    /// would cost as much as the MACs. Not with a leaky slope.
    case float
}

/// The float stage's per-channel scale: the fixed-point multiplier's value (exact in
/// Double), rounded once to Float.
@inline(__always)
public func floatRequantizationScale(_ m: QuantizedMultiplier) -> Float { Float(m.realValue) }

/// The float output stage (`Requantization.float`), bit for bit what the C kernels do
/// (sky_requant_float_one): clamping before rounding gives the same integer as after, the
/// bounds being integers.
@inline(__always)
public func requantizeInFloat(_ acc: Int32, scale: Float, outputZeroPoint: Int32,
                              min lo: Int32 = -128, max hi: Int32 = 127) -> Int8 {
    let v = Float(outputZeroPoint).addingProduct(Float(acc), scale)
    return Int8(Swift.min(Swift.max(v, Float(lo)), Float(hi)).rounded(.toNearestOrEven))
}

@inline(__always)
func pow2(_ e: Int) -> Double { e >= 0 ? Double(sign: .plus, exponent: e, significand: 1) : 1 / Double(sign: .plus, exponent: -e, significand: 1) }
