import Foundation
import SkyCore

/// Satellite and aircraft trails: straight lines with a Gaussian cross-section.
enum TrailRenderer {
    /// Draws `count` trails of `kind` with random paths across the frame.
    static func makeTrails(kind: TrailTruth.Kind, count: Int, width: Int, height: Int,
                           fwhm: Double, rng: inout SeededRandom) -> [TrailTruth] {
        var trails: [TrailTruth] = []
        for _ in 0..<count {
            guard var path = randomCrossing(width: width, height: height, rng: &rng) else { continue }
            switch kind {
            case .satellite:
                // A quarter of satellites enter the Earth's shadow inside the frame.
                if rng.uniform() < 0.25 {
                    let f = rng.uniform(0.3, 0.9)
                    path.end = PixelPoint(x: path.start.x + (path.end.x - path.start.x) * f,
                                          y: path.start.y + (path.end.y - path.start.y) * f)
                }
                trails.append(TrailTruth(kind: .satellite, path: path, segments: [path], widthPixels: fwhm,
                                         electronsPerPixelLength: 150 * pow(30, rng.uniform())))
            case .aircraft:
                let separation = rng.uniform(3, 8)
                let dash = rng.uniform(8, 25), gap = rng.uniform(15, 50)
                let phase = rng.uniform(0, dash + gap)
                let len = path.length
                let ux = (path.end.x - path.start.x) / len, uy = (path.end.y - path.start.y) / len
                var pieces: [LineSegment] = []
                for side in [-0.5, 0.5] {
                    let nx = -uy * separation * side, ny = ux * separation * side
                    var s = -phase
                    while s < len {
                        let a = max(0, s), b = min(len, s + dash)
                        if b > a {
                            pieces.append(LineSegment(start: PixelPoint(x: path.start.x + ux * a + nx, y: path.start.y + uy * a + ny),
                                                      end: PixelPoint(x: path.start.x + ux * b + nx, y: path.start.y + uy * b + ny)))
                        }
                        s += dash + gap
                    }
                }
                trails.append(TrailTruth(kind: .aircraft, path: path, segments: pieces, widthPixels: max(fwhm, 2.5),
                                         electronsPerPixelLength: 1500 * pow(10, rng.uniform())))
            }
        }
        return trails
    }

    /// A line through a random point of the frame at a random angle, clipped to the frame.
    static func randomCrossing(width: Int, height: Int, rng: inout SeededRandom) -> LineSegment? {
        let px = rng.uniform(0, Double(width - 1)), py = rng.uniform(0, Double(height - 1))
        let angle = rng.uniform(0, Double.pi)
        let ux = cos(angle), uy = sin(angle)
        // Clip the infinite line p + t u to [-0.5, size - 0.5] on both axes.
        var tMin = -Double.infinity, tMax = Double.infinity
        for (p, u, size) in [(px, ux, Double(width)), (py, uy, Double(height))] {
            if abs(u) < 1e-12 { continue }
            let t0 = (-0.5 - p) / u, t1 = (size - 0.5 - p) / u
            tMin = max(tMin, min(t0, t1)); tMax = min(tMax, max(t0, t1))
        }
        guard tMin.isFinite, tMax.isFinite, tMax > tMin else { return nil }
        return LineSegment(start: PixelPoint(x: px + tMin * ux, y: py + tMin * uy),
                           end: PixelPoint(x: px + tMax * ux, y: py + tMax * uy))
    }

