/// Weight precision of post-training quantization. 8 bits (symmetric [-127, 127]) is the
/// default. 7 bits ([-63, 63], one bit of resolution less) lets x86 CPUs without VNNI run
/// the layer on the u8 x s8 vpmaddubsw kernel: with weights within [-64, 63] its pairwise
/// int16 sums (at most 255 * 64 * 2 = 32640) cannot saturate, so int8 results stay
/// bit-exact with the reference, at about 4/3 the MACs per instruction of the exact int16
/// kernel. ONNX Runtime's reduce_range quantization makes the same trade on such CPUs.
public enum WeightBits {
    public static let supported = [7, 8]

    /// The largest weight magnitude for `bits`.
    public static func largestWeight(bits: Int) throws -> Float {
        guard supported.contains(bits) else { throw ModelError.badInput("weight bits must be 7 or 8, not \(bits)") }
        return Float((1 << (bits - 1)) - 1)
    }

    /// Whether every int8 weight of the model's layers lies in [-64, 63] (the u8 kernel's
    /// condition; the C packing checks it again per layer).
    public static func fitsSevenBits(_ model: Model) -> Bool {
        model.nodes.allSatisfy { n in n.weights?.int8.map { $0.array.allSatisfy { $0 >= -64 && $0 <= 63 } } ?? true }
    }
}
