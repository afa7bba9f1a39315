import Foundation
import SkyCore

/// Cloud transparency over a frame, sampled on a coarse grid (clouds are
/// smooth) and interpolated bilinearly. Built from fractal value noise that
/// drifts with time; the density threshold is the frame's own quantile, so the
/// requested coverage is what the frame gets.
struct CloudField {
    static let gridStep = 8
    let columns: Int
    let rows: Int
    /// Transparency at grid nodes, row-major.
    let transparency: [Double]
    /// Cloud density (0 clear, 1 thickest) at grid nodes.
    let density: [Double]

    init(clouds: Clouds, width: Int, height: Int, time: UTCInstant) {
        let step = Self.gridStep
        columns = width / step + 2
        rows = height / step + 2
        // Seconds from a fixed epoch keep the offsets moderate.
        let t = time.unixSeconds - 1_577_836_800
        let ox = clouds.velocity.dx * t, oy = clouds.velocity.dy * t
        var noise = [Double](repeating: 0, count: columns * rows)
        for j in 0..<rows {
            for i in 0..<columns {
                let x = Double(i * step) - ox, y = Double(j * step) - oy
                var v = 0.0, amp = 1.0, norm = 0.0, scale = clouds.scalePixels
                for octave in 0..<4 {
                    v += amp * valueNoise(x / scale, y / scale, seed: clouds.seed &+ UInt64(octave))
                    norm += amp; amp *= 0.5; scale *= 0.5
                }
                noise[j * columns + i] = v / norm
            }
        }
        let sorted = noise.sorted()
        let cover = clouds.coverage
        let threshold: Double
        if cover <= 0 { threshold = (sorted.last ?? 1) + 1 } else if cover >= 1 { threshold = (sorted.first ?? 0) - 1 } else {
            threshold = sorted[min(sorted.count - 1, Int(Double(sorted.count) * (1 - cover)))]
        }
        let soft = 0.06
        density = noise.map { smoothstep(threshold - soft, threshold + soft, $0) }
        transparency = density.map { 1 - clouds.opacity * $0 }
    }

    @inline(__always)
    func interpolate(_ grid: [Double], x: Double, y: Double) -> Double {
        let gx = min(Double(columns - 1) - 1e-9, max(0, x / Double(Self.gridStep)))
        let gy = min(Double(rows - 1) - 1e-9, max(0, y / Double(Self.gridStep)))
        let i = Int(gx), j = Int(gy)
        let fx = gx - Double(i), fy = gy - Double(j)
        let a = grid[j * columns + i], b = grid[j * columns + i + 1]
        let c = grid[(j + 1) * columns + i], d = grid[(j + 1) * columns + i + 1]
        return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy
    }

    func transparency(x: Double, y: Double) -> Double { interpolate(transparency, x: x, y: y) }
    func density(x: Double, y: Double) -> Double { interpolate(density, x: x, y: y) }

    /// Summary over the frame: mean, minimum, cloudy fraction, and a cells x cells grid of means.
    func summary(width: Int, height: Int, cells: Int = 8) -> CloudTruth {
        var grid = [Double](repeating: 0, count: cells * cells)
        var counts = [Int](repeating: 0, count: cells * cells)
        var sum = 0.0, minT = Double.infinity, cloudy = 0, n = 0
        let step = Self.gridStep
        for j in 0..<rows where j * step < height {
            for i in 0..<columns where i * step < width {
                let t = transparency[j * columns + i]
                sum += t; n += 1; minT = min(minT, t)
                if t < 0.9 { cloudy += 1 }
                let cx = min(cells - 1, i * step * cells / width), cy = min(cells - 1, j * step * cells / height)
                grid[cy * cells + cx] += t; counts[cy * cells + cx] += 1
            }
        }
        for k in 0..<grid.count where counts[k] > 0 { grid[k] /= Double(counts[k]) }
        return CloudTruth(meanTransparency: n > 0 ? sum / Double(n) : 1, minTransparency: n > 0 ? minT : 1,
                          cloudyFraction: n > 0 ? Double(cloudy) / Double(n) : 0,
                          grid: grid, gridColumns: cells, gridRows: cells)
    }
}

/// Smooth value noise in [0, 1): random values on the integer lattice, blended with a smoothstep.
func valueNoise(_ x0: Double, _ y0: Double, seed: UInt64) -> Double {
    // Wrap far coordinates (decades of cloud drift) so the lattice index always fits an Int64.
    let x = x0.truncatingRemainder(dividingBy: 0x1p40), y = y0.truncatingRemainder(dividingBy: 0x1p40)
    let fx = x.rounded(.down), fy = y.rounded(.down)
    let ix = Int64(fx), iy = Int64(fy)
    let tx = x - fx, ty = y - fy
    let sx = tx * tx * (3 - 2 * tx), sy = ty * ty * (3 - 2 * ty)
    let a = latticeValue(ix, iy, seed), b = latticeValue(ix + 1, iy, seed)
    let c = latticeValue(ix, iy + 1, seed), d = latticeValue(ix + 1, iy + 1, seed)
    return (a + (b - a) * sx) * (1 - sy) + (c + (d - c) * sx) * sy
}

@inline(__always)
func latticeValue(_ ix: Int64, _ iy: Int64, _ seed: UInt64) -> Double {
    var s = SplitMix64(seed: seed ^ (UInt64(bitPattern: ix) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(bitPattern: iy) &* 0xC2B2_AE3D_27D4_EB4F))
    return Double(s.next() >> 11) * 0x1p-53
}
