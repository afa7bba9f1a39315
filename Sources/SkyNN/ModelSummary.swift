import Foundation
/// The text `skymodel inspect` prints: one line per node, then totals and the arena.
public enum ModelSummary {
    public static func text(_ model: Model, batch: Int = 64, threads: Int = 1) throws -> String {
        let s = try model.shapes()
        var lines: [String] = []
        lines.append("model \(model.name): input \(model.inputShape), \(model.nodes.count) nodes, "
                     + (model.isQuantized ? "int8 quantized" : "float only") + (model.hasFloatWeights ? ", float weights kept" : ""))
        func pad(_ t: String, _ n: Int) -> String { t.count >= n ? t : t + String(repeating: " ", count: n - t.count) }
        func lpad(_ t: String, _ n: Int) -> String { t.count >= n ? t : String(repeating: " ", count: n - t.count) + t }
        // Folded nodes carry both names (conv2d1+batchnorm2).
        let nameWidth = max(16, (model.nodes.map(\.name.count).max() ?? 0) + 2)
        lines.append(pad("#", 4) + pad("name", nameWidth) + pad("op", 22) + pad("inputs", 10) + pad("output", 12) + lpad("params", 10) + lpad("MACs", 12) + "  quant")
        var params = 0, macs = 0
        for (i, n) in model.nodes.enumerated() {
            let p = model.parameterCount(i, s), m = model.macs(i, s)
            params += p; macs += m
            var op = n.op.kindName
            switch n.op {
            case .conv2d(let c): op += " \(c.kernelH)x\(c.kernelW)/\(c.strideH) \(activationName(c.activation))"
            case .dense(_, let a), .add(let a): op += " \(activationName(a))"
            case .maxPool(let p), .avgPool(let p): op += " \(p.size)/\(p.stride)"
            case .upsampleNearest(let f): op += " x\(f)"
            case .batchNorm(let bn): op += " \(activationName(bn.activation))"
            default: break
            }
            var q = n.quant.map { "s=\(String(format: "%.4g", $0.scale)) zp=\($0.zeroPoint)" } ?? "-"
            if n.requantization == .float { q += " requant=float" }
            lines.append(pad("\(i)", 4) + pad(n.name, nameWidth) + pad(op, 22) + pad(n.inputs.map(String.init).joined(separator: ","), 10)
                         + pad("\(s[i])", 12) + lpad("\(p)", 10) + lpad("\(m)", 12) + "  " + q)
        }
        // The arena is that of the graph that runs: batch norm folded.
        let (runs, folds) = try BatchNormFolding.foldReporting(model)
        let one = try ExecutionPlan(model: runs, maxBatch: 1, threads: threads)
        let many = try ExecutionPlan(model: runs, maxBatch: batch, threads: threads)
        lines.append("parameters: \(params), MACs per inference: \(macs)")
        if !folds.isEmpty {
            let rs = try runs.shapes()
            lines.append("batch norm folded at conversion: " + folds.map { "\($0.batchNorm) into \($0.producer)" }.joined(separator: ", ")
                         + " (\(runs.nodes.count) nodes, \(runs.nodes.indices.reduce(0) { $0 + runs.parameterCount($1, rs) }) parameters after folding)")
        }
        lines.append("arena: \(one.arenaBytes) bytes at batch 1, \(many.arenaBytes) bytes at batch \(batch) (\(threads) thread\(threads == 1 ? "" : "s"))")
        return lines.joined(separator: "\n")
    }

    static func activationName(_ a: Activation) -> String {
        switch a {
        case .none: return "linear"
        case .relu: return "relu"
        case .relu6: return "relu6"
        case .leaky(let al): return "leaky(\(al))"
        }
    }
}
