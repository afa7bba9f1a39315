import COpenBLAS

/// Float32 forward and backward passes for training: convolution and dense as
/// im2col + OpenBLAS sgemm. Activations are NHWC per item; gradients accumulate
/// over the items of a mini-batch until `zeroGradients`. FloatReference is the
/// specification; tests hold this to it and to finite differences.
public final class FloatNetwork {
    public private(set) var model: Model
    public let shapes: [TensorShape]
    /// Per weighted node: weights, bias and their gradients.
    var weights: [[Float]], biases: [[Float]]
    var gradW: [[Float]], gradB: [[Float]]
    /// Scratch, reused across items.
    private var outputs: [[Float]]
    private var grads: [[Float]]
    private var col: [Float] = []
    private var dcol: [Float] = []
    private var argmax: [[Int32]]

    public init(_ model: Model) throws {
        try model.validate()
        guard model.hasFloatWeights else { throw ModelError.noFloatWeights(model.name) }
        self.model = model
        shapes = try model.shapes()
        weights = model.nodes.map { $0.weights?.float?.array ?? [] }
        biases = model.nodes.map { $0.weights?.floatBias?.array ?? [] }
        gradW = weights.map { [Float](repeating: 0, count: $0.count) }
        gradB = biases.map { [Float](repeating: 0, count: $0.count) }
        outputs = shapes.map { [Float](repeating: 0, count: $0.elements) }
        grads = outputs
        argmax = shapes.map { [Int32](repeating: 0, count: $0.elements) }
    }

    /// The model with the current weights (int8 parameters dropped: they are stale).
    public var trainedModel: Model {
        var m = model
        for i in m.nodes.indices where m.nodes[i].op.hasWeights {
            m.nodes[i].weights = LayerWeights(float: ParamArray(weights[i]), floatBias: ParamArray(biases[i]))
            m.nodes[i].quant = nil
        }
        for i in m.nodes.indices { m.nodes[i].quant = nil }
        return m
    }

    public func zeroGradients() {
        for i in gradW.indices { for j in gradW[i].indices { gradW[i][j] = 0 }; for j in gradB[i].indices { gradB[i][j] = 0 } }
    }

    /// Output of the last node for one item.
    @discardableResult
    public func forward(_ x: [Float]) -> [Float] {
        precondition(x.count == model.inputShape.elements)
        outputs[0] = x
        for i in 1..<model.nodes.count { forwardNode(i) }
        return outputs[model.nodes.count - 1]
    }

    public func output(_ i: Int) -> [Float] { outputs[i] }

    // MARK: forward

