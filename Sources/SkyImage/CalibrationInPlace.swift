/// Master frames held elsewhere (a site's arena), each `width x height` and contiguous,
/// for calibrating frames in place without allocating.
public struct CalibrationMasters: @unchecked Sendable {
    public var width: Int
    public var height: Int
    public var bias: UnsafePointer<Float>?
    /// Bias-subtracted dark, as `skydiag calibrate` writes it.
    public var dark: UnsafePointer<Float>?
    /// Exposure of the master dark, seconds.
    public var darkExposure: Double
    /// Flat normalized to median 1.
    public var flat: UnsafePointer<Float>?
    /// Bad pixels: nonzero is bad.
    public var mask: UnsafePointer<UInt8>?

    public init(width: Int, height: Int, bias: UnsafePointer<Float>? = nil, dark: UnsafePointer<Float>? = nil,
                darkExposure: Double = 0, flat: UnsafePointer<Float>? = nil, mask: UnsafePointer<UInt8>? = nil) {
        self.width = width; self.height = height; self.bias = bias; self.dark = dark
        self.darkExposure = darkExposure; self.flat = flat; self.mask = mask
    }
}

extension Calibration {
    /// `apply` on the frame itself: the same arithmetic, pixel for pixel, with no allocation.
    /// `saturation`: pixels whose raw value is at least `raw` become `calibrated`, so a saturation
    /// test in calibrated units still finds them after bias, dark and flat moved them (a masked
    /// pixel stays NaN; one whose flat is not positive too).
    public static func applyInPlace(_ frame: ImageView<Float>, masters m: CalibrationMasters, exposure: Double, gain: Double?,
                                    saturation: (raw: Float, calibrated: Float)? = nil) throws(CalibrationError) {
        guard frame.width == m.width, frame.height == m.height else {
            throw .sizeMismatch("masters \(m.width) x \(m.height) vs frame \(frame.width) x \(frame.height)")
        }
        let scale = m.dark != nil && m.darkExposure > 0 ? Float(exposure / m.darkExposure) : 0
        let g = Float(gain ?? 1)
        let w = frame.width
        // One simple, branch-free pass per master over a row (in cache), so each loop vectorizes; the order of
        // the operations on a pixel is apply's. Saturated pixels carry +infinity through the
        // arithmetic (minus finite values, over a positive flat, times a positive gain).
        for y in 0..<frame.height {
            let row = frame.row(y).baseAddress!
            let offset = y * w
            if let s = saturation {
                let level = s.raw
                for x in 0..<w { row[x] = row[x] >= level ? .infinity : row[x] }
            }
            if let b = m.bias { let b = b + offset; for x in 0..<w { row[x] -= b[x] } }
            if let d = m.dark { let d = d + offset; for x in 0..<w { row[x] -= d[x] * scale } }
            if let f = m.flat { let f = f + offset; for x in 0..<w { row[x] = f[x] > 0 ? row[x] / f[x] : .nan } }
            if g != 1 { for x in 0..<w { row[x] *= g } }
            if let s = saturation {
                let level = s.calibrated
                for x in 0..<w { row[x] = row[x] == .infinity ? level : row[x] }
            }
            if let mk = m.mask { let mk = mk + offset; for x in 0..<w { row[x] = mk[x] != 0 ? .nan : row[x] } }
        }
    }
}
