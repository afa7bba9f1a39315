import Foundation

/// A circularly symmetric PSF as a table of surface brightness against
/// radius (linear interpolation), so a star costs a square root and a table
/// look-up per sample instead of a `pow`. Values integrate to about 1 over the
/// plane; each star is normalised again over its own stamp, which is what
/// conserves its flux.
struct RadialProfile: Sendable {
    /// Table spacing in pixels.
    static let step = 1.0 / 16
    var values: [Double]
    /// For each entry, the largest value at that radius or beyond: how far out a star of a given flux still matters.
    var tailMax: [Double]
    /// Radius within which samples are supersampled.
    var coreRadius: Double
    /// Supersampling factor per axis inside the core.
    var supersampling: Int
    var effectiveFWHM: Double

    var maxRadius: Double { Double(values.count - 1) * Self.step }

    @inline(__always)
    func value(r: Double) -> Double {
        let f = r * 16
        let i = Int(f)
        if i >= values.count - 1 { return 0 }
        let t = f - Double(i)
        return values[i] + (values[i + 1] - values[i]) * t
    }

    /// Radius beyond which a star of `flux` electrons adds less than `threshold` electrons per pixel.
    func cutoffRadius(flux: Double, threshold: Double) -> Double {
        guard flux > 0 else { return 0 }
        let limit = threshold / flux
        var lo = 0, hi = tailMax.count - 1
        if tailMax[hi] >= limit { return maxRadius }
        while lo < hi {
            let mid = (lo + hi) / 2
            if tailMax[mid] < limit { hi = mid } else { lo = mid + 1 }
        }
        return Double(lo) * Self.step
    }

    init(values: [Double], coreRadius: Double, supersampling: Int) {
        self.values = values
        var tail = values
        var running = 0.0
        for i in stride(from: values.count - 1, through: 0, by: -1) {
            running = max(running, values[i]); tail[i] = running
        }
        self.tailMax = tail
        self.coreRadius = coreRadius
        self.supersampling = supersampling
        // FWHM: twice the outermost radius at half the peak.
        let peak = values.max() ?? 0
        var half = 0.0
        if peak > 0 {
            for i in stride(from: values.count - 2, through: 0, by: -1) where values[i] >= peak / 2 {
                let v0 = values[i], v1 = values[i + 1]
                let t = v0 == v1 ? 0 : (v0 - peak / 2) / (v0 - v1)
                half = (Double(i) + t) * Self.step
                break
            }
        }
        self.effectiveFWHM = 2 * half
    }

    /// Moffat: I(r) = (beta - 1) / (pi alpha^2) (1 + r^2/alpha^2)^-beta,
    /// FWHM = 2 alpha sqrt(2^(1/beta) - 1).
    static func moffat(fwhm: Double, beta: Double) -> RadialProfile {
        let alpha = fwhm / (2 * (pow(2, 1 / beta) - 1).squareRoot())
        let norm = (beta - 1) / (Double.pi * alpha * alpha)
        // Out to where the profile is 1e-7 of its peak, at most 160 px.
        let reach = alpha * (pow(1e7, 1 / beta) - 1).squareRoot()
        let rMax = min(160, max(4 * fwhm, reach))
        let n = Int(rMax / step) + 2
        var v = [Double](repeating: 0, count: n)
        for i in 0..<(n - 1) {
            let r = Double(i) * step
            v[i] = norm * pow(1 + r * r / (alpha * alpha), -beta)
        }
        return RadialProfile(values: v, coreRadius: 1.5 * fwhm + 1, supersampling: fwhm < 2 ? 6 : 4)
    }

    /// A defocused star: the pupil (annulus from `obstruction * R` to `R`, R
    /// half the outer diameter) convolved with a Gaussian of the seeing FWHM.
    /// The radial convolution uses the azimuthal integral of a Gaussian,
    /// 2 pi I0(r rho / s^2) exp(-(r^2 + rho^2) / 2 s^2), evaluated with the
    /// exponentially scaled I0 to stay finite.
    static func donut(outerDiameter: Double, obstruction: Double, blurFWHM: Double) -> RadialProfile {
        let outer = outerDiameter / 2
        let inner = outer * obstruction
        let sigma = blurFWHM / 2.354_820_045
        let s2 = sigma * sigma
        let rMax = min(200, outer + 6 * sigma + 2)
        let n = Int(rMax / step) + 2
        let area = Double.pi * (outer * outer - inner * inner)
        let dRho = min(0.05, max(1e-3, (outer - inner) / 64))
        let samples = max(1, Int(((outer - inner) / dRho).rounded(.up)))
        let h = (outer - inner) / Double(samples)
        var v = [Double](repeating: 0, count: n)
        for i in 0..<(n - 1) {
            let r = Double(i) * step
            var sum = 0.0
            for k in 0...samples {
                let rho = inner + Double(k) * h
                let w = (k == 0 || k == samples) ? 0.5 : 1.0
                let d = r - rho
                sum += w * rho * exp(-d * d / (2 * s2)) * besselI0Scaled(r * rho / s2)
            }
            v[i] = sum * h / s2 / area
        }
        return RadialProfile(values: v, coreRadius: outer + 2 * sigma + 1, supersampling: 3)
    }
}

/// exp(-x) I0(x) for x >= 0 (Abramowitz & Stegun 9.8.1 and 9.8.2, relative error below 2e-7).
@inline(__always)
func besselI0Scaled(_ x: Double) -> Double {
    if x <= 3.75 {
        let t = (x / 3.75) * (x / 3.75)
        let i0 = 1 + t * (3.515_622_9 + t * (3.089_942_4 + t * (1.206_749_2 + t * (0.265_973_2 + t * (0.036_076_8 + t * 0.004_581_3)))))
        return i0 * exp(-x)
    }
    let t = 3.75 / x
    let p = 0.398_942_28 + t * (0.013_285_92 + t * (0.002_253_19 + t * (-0.001_575_65 + t * (0.009_162_81
        + t * (-0.020_577_06 + t * (0.026_355_37 + t * (-0.016_476_33 + t * 0.003_923_77)))))))
    return p / x.squareRoot()
}
