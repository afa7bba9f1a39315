/// A coarse background and noise estimate: the frame is cut into boxes, each box
/// gets a clipped median (level) and a robust sigma (1.4826 x MAD), and the
/// level between box centres is interpolated bilinearly. It is the first-look
/// estimate the site runtime uses on every frame; it allocates nothing after
/// `init` (all buffers come from the caller's scratch).
public struct BackgroundMesh {
    public let boxSize: Int
    public private(set) var columns = 0
    public private(set) var rows = 0
    public private(set) var imageWidth = 0
    public private(set) var imageHeight = 0
    /// Per-box levels and sigmas, row-major, `columns x rows` valid entries.
    let levels: UnsafeMutableBufferPointer<Float>
    let sigmas: UnsafeMutableBufferPointer<Float>
    /// Room to select the median of levels and sigmas without disturbing them.
    let summaryScratch: UnsafeMutableBufferPointer<Float>
    /// Holds one box's pixels during selection.
    let boxScratch: UnsafeMutableBufferPointer<UInt16>

    /// Bytes of scratch a mesh over frames up to `maxWidth x maxHeight` needs, for the memory plan.
    public static func scratchBytes(maxWidth: Int, maxHeight: Int, boxSize: Int) -> Int {
        let cells = cellCount(maxWidth, boxSize) * cellCount(maxHeight, boxSize)
        return cells * 3 * MemoryLayout<Float>.stride + boxSize * boxSize * MemoryLayout<UInt16>.stride
    }

    static func cellCount(_ n: Int, _ box: Int) -> Int { max(1, (n + box - 1) / box) }

    /// `scratch` must hold `scratchBytes(...)` bytes and outlive the mesh.
    public init(maxWidth: Int, maxHeight: Int, boxSize: Int, scratch: UnsafeMutableRawBufferPointer) {
        precondition(boxSize >= 8)
        precondition(scratch.count >= Self.scratchBytes(maxWidth: maxWidth, maxHeight: maxHeight, boxSize: boxSize))
        self.boxSize = boxSize
        let cells = Self.cellCount(maxWidth, boxSize) * Self.cellCount(maxHeight, boxSize)
        let base = scratch.baseAddress!
        levels = UnsafeMutableBufferPointer(start: base.bindMemory(to: Float.self, capacity: cells), count: cells)
        sigmas = UnsafeMutableBufferPointer(start: (base + cells * 4).bindMemory(to: Float.self, capacity: cells), count: cells)
        summaryScratch = UnsafeMutableBufferPointer(start: (base + cells * 8).bindMemory(to: Float.self, capacity: cells), count: cells)
        let boxBase = (base + cells * 12).bindMemory(to: UInt16.self, capacity: boxSize * boxSize)
        boxScratch = UnsafeMutableBufferPointer(start: boxBase, count: boxSize * boxSize)
    }

    /// Estimates every box of `image`. Pixels at or above `saturation` are left
    /// out, so bright stars and blooming do not lift the level.
    public mutating func estimate(_ image: ImageView<UInt16>, saturation: UInt16 = .max) {
        imageWidth = image.width
        imageHeight = image.height
        columns = Self.cellCount(image.width, boxSize)
        rows = Self.cellCount(image.height, boxSize)
        precondition(columns * rows <= levels.count, "frame larger than the mesh was planned for")
        for cy in 0..<rows {
            for cx in 0..<columns {
                let box = image.subview(x: cx * boxSize, y: cy * boxSize, width: boxSize, height: boxSize)
                let (level, sigma) = clippedLevel(box, saturation: saturation)
                levels[cy * columns + cx] = level
                sigmas[cy * columns + cx] = sigma
            }
        }
        fillEmptyBoxes()
    }

    /// Median and robust sigma of one box, after one 3-sigma clip that removes stars.
    private func clippedLevel(_ box: ImageView<UInt16>, saturation: UInt16) -> (Float, Float) {
        var n = 0
        for y in 0..<box.height {
            let row = box.row(y)
            for v in row where v < saturation {
                boxScratch[n] = v
                n &+= 1
            }
        }
        // Fewer than a quarter of usable pixels: not a sky box (saturated blob, tiny edge box).
        guard n >= max(8, box.pixelCount / 4) else { return (.nan, .nan) }
        var used = UnsafeMutableBufferPointer(rebasing: boxScratch[0..<n])
        var median = Float(selectKth(used, n / 2))
        var sigma = madSigma(used, median: median)
        // One clip at +-3 sigma, then the same statistics on what is left.
        let lo = median - 3 * max(sigma, 0.5), hi = median + 3 * max(sigma, 0.5)
        var m = 0
        for i in 0..<n {
            let v = Float(used[i])
            if v >= lo && v <= hi { used[m] = used[i]; m &+= 1 }
        }
        if m >= 8 {
            used = UnsafeMutableBufferPointer(rebasing: boxScratch[0..<m])
            median = Float(selectKth(used, m / 2))
            sigma = madSigma(used, median: median)
        }
        return (median, sigma)
    }

