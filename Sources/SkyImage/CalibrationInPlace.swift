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
    /// `saturation`: pixels whose raw value is at least `raw` end at least at `calibrated`, so a
    /// saturation test in calibrated units still finds them after bias, dark and flat moved them.
    public static func applyInPlace(_ frame: ImageView<Float>, masters m: CalibrationMasters, exposure: Double, gain: Double?,
                                    saturation: (raw: Float, calibrated: Float)? = nil) throws(CalibrationError) {
        guard frame.width == m.width, frame.height == m.height else {
            throw .sizeMismatch("masters \(m.width) x \(m.height) vs frame \(frame.width) x \(frame.height)")
        }
        let scale = m.dark != nil && m.darkExposure > 0 ? Float(exposure / m.darkExposure) : 0
        let g = Float(gain ?? 1)
        let satRaw = saturation?.raw ?? .infinity, satCalibrated = saturation?.calibrated ?? -.infinity
        for y in 0..<frame.height {
            let row = frame.row(y)
            let base = y * m.width
            for x in 0..<frame.width {
                let i = base &+ x
                let raw = row[x]
                var v = raw - (m.bias?[i] ?? 0)
                if let d = m.dark { v -= d[i] * scale }
                if let f = m.flat { v = f[i] > 0 ? v / f[i] : .nan }
                v *= g
                if raw >= satRaw && !(v >= satCalibrated) { v = satCalibrated }
                if let mk = m.mask, mk[i] != 0 { v = .nan }
                row[x] = v
            }
        }
    }
}