    private func forwardNode(_ i: Int) {
        let node = model.nodes[i], xs = shapes[node.inputs[0]], ys = shapes[i]
        switch node.op {
        case .input: break
        case .conv2d(let c):
            let icg = xs.c / c.groups, ocg = c.outChannels / c.groups, k = c.kernelH * c.kernelW * icg, m = ys.h * ys.w
            if col.count < m * k { col = [Float](repeating: 0, count: m * k) }
            for p in 0..<m { for o in 0..<c.outChannels { outputs[i][p * c.outChannels + o] = biases[i][o] } }
            for g in 0..<c.groups {
                im2col(outputs[node.inputs[0]], xs, c, g * icg, icg, ys, &col)
                col.withUnsafeBufferPointer { cp in weights[i].withUnsafeBufferPointer { wp in outputs[i].withUnsafeMutableBufferPointer { yp in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(ocg), Int32(k), 1, cp.baseAddress, Int32(k),
                                wp.baseAddress! + g * ocg * k, Int32(k), 1, yp.baseAddress! + g * ocg, Int32(c.outChannels))
                } } }
            }
            for j in 0..<ys.elements { outputs[i][j] = c.activation.apply(outputs[i][j]) }
        case .dense(let n, let act):
            let k = xs.elements
            outputs[node.inputs[0]].withUnsafeBufferPointer { xp in weights[i].withUnsafeBufferPointer { wp in outputs[i].withUnsafeMutableBufferPointer { yp in
                for o in 0..<n { yp[o] = biases[i][o] }
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, wp.baseAddress, Int32(k), xp.baseAddress, 1, 1, yp.baseAddress, 1)
            } } }
            for j in 0..<n { outputs[i][j] = act.apply(outputs[i][j]) }
        case .maxPool(let p):
            let x = outputs[node.inputs[0]]
            for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c {
                var best = -Float.infinity, at = 0
                for ky in 0..<p.size { for kx in 0..<p.size {
                    let j = ((oy * p.stride + ky) * xs.w + ox * p.stride + kx) * xs.c + ch
                    if x[j] > best { best = x[j]; at = j }
                } }
                let o = (oy * ys.w + ox) * ys.c + ch
                outputs[i][o] = best; argmax[i][o] = Int32(at)
            } } }
        default:
            // Ops without parameters: the reference definition.
            let ins = node.inputs.map { outputs[$0] }
            outputs[i] = FloatNetwork.parameterFree(node.op, ins, node.inputs.map { shapes[$0] }, ys)
        }
    }

    static func parameterFree(_ op: Op, _ ins: [[Float]], _ inShapes: [TensorShape], _ ys: TensorShape) -> [Float] {
        let x = ins[0], xs = inShapes[0]
        var y = [Float](repeating: 0, count: ys.elements)
        switch op {
        case .avgPool(let p):
            for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c {
                var s: Float = 0
                for ky in 0..<p.size { for kx in 0..<p.size { s += x[((oy * p.stride + ky) * xs.w + ox * p.stride + kx) * xs.c + ch] } }
                y[(oy * ys.w + ox) * ys.c + ch] = s / Float(p.size * p.size)
            } } }
        case .globalAvgPool:
            for p in 0..<(xs.h * xs.w) { for ch in 0..<xs.c { y[ch] += x[p * xs.c + ch] } }
            for ch in 0..<xs.c { y[ch] /= Float(xs.h * xs.w) }
        case .add(let act):
            for j in 0..<y.count { y[j] = act.apply(x[j] + ins[1][j]) }
        case .concat:
            var base = 0
            for (t, s) in zip(ins, inShapes) {
                for p in 0..<(ys.h * ys.w) { for ch in 0..<s.c { y[p * ys.c + base + ch] = t[p * s.c + ch] } }
                base += s.c
            }
        case .flatten: y = x
        case .upsampleNearest(let f):
            for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c { y[(oy * ys.w + ox) * ys.c + ch] = x[((oy / f) * xs.w + ox / f) * xs.c + ch] } } }
        case .sigmoid: for j in 0..<y.count { y[j] = sigmoid(x[j]) }
        case .softmax: softmax(x, into: &y)
        default: break
        }
        return y
    }

    // MARK: backward

    /// Backpropagates dL/d(input of the output function) — or dL/d(output) when the
    /// last node is not an output function — and accumulates parameter gradients.
    public func backward(outputGradient g: [Float]) {
        for i in grads.indices { for j in grads[i].indices { grads[i][j] = 0 } }
        let n = model.nodes.count
        var start = n - 1
        if model.nodes[n - 1].op.isOutputFunction { start = model.nodes[n - 1].inputs[0] }
        grads[start] = g
        for i in stride(from: start, through: 1, by: -1) { backwardNode(i) }
    }

    @inline(__always) private func activationGrad(_ a: Activation, _ y: Float) -> Float {
        switch a {
        case .none: return 1
        case .relu: return y > 0 ? 1 : 0
        case .relu6: return y > 0 && y < 6 ? 1 : 0
        case .leaky(let al): return y > 0 ? 1 : al
        }
    }

    private func backwardNode(_ i: Int) {
        let node = model.nodes[i], ys = shapes[i]
        let xi = node.inputs[0], xs = shapes[xi]
        switch node.op {
        case .input: break
        case .conv2d(let c):
            for j in 0..<ys.elements { grads[i][j] *= activationGrad(c.activation, outputs[i][j]) }
            let icg = xs.c / c.groups, ocg = c.outChannels / c.groups, k = c.kernelH * c.kernelW * icg, m = ys.h * ys.w
            if dcol.count < m * k { dcol = [Float](repeating: 0, count: m * k) }
            for p in 0..<m { for o in 0..<c.outChannels { gradB[i][o] += grads[i][p * c.outChannels + o] } }
            for g in 0..<c.groups {
                im2col(outputs[xi], xs, c, g * icg, icg, ys, &col)
                grads[i].withUnsafeBufferPointer { dy in col.withUnsafeBufferPointer { cp in gradW[i].withUnsafeMutableBufferPointer { dw in
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(ocg), Int32(k), Int32(m), 1, dy.baseAddress! + g * ocg,
                                Int32(c.outChannels), cp.baseAddress, Int32(k), 1, dw.baseAddress! + g * ocg * k, Int32(k))
                } } }
                grads[i].withUnsafeBufferPointer { dy in weights[i].withUnsafeBufferPointer { wp in dcol.withUnsafeMutableBufferPointer { dc in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(k), Int32(ocg), 1, dy.baseAddress! + g * ocg,
                                Int32(c.outChannels), wp.baseAddress! + g * ocg * k, Int32(k), 0, dc.baseAddress, Int32(k))
                } } }
                if xi > 0 { col2im(dcol, xs, c, g * icg, icg, ys, &grads[xi]) }
            }
        case .dense(let n, let act):
            for j in 0..<n { grads[i][j] *= activationGrad(act, outputs[i][j]) }
            let k = xs.elements
            for o in 0..<n { gradB[i][o] += grads[i][o] }
            grads[i].withUnsafeBufferPointer { dy in outputs[xi].withUnsafeBufferPointer { xp in gradW[i].withUnsafeMutableBufferPointer { dw in
                cblas_sger(CblasRowMajor, Int32(n), Int32(k), 1, dy.baseAddress, 1, xp.baseAddress, 1, dw.baseAddress, Int32(k))
            } } }
            if xi > 0 {
                grads[i].withUnsafeBufferPointer { dy in weights[i].withUnsafeBufferPointer { wp in grads[xi].withUnsafeMutableBufferPointer { dx in
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(k), 1, wp.baseAddress, Int32(k), dy.baseAddress, 1, 1, dx.baseAddress, 1)
                } } }
            }
        case .maxPool:
            for o in 0..<ys.elements { grads[xi][Int(argmax[i][o])] += grads[i][o] }
        case .avgPool(let p):
            let w = 1 / Float(p.size * p.size)
            for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c {
                let g = grads[i][(oy * ys.w + ox) * ys.c + ch] * w
                for ky in 0..<p.size { for kx in 0..<p.size { grads[xi][((oy * p.stride + ky) * xs.w + ox * p.stride + kx) * xs.c + ch] += g } }
            } } }
        case .globalAvgPool:
            let w = 1 / Float(xs.h * xs.w)
            for p in 0..<(xs.h * xs.w) { for ch in 0..<xs.c { grads[xi][p * xs.c + ch] += grads[i][ch] * w } }
        case .add(let act):
            for j in 0..<ys.elements {
                let g = grads[i][j] * activationGrad(act, outputs[i][j])
                grads[xi][j] += g; grads[node.inputs[1]][j] += g
            }
        case .concat:
            var base = 0
            for inp in node.inputs {
                let c = shapes[inp].c
                for p in 0..<(ys.h * ys.w) { for ch in 0..<c { grads[inp][p * c + ch] += grads[i][p * ys.c + base + ch] } }
                base += c
            }
        case .flatten:
            for j in 0..<ys.elements { grads[xi][j] += grads[i][j] }
        case .upsampleNearest(let f):
            for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c {
                grads[xi][((oy / f) * xs.w + ox / f) * xs.c + ch] += grads[i][(oy * ys.w + ox) * ys.c + ch]
            } } }
        case .sigmoid, .softmax: break
        }
    }

    // MARK: im2col

    private func im2col(_ x: [Float], _ xs: TensorShape, _ c: Conv2D, _ c0: Int, _ cg: Int, _ ys: TensorShape, _ col: inout [Float]) {
        let k = c.kernelH * c.kernelW * cg
        x.withUnsafeBufferPointer { xp in col.withUnsafeMutableBufferPointer { cp in
            for oy in 0..<ys.h { for ox in 0..<ys.w {
                var d = (oy * ys.w + ox) * k
                for ky in 0..<c.kernelH {
                    let iy = oy * c.strideH - c.padTop + ky
                    for kx in 0..<c.kernelW {
                        let ix = ox * c.strideW - c.padLeft + kx
                        if iy < 0 || iy >= xs.h || ix < 0 || ix >= xs.w {
                            for t in 0..<cg { cp[d + t] = 0 }
                        } else {
                            let s = (iy * xs.w + ix) * xs.c + c0
                            for t in 0..<cg { cp[d + t] = xp[s + t] }
                        }
                        d += cg
                    }
                }
            } }
        } }
    }

    private func col2im(_ dcol: [Float], _ xs: TensorShape, _ c: Conv2D, _ c0: Int, _ cg: Int, _ ys: TensorShape, _ dx: inout [Float]) {
        let k = c.kernelH * c.kernelW * cg
        dcol.withUnsafeBufferPointer { cp in dx.withUnsafeMutableBufferPointer { xp in
            for oy in 0..<ys.h { for ox in 0..<ys.w {
                var d = (oy * ys.w + ox) * k
                for ky in 0..<c.kernelH {
                    let iy = oy * c.strideH - c.padTop + ky
                    for kx in 0..<c.kernelW {
                        let ix = ox * c.strideW - c.padLeft + kx
                        if iy >= 0 && iy < xs.h && ix >= 0 && ix < xs.w {
                            let s = (iy * xs.w + ix) * xs.c + c0
                            for t in 0..<cg { xp[s + t] += cp[d + t] }
                        }
                        d += cg
                    }
                }
            } }
        } }
    }
}
