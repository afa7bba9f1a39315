/// Int8 reference forward pass over the plain Swift kernels: quantize the float
/// input, run every node in int8, dequantize the last int8 tensor and apply the
/// output function (sigmoid/softmax) in float. The executor must agree with it bit for bit.
public enum Int8Reference {
    public struct Result {
        /// Int8 output of every node (the output function's node repeats its input).
        public var tensors: [[Int8]]
        public var output: [Float]
    }

    public static func run(_ model: Model, input: [Float]) throws -> Result {
        let s = try model.shapes()
        guard model.isQuantized else { throw ModelError.notQuantized(model.name) }
        guard input.count == model.inputShape.elements else {
            throw ModelError.badInput("input has \(input.count) values, model needs \(model.inputShape.elements)")
        }
        let q0 = model.nodes[0].quant!
        var t: [[Int8]] = [input.map { q0.quantize($0) }]
        var output: [Float] = []
        for i in 1..<model.nodes.count {
            let node = model.nodes[i], xs = s[node.inputs[0]], ys = s[i]
            let xq = model.nodes[node.inputs[0]].quant!
            var y = [Int8](repeating: 0, count: ys.elements)
            let x = t[node.inputs[0]]
            switch node.op {
            case .input: break
            case .conv2d(let c):
                let st = stage(model, i, c.activation)
                x.withUnsafeBufferPointer { xp in node.weights!.int8!.withUnsafeBufferPointer { wp in node.weights!.bias!.withUnsafeBufferPointer { bp in
                    y.withUnsafeMutableBufferPointer { yp in
                        Int8Kernels.conv2d(xp.baseAddress!, xs, inputZeroPoint: xq.zeroPoint, c, weights: wp.baseAddress!,
                                           bias: bp.baseAddress!, stage: st, yp.baseAddress!, ys)
                    } } } }
            case .dense(let n, let act):
                let st = stage(model, i, act)
                x.withUnsafeBufferPointer { xp in node.weights!.int8!.withUnsafeBufferPointer { wp in node.weights!.bias!.withUnsafeBufferPointer { bp in
                    y.withUnsafeMutableBufferPointer { yp in
                        Int8Kernels.dense(xp.baseAddress!, count: xs.elements, inputZeroPoint: xq.zeroPoint, outFeatures: n,
                                          weights: wp.baseAddress!, bias: bp.baseAddress!, stage: st, yp.baseAddress!)
                    } } } }
            case .maxPool(let p):
                Int8Kernels.maxPool(x, xs, p, &y, ys)
            case .avgPool(let p):
                Int8Kernels.avgPool(x, xs, p, &y, ys)
            case .globalAvgPool:
                Int8Kernels.globalAvgPool(x, xs, &y)
            case .add(let act):
                let p = Int8Kernels.AddParams(xq, model.nodes[node.inputs[1]].quant!, node.quant!, activation: act)
                Int8Kernels.add(x, t[node.inputs[1]], count: y.count, p, &y)
            case .concat:
                var off = 0
                for inp in node.inputs {
                    let c = s[inp].c
                    y.withUnsafeMutableBufferPointer { yp in
                        Int8Kernels.concatPart(t[inp], pixels: ys.h * ys.w, channels: c, from: model.nodes[inp].quant!,
                                               into: yp.baseAddress!, outChannels: ys.c, offset: off, to: node.quant!)
                    }
                    off += c
                }
            case .flatten:
                y = x
            case .upsampleNearest(let f):
                Int8Kernels.upsampleNearest(x, xs, factor: f, &y)
            case .sigmoid, .softmax:
                y = x
            case .batchNorm:
                throw ModelError.notQuantized("batch norm \(node.name) must be folded before int8")
            }
            t.append(y)
        }
        let last = model.nodes.count - 1
        let lastInt8 = model.nodes[last].op.isOutputFunction ? model.nodes[last].inputs[0] : last
        if case .dense(let n, let act) = model.nodes[lastInt8].op {
            let node = model.nodes[lastInt8], x = t[node.inputs[0]]
            let scales = floatOutputScales(model, lastInt8)
            output = [Float](repeating: 0, count: n)
            x.withUnsafeBufferPointer { xp in node.weights!.int8!.withUnsafeBufferPointer { wp in node.weights!.bias!.withUnsafeBufferPointer { bp in
                output.withUnsafeMutableBufferPointer { yp in
                    floatDense(xp.baseAddress!, count: x.count, inputZeroPoint: model.nodes[node.inputs[0]].quant!.zeroPoint, outFeatures: n,
                               weights: wp.baseAddress!, bias: bp.baseAddress!, scales: scales, activation: act, yp.baseAddress!)
                } } } }
        } else {
            let oq = model.nodes[lastInt8].quant!
            output = t[lastInt8].map { oq.dequantize($0) }
        }
        if case .sigmoid = model.nodes[last].op { output = output.map(sigmoid) }
        if case .softmax = model.nodes[last].op { var o = output; softmax(output, into: &o); output = o }
        return Result(tensors: t, output: output)
    }

    /// s_in x s_w[o] of the last dense layer, whose output is read in float.
    static func floatOutputScales(_ model: Model, _ i: Int) -> [Float] {
        let sIn = Double(model.nodes[model.nodes[i].inputs[0]].quant!.scale)
        return model.nodes[i].weights!.scales!.array.map { Float(sIn * Double($0)) }
    }

    /// The last int8 node, when it is a dense layer, is read in float: its int32
    /// accumulators times s_in x s_w[o], then the activation, instead of a requantization
    /// to int8 whose rounding would merge near-tie logits. Its int8 output tensor is still
    /// computed (and is what the executor's tensor(_:) shows). The executor calls this too.
    static func floatDense(_ x: UnsafePointer<Int8>, count k: Int, inputZeroPoint zp: Int32, outFeatures n: Int,
                           weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>,
                           activation: Activation, _ y: UnsafeMutablePointer<Float>) {
        for o in 0..<n {
            var acc = bias[o]
            let w = weights + o * k
            for j in 0..<k { acc &+= (Int32(x[j]) &- zp) &* Int32(w[j]) }
            y[o] = activation.apply(scales[o] * Float(acc))
        }
    }

    static func stage(_ model: Model, _ i: Int, _ act: Activation) -> OutputStage {
        let node = model.nodes[i]
        return OutputStage(activation: act, input: model.nodes[node.inputs[0]].quant!,
                           weightScales: node.weights!.scales!.array, output: node.quant!, requantization: node.requantization)
    }
}
