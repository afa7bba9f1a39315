import Testing
@testable import SkyNN

@Test(arguments: [1e-6, 0.0003, 0.0123, 0.25, 0.5, 0.75, 0.999_999_9, 1.0, 1.5, 3.75])
func quantizedMultiplierRepresentsTheRealValue(real: Double) {
    let m = QuantizedMultiplier(real)
    #expect(m.mantissa >= 1 << 30)
    #expect(abs(m.realValue - real) <= real * 1e-9)
}

@Test func applyingMatchesRoundedRealArithmetic() {
    // Against exact rational arithmetic: x * mantissa * 2^shift / 2^31, rounded half away from zero
    // (the two roundings of the fixed-point path can differ from one rounding by one unit, never more).
    var state: UInt64 = 1
    func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 16 }
    for _ in 0..<20_000 {
        let real = Double(next() % 1_000_000 + 1) / 1_000_000 * (next() % 2 == 0 ? 1 : 0.01)
        let m = QuantizedMultiplier(real)
        let x = Int32(truncatingIfNeeded: Int64(next() % 2_000_001) - 1_000_000)
        let got = m.apply(x)
        let ideal = (Double(x) * m.realValue)
        let rounded = ideal < 0 ? -(-ideal).rounded(.toNearestOrAwayFromZero) : ideal.rounded(.toNearestOrAwayFromZero)
        #expect(abs(Double(got) - rounded) <= 1)
    }
}

@Test func tfliteEdgeCases() {
    #expect(saturatingRoundingDoublingHighMul(Int32.min, Int32.min) == Int32.max)
    #expect(roundingDivideByPOT(5, 1) == 3)     // 2.5 rounds away from zero
    #expect(roundingDivideByPOT(-5, 1) == -3)
    #expect(roundingDivideByPOT(7, 0) == 7)
    #expect(requantize(1_000_000, QuantizedMultiplier(0.001), outputZeroPoint: -5) == 127)
    #expect(requantize(-1_000_000, QuantizedMultiplier(0.001), outputZeroPoint: -5) == -128)
    #expect(requantize(-1000, QuantizedMultiplier(0.01), outputZeroPoint: 0, min: 0) == 0, "ReLU clamps at the zero point")
    #expect(QuantizedMultiplier(0) == QuantizedMultiplier(mantissa: 0, shift: 0))
}
