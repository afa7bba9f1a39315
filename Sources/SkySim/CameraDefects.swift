import Foundation
import SkyCore

/// The defects a camera keeps from frame to frame, drawn once from its seed.
struct CameraDefects: Sendable {
    var hotPixels: [HotPixel]
    var badColumns: [BadColumn]
    var dust: [DustDonut]

    init(camera: CameraModel) {
        let w = camera.width, h = camera.height
        var rng = SeededRandom(seed: camera.seed, stream: SeedMixer.label("hot-pixels"))
        let hotCount = Int((camera.hotPixelFraction * Double(w * h)).rounded())
        var seen = Set<Int>()
        var hot: [HotPixel] = []
        hot.reserveCapacity(hotCount)
        let lo = max(1e-3, camera.hotPixelRate.lowerBound), hi = max(lo, camera.hotPixelRate.upperBound)
        var attempts = 0
        while hot.count < hotCount && attempts < 20 * hotCount {
            attempts += 1
            let x = rng.index(w), y = rng.index(h)
            guard seen.insert(y * w + x).inserted else { continue }
            // Log-uniform: many warm pixels, few very hot ones.
            let rate = lo * pow(hi / lo, rng.uniform())
            hot.append(HotPixel(x: x, y: y, darkRate: rate))
        }
        hotPixels = hot.sorted { ($0.y, $0.x) < ($1.y, $1.x) }

        rng = SeededRandom(seed: camera.seed, stream: SeedMixer.label("bad-columns"))
        var columns: [BadColumn] = []
        var usedX = Set<Int>()
        attempts = 0
        while columns.count < camera.badColumnCount && attempts < 20 * camera.badColumnCount {
            attempts += 1
            let x = rng.index(w)
            guard usedX.insert(x).inserted else { continue }
            let kind: BadColumn.Kind = rng.uniform() < 0.5 ? .dead : .hot
            // A third start at a charge trap part-way up the column.
            let firstRow = rng.uniform() < 1.0 / 3 ? rng.index(h) : 0
            let offset = kind == .hot ? rng.uniform(80, 600).rounded() : 0
            columns.append(BadColumn(x: x, rows: firstRow...(h - 1), kind: kind, offsetADU: offset))
        }
        badColumns = columns.sorted { $0.x < $1.x }

        rng = SeededRandom(seed: camera.seed, stream: SeedMixer.label("dust"))
        let size = Double(min(w, h))
        dust = (0..<camera.dustDonutCount).map { _ in
            let outer = rng.uniform(size / 60, size / 18)
            return DustDonut(center: PixelPoint(x: rng.uniform(0, Double(w - 1)), y: rng.uniform(0, Double(h - 1))),
                             outerRadius: outer, innerRadius: outer * rng.uniform(0.35, 0.55),
                             depth: rng.uniform(0.03, 0.12))
        }
    }
}

/// The flat-field response: vignetting times dust shadows (smooth part) times
/// pixel response non-uniformity (per pixel). 1 at the optical centre.
struct FlatFieldModel: Sendable {
    let width: Int
    let height: Int
    let vignetting: Double
    let dust: [DustDonut]
    let prnu: Double
    let seed: UInt64

    init(camera: CameraModel, dust: [DustDonut]) {
        width = camera.width; height = camera.height; vignetting = camera.vignetting
        self.dust = dust; prnu = camera.pixelResponseNonUniformity; seed = camera.seed
    }

    /// Smooth response at a position (no per-pixel part).
    func smoothResponse(x: Double, y: Double) -> Double {
        vignettingFactor(x: x, y: y) * dustFactor(x: x, y: y)
    }

    @inline(__always)
    func vignettingFactor(x: Double, y: Double) -> Double {
        guard vignetting > 0 else { return 1 }
        let cx = Double(width - 1) / 2, cy = Double(height - 1) / 2
        let r2 = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (cx * cx + cy * cy)
        // A cos^4-like fall-off reaching 1 - vignetting in the corners.
        let k = 1 / (1 - vignetting).squareRoot() - 1
        let f = 1 / (1 + k * r2)
        return f * f
    }

    func dustFactor(x: Double, y: Double) -> Double {
        var f = 1.0
        for d in dust {
            let dx = x - d.center.x, dy = y - d.center.y
            let r = (dx * dx + dy * dy).squareRoot()
            f *= 1 - d.depth * DustDonut.shadow(r: r, inner: d.innerRadius, outer: d.outerRadius)
        }
        return f
    }

    /// Fills `map` (width x height) with the full response, PRNU included.
    func fill(_ map: UnsafeMutablePointer<Float>) {
        let w = width, h = height
        for y in 0..<h {
            let row = map + y * w
            let fy = Double(y)
            for x in 0..<w { row[x] = Float(vignettingFactor(x: Double(x), y: fy)) }
        }
        // Dust only touches its own box.
        for d in dust {
            let x0 = max(0, Int(d.center.x - d.outerRadius - 2)), x1 = min(w - 1, Int(d.center.x + d.outerRadius + 2))
            let y0 = max(0, Int(d.center.y - d.outerRadius - 2)), y1 = min(h - 1, Int(d.center.y + d.outerRadius + 2))
            guard x0 <= x1, y0 <= y1 else { continue }
            for y in y0...y1 {
                for x in x0...x1 {
                    let dx = Double(x) - d.center.x, dy = Double(y) - d.center.y
                    let s = DustDonut.shadow(r: (dx * dx + dy * dy).squareRoot(), inner: d.innerRadius, outer: d.outerRadius)
                    map[y * w + x] *= Float(1 - d.depth * s)
                }
            }
        }
        if prnu > 0 {
            var rng = SeededRandom(seed: seed, stream: SeedMixer.label("prnu"))
            for i in 0..<(w * h) { map[i] *= Float(1 + prnu * rng.gaussian()) }
        }
    }
}

extension DustDonut {
    /// Shadow strength at radius r: a ring with soft edges whose centre lets
    /// through a little more light (the defocused image of a dust grain seen
    /// through an obstructed pupil).
    static func shadow(r: Double, inner: Double, outer: Double) -> Double {
        let edge = max(1.0, outer * 0.08)
        let outerRamp = smoothstep(outer + edge, outer - edge, r)
        let innerRamp = smoothstep(inner - edge, inner + edge, r)
        return outerRamp * (0.35 + 0.65 * innerRamp)
    }
}

@inline(__always)
func smoothstep(_ e0: Double, _ e1: Double, _ x: Double) -> Double {
    let t = min(1, max(0, (x - e0) / (e1 - e0)))
    return t * t * (3 - 2 * t)
}
