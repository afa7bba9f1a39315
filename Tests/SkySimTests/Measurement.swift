import Foundation
import SkyImage
@testable import SkySim

// Small measuring tools for the tests only: the simulator must not contain a
// detector, so recovery is checked with independent, textbook code here.

/// Median of values (copies).
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func meanAndStd(_ values: [Double]) -> (mean: Double, std: Double) {
    let n = Double(values.count)
    let m = values.reduce(0, +) / n
    let v = values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)
    return (m, v.squareRoot())
}

func pixel(_ img: OwnedImage<UInt16>, _ x: Int, _ y: Int) -> Double { Double(img[x, y]) }

/// Local background: median of an annulus.
func annulusBackground(_ img: OwnedImage<UInt16>, x: Double, y: Double, inner: Double, outer: Double) -> Double {
    var vals: [Double] = []
    let r0 = Int(x - outer - 1), r1 = Int(x + outer + 1), s0 = Int(y - outer - 1), s1 = Int(y + outer + 1)
    for j in max(0, s0)...min(img.height - 1, s1) {
        for i in max(0, r0)...min(img.width - 1, r1) {
            let d = ((Double(i) - x) * (Double(i) - x) + (Double(j) - y) * (Double(j) - y)).squareRoot()
            if d >= inner && d <= outer { vals.append(pixel(img, i, j)) }
        }
    }
    return median(vals)
}

/// Intensity-weighted centroid in a circular aperture, iterated from a guess.
func centroid(_ img: OwnedImage<UInt16>, guessX: Double, guessY: Double, radius: Double, background: Double) -> (x: Double, y: Double) {
    var cx = guessX, cy = guessY
    for _ in 0..<10 {
        var sw = 0.0, sx = 0.0, sy = 0.0
        for j in max(0, Int(cy - radius - 1))...min(img.height - 1, Int(cy + radius + 1)) {
            for i in max(0, Int(cx - radius - 1))...min(img.width - 1, Int(cx + radius + 1)) {
                let dx = Double(i) - cx, dy = Double(j) - cy
                guard dx * dx + dy * dy <= radius * radius else { continue }
                let v = pixel(img, i, j) - background
                guard v > 0 else { continue }
                sw += v; sx += v * Double(i); sy += v * Double(j)
            }
        }
        guard sw > 0 else { break }
        cx = sx / sw; cy = sy / sw
    }
    return (cx, cy)
}

/// Sum of background-subtracted pixels within a circular aperture (whole pixels).
func apertureSum(_ img: OwnedImage<UInt16>, x: Double, y: Double, radius: Double, background: Double) -> Double {
    var s = 0.0
    for j in max(0, Int(y - radius - 1))...min(img.height - 1, Int(y + radius + 1)) {
        for i in max(0, Int(x - radius - 1))...min(img.width - 1, Int(x + radius + 1)) {
            let dx = Double(i) - x, dy = Double(j) - y
            if dx * dx + dy * dy <= radius * radius { s += pixel(img, i, j) - background }
        }
    }
    return s
}

/// Second moments of the background-subtracted light in a box: (Ixx, Iyy, Ixy) about the centroid.
func secondMoments(_ img: OwnedImage<UInt16>, x: Double, y: Double, halfSize: Int, background: Double)
    -> (xx: Double, yy: Double, xy: Double, cx: Double, cy: Double) {
    var sw = 0.0, sx = 0.0, sy = 0.0
    var pts: [(Double, Double, Double)] = []
    for j in max(0, Int(y) - halfSize)...min(img.height - 1, Int(y) + halfSize) {
        for i in max(0, Int(x) - halfSize)...min(img.width - 1, Int(x) + halfSize) {
            let v = pixel(img, i, j) - background
            guard v > 0 else { continue }
            pts.append((Double(i), Double(j), v)); sw += v; sx += v * Double(i); sy += v * Double(j)
        }
    }
    let cx = sx / sw, cy = sy / sw
    var xx = 0.0, yy = 0.0, xy = 0.0
    for (i, j, v) in pts { xx += v * (i - cx) * (i - cx); yy += v * (j - cy) * (j - cy); xy += v * (i - cx) * (j - cy) }
    return (xx / sw, yy / sw, xy / sw, cx, cy)
}

/// FWHM along a row through an integer-centred star: where the cut crosses half
/// its peak (above background), interpolated linearly on both sides.
func fwhmAlongRow(_ img: OwnedImage<UInt16>, x: Int, y: Int, background: Double) -> Double {
    let peak = pixel(img, x, y) - background
    func crossing(_ dir: Int) -> Double {
        var i = x
        while i + dir >= 0 && i + dir < img.width && pixel(img, i + dir, y) - background >= peak / 2 { i += dir }
        let a = pixel(img, i, y) - background, b = pixel(img, i + dir, y) - background
        let t = (a - peak / 2) / (a - b)
        return Double(i - x) + Double(dir) * t
    }
    return crossing(1) - crossing(-1)
}

/// A camera without defects on a small frame, for measurements.
func cleanCamera(size: Int = 256, gain: Double = 1.2, readNoise: Double = 3.5) -> CameraModel {
    CameraModel(width: size, height: size, gain: gain, readNoise: readNoise).withoutDefects()
}

/// A frame with nothing but what a test turns on.
func quietConditions(seed: UInt64 = 1) -> FrameConditions {
    FrameConditions(seed: seed, cosmicRayRate: 0)
}
