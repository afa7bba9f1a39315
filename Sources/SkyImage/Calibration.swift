import Foundation

/// A rectangle of a FITS header section such as BIASSEC = '[4:13,1:520]',
/// converted to 0-based, end-exclusive pixel ranges.
public struct ImageSection: Sendable, Equatable {
    public var x0: Int, x1: Int, y0: Int, y1: Int
    public init(x0: Int, x1: Int, y0: Int, y1: Int) { self.x0 = x0; self.x1 = x1; self.y0 = y0; self.y1 = y1 }
    public var width: Int { x1 - x0 }
    public var height: Int { y1 - y0 }

    /// Parses '[x1:x2,y1:y2]' (1-based, inclusive, spaces allowed); nil when malformed or reversed.
    public init?(fits text: String) {
        let cleaned = text.filter { !$0.isWhitespace && $0 != "'" }
        guard cleaned.hasPrefix("["), cleaned.hasSuffix("]") else { return nil }
        let parts = cleaned.dropFirst().dropLast().split(separator: ",")
        guard parts.count == 2 else { return nil }
        func range(_ s: Substring) -> (Int, Int)? {
            let r = s.split(separator: ":").compactMap { Int($0) }
            guard r.count == 2, r[0] >= 1, r[1] >= r[0] else { return nil }
            return (r[0] - 1, r[1])
        }
        guard let xs = range(parts[0]), let ys = range(parts[1]) else { return nil }
        self.init(x0: xs.0, x1: xs.1, y0: ys.0, y1: ys.1)
    }

    func fits(width: Int, height: Int) -> Bool { x0 >= 0 && y0 >= 0 && x1 <= width && y1 <= height && x1 > x0 && y1 > y0 }
}

/// How a stack of frames is combined into a master.
public enum CombineMethod: String, Sendable, CaseIterable {
    /// Per-pixel median.
    case median
    /// Per-pixel mean after rejecting values beyond 3 sigma (sigma from the MAD) of the median.
    case sigmaClippedMean = "sigma-clipped-mean"
}

public enum CalibrationError: Error, Equatable, CustomStringConvertible {
    case emptyStack
    case sizeMismatch(String)
    case badSection(String)
    public var description: String {
        switch self {
        case .emptyStack: "no frames to combine"
        case .sizeMismatch(let s): "frame sizes differ: \(s)"
        case .badSection(let s): "bad image section: \(s)"
        }
    }
}

