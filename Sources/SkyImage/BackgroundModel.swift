/// Settings of the full background model; the defaults are SEP's and SExtractor's.
public struct BackgroundOptions: Sendable, Equatable {
    public var boxWidth = 64
    public var boxHeight = 64
    /// Median filter over the mesh, in boxes (odd; 1 = none).
    public var filterWidth = 3
    public var filterHeight = 3
    /// A box is replaced by the filtered value only when they differ by at least this.
    public var filterThreshold: Float = 0
    public init() {}
    public init(box: Int, filter: Int = 3) { boxWidth = box; boxHeight = box; filterWidth = filter; filterHeight = filter }
}

/// Background and noise of a frame as SExtractor/SEP model them: a mesh of
/// per-box estimates (`MeshBoxStatistics`), holes filled from the nearest good
/// boxes, a median filter over the mesh, and natural bicubic splines through
/// the box centres for the full-resolution level and rms maps.
///
/// The mesh is small (a 4096^2 frame has 4096 boxes); the full-resolution maps
/// are evaluated a row at a time into caller memory, so no frame-sized buffer
/// is needed for them.
public struct BackgroundModel: Sendable {
    public let width: Int
    public let height: Int
    public let boxWidth: Int
    public let boxHeight: Int
    public let columns: Int
    public let rows: Int
    /// Mesh of levels and rms after filtering, row-major `columns x rows`.
    public let levelMesh: [Float]
    public let rmsMesh: [Float]
    /// Spline second derivatives along y (SEP's scaled convention).
    let levelD2: [Float]
    let rmsD2: [Float]
    /// Median of the filtered level mesh and of the rms mesh (SEP's globalback, globalrms).
    public let global: Float
    public let globalRMS: Float
    /// Boxes that had no estimate of their own (masked, NaN) and were filled.
    public let filledBoxes: Int

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case emptyImage
        case badOptions(String)
        public var description: String {
            switch self {
            case .emptyImage: "background of an empty image"
            case .badOptions(let why): "background options: \(why)"
            }
        }
    }

    /// Estimates the model of `image`; pixels where `mask` is non-zero, and
    /// non-finite pixels, are left out.
    public init(_ image: ImageView<Float>, mask: ImageView<UInt8>? = nil, options: BackgroundOptions = .init()) throws(Failure) {
        guard image.width > 0, image.height > 0 else { throw .emptyImage }
        guard options.boxWidth >= 1, options.boxHeight >= 1 else { throw .badOptions("box size must be positive") }
        guard options.filterWidth >= 1, options.filterHeight >= 1 else { throw .badOptions("filter size must be positive") }
        if let mask, mask.width != image.width || mask.height != image.height {
            throw .badOptions("mask is \(mask.width) x \(mask.height), image \(image.width) x \(image.height)")
        }
        width = image.width
        height = image.height
        boxWidth = options.boxWidth
        boxHeight = options.boxHeight
        let nx = (width - 1) / boxWidth + 1, ny = (height - 1) / boxHeight + 1
        columns = nx
        rows = ny
        var level = [Float](repeating: 0, count: nx * ny)
        var rms = [Float](repeating: 0, count: nx * ny)
        var good = [Bool](repeating: false, count: nx * ny)
        let histogram = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: MeshBoxStatistics.maxLevels)
        defer { histogram.deallocate() }
        for by in 0..<ny {
            for bx in 0..<nx {
                let box = image.subview(x: bx * boxWidth, y: by * boxHeight, width: boxWidth, height: boxHeight)
                let boxMask = mask?.subview(x: bx * boxWidth, y: by * boxHeight, width: boxWidth, height: boxHeight)
                if let e = MeshBoxStatistics.estimate(box, mask: boxMask, histogram: histogram) {
                    level[by * nx + bx] = e.mode
                    rms[by * nx + bx] = e.sigma
                    good[by * nx + bx] = true
                }
            }
        }
        filledBoxes = Self.fillBadBoxes(&level, &rms, good: good, columns: nx, rows: ny)
        Self.medianFilter(&level, &rms, columns: nx, rows: ny, options: options)
        global = Self.median(level)
        var grms = Self.median(rms)
        if grms <= 0 {
            // All-flat boxes (rms 0) would make every threshold 0: use the positive ones, else 1 (as SEP).
            let positive = rms.filter { $0 > 0 }
            grms = positive.isEmpty ? 1 : Self.median(positive)
        }
        globalRMS = grms
        levelMesh = level
        rmsMesh = rms
        levelD2 = MeshSpline.secondDerivativesAlongY(level, columns: nx, rows: ny)
        rmsD2 = MeshSpline.secondDerivativesAlongY(rms, columns: nx, rows: ny)
    }

    /// Background level of row `y` into `line` (at least `width` values).
    public func levelRow(_ y: Int, into line: UnsafeMutableBufferPointer<Float>) {
        levelMesh.withUnsafeBufferPointer { m in
            levelD2.withUnsafeBufferPointer { d in
                MeshSpline.evaluateRow(y, mesh: m, d2: d, columns: columns, rows: rows,
                                       boxWidth: boxWidth, boxHeight: boxHeight, width: width, into: line)
            }
        }
    }

    /// Background rms of row `y` into `line` (at least `width` values).
    public func rmsRow(_ y: Int, into line: UnsafeMutableBufferPointer<Float>) {
        rmsMesh.withUnsafeBufferPointer { m in
            rmsD2.withUnsafeBufferPointer { d in
                MeshSpline.evaluateRow(y, mesh: m, d2: d, columns: columns, rows: rows,
                                       boxWidth: boxWidth, boxHeight: boxHeight, width: width, into: line)
            }
        }
    }

    /// The full-resolution level map into `view` (the image's size).
    public func fillLevel(_ view: ImageView<Float>) {
        precondition(view.width == width && view.height == height)
        for y in 0..<height { levelRow(y, into: view.row(y)) }
    }

    /// The full-resolution rms map into `view` (the image's size).
    public func fillRMS(_ view: ImageView<Float>) {
        precondition(view.width == width && view.height == height)
        for y in 0..<height { rmsRow(y, into: view.row(y)) }
    }

    /// Subtracts the level map from `image` in place.
    public func subtract(from image: ImageView<Float>) {
        precondition(image.width == width && image.height == height)
        let line = UnsafeMutableBufferPointer<Float>.allocate(capacity: width)
        defer { line.deallocate() }
        for y in 0..<height {
            levelRow(y, into: line)
            let row = image.row(y)
            for x in 0..<width { row[x] -= line[x] }
        }
    }

    // MARK: Mesh steps

    /// Each bad box takes the mean of the nearest good boxes (ties averaged); rms 1 when there are none.
    static func fillBadBoxes(_ level: inout [Float], _ rms: inout [Float], good: [Bool], columns: Int, rows: Int) -> Int {
        var filled = 0
        let original = level, originalRMS = rms
        for py in 0..<rows {
            for px in 0..<columns where !good[py * columns + px] {
                filled += 1
                var best = Float.greatestFiniteMagnitude, sum: Float = 0, sumRMS: Float = 0, count = 0
                for y in 0..<rows {
                    for x in 0..<columns where good[y * columns + x] {
                        let d2 = Float((x - px) * (x - px) + (y - py) * (y - py))
                        if d2 < best { best = d2; sum = original[y * columns + x]; sumRMS = originalRMS[y * columns + x]; count = 1 }
                        else if d2 == best { sum += original[y * columns + x]; sumRMS += originalRMS[y * columns + x]; count += 1 }
                    }
                }
                level[py * columns + px] = count > 0 ? sum / Float(count) : 0
                rms[py * columns + px] = count > 0 ? sumRMS / Float(count) : 1
            }
        }
        return filled
    }

    /// Median filter over the mesh. The window shrinks symmetrically at the
    /// mesh edges (a corner box is its own median), as in SExtractor.
    static func medianFilter(_ level: inout [Float], _ rms: inout [Float], columns: Int, rows: Int, options: BackgroundOptions) {
        let hx = options.filterWidth / 2, hy = options.filterHeight / 2
        guard hx > 0 || hy > 0 else { return }
        var outLevel = level, outRMS = rms
        var windowLevel: [Float] = [], windowRMS: [Float] = []
        windowLevel.reserveCapacity((2 * hx + 1) * (2 * hy + 1))
        windowRMS.reserveCapacity((2 * hx + 1) * (2 * hy + 1))
        for py in 0..<rows {
            let ry = min(hy, rows - 1 - py, py)
            for px in 0..<columns {
                let rx = min(hx, columns - 1 - px, px)
                windowLevel.removeAll(keepingCapacity: true)
                windowRMS.removeAll(keepingCapacity: true)
                for y in (py - ry)...(py + ry) {
                    for x in (px - rx)...(px + rx) {
                        windowLevel.append(level[y * columns + x])
                        windowRMS.append(rms[y * columns + x])
                    }
                }
                let med = median(windowLevel)
                if abs(med - level[py * columns + px]) >= options.filterThreshold {
                    outLevel[py * columns + px] = med
                    outRMS[py * columns + px] = median(windowRMS)
                }
            }
        }
        level = outLevel
        rms = outRMS
    }

    /// Median; the mean of the two middle values for an even count (SEP's fqmedian).
    static func median(_ values: [Float]) -> Float {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        let n = s.count
        return n % 2 == 1 ? s[n / 2] : Float((Double(s[n / 2 - 1]) + Double(s[n / 2])) / 2)
    }
}
