/// Shape inference and structural validation of a graph.
extension Model {
    /// Output shape of every node; throws on the first inconsistency.
    public func shapes() throws -> [TensorShape] {
        var out: [TensorShape] = []
        out.reserveCapacity(nodes.count)
        for (i, node) in nodes.enumerated() {
            func fail(_ r: String) -> ModelError { .invalid(node: i, name: node.name, reason: r) }
            if i == 0 {
                guard node.op == .input, node.inputs.isEmpty else { throw fail("node 0 must be the input") }
                guard inputShape.h > 0, inputShape.w > 0, inputShape.c > 0 else { throw fail("input shape \(inputShape) is empty") }
                out.append(inputShape); continue
            }
            guard !node.inputs.isEmpty, node.inputs.allSatisfy({ $0 >= 0 && $0 < i }) else {
                throw fail("inputs \(node.inputs) must name earlier nodes")
            }
            let ins = node.inputs.map { out[$0] }
            let x = ins[0]
            func one() throws { guard ins.count == 1 else { throw fail("takes one input, has \(ins.count)") } }
            switch node.op {
            case .input:
                throw fail("only node 0 is an input")
            case .conv2d(let c):
                try one()
                guard c.outChannels > 0, c.kernelH > 0, c.kernelW > 0, c.strideH > 0, c.strideW > 0,
                      c.padTop >= 0, c.padLeft >= 0, c.padBottom >= 0, c.padRight >= 0, c.groups > 0 else {
                    throw fail("conv2d parameters must be positive (padding non-negative)")
                }
                guard x.c % c.groups == 0, c.outChannels % c.groups == 0 else {
                    throw fail("groups \(c.groups) must divide input channels \(x.c) and output channels \(c.outChannels)")
                }
                let oh = (x.h + c.padTop + c.padBottom - c.kernelH) / c.strideH + 1
                let ow = (x.w + c.padLeft + c.padRight - c.kernelW) / c.strideW + 1
                guard x.h + c.padTop + c.padBottom >= c.kernelH, x.w + c.padLeft + c.padRight >= c.kernelW else {
                    throw fail("kernel \(c.kernelH)x\(c.kernelW) larger than padded input \(x)")
                }
                out.append(TensorShape(h: oh, w: ow, c: c.outChannels))
            case .dense(let n, _):
                try one()
                guard n > 0 else { throw fail("dense needs at least one output") }
                out.append(TensorShape(h: 1, w: 1, c: n))
            case .maxPool(let p), .avgPool(let p):
                try one()
                guard p.size > 0, p.stride > 0, p.size <= x.h, p.size <= x.w else { throw fail("pool \(p.size) does not fit \(x)") }
                out.append(TensorShape(h: (x.h - p.size) / p.stride + 1, w: (x.w - p.size) / p.stride + 1, c: x.c))
            case .globalAvgPool:
                try one(); out.append(TensorShape(h: 1, w: 1, c: x.c))
            case .add:
                guard ins.count == 2, ins[0] == ins[1] else { throw fail("add needs two inputs of one shape, has \(ins)") }
                out.append(x)
            case .concat:
                guard ins.count >= 2, ins.allSatisfy({ $0.h == x.h && $0.w == x.w }) else {
                    throw fail("concat needs two or more inputs of one height and width, has \(ins)")
                }
                out.append(TensorShape(h: x.h, w: x.w, c: ins.reduce(0) { $0 + $1.c }))
            case .flatten:
                try one(); out.append(TensorShape(h: 1, w: 1, c: x.elements))
            case .upsampleNearest(let f):
                try one()
                guard f >= 1 else { throw fail("upsample factor must be >= 1") }
                out.append(TensorShape(h: x.h * f, w: x.w * f, c: x.c))
            case .batchNorm(let bn):
                try one()
                guard bn.epsilon > 0, bn.epsilon.isFinite, bn.momentum >= 0, bn.momentum <= 1 else {
                    throw fail("batch norm needs epsilon > 0 and momentum in [0, 1]")
                }
                out.append(x)
            case .sigmoid, .softmax:
                try one()
                guard i == nodes.count - 1 else { throw fail("\(node.op.kindName) is only supported as the last node") }
                out.append(x)
            }
        }
        return out
    }

