import Foundation

/// SplitMix64: turns one 64-bit seed into a well-mixed stream; used to seed
/// `SeededRandom` and to derive independent sub-seeds (`SeedMixer`).
public struct SplitMix64: Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Derives independent seeds from a parent seed and a label, so that adding a
/// feature (a new random stream) never changes what the other streams produce.
public enum SeedMixer {
    @inline(__always)
    public static func mix(_ seed: UInt64, _ stream: UInt64) -> UInt64 {
        var s = SplitMix64(seed: seed ^ (stream &* 0xD6E8_FEB8_6659_FD93))
        _ = s.next()
        return s.next()
    }

    /// A stable 64-bit value for a text label (FNV-1a), for naming streams.
    public static func label(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}

/// xoshiro256** (Blackman and Vigna): a small, fast generator whose output
/// depends only on its seed, on every platform and every run. The simulator
/// uses it instead of `SystemRandomNumberGenerator` so frames are reproducible.
/// Deviates are built from the raw bits here (not `Double.random(in:using:)`)
/// so a change in the standard library cannot change them.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    private var spareGaussian: Double = 0
    private var hasSpare = false

    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
        if (s0 | s1 | s2 | s3) == 0 { s0 = 1 }
    }

    /// A generator for one labelled sub-stream of `seed`.
    public init(seed: UInt64, stream: UInt64) { self.init(seed: SeedMixer.mix(seed, stream)) }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1), 53 bits.
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in (0, 1], safe for `log`.
    @inline(__always)
    public mutating func uniformPositive() -> Double { (Double(next() >> 11) + 1) * 0x1p-53 }

    @inline(__always)
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * uniform() }

    /// Uniform integer in 0..<n (n > 0), by multiply-shift (bias below 2^-32 for n < 2^32).
    @inline(__always)
    public mutating func index(_ n: Int) -> Int {
        guard n > 1 else { return 0 }
        return Int(((next() >> 32) &* UInt64(n)) >> 32)
    }

    /// Standard normal deviate (Box-Muller, both values used).
    @inline(__always)
    public mutating func gaussian() -> Double {
        if hasSpare { hasSpare = false; return spareGaussian }
        let r = (-2 * Foundation.log(uniformPositive())).squareRoot()
        let a = 2 * Double.pi * uniform()
        spareGaussian = r * Foundation.sin(a)
        hasSpare = true
        return r * Foundation.cos(a)
    }

    /// Poisson deviate: exact (inversion) below `normalThreshold`, normal
    /// approximation with continuity correction above it, where the two agree
    /// to well under a percent in every moment a detector cares about.
    @inline(__always)
    public mutating func poisson(_ mean: Double, normalThreshold: Double = 30) -> Double {
        if mean <= 0 { return 0 }
        if mean >= normalThreshold {
            return max(0, (mean + mean.squareRoot() * gaussian() + 0.5).rounded(.down))
        }
        var p = Foundation.exp(-mean)
        var cdf = p
        let u = uniform()
        var k = 0.0
        while u > cdf && k < 1000 {
            k += 1
            p *= mean / k
            cdf += p
        }
        return k
    }
}