    /// Adds one lit segment: electrons per pixel of length spread across the
    /// line with a Gaussian of the given FWHM. Walks along the major axis so
    /// the cost is proportional to the segment's length, not its bounding box.
    static func draw(_ seg: LineSegment, electronsPerPixelLength: Double, fwhm: Double,
                     into image: UnsafeMutablePointer<Float>, width: Int, height: Int) {
        let sigma = max(0.3, fwhm / 2.354_820_045)
        let reach = 4 * sigma + 1
        let norm = electronsPerPixelLength / ((2 * Double.pi).squareRoot() * sigma)
        let dx = seg.end.x - seg.start.x, dy = seg.end.y - seg.start.y
        let alongX = abs(dx) >= abs(dy)
        let (a0, a1) = alongX ? (min(seg.start.x, seg.end.x), max(seg.start.x, seg.end.x))
                              : (min(seg.start.y, seg.end.y), max(seg.start.y, seg.end.y))
        let major = alongX ? width : height, minor = alongX ? height : width
        let slope = alongX ? (dx == 0 ? 0 : dy / dx) : (dy == 0 ? 0 : dx / dy)
        let halfSpan = reach * (1 + slope * slope).squareRoot()
        let lo = max(0, Int((a0 - reach).rounded(.down))), hi = min(major - 1, Int((a1 + reach).rounded(.up)))
        guard lo <= hi else { return }
        for m in lo...hi {
            let t = min(a1, max(a0, Double(m)))
            let c = alongX ? seg.start.y + (t - seg.start.x) * slope : seg.start.x + (t - seg.start.y) * slope
            let n0 = max(0, Int((c - halfSpan).rounded(.down))), n1 = min(minor - 1, Int((c + halfSpan).rounded(.up)))
            guard n0 <= n1 else { continue }
            for n in n0...n1 {
                let (x, y) = alongX ? (m, n) : (n, m)
                let d = seg.distance(to: PixelPoint(x: Double(x), y: Double(y)))
                if d > reach { continue }
                image[y * width + x] += Float(norm * exp(-d * d / (2 * sigma * sigma)))
            }
        }
    }
}

/// Charged particles hitting the sensor: sharp, not blurred by the optics.
enum CosmicRays {
    static func make(rate: Double, exposure: Double, width: Int, height: Int, rng: inout SeededRandom) -> [CosmicRayTruth] {
        let expected = rate * exposure * Double(width * height) / 1e6
        let count = Int(rng.poisson(expected))
        var hits: [CosmicRayTruth] = []
        hits.reserveCapacity(count)
        for _ in 0..<count {
            let x = rng.index(width), y = rng.index(height)
            let u = rng.uniform()
            var pixels: [HitPixel] = []
            let kind: CosmicRayTruth.Kind
            if u < 0.5 {
                kind = .single
                pixels.append(HitPixel(x: x, y: y, electrons: 400 * pow(50, rng.uniform())))
            } else if u < 0.75 {
                kind = .cluster
                let core = 800 * pow(25, rng.uniform())
                pixels.append(HitPixel(x: x, y: y, electrons: core))
                let neighbours = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)]
                let n = 1 + rng.index(3)
                var used = Set<Int>()
                while used.count < n {
                    let k = rng.index(neighbours.count)
                    guard used.insert(k).inserted else { continue }
                    let nx = x + neighbours[k].0, ny = y + neighbours[k].1
                    guard nx >= 0, ny >= 0, nx < width, ny < height else { continue }
                    pixels.append(HitPixel(x: nx, y: ny, electrons: core * rng.uniform(0.1, 0.5)))
                }
            } else {
                kind = .streak
                let length = rng.uniform(3, 20), angle = rng.uniform(0, 2 * Double.pi)
                let perPixel = 300 * pow(10, rng.uniform())
                var charge: [Int: Double] = [:]
                let steps = Int(length * 2)
                for s in 0...steps {
                    let t = Double(s) / 2
                    let px = Int((Double(x) + t * cos(angle)).rounded()), py = Int((Double(y) + t * sin(angle)).rounded())
                    guard px >= 0, py >= 0, px < width, py < height else { continue }
                    charge[py * width + px, default: 0] += perPixel / 2 * rng.uniform(0.5, 1.5)
                }
                pixels = charge.keys.sorted().map { HitPixel(x: $0 % width, y: $0 / width, electrons: charge[$0] ?? 0) }
            }
            guard let top = pixels.max(by: { $0.electrons < $1.electrons }) else { continue }
            hits.append(CosmicRayTruth(kind: kind, x: top.x, y: top.y, pixels: pixels,
                                       totalElectrons: pixels.reduce(0) { $0 + $1.electrons }))
        }
        return hits
    }
}