    /// 1.4826 x median absolute deviation. Reuses `values` (reordered) and the
    /// fact that |v - median| fits in UInt16.
    private func madSigma(_ values: UnsafeMutableBufferPointer<UInt16>, median: Float) -> Float {
        let med = Int(median)
        for i in 0..<values.count {
            let d = Int(values[i]) - med
            values[i] = UInt16(truncatingIfNeeded: d < 0 ? -d : d)
        }
        let mad = Float(selectKth(values, values.count / 2))
        // Integer data: a MAD of 0 means the box is quantized flat; 0.5 ADU is the honest floor.
        return 1.4826 * max(mad, 0.5)
    }

    /// Boxes without a level (all saturated) take their valid neighbours' mean,
    /// repeated until the mesh is full; an image with no valid box gets 0.
    private mutating func fillEmptyBoxes() {
        let count = columns * rows
        var missing = 0
        for i in 0..<count where levels[i].isNaN { missing &+= 1 }
        var passes = 0
        while missing > 0 && missing < count && passes < columns + rows {
            passes += 1
            for cy in 0..<rows {
                for cx in 0..<columns where levels[cy * columns + cx].isNaN {
                    var sl: Float = 0, ss: Float = 0, k: Float = 0
                    for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                        let nx = cx + dx, ny = cy + dy
                        guard nx >= 0, ny >= 0, nx < columns, ny < rows else { continue }
                        let j = ny * columns + nx
                        if !levels[j].isNaN && levels[j] >= 0 { sl += levels[j]; ss += sigmas[j]; k += 1 }
                    }
                    // Negative marks "filled this pass" so a fill does not spread within one pass.
                    if k > 0 { levels[cy * columns + cx] = -(sl / k) - 1; sigmas[cy * columns + cx] = ss / k }
                }
            }
            missing = 0
            for i in 0..<count {
                if levels[i] < 0 { levels[i] = -levels[i] - 1 } else if levels[i].isNaN { missing &+= 1 }
            }
        }
        if missing == count { for i in 0..<count { levels[i] = 0; sigmas[i] = 0 } }
    }

    /// Level interpolated bilinearly between box centres (constant beyond the outer centres).
    @inline(__always)
    public func level(x: Int, y: Int) -> Float {
        let (c0, c1, fx) = Self.interpolation(Float(x), boxSize, columns)
        let (r0, r1, fy) = Self.interpolation(Float(y), boxSize, rows)
        let a = levels[r0 * columns + c0], b = levels[r0 * columns + c1]
        let c = levels[r1 * columns + c0], d = levels[r1 * columns + c1]
        return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy
    }

    /// Sigma of the box holding (x, y).
    @inline(__always)
    public func sigma(x: Int, y: Int) -> Float {
        sigmas[min(rows - 1, y / boxSize) * columns + min(columns - 1, x / boxSize)]
    }

    @inline(__always)
    static func interpolation(_ p: Float, _ box: Int, _ n: Int) -> (Int, Int, Float) {
        let t = (p + 0.5) / Float(box) - 0.5
        if t <= 0 || n == 1 { return (0, 0, 0) }
        let i = Int(t)
        if i >= n - 1 { return (n - 1, n - 1, 0) }
        return (i, i + 1, t - Float(i))
    }

    /// Median of the box levels and of the box sigmas: one number each for the frame.
    public func summary() -> (level: Float, sigma: Float) {
        let n = columns * rows
        guard n > 0 else { return (0, 0) }
        let tmp = UnsafeMutableBufferPointer(rebasing: summaryScratch[0..<n])
        for i in 0..<n { tmp[i] = levels[i] }
        let l = selectKth(tmp, n / 2)
        for i in 0..<n { tmp[i] = sigmas[i] }
        let s = selectKth(tmp, n / 2)
        return (l, s)
    }
}
