import SkyCore
@testable import SkyNN

/// Small models and inputs for the tests, all from seeds.
enum TestModels {
    static func inputs(_ model: Model, count: Int, seed: UInt64) -> [[Float]] {
        var r = SeededRandom(seed: seed)
        return (0..<count).map { _ in (0..<model.inputShape.elements).map { _ in Float(r.gaussian()) } }
    }

    static func quantized(_ model: Model, seed: UInt64 = 9) throws -> Model {
        try Quantizer.quantize(model, calibration: inputs(model, count: 4, seed: seed))
    }

    /// The real/bogus architecture on 23x23x3 stamps (the reference kernels are slow in debug builds).
    static func smallRealBogus(seed: UInt64 = 1) -> Model {
        var b = ModelBuilder(name: "realbogus23", input: TensorShape(h: 23, w: 23, c: 3), seed: seed)
        b.conv(16); b.conv(16); b.add(.maxPool(Pool(size: 2)))
        b.conv(32); b.conv(32); b.add(.maxPool(Pool(size: 4)))
        b.add(.flatten); b.add(.dense(outFeatures: 64, activation: .relu)); b.add(.dense(outFeatures: 1, activation: .none))
        b.add(.sigmoid)
        return b.model
    }

    /// Every op at least once: odd sizes, asymmetric padding, stride 2, groups, depthwise,
    /// leaky/relu6, pools, add, concat, upsample, flatten, dense, softmax.
    static func allOps(seed: UInt64 = 5) -> Model {
        var b = ModelBuilder(name: "allops", input: TensorShape(h: 13, w: 11, c: 3), seed: seed)
        let c1 = b.conv(8, kernel: 3, stride: 1, .leaky(alpha: 0.1))
        var c = Conv2D(outChannels: 8, kernel: 3, stride: 2, activation: .relu6)
        c.padTop = 1; c.padLeft = 0; c.padBottom = 2; c.padRight = 1
        let c2 = b.add(.conv2d(c), inputs: [c1])
        let dw = b.add(.conv2d(Conv2D(outChannels: 8, kernel: 3, stride: 1, padding: 1, groups: 8, activation: .relu)))
        let g2 = b.add(.conv2d(Conv2D(outChannels: 6, kernel: 1, groups: 2, activation: .none)), inputs: [c2])
        let cat = b.add(.concat, inputs: [dw, g2])
        let c5 = b.add(.conv2d(Conv2D(outChannels: 14, kernel: 5, padding: 2, activation: .none)), inputs: [cat])
        let sum = b.add(.add(activation: .relu), inputs: [c5, cat])
        let up = b.add(.upsampleNearest(factor: 2), inputs: [sum])
        let mp = b.add(.maxPool(Pool(size: 3, stride: 2)), inputs: [up])
        let ap = b.add(.avgPool(Pool(size: 2)), inputs: [mp])
        let c6 = b.conv(32, kernel: 1, padding: 0, .relu)
        _ = ap
        let c7 = b.add(.conv2d(Conv2D(outChannels: 16, kernel: 1, activation: .relu)), inputs: [c6])   // direct 1x1 path
        _ = b.add(.globalAvgPool, inputs: [c7])
        let f = b.add(.flatten, inputs: [c6])
        _ = b.add(.dense(outFeatures: 7, activation: .relu), inputs: [f])
        b.add(.dense(outFeatures: 5, activation: .none))
        b.add(.softmax)
        return b.model
    }
}
