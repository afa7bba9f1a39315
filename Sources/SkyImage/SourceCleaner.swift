import Foundation

/// SExtractor's cleaning: each source is modelled as a Moffat-like profile
/// from its moments and filtered flux; a fainter neighbour within 10 x (a1 + a2)
/// whose own peak excess (`minAreaExcess`) lies below that profile at its
/// position is a spurious detection in the wings and is removed.
enum SourceCleaner {
    static let zone = 10.0

    /// A source's profile for cleaning: amplitude, Moffat scale and ellipse coefficients.
    struct Model { var amp, alpha, cxx, cyy, cxy: Double }

    static func clean(_ catalog: inout SourceCatalog, beta: Double) {
        let s = catalog.sources
        let n = s.count
        guard n > 1 else { return }
        var survives = [Bool](repeating: true, count: n)
        func model(_ o: Source) -> Model {
            let unitArea = Double.pi * o.a * o.b
            let amp = o.filteredFlux / (2 * unitArea)
            let alpha = o.threshold > 0 && amp > 0
                ? (pow(amp / o.threshold, 1 / beta) - 1) * unitArea / Double(max(o.area, 1)) : 0
            let det = o.x2 * o.y2 - o.xy * o.xy
            return det > 0 ? Model(amp: amp, alpha: alpha, cxx: o.y2 / det, cyy: o.x2 / det, cxy: -2 * o.xy / det)
                           : Model(amp: amp, alpha: alpha, cxx: 0, cyy: 0, cxy: 0)
        }
        let models = s.map(model)
        // Neighbours are searched in x order so the pass is not quadratic on big frames.
        let order = (0..<n).sorted { s[$0].isoX < s[$1].isoX }
        var maxA = 0.0
        for o in s { maxA = max(maxA, o.a) }
        for (rank, i) in order.enumerated() where survives[i] {
            for j in order[(rank + 1)...] {
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
        catalog.retain(survives)
    }

    private static func eats(_ m: Model, _ dx: Double, _ dy: Double, _ excess: Double, _ beta: Double) -> Bool {
        let r2: Double = m.cxx * dx * dx + m.cyy * dy * dy + m.cxy * dx * dy
        let val: Double = 1 + m.alpha * r2
        guard val > 1 else { return false }
        let profile: Double = val < 1e10 ? m.amp * pow(val, -beta) : 0
        return Float(profile) > Float(excess)
    }
}
