/// Conversion step that removes batch norm from a trained float graph: a batch-norm
/// node in inference mode is a per-channel affine map y = s (z - mean) + beta with
/// s = gamma / sqrt(var + eps), so when z is a linear conv2d or dense output it folds
/// into that node: W'[o] = s[o] W[o], b'[o] = s[o] (b[o] - mean[o]) + beta[o], and the
/// batch norm's activation becomes the producer's fused activation.
public enum BatchNormFolding {
    /// One fold: the producer node (index in the folded model) and the batch norm it absorbed.
    public struct Fold: Sendable, Equatable {
        public var producer: String
        public var batchNorm: String
    }

    /// The model without batch-norm nodes; throws when one cannot be folded.
    public static func fold(_ model: Model) throws -> Model { try foldReporting(model).model }

    public static func foldReporting(_ model: Model) throws -> (model: Model, folds: [Fold]) {
        guard model.hasBatchNorm else { return (model, []) }
        try model.validate()
        guard model.hasFloatWeights else { throw ModelError.noFloatWeights(model.name) }
        var consumers = [Int](repeating: 0, count: model.nodes.count)
        for n in model.nodes { for i in n.inputs { consumers[i] += 1 } }
        var nodes: [Node] = [], newIndex = [Int](repeating: -1, count: model.nodes.count), folds: [Fold] = []
        for (i, node) in model.nodes.enumerated() {
            guard case .batchNorm(let bn) = node.op else {
                var n = node
                n.inputs = node.inputs.map { newIndex[$0] }
                nodes.append(n)
                newIndex[i] = nodes.count - 1
                continue
            }
            let p = node.inputs[0], target = newIndex[p]
            func refuse(_ why: String) -> ModelError {
                .invalid(node: i, name: node.name, reason: "batch norm cannot be folded: \(why)")
            }
            guard consumers[p] == 1 else { throw refuse("its input \(model.nodes[p].name) is also read by other nodes") }
            let w = node.weights!
            let scale = (0..<w.float!.count).map { ch in Double(w.float![ch]) / (Double(w.runningVar![ch]) + Double(bn.epsilon)).squareRoot() }
            let shift = (0..<scale.count).map { ch in Double(w.floatBias![ch]) - scale[ch] * Double(w.runningMean![ch]) }
            var producer = nodes[target]
            switch producer.op {
            case .conv2d(var c):
                guard c.activation == .none else { throw refuse("\(producer.name) has a fused activation before it") }
                c.activation = bn.activation
                producer.op = .conv2d(c)
            case .dense(let n, let act):
                guard act == .none else { throw refuse("\(producer.name) has a fused activation before it") }
                producer.op = .dense(outFeatures: n, activation: bn.activation)
            default:
                throw refuse("its input \(producer.name) is a \(producer.op.kindName), not a conv2d or dense")
            }
            let fw = producer.weights!.float!.array, fb = producer.weights!.floatBias!.array
            let per = fw.count / fb.count
            var w2 = [Float](repeating: 0, count: fw.count), b2 = [Float](repeating: 0, count: fb.count)
            for o in 0..<fb.count {
                for j in 0..<per { w2[o * per + j] = Float(Double(fw[o * per + j]) * scale[o]) }
                b2[o] = Float(Double(fb[o]) * scale[o] + shift[o])
            }
            // Any quantization of the producer described the unfolded output: drop it.
            producer.weights = LayerWeights(float: ParamArray(w2), floatBias: ParamArray(b2))
            producer.quant = nil
            folds.append(Fold(producer: producer.name, batchNorm: node.name))
            producer.name += "+" + node.name
            nodes[target] = producer
            newIndex[i] = target
        }
        let folded = Model(name: model.name, inputShape: model.inputShape, nodes: nodes)
        try folded.validate()
        return (folded, folds)
    }
}
