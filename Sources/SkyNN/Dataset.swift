import Foundation
import SkyCore

/// A labelled set of float items for training, calibration and evaluation.
/// File: "SKYDS001", u32 count, h, w, c, u32 target size (0: the target is the
/// input, for autoencoders; 1: a class index), then the items (HWC float32,
/// little-endian), then the targets.
public struct Dataset: Sendable {
    public var shape: TensorShape
    public var targetSize: Int
    public var items: [[Float]]
    public var targets: [[Float]]

    public init(shape: TensorShape, targetSize: Int, items: [[Float]], targets: [[Float]]) {
        self.shape = shape; self.targetSize = targetSize; self.items = items; self.targets = targets
    }

    public var count: Int { items.count }
    public func label(_ i: Int) -> Int { Int(targets[i][0]) }

    public func subset(_ r: Range<Int>) -> Dataset {
        Dataset(shape: shape, targetSize: targetSize, items: Array(items[r]), targets: Array(targets[r]))
    }

    static let magic = Array("SKYDS001".utf8)

    public func write(to path: String) throws {
        var out = Dataset.magic
        for v in [count, shape.h, shape.w, shape.c, targetSize] { appendLE(&out, UInt32(v)) }
        for x in items { x.withUnsafeBytes { out.append(contentsOf: $0) } }
        for t in targets { t.withUnsafeBytes { out.append(contentsOf: $0) } }
        guard FileManager.default.createFile(atPath: path, contents: Data(out)) else {
            throw ModelFileError.io(path: path, reason: "cannot write dataset")
        }
    }

    public static func read(_ path: String) throws -> Dataset {
        guard let data = FileManager.default.contents(atPath: path) else { throw ModelFileError.io(path: path, reason: "cannot read dataset") }
        let b = [UInt8](data)
        guard b.count >= 28, Array(b[0..<8]) == magic else { throw ModelFileError.corrupt(path: path, reason: "not a SKYDS001 dataset") }
        let v: [Int] = b.withUnsafeBytes { p in (0..<5).map { Int(readLE(p, 8 + 4 * $0) as UInt32) } }
        let shape = TensorShape(h: v[1], w: v[2], c: v[3]), n = v[0], t = v[4]
        let need = 28 + 4 * n * (shape.elements + t)
        guard shape.elements > 0, t <= 1_000_000, b.count == need else {
            throw ModelFileError.truncated(path: path, size: b.count, needed: need)
        }
        var items: [[Float]] = [], targets: [[Float]] = []
        b.withUnsafeBytes { p in
            var off = 28
            func floats(_ k: Int) -> [Float] {
                var a = [Float](repeating: 0, count: k)
                a.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: p[off..<(off + 4 * k)])) }
                off += 4 * k
                return a
            }
            for _ in 0..<n { items.append(floats(shape.elements)) }
            for i in 0..<n { targets.append(t == 0 ? items[i] : floats(t)) }
        }
        return Dataset(shape: shape, targetSize: t, items: items, targets: targets)
    }
}

/// A separable synthetic task on stamps: class 0 a star (Gaussian PSF), class 1 a
/// cosmic ray (a few sharp pixels), class 2 a streak (a line), each on noise of sigma 0.1.
/// `amplitude` sets the difficulty: faint sources (e.g. 0.15...0.5) make some items
/// ambiguous, so agreement figures measure more than an easy margin.
public enum SyntheticStamps {
    public static func make(count: Int, shape: TensorShape, classes: Int, seed: UInt64,
                            amplitude: ClosedRange<Double> = 0.8...1.5) -> Dataset {
        var r = SeededRandom(seed: seed)
        var items: [[Float]] = [], targets: [[Float]] = []
        for i in 0..<count {
            let label = i % classes
            var x = [Float](repeating: 0, count: shape.elements)
            for j in 0..<x.count { x[j] = Float(r.gaussian() * 0.1) }
            let cy = Double(shape.h) / 2 + r.uniform(-3, 3), cx = Double(shape.w) / 2 + r.uniform(-3, 3)
            let amp = r.uniform(amplitude.lowerBound, amplitude.upperBound)
            func put(_ y: Int, _ xx: Int, _ v: Double) {
                guard y >= 0, y < shape.h, xx >= 0, xx < shape.w else { return }
                for ch in 0..<shape.c { x[(y * shape.w + xx) * shape.c + ch] += Float(v) }
            }
            switch label {
            case 0:
                let s = r.uniform(1.2, 2.2)
                for y in 0..<shape.h { for xx in 0..<shape.w {
                    let d2 = (Double(y) - cy) * (Double(y) - cy) + (Double(xx) - cx) * (Double(xx) - cx)
                    if d2 < 36 * s * s { put(y, xx, amp * exp(-d2 / (2 * s * s))) }
                } }
            case 1:
                for _ in 0..<(1 + r.index(3)) { put(Int(cy) + r.index(3) - 1, Int(cx) + r.index(3) - 1, amp * 1.5) }
            default:
                let angle = r.uniform(0, Double.pi), len = Double(min(shape.h, shape.w)) * 0.4
                for t in stride(from: -len, through: len, by: 0.5) {
                    put(Int((cy + t * sin(angle)).rounded()), Int((cx + t * cos(angle)).rounded()), amp * 0.5)
                }
            }
            items.append(x); targets.append([Float(label)])
        }
        return Dataset(shape: shape, targetSize: 1, items: items, targets: targets)
    }
}