/// Master frames and the steps of CCD reduction: overscan, bias, scaled dark,
/// normalized flat, bad pixels, gain.
public enum Calibration {
    /// Combines frames of one size pixel by pixel.
    public static func combine(_ frames: [OwnedImage<Float>], method: CombineMethod) throws(CalibrationError) -> OwnedImage<Float> {
        guard let first = frames.first else { throw .emptyStack }
        for f in frames where f.width != first.width || f.height != first.height {
            throw .sizeMismatch("\(f.width) x \(f.height) vs \(first.width) x \(first.height)")
        }
        let out = OwnedImage<Float>(width: first.width, height: first.height, fill: 0)
        var values = [Float](repeating: 0, count: frames.count)
        var deviations = [Float](repeating: 0, count: frames.count)
        for i in 0..<first.storage.count {
            for k in 0..<frames.count { values[k] = frames[k].storage[i] }
            values.sort()
            let n = values.count
            let median = n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2])
            switch method {
            case .median:
                out.storage[i] = median
            case .sigmaClippedMean:
                for k in 0..<n { deviations[k] = abs(values[k] - median) }
                deviations.sort()
                let mad = n % 2 == 1 ? deviations[n / 2] : 0.5 * (deviations[n / 2 - 1] + deviations[n / 2])
                let limit = 3 * 1.4826 * mad
                var sum: Double = 0, kept = 0
                for v in values where limit == 0 || abs(v - median) <= limit { sum += Double(v); kept += 1 }
                out.storage[i] = kept > 0 ? Float(sum / Double(kept)) : median
            }
        }
        return out
    }

    /// Subtracts each row's median over the overscan columns, then cuts the
    /// frame to `trim`. The overscan follows the readout level row by row.
    public static func overscanCorrect(_ image: OwnedImage<Float>, overscan: ImageSection, trim: ImageSection) throws(CalibrationError) -> OwnedImage<Float> {
        guard overscan.fits(width: image.width, height: image.height) else { throw .badSection("overscan \(overscan) outside \(image.width) x \(image.height)") }
        guard trim.fits(width: image.width, height: image.height) else { throw .badSection("trim \(trim) outside \(image.width) x \(image.height)") }
        let out = OwnedImage<Float>(width: trim.width, height: trim.height, fill: 0)
        var row = [Float](repeating: 0, count: overscan.width)
        var lastLevel: Float = 0
        for y in trim.y0..<trim.y1 {
            // Rows the overscan does not cover keep the nearest covered row's level.
            if y >= overscan.y0 && y < overscan.y1 {
                for (k, x) in (overscan.x0..<overscan.x1).enumerated() { row[k] = image[x, y] }
                row.sort()
                let n = row.count
                lastLevel = n % 2 == 1 ? row[n / 2] : 0.5 * (row[n / 2 - 1] + row[n / 2])
            }
            for x in trim.x0..<trim.x1 { out[x - trim.x0, y - trim.y0] = image[x, y] - lastLevel }
        }
        return out
    }

    /// Median of all pixels (NaN ignored).
    public static func median(_ image: OwnedImage<Float>) -> Float {
        let v = image.storage.filter { !$0.isNaN }.sorted()
        guard !v.isEmpty else { return .nan }
        return v.count % 2 == 1 ? v[v.count / 2] : 0.5 * (v[v.count / 2 - 1] + v[v.count / 2])
    }

    /// A flat divided by its median, so that applying it keeps the frame's level.
    public static func normalizedFlat(_ flat: OwnedImage<Float>, bias: OwnedImage<Float>?) -> OwnedImage<Float> {
        let out = OwnedImage<Float>(width: flat.width, height: flat.height, fill: 0)
        for i in 0..<flat.storage.count { out.storage[i] = flat.storage[i] - (bias?.storage[i] ?? 0) }
        let m = median(out)
        for i in 0..<out.storage.count { out.storage[i] = m > 0 ? out.storage[i] / m : 1 }
        return out
    }

    /// Bad pixels (mask value 1): hot ones, more than `hotSigma` robust sigmas
    /// above the median of the bias-subtracted dark; dead or low-response ones,
    /// whose normalized flat is below `lowResponse` or above `highResponse`.
    /// Columns with over half their pixels bad are masked whole, and so is every stretch
    /// of a column that `BadColumnFinder` finds in the dark or the flat: a column a little
    /// hot or a little low all along (a charge trap, a weak amplifier line) whose pixels
    /// are each within the per-pixel limits but which stands out from its neighbours.
    public static func badPixelMask(darkMinusBias: OwnedImage<Float>?, normalizedFlat: OwnedImage<Float>?,
                                    hotSigma: Float = 8, lowResponse: Float = 0.5, highResponse: Float = 1.5) -> OwnedImage<UInt8> {
        let w = darkMinusBias?.width ?? normalizedFlat?.width ?? 0
        let h = darkMinusBias?.height ?? normalizedFlat?.height ?? 0
        let mask = OwnedImage<UInt8>(width: w, height: h, fill: 0)
        if let dark = darkMinusBias {
            let m = median(dark)
            let deviations = OwnedImage<Float>(width: w, height: h, fill: 0)
            for i in 0..<dark.storage.count { deviations.storage[i] = abs(dark.storage[i] - m) }
            let sigma = max(1.4826 * median(deviations), 1e-6)
            for i in 0..<dark.storage.count where dark.storage[i] > m + hotSigma * sigma { mask.storage[i] = 1 }
        }
        if let flat = normalizedFlat {
            for i in 0..<flat.storage.count where !(flat.storage[i] >= lowResponse && flat.storage[i] <= highResponse) { mask.storage[i] = 1 }
        }
        for x in 0..<w {
            var bad = 0
            for y in 0..<h where mask[x, y] != 0 { bad += 1 }
            if bad * 2 > h { for y in 0..<h { mask[x, y] = 1 } }
        }
        for master in [darkMinusBias, normalizedFlat].compactMap({ $0 }) {
            for span in badColumns(in: master) { for y in max(0, span.y0)...min(h - 1, span.y1) { mask[span.x, y] = 1 } }
        }
        return mask
    }

    /// Bad columns of a master: its deviations from the median, with the robust sigma as noise.
    static func badColumns(in master: OwnedImage<Float>) -> [BadColumnSpan] {
        let m = median(master)
        let sub = OwnedImage<Float>(width: master.width, height: master.height, fill: 0)
        for i in 0..<master.storage.count { sub.storage[i] = abs(master.storage[i] - m) }
        let sigma = max(1.4826 * median(sub), 1e-6)
        for i in 0..<master.storage.count { sub.storage[i] = master.storage[i] - m }
        return withExtendedLifetime(sub) {
            master.withView { BadColumnFinder.find(UnsafeBufferPointer(sub.storage), image: $0, noise: sigma, saturation: .infinity) }
        }
    }

    /// (raw - bias - dark x exposure / darkExposure) / flat x gain, in electrons
    /// when a gain is given; masked pixels become NaN.
    public static func apply(to raw: OwnedImage<Float>, bias: OwnedImage<Float>?, dark: OwnedImage<Float>?, darkExposure: Double,
                             exposure: Double, flat: OwnedImage<Float>?, mask: OwnedImage<UInt8>?, gain: Double?) throws(CalibrationError) -> OwnedImage<Float> {
        for m in [bias, dark, flat].compactMap({ $0 }) where m.width != raw.width || m.height != raw.height {
            throw .sizeMismatch("master \(m.width) x \(m.height) vs frame \(raw.width) x \(raw.height)")
        }
        if let m = mask, m.width != raw.width || m.height != raw.height {
            throw .sizeMismatch("bad-pixel mask \(m.width) x \(m.height) vs frame \(raw.width) x \(raw.height)")
        }
        let scale = dark != nil && darkExposure > 0 ? Float(exposure / darkExposure) : 0
        let g = Float(gain ?? 1)
        let out = OwnedImage<Float>(width: raw.width, height: raw.height, fill: 0)
        for i in 0..<raw.storage.count {
            var v = raw.storage[i] - (bias?.storage[i] ?? 0)
            // The master dark is bias-subtracted: only its thermal signal scales with exposure.
            if let d = dark { v -= d.storage[i] * scale }
            if let f = flat { v = f.storage[i] > 0 ? v / f.storage[i] : .nan }
            if let m = mask, m.storage[i] != 0 { v = .nan }
            out.storage[i] = v * g
        }
        return out
    }
}
