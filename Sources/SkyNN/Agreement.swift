import Foundation

/// How closely the int8 model follows the float model on held-out data.
public struct Agreement: Sendable, Codable, CustomStringConvertible {
    public var items: Int
    /// Classifiers: fraction of items whose int8 top-1 class equals the float top-1 class
    /// (for a single sigmoid output: the same side of 0.5).
    public var top1: Double?
    /// Autoencoders: Spearman rank correlation of per-item reconstruction errors.
    public var errorRankCorrelation: Double?
    /// Largest absolute output difference.
    public var maxAbsDifference: Double

    public var description: String {
        var parts = ["\(items) held-out items"]
        if let top1 { parts.append(String(format: "top-1 agreement %.2f%%", top1 * 100)) }
        if let errorRankCorrelation { parts.append(String(format: "reconstruction-error rank correlation %.4f", errorRankCorrelation)) }
        parts.append(String(format: "max |float - int8| %.4g", maxAbsDifference))
        return parts.joined(separator: ", ")
    }

    public static func measure(float: Model, int8 executor: Executor, data: Dataset) throws -> Agreement {
        let n = data.count
        guard n > 0 else { throw ModelError.badInput("no held-out items") }
        let isAutoencoder = float.outputShape == float.inputShape
        var agree = 0, maxDiff = 0.0
        var ef: [Double] = [], eq: [Double] = []
        let net = try FloatNetwork(float)
        for (i, x) in data.items.enumerated() {
            let f = net.forward(x)
            let q = executor.run(x, batch: 1)
            for j in 0..<f.count { maxDiff = max(maxDiff, Double(abs(f[j] - q[j]))) }
            if isAutoencoder {
                let t = data.targetSize == 0 ? data.targets[i] : x
                ef.append(zip(f, t).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) })
                eq.append(zip(q, t).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) })
            } else if f.count == 1 {
                if (f[0] >= 0.5) == (q[0] >= 0.5) { agree += 1 }
            } else if argmax(f) == argmax(q) {
                agree += 1
            }
        }
        return Agreement(items: n, top1: isAutoencoder ? nil : Double(agree) / Double(n),
                         errorRankCorrelation: isAutoencoder ? spearman(ef, eq) : nil, maxAbsDifference: maxDiff)
    }
}

public func argmax(_ x: [Float]) -> Int { x.indices.max { x[$0] < x[$1] } ?? 0 }

/// Spearman's rho: Pearson correlation of ranks (ties get their mean rank).
public func spearman(_ a: [Double], _ b: [Double]) -> Double {
    func ranks(_ v: [Double]) -> [Double] {
        let order = v.indices.sorted { v[$0] < v[$1] }
        var r = [Double](repeating: 0, count: v.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && v[order[j + 1]] == v[order[i]] { j += 1 }
            for k in i...j { r[order[k]] = Double(i + j) / 2 }
            i = j + 1
        }
        return r
    }
    let ra = ranks(a), rb = ranks(b), n = Double(a.count)
    let ma = ra.reduce(0, +) / n, mb = rb.reduce(0, +) / n
    var num = 0.0, da = 0.0, db = 0.0
    for i in 0..<a.count { num += (ra[i] - ma) * (rb[i] - mb); da += (ra[i] - ma) * (ra[i] - ma); db += (rb[i] - mb) * (rb[i] - mb) }
    return da > 0 && db > 0 ? num / (da * db).squareRoot() : 1
}