    /// Shapes plus weight-count checks: what a loaded file must satisfy.
    public func validate() throws {
        let s = try shapes()
        for (i, node) in nodes.enumerated() where node.op.hasWeights {
            func fail(_ r: String) -> ModelError { .invalid(node: i, name: node.name, reason: r) }
            let (wc, oc) = weightCount(i, s)
            guard let w = node.weights else { throw fail("has no weights") }
            if let f = w.float, f.count != wc { throw fail("float weights: \(f.count) values, shape needs \(wc)") }
            if let b = w.floatBias, b.count != oc { throw fail("float bias: \(b.count) values, needs \(oc)") }
            if let q = w.int8, q.count != wc { throw fail("int8 weights: \(q.count) values, shape needs \(wc)") }
            // Symmetric weights are in [-127, 127] (TFLite's convention): -128 x -128 pairs
            // would overflow the NEON kernel's int16 pair sums where AVX2 stays exact.
            if let q = w.int8, let j = (0..<q.count).first(where: { q[$0] == -128 }) { throw fail("int8 weight \(j) is -128; weights must lie in [-127, 127]") }
            if let sc = w.scales {
                guard sc.count == oc else { throw fail("weight scales: \(sc.count) values, needs \(oc)") }
                for j in 0..<oc where !(sc[j] > 0 && sc[j].isFinite) { throw fail("weight scale \(j) is \(sc[j])") }
            }
            if let b = w.bias, b.count != oc { throw fail("int32 bias: \(b.count) values, needs \(oc)") }
            if w.float == nil && w.int8 == nil { throw fail("has neither float nor int8 weights") }
            if (w.int8 == nil) != (w.scales == nil) || (w.int8 == nil) != (w.bias == nil) {
                throw fail("int8 weights, scales and bias come together")
            }
        }
        for (i, node) in nodes.enumerated() {
            if case .batchNorm = node.op {
                func fail(_ r: String) -> ModelError { .invalid(node: i, name: node.name, reason: r) }
                let c = s[i].c
                guard let w = node.weights else { throw fail("batch norm has no parameters") }
                for (what, p) in [("gamma", w.float), ("beta", w.floatBias), ("running mean", w.runningMean), ("running variance", w.runningVar)] {
                    if let p, p.count != c { throw fail("batch norm \(what): \(p.count) values, needs \(c)") }
                }
                if let v = w.runningVar { for j in 0..<v.count where !(v[j] >= 0 && v[j].isFinite) { throw fail("running variance \(j) is \(v[j])") } }
                if w.int8 != nil || w.scales != nil || w.bias != nil { throw fail("batch norm has no int8 parameters: fold it first") }
            }
            if let q = node.quant, !(q.scale > 0 && q.scale.isFinite) || q.zeroPoint < -128 || q.zeroPoint > 127 {
                throw ModelError.invalid(node: i, name: node.name, reason: "quantization scale \(q.scale) zero point \(q.zeroPoint)")
            }
            if case .add(.leaky) = node.op {
                throw ModelError.invalid(node: i, name: node.name, reason: "add supports no, relu or relu6 activation")
            }
            // Every producer that can fuse a leaky ReLU (the int8 kernels need 0 <= alpha < 1).
            let activation = node.op.fusedActivation
            if case .leaky(let a)? = activation, !(a >= 0 && a < 1) {
                throw ModelError.invalid(node: i, name: node.name, reason: "leaky alpha must be in [0, 1)")
            }
            if node.requantization == .float {
                guard node.op.hasWeights else {
                    throw ModelError.invalid(node: i, name: node.name, reason: "float requantization applies to conv2d and dense only")
                }
                if case .leaky? = activation {
                    throw ModelError.invalid(node: i, name: node.name, reason: "float requantization does not support a leaky activation")
                }
            }
        }
    }

    /// (weights, output channels) of a conv2d or dense node.
    func weightCount(_ i: Int, _ s: [TensorShape]) -> (Int, Int) {
        guard nodes[i].op.hasWeights else { return (0, 0) }
        let x = s[nodes[i].inputs[0]]
        switch nodes[i].op {
        case .conv2d(let c): return (c.outChannels * c.kernelH * c.kernelW * (x.c / c.groups), c.outChannels)
        case .dense(let n, _): return (n * x.elements, n)
        default: return (0, 0)
        }
    }

    /// Multiply-accumulates of one node per item.
    public func macs(_ i: Int, _ s: [TensorShape]) -> Int {
        guard nodes[i].op.hasWeights else { return 0 }
        let x = s[nodes[i].inputs[0]], y = s[i]
        switch nodes[i].op {
        case .conv2d(let c): return y.elements * c.kernelH * c.kernelW * (x.c / c.groups)
        case .dense: return y.c * x.elements
        default: return 0
        }
    }

    /// Weights and biases; for batch norm gamma, beta and the two running statistics.
    public func parameterCount(_ i: Int, _ s: [TensorShape]) -> Int {
        if case .batchNorm = nodes[i].op { return 4 * s[i].c }
        let (w, o) = weightCount(i, s); return w + o
    }
}
