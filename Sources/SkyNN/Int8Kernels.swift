/// Int8 kernels in plain Swift, TFLite int8 convention (DESIGN.md section 5).
/// The conv/dense functions are the specification the C kernels are tested
/// against; the others (pooling, add, concat, upsample) are also what the
/// executor runs, so they take pointers and never allocate.
public enum Int8Kernels {
    /// Convolution, NHWC, weights OHWI; padding reads as the input zero point.
    public static func conv2d(_ x: UnsafePointer<Int8>, _ xs: TensorShape, inputZeroPoint zp: Int32, _ c: Conv2D,
                              weights w: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, stage: OutputStage,
                              _ y: UnsafeMutablePointer<Int8>, _ ys: TensorShape) {
        let icg = xs.c / c.groups, ocg = c.outChannels / c.groups
        for oy in 0..<ys.h { for ox in 0..<ys.w { for oc in 0..<c.outChannels {
            let g = oc / ocg
            var acc = bias[oc]
            for ky in 0..<c.kernelH {
                let iy = oy * c.strideH - c.padTop + ky
                for kx in 0..<c.kernelW {
                    let ix = ox * c.strideW - c.padLeft + kx
                    let inside = iy >= 0 && iy < xs.h && ix >= 0 && ix < xs.w
                    for ic in 0..<icg {
                        let v = inside ? Int32(x[(iy * xs.w + ix) * xs.c + g * icg + ic]) : zp
                        acc &+= (v &- zp) &* Int32(w[((oc * c.kernelH + ky) * c.kernelW + kx) * icg + ic])
                    }
                }
            }
            y[(oy * ys.w + ox) * ys.c + oc] = stage.apply(acc, channel: oc)
        } } }
    }

    public static func dense(_ x: UnsafePointer<Int8>, count k: Int, inputZeroPoint zp: Int32, outFeatures n: Int,
                             weights w: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, stage: OutputStage,
                             _ y: UnsafeMutablePointer<Int8>) {
        for o in 0..<n {
            var acc = bias[o]
            for j in 0..<k { acc &+= (Int32(x[j]) &- zp) &* Int32(w[o * k + j]) }
            y[o] = stage.apply(acc, channel: o)
        }
    }

    /// Max pooling, valid windows; output shares the input's quantization.
    public static func maxPool(_ x: UnsafePointer<Int8>, _ xs: TensorShape, _ p: Pool, _ y: UnsafeMutablePointer<Int8>, _ ys: TensorShape) {
        for oy in 0..<ys.h { for ox in 0..<ys.w {
            let o = y + (oy * ys.w + ox) * ys.c
            for ch in 0..<ys.c { o[ch] = -128 }
            for ky in 0..<p.size { for kx in 0..<p.size {
                let i = x + ((oy * p.stride + ky) * xs.w + ox * p.stride + kx) * xs.c
                for ch in 0..<ys.c { o[ch] = max(o[ch], i[ch]) }
            } }
        } }
    }

    /// TFLite's int8 average pool rounding: (sum ± count/2) / count, truncating.
    @inline(__always) static func roundedAverage(_ sum: Int32, _ count: Int32) -> Int8 {
        let avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count
        return Int8(truncatingIfNeeded: min(max(avg, -128), 127))
    }

    public static func avgPool(_ x: UnsafePointer<Int8>, _ xs: TensorShape, _ p: Pool, _ y: UnsafeMutablePointer<Int8>, _ ys: TensorShape) {
        let count = Int32(p.size * p.size)
        for oy in 0..<ys.h { for ox in 0..<ys.w { for ch in 0..<ys.c {
            var sum: Int32 = 0
            for ky in 0..<p.size { for kx in 0..<p.size {
                sum &+= Int32(x[((oy * p.stride + ky) * xs.w + ox * p.stride + kx) * xs.c + ch])
            } }
            y[(oy * ys.w + ox) * ys.c + ch] = roundedAverage(sum, count)
        } } }
    }

    public static func globalAvgPool(_ x: UnsafePointer<Int8>, _ xs: TensorShape, _ y: UnsafeMutablePointer<Int8>) {
        let n = xs.h * xs.w
        for ch in 0..<xs.c {
            var sum: Int32 = 0
            for p in 0..<n { sum &+= Int32(x[p * xs.c + ch]) }
            y[ch] = roundedAverage(sum, Int32(n))
        }
    }

    /// Parameters of TFLite's int8 add (left shift 20, both inputs rescaled to twice the larger scale).
    public struct AddParams: Sendable {
        public var zp1, zp2, zpOut: Int32
        public var m1, m2, mOut: QuantizedMultiplier
        public var lo, hi: Int32
        public init(_ a: QuantParams, _ b: QuantParams, _ out: QuantParams, activation: Activation) {
            let twiceMax = 2 * Double(max(a.scale, b.scale))
            zp1 = a.zeroPoint; zp2 = b.zeroPoint; zpOut = out.zeroPoint
            m1 = QuantizedMultiplier(Double(a.scale) / twiceMax)
            m2 = QuantizedMultiplier(Double(b.scale) / twiceMax)
            mOut = QuantizedMultiplier(twiceMax / (Double(1 << 20) * Double(out.scale)))
            let st = OutputStage(activation: activation == .relu6 || activation == .relu ? activation : .none,
                                 input: out, weightScales: [1], output: out)
            lo = st.activationMin; hi = st.activationMax
        }
    }

    public static func add(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, count: Int, _ p: AddParams, _ y: UnsafeMutablePointer<Int8>) {
        for j in 0..<count {
            let s1 = p.m1.apply((Int32(a[j]) &- p.zp1) << 20)
            let s2 = p.m2.apply((Int32(b[j]) &- p.zp2) << 20)
            let v = p.mOut.apply(s1 &+ s2) &+ p.zpOut
            y[j] = Int8(truncatingIfNeeded: min(max(v, p.lo), p.hi))
        }
    }

    /// Concatenation along channels; an input with other quantization is
    /// rescaled in float as TFLite's concatenation does.
    public static func concatPart(_ x: UnsafePointer<Int8>, pixels: Int, channels c: Int, from: QuantParams,
                                  into y: UnsafeMutablePointer<Int8>, outChannels: Int, offset: Int, to: QuantParams) {
        if from == to {
            for p in 0..<pixels { (y + p * outChannels + offset).update(from: x + p * c, count: c) }
            return
        }
        let scale = from.scale / to.scale, bias = -Float(from.zeroPoint) * scale
        for p in 0..<pixels { for ch in 0..<c {
            let v = (Float(x[p * c + ch]) * scale + bias).rounded() + Float(to.zeroPoint)
            y[p * outChannels + offset + ch] = Int8(max(-128, min(127, v)))
        } }
    }

    public static func upsampleNearest(_ x: UnsafePointer<Int8>, _ xs: TensorShape, factor f: Int, _ y: UnsafeMutablePointer<Int8>) {
        let ow = xs.w * f
        for oy in 0..<(xs.h * f) { for ox in 0..<ow {
            (y + (oy * ow + ox) * xs.c).update(from: x + ((oy / f) * xs.w + ox / f) * xs.c, count: xs.c)
        } }
    }
}
