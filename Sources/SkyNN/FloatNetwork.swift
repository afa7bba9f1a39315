import COpenBLAS

/// Float32 forward and backward passes for training: convolution and dense as
/// im2col + OpenBLAS sgemm. Activations are NHWC per item; a pass runs a whole
/// mini-batch node by node (batch norm needs the batch's statistics); parameter
/// gradients accumulate over items and passes until `zeroGradients`. FloatReference is the
/// specification; tests hold this to it and to finite differences.
public final class FloatNetwork {
    public private(set) var model: Model
    public let shapes: [TensorShape]
    /// Per node with float parameters: weights (batch norm: gamma), bias (beta) and their gradients.
    var weights: [[Float]], biases: [[Float]]
    var gradW: [[Float]], gradB: [[Float]]
    /// Batch norm: running statistics (updated by training-mode passes), empty for other nodes.
    var runningMean: [[Float]], runningVar: [[Float]]
    /// Per item of the current batch, per node: output, gradient, max-pool source index.
    private var outputs: [[[Float]]] = []
    private var grads: [[[Float]]] = []
    private var argmax: [[[Int32]]] = []
    /// Batch norm: per node and channel, the mean and 1/std the last forward pass normalized with.
    private var normMean: [[Float]], normInvStd: [[Float]]
    private var items = 0
    private var training = false
    /// Scratch, reused across items.
    private var col: [Float] = []
    private var dcol: [Float] = []

    public init(_ model: Model) throws {
        try model.validate()
        guard model.hasFloatWeights else { throw ModelError.noFloatWeights(model.name) }
        self.model = model
        shapes = try model.shapes()
        weights = model.nodes.map { $0.weights?.float?.array ?? [] }
        biases = model.nodes.map { $0.weights?.floatBias?.array ?? [] }
        gradW = weights.map { [Float](repeating: 0, count: $0.count) }
        gradB = biases.map { [Float](repeating: 0, count: $0.count) }
        runningMean = model.nodes.map { $0.weights?.runningMean?.array ?? [] }
        runningVar = model.nodes.map { $0.weights?.runningVar?.array ?? [] }
        normMean = runningMean; normInvStd = runningVar
    }

    /// The model with the current weights and running statistics (int8 parameters and quantization dropped: they are stale).
    public var trainedModel: Model {
        var m = model
        for i in m.nodes.indices where m.nodes[i].op.hasFloatParameters {
            var w = LayerWeights(float: ParamArray(weights[i]), floatBias: ParamArray(biases[i]))
            if case .batchNorm = m.nodes[i].op { w.runningMean = ParamArray(runningMean[i]); w.runningVar = ParamArray(runningVar[i]) }
            m.nodes[i].weights = w
        }
        for i in m.nodes.indices { m.nodes[i].quant = nil }
        return m
    }

