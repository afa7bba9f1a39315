import Foundation

/// SExtractor's cleaning: each source is modelled as a Moffat-like profile
/// from its moments and filtered flux; a fainter neighbour within 10 x (a1 + a2)
/// whose own peak excess (`minAreaExcess`) lies below that profile at its
/// position is a spurious detection in the wings and is removed.
enum SourceCleaner {
    static let zone = 10.0

    /// A source's profile for cleaning: amplitude, Moffat scale and ellipse coefficients.
    struct Model { var amp, alpha, cxx, cyy, cxy: Double }

    /// Cleans with scratch of the catalogue's capacity (allocates nothing).
    static func clean(_ catalog: inout SourceCatalog, beta: Double, models: UnsafeMutableBufferPointer<Model>,
                      order: UnsafeMutableBufferPointer<Int32>, keep survives: UnsafeMutableBufferPointer<Bool>) {
        let n = catalog.count
        guard n > 1 else { return }
        precondition(models.count >= n && order.count >= n && survives.count >= n)
        catalog.sources.withUnsafeBufferPointer { s in
            var maxA = 0.0
            for i in 0..<n {
                models[i] = model(s[i], beta: beta)
                order[i] = Int32(i)
                survives[i] = true
                maxA = max(maxA, s[i].a)
            }
            // Neighbours are searched in x order so the pass is not quadratic on big frames.
            heapSort(UnsafeMutableBufferPointer(rebasing: order[0..<n])) { a, b in
                let xa = s[Int(a)].isoX, xb = s[Int(b)].isoX
                return xa < xb || (xa == xb && a < b)
            }
            for rank in 0..<n {
                let i = Int(order[rank])
                guard survives[i] else { continue }
                for next in (rank + 1)..<max(rank + 1, n) {
                    let j = Int(order[next])
                    let dxAbs = s[j].isoX - s[i].isoX
                    if dxAbs > zone * (s[i].a + maxA) { break }
                    guard survives[i] else { break }
                    guard survives[j] else { continue }
                    let dx = s[i].isoX - s[j].isoX, dy = s[i].isoY - s[j].isoY
                    let rlim = s[i].a + s[j].a
                    if dx * dx + dy * dy > rlim * rlim * zone * zone { continue }
                    if s[j].filteredFlux < s[i].filteredFlux {
                        if eats(models[i], dx, dy, s[j].minAreaExcess, beta) { survives[j] = false }
                    } else {
                        if eats(models[j], dx, dy, s[i].minAreaExcess, beta) { survives[i] = false }
                    }
                }
            }
        }
        catalog.retain(UnsafeBufferPointer(rebasing: survives[0..<n]))
    }

    /// A source's cleaning profile from its moments, filtered flux and threshold.
    static func model(_ o: Source, beta: Double) -> Model {
        let unitArea = Double.pi * o.a * o.b
        let amp = o.filteredFlux / (2 * unitArea)
        let alpha = o.threshold > 0 && amp > 0
            ? (pow(amp / o.threshold, 1 / beta) - 1) * unitArea / Double(max(o.area, 1)) : 0
        let det = o.x2 * o.y2 - o.xy * o.xy
        return det > 0 ? Model(amp: amp, alpha: alpha, cxx: o.y2 / det, cyy: o.x2 / det, cxy: -2 * o.xy / det)
                       : Model(amp: amp, alpha: alpha, cxx: 0, cyy: 0, cxy: 0)
    }

    private static func eats(_ m: Model, _ dx: Double, _ dy: Double, _ excess: Double, _ beta: Double) -> Bool {
        let r2: Double = m.cxx * dx * dx + m.cyy * dy * dy + m.cxy * dx * dy
        let val: Double = 1 + m.alpha * r2
        guard val > 1 else { return false }
        let profile: Double = val < 1e10 ? m.amp * pow(val, -beta) : 0
        return Float(profile) > Float(excess)
    }
}
