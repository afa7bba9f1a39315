import Testing
import SkyCore
@testable import SkyImage

/// The in-place reduction the site runs is `Calibration.apply`, pixel for pixel.
@Test func calibratingInPlaceMatchesApply() throws {
    let w = 37, h = 23
    var rng = SeededRandom(seed: 4, stream: 1)
    func image(_ f: () -> Float) -> OwnedImage<Float> { OwnedImage(width: w, height: h, pixel: f) }
    let raw = image { 500 + Float(rng.uniform() * 3000) }
    let bias = image { 480 + Float(rng.uniform() * 40) }
    let dark = image { Float(rng.uniform() * 60) }
    // Some flat pixels at or below zero: apply makes those NaN.
    let flat = image { rng.uniform() < 0.02 ? 0 : 0.7 + Float(rng.uniform() * 0.6) }
    let mask = OwnedImage<UInt8>(width: w, height: h, fill: 0)
    for i in 0..<mask.storage.count where rng.uniform() < 0.03 { mask.storage[i] = 1 }

    for (gain, withDark, withFlat, withMask) in [(1.7, true, true, true), (nil, false, true, false), (2.0, true, false, true)] as [(Double?, Bool, Bool, Bool)] {
        let expected = try Calibration.apply(to: raw, bias: bias, dark: withDark ? dark : nil, darkExposure: 120, exposure: 45,
                                             flat: withFlat ? flat : nil, mask: withMask ? mask : nil, gain: gain)
        let frame = image { 0 }
        for i in 0..<raw.storage.count { frame.storage[i] = raw.storage[i] }
        let masters = CalibrationMasters(width: w, height: h, bias: UnsafePointer(bias.storage.baseAddress!),
                                         dark: withDark ? UnsafePointer(dark.storage.baseAddress!) : nil, darkExposure: 120,
                                         flat: withFlat ? UnsafePointer(flat.storage.baseAddress!) : nil,
                                         mask: withMask ? UnsafePointer(mask.storage.baseAddress!) : nil)
        // The masters are raw pointers into these images: they must outlive the call.
        try withExtendedLifetime((bias, dark, flat, mask)) {
            try Calibration.applyInPlace(frame.view, masters: masters, exposure: 45, gain: gain)
        }
        var differ = 0, nans = 0
        for i in 0..<frame.storage.count {
            let a = frame.storage[i], b = expected.storage[i]
            if a.isNaN { nans += 1 }
            if !(a == b || (a.isNaN && b.isNaN)) { differ += 1 }
        }
        #expect(differ == 0, "gain \(String(describing: gain)) dark \(withDark) flat \(withFlat) mask \(withMask)")
        #expect((nans > 0) == (withFlat || withMask))
    }
}

@Test func calibratingInPlaceKeepsSaturatedPixelsSaturatedAndRefusesOtherSizes() throws {
    let raw = OwnedImage<Float>(width: 4, height: 1, fill: 0)
    for (i, v) in [600, 65_535, 65_535, 700].enumerated() { raw.storage[i] = Float(v) }
    let bias = OwnedImage<Float>(width: 4, height: 1, fill: 500)
    let flat = OwnedImage<Float>(width: 4, height: 1, fill: 1.25)
    let mask = OwnedImage<UInt8>(width: 4, height: 1, fill: 0)
    mask.storage[2] = 1
    let masters = CalibrationMasters(width: 4, height: 1, bias: UnsafePointer(bias.storage.baseAddress!),
                                     flat: UnsafePointer(flat.storage.baseAddress!), mask: UnsafePointer(mask.storage.baseAddress!))
    // Clipped pixels read the calibrated saturation level, wherever bias and flat would have put them.
    let level: Float = (65_535 - 500) * 2
    try withExtendedLifetime((bias, flat, mask)) {
        try Calibration.applyInPlace(raw.view, masters: masters, exposure: 10, gain: 2, saturation: (65_535, level))
    }
    #expect(raw.storage[0] == (600 - 500) / 1.25 * 2)
    #expect(raw.storage[1] == level)
    #expect(raw.storage[2].isNaN, "a masked pixel stays out, saturated or not")
    #expect(raw.storage[3] == (700 - 500) / 1.25 * 2)

    let other = OwnedImage<Float>(width: 3, height: 1, fill: 1)
    withExtendedLifetime((bias, flat, mask)) {
        #expect(throws: CalibrationError.self) { try Calibration.applyInPlace(other.view, masters: masters, exposure: 10, gain: nil) }
    }
    #expect(other.storage[0] == 1)
}
