import Foundation

/// Float32 reference forward pass: the readable definition of every op, used
/// for calibration, evaluation and as the oracle of the int8 path.
public enum FloatReference {
    /// Every node's output for one item (input is HWC float).
    public static func forwardAll(_ model: Model, input: [Float]) throws -> [[Float]] {
        let s = try model.shapes()
        guard model.hasFloatWeights else { throw ModelError.noFloatWeights(model.name) }
        guard input.count == model.inputShape.elements else {
            throw ModelError.badInput("input has \(input.count) values, model needs \(model.inputShape.elements)")
        }
        var outs: [[Float]] = [input]
        for i in 1..<model.nodes.count {
            let node = model.nodes[i]
            let x = outs[node.inputs[0]], xs = s[node.inputs[0]], ys = s[i]
            var y = [Float](repeating: 0, count: ys.elements)
            switch node.op {
            case .input: break
            case .conv2d(let c):
                let w = node.weights!.float!.array, b = node.weights!.floatBias!.array
                conv(x, xs, c, w, b, &y, ys)
            case .dense(let n, let act):
                let w = node.weights!.float!.array, b = node.weights!.floatBias!.array
                let k = xs.elements
                for o in 0..<n {
                    var acc = b[o]
                    for j in 0..<k { acc += x[j] * w[o * k + j] }
                    y[o] = act.apply(acc)
                }
            case .maxPool(let p), .avgPool(let p):
                let isMax: Bool = { if case .maxPool = node.op { return true }; return false }()
                for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c {
                    var m = -Float.infinity, sum: Float = 0
                    for ky in 0..<p.size { for kx in 0..<p.size {
                        let v = x[((oy * p.stride + ky) * xs.w + ox * p.stride + kx) * xs.c + ch]
                        m = max(m, v); sum += v
                    } }
                    y[(oy * ys.w + ox) * ys.c + ch] = isMax ? m : sum / Float(p.size * p.size)
                } } }
            case .globalAvgPool:
                for ch in 0..<xs.c {
                    var sum: Float = 0
                    for p in 0..<(xs.h * xs.w) { sum += x[p * xs.c + ch] }
                    y[ch] = sum / Float(xs.h * xs.w)
                }
            case .add(let act):
                let x2 = outs[node.inputs[1]]
                for j in 0..<y.count { y[j] = act.apply(x[j] + x2[j]) }
            case .concat:
                var base = 0
                for inp in node.inputs {
                    let t = outs[inp], c = s[inp].c
                    for p in 0..<(ys.h * ys.w) { for ch in 0..<c { y[p * ys.c + base + ch] = t[p * c + ch] } }
                    base += c
                }
            case .flatten:
                y = x
            case .upsampleNearest(let f):
                for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c {
                    y[(oy * ys.w + ox) * ys.c + ch] = x[((oy / f) * xs.w + ox / f) * xs.c + ch]
                } } }
            case .batchNorm(let bn):
                // Inference: the running statistics.
                let w = node.weights!
                for ch in 0..<ys.c {
                    let scale = w.float![ch] / (w.runningVar![ch] + bn.epsilon).squareRoot()
                    for p in 0..<(ys.h * ys.w) {
                        let j = p * ys.c + ch
                        y[j] = bn.activation.apply(scale * (x[j] - w.runningMean![ch]) + w.floatBias![ch])
                    }
                }
            case .sigmoid:
                for j in 0..<y.count { y[j] = sigmoid(x[j]) }
            case .softmax:
                softmax(x, into: &y)
            }
            outs.append(y)
        }
        return outs
    }

    public static func forward(_ model: Model, input: [Float]) throws -> [Float] {
        try forwardAll(model, input: input).last!
    }

    static func conv(_ x: [Float], _ xs: TensorShape, _ c: Conv2D, _ w: [Float], _ b: [Float], _ y: inout [Float], _ ys: TensorShape) {
        let icg = xs.c / c.groups, ocg = c.outChannels / c.groups
        for oy in 0..<ys.h { for ox in 0..<ys.w { for oc in 0..<c.outChannels {
            let g = oc / ocg
            var acc = b[oc]
            for ky in 0..<c.kernelH {
                let iy = oy * c.strideH - c.padTop + ky
                if iy < 0 || iy >= xs.h { continue }
                for kx in 0..<c.kernelW {
                    let ix = ox * c.strideW - c.padLeft + kx
                    if ix < 0 || ix >= xs.w { continue }
                    for ic in 0..<icg {
                        acc += x[(iy * xs.w + ix) * xs.c + g * icg + ic] * w[((oc * c.kernelH + ky) * c.kernelW + kx) * icg + ic]
                    }
                }
            }
            y[(oy * ys.w + ox) * ys.c + oc] = c.activation.apply(acc)
        } } }
    }
}

@inline(__always) public func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }

public func softmax(_ x: [Float], into y: inout [Float]) {
    let m = x.max() ?? 0
    var sum: Float = 0
    for j in 0..<x.count { y[j] = Foundation.exp(x[j] - m); sum += y[j] }
    for j in 0..<x.count { y[j] /= sum }
}