    public func zeroGradients() {
        for i in gradW.indices {
            gradW[i].withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            gradB[i].withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    /// Output of the last node for one item, in inference mode (batch norm uses its running statistics).
    @discardableResult
    public func forward(_ x: [Float]) -> [Float] {
        forward(batch: CollectionOfOne(x), training: false)[0]
    }

    /// Outputs of the last node for a mini-batch. In training mode batch norm normalizes
    /// with the batch's statistics and updates its running ones; `backward` then
    /// differentiates through the batch statistics.
    @discardableResult
    public func forward<C: Collection>(batch xs: C, training: Bool) -> [[Float]] where C.Element == [Float] {
        precondition(!xs.isEmpty)
        reserveItems(xs.count)
        items = xs.count; self.training = training
        for (b, x) in xs.enumerated() {
            precondition(x.count == model.inputShape.elements)
            outputs[b][0] = x
        }
        for i in 1..<model.nodes.count {
            if case .batchNorm(let bn) = model.nodes[i].op { forwardBatchNorm(i, bn) } else {
                for b in 0..<items { forwardNode(i, b) }
            }
        }
        return (0..<items).map { outputs[$0][model.nodes.count - 1] }
    }

    /// Node i's output for one item of the last forward pass.
    public func output(_ i: Int, item: Int = 0) -> [Float] { outputs[item][i] }

    private func reserveItems(_ n: Int) {
        while outputs.count < n {
            outputs.append(shapes.map { [Float](repeating: 0, count: $0.elements) })
            argmax.append(shapes.map { [Int32](repeating: 0, count: $0.elements) })
        }
    }

    // MARK: forward

    private func forwardNode(_ i: Int, _ b: Int) {
        let node = model.nodes[i], xs = shapes[node.inputs[0]], ys = shapes[i]
        let x = outputs[b][node.inputs[0]]
        // Taken out of the array while written, so reading other nodes' outputs never copies it.
        var y = [Float](); swap(&y, &outputs[b][i])
        defer { swap(&y, &outputs[b][i]) }
        switch node.op {
        case .input: break
        case .conv2d(let c):
            let icg = xs.c / c.groups, ocg = c.outChannels / c.groups, k = c.kernelH * c.kernelW * icg, m = ys.h * ys.w
            if col.count < m * k { col = [Float](repeating: 0, count: m * k) }
            let bias = biases[i]
            for p in 0..<m { for o in 0..<c.outChannels { y[p * c.outChannels + o] = bias[o] } }
            for g in 0..<c.groups {
                im2col(x, xs, c, g * icg, icg, ys, &col)
                col.withUnsafeBufferPointer { cp in weights[i].withUnsafeBufferPointer { wp in y.withUnsafeMutableBufferPointer { yp in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(ocg), Int32(k), 1, cp.baseAddress, Int32(k),
                                wp.baseAddress! + g * ocg * k, Int32(k), 1, yp.baseAddress! + g * ocg, Int32(c.outChannels))
                } } }
            }
            for j in 0..<ys.elements { y[j] = c.activation.apply(y[j]) }
        case .dense(let n, let act):
            let k = xs.elements
            let bias = biases[i]
            x.withUnsafeBufferPointer { xp in weights[i].withUnsafeBufferPointer { wp in y.withUnsafeMutableBufferPointer { yp in
                for o in 0..<n { yp[o] = bias[o] }
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, wp.baseAddress, Int32(k), xp.baseAddress, 1, 1, yp.baseAddress, 1)
            } } }
            for j in 0..<n { y[j] = act.apply(y[j]) }
        case .maxPool(let p):
            var from = [Int32](); swap(&from, &argmax[b][i])
            for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c {
                var best = -Float.infinity, at = 0
                for ky in 0..<p.size { for kx in 0..<p.size {
                    let j = ((oy * p.stride + ky) * xs.w + ox * p.stride + kx) * xs.c + ch
                    if x[j] > best { best = x[j]; at = j }
                } }
                let o = (oy * ys.w + ox) * ys.c + ch
                y[o] = best; from[o] = Int32(at)
            } } }
            swap(&from, &argmax[b][i])
        default:
            // Ops without parameters: the reference definition.
            y = FloatNetwork.parameterFree(node.op, node.inputs.map { outputs[b][$0] }, node.inputs.map { shapes[$0] }, ys)
        }
    }

    /// Batch norm over all items of the batch at once: training mode needs every item's
    /// values before it can normalize any of them.
    private func forwardBatchNorm(_ i: Int, _ bn: BatchNorm) {
        let xi = model.nodes[i].inputs[0], ys = shapes[i], c = ys.c, pixels = ys.h * ys.w
        if training {
            let count = Double(items * pixels)
            var sum = [Double](repeating: 0, count: c), sq = sum
            for b in 0..<items { outputs[b][xi].withUnsafeBufferPointer { x in for p in 0..<pixels { for ch in 0..<c { sum[ch] += Double(x[p * c + ch]) } } } }
            let mean = sum.map { $0 / count }
            for b in 0..<items { outputs[b][xi].withUnsafeBufferPointer { x in for p in 0..<pixels { for ch in 0..<c { let d = Double(x[p * c + ch]) - mean[ch]; sq[ch] += d * d } } } }
            for ch in 0..<c {
                let variance = sq[ch] / count
                normMean[i][ch] = Float(mean[ch])
                normInvStd[i][ch] = Float(1 / (variance + Double(bn.epsilon)).squareRoot())
                // A single value (a batch of one item after a dense layer) says nothing about the variance.
                guard count > 1 else { continue }
                runningMean[i][ch] += bn.momentum * (Float(mean[ch]) - runningMean[i][ch])
                runningVar[i][ch] += bn.momentum * (Float(variance * count / (count - 1)) - runningVar[i][ch])
            }
        } else {
            for ch in 0..<c { normMean[i][ch] = runningMean[i][ch]; normInvStd[i][ch] = 1 / (runningVar[i][ch] + bn.epsilon).squareRoot() }
        }
        let gamma = weights[i], beta = biases[i], mean = normMean[i], invStd = normInvStd[i], act = bn.activation
        for b in 0..<items {
            let x = outputs[b][xi]
            var y = [Float](); swap(&y, &outputs[b][i])
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                for p in 0..<pixels { for ch in 0..<c {
                    let j = p * c + ch
                    yp[j] = act.apply(gamma[ch] * (xp[j] - mean[ch]) * invStd[ch] + beta[ch])
                } }
            } }
            swap(&y, &outputs[b][i])
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
    /// One item, after `forward(_:)`.
    public func backward(outputGradient g: [Float]) {
        backward(outputGradients: CollectionOfOne(g))
    }

    /// The same for every item of the last forward pass (one gradient per item, in order).
    public func backward<C: Collection>(outputGradients gs: C) where C.Element == [Float] {
        precondition(gs.count == items, "one output gradient per item of the last forward pass")
        while grads.count < items { grads.append(shapes.map { [Float](repeating: 0, count: $0.elements) }) }
        for b in 0..<items { for i in grads[b].indices { grads[b][i].withUnsafeMutableBufferPointer { $0.update(repeating: 0) } } }
        let n = model.nodes.count
        var start = n - 1
        if model.nodes[n - 1].op.isOutputFunction { start = model.nodes[n - 1].inputs[0] }
        for (b, g) in gs.enumerated() { grads[b][start] = g }
        for i in stride(from: start, through: 1, by: -1) {
            if case .batchNorm(let bn) = model.nodes[i].op { backwardBatchNorm(i, bn) } else {
                for b in 0..<items { backwardNode(i, b) }
            }
        }
    }

    @inline(__always) private func activationGrad(_ a: Activation, _ y: Float) -> Float {
        switch a {
        case .none: return 1
        case .relu: return y > 0 ? 1 : 0
        case .relu6: return y > 0 && y < 6 ? 1 : 0
        case .leaky(let al): return y > 0 ? 1 : al
        }
    }

    private func backwardNode(_ i: Int, _ b: Int) {
        let node = model.nodes[i], ys = shapes[i]
        let xi = node.inputs[0], xs = shapes[xi]
        var dy = [Float](); swap(&dy, &grads[b][i])
        defer { swap(&dy, &grads[b][i]) }
        switch node.op {
        case .input, .batchNorm: break
        case .conv2d(let c):
            let y = outputs[b][i]
            for j in 0..<ys.elements { dy[j] *= activationGrad(c.activation, y[j]) }
            let icg = xs.c / c.groups, ocg = c.outChannels / c.groups, k = c.kernelH * c.kernelW * icg, m = ys.h * ys.w
            if dcol.count < m * k { dcol = [Float](repeating: 0, count: m * k) }
            gradB[i].withUnsafeMutableBufferPointer { gb in for p in 0..<m { for o in 0..<c.outChannels { gb[o] += dy[p * c.outChannels + o] } } }
            for g in 0..<c.groups {
                im2col(outputs[b][xi], xs, c, g * icg, icg, ys, &col)
                dy.withUnsafeBufferPointer { dyp in col.withUnsafeBufferPointer { cp in gradW[i].withUnsafeMutableBufferPointer { dw in
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(ocg), Int32(k), Int32(m), 1, dyp.baseAddress! + g * ocg,
                                Int32(c.outChannels), cp.baseAddress, Int32(k), 1, dw.baseAddress! + g * ocg * k, Int32(k))
                } } }
                dy.withUnsafeBufferPointer { dyp in weights[i].withUnsafeBufferPointer { wp in dcol.withUnsafeMutableBufferPointer { dc in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(k), Int32(ocg), 1, dyp.baseAddress! + g * ocg,
                                Int32(c.outChannels), wp.baseAddress! + g * ocg * k, Int32(k), 0, dc.baseAddress, Int32(k))
                } } }
                if xi > 0 { col2im(dcol, xs, c, g * icg, icg, ys, &grads[b][xi]) }
            }
        case .dense(let n, let act):
            let y = outputs[b][i]
            for j in 0..<n { dy[j] *= activationGrad(act, y[j]) }
            let k = xs.elements
            for o in 0..<n { gradB[i][o] += dy[o] }
            dy.withUnsafeBufferPointer { dyp in outputs[b][xi].withUnsafeBufferPointer { xp in gradW[i].withUnsafeMutableBufferPointer { dw in
                cblas_sger(CblasRowMajor, Int32(n), Int32(k), 1, dyp.baseAddress, 1, xp.baseAddress, 1, dw.baseAddress, Int32(k))
            } } }
            if xi > 0 {
                dy.withUnsafeBufferPointer { dyp in weights[i].withUnsafeBufferPointer { wp in grads[b][xi].withUnsafeMutableBufferPointer { dx in
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(k), 1, wp.baseAddress, Int32(k), dyp.baseAddress, 1, 1, dx.baseAddress, 1)
                } } }
            }
        case .maxPool:
            let from = argmax[b][i]
            withInputGradient(b, xi) { dx in for o in 0..<ys.elements { dx[Int(from[o])] += dy[o] } }
        case .avgPool(let p):
            let w = 1 / Float(p.size * p.size)
            withInputGradient(b, xi) { dx in
                for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c {
                    let g = dy[(oy * ys.w + ox) * ys.c + ch] * w
                    for ky in 0..<p.size { for kx in 0..<p.size { dx[((oy * p.stride + ky) * xs.w + ox * p.stride + kx) * xs.c + ch] += g } }
                } } }
            }
        case .globalAvgPool:
            let w = 1 / Float(xs.h * xs.w)
            withInputGradient(b, xi) { dx in for p in 0..<(xs.h * xs.w) { for ch in 0..<xs.c { dx[p * xs.c + ch] += dy[ch] * w } } }
        case .add(let act):
            for j in 0..<ys.elements {
                let g = dy[j] * activationGrad(act, outputs[b][i][j])
                grads[b][xi][j] += g; grads[b][node.inputs[1]][j] += g
            }
        case .concat:
            var base = 0
            for inp in node.inputs {
                let c = shapes[inp].c
                for p in 0..<(ys.h * ys.w) { for ch in 0..<c { grads[b][inp][p * c + ch] += dy[p * ys.c + base + ch] } }
                base += c
            }
        case .flatten:
            withInputGradient(b, xi) { dx in for j in 0..<ys.elements { dx[j] += dy[j] } }
        case .upsampleNearest(let f):
            withInputGradient(b, xi) { dx in
                for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c {
                    dx[((oy / f) * xs.w + ox / f) * xs.c + ch] += dy[(oy * ys.w + ox) * ys.c + ch]
                } } }
            }
        case .sigmoid, .softmax: break
        }
    }

    /// The gradient of node xi for item b, taken out of the array while `body` adds to it.
    private func withInputGradient(_ b: Int, _ xi: Int, _ body: (inout [Float]) -> Void) {
        var dx = [Float](); swap(&dx, &grads[b][xi])
        body(&dx)
        swap(&dx, &grads[b][xi])
    }

    /// Batch norm backward over the whole batch. With batch statistics the mean and
    /// variance depend on every item, which adds the two batch-sum terms:
    /// dx = gamma / std / M * (M dz - sum dz - xhat sum(dz xhat)), M = items x pixels.
    private func backwardBatchNorm(_ i: Int, _ bn: BatchNorm) {
        let xi = model.nodes[i].inputs[0], ys = shapes[i], c = ys.c, pixels = ys.h * ys.w
        let mean = normMean[i], invStd = normInvStd[i], gamma = weights[i], act = bn.activation
        var sumDz = [Double](repeating: 0, count: c), sumDzXhat = sumDz
        for b in 0..<items {
            let x = outputs[b][xi], y = outputs[b][i]
            var dz = [Float](); swap(&dz, &grads[b][i])
            for p in 0..<pixels { for ch in 0..<c {
                let j = p * c + ch
                dz[j] *= activationGrad(act, y[j])
                let xhat = (x[j] - mean[ch]) * invStd[ch]
                sumDz[ch] += Double(dz[j]); sumDzXhat[ch] += Double(dz[j] * xhat)
            } }
            swap(&dz, &grads[b][i])
        }
        for ch in 0..<c { gradB[i][ch] += Float(sumDz[ch]); gradW[i][ch] += Float(sumDzXhat[ch]) }
        guard xi > 0 else { return }
        let m = Float(items * pixels), training = self.training
        let k = (0..<c).map { gamma[$0] * invStd[$0] }
        let meanDz = sumDz.map { Float($0) / m }, meanDzXhat = sumDzXhat.map { Float($0) / m }
        for b in 0..<items {
            let x = outputs[b][xi], dz = grads[b][i]
            withInputGradient(b, xi) { dx in
                for p in 0..<pixels { for ch in 0..<c {
                    let j = p * c + ch
                    if training {
                        let xhat = (x[j] - mean[ch]) * invStd[ch]
                        dx[j] += k[ch] * (dz[j] - meanDz[ch] - xhat * meanDzXhat[ch])
                    } else {
                        dx[j] += k[ch] * dz[j]
                    }
                } }
            }
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
