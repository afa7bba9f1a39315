import SkyCore

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
/// is needed for them. An extractor keeps one model and re-estimates it in
/// place (`estimate(_:mask:options:workspace:pool:)`), which allocates nothing.
public struct BackgroundModel: Sendable {
    public private(set) var width = 0
    public private(set) var height = 0
    public private(set) var boxWidth = 1
    public private(set) var boxHeight = 1
    public private(set) var columns = 0
    public private(set) var rows = 0
    /// Mesh of levels and rms after filtering, row-major `columns x rows`.
    public private(set) var levelMesh: [Float] = []
    public private(set) var rmsMesh: [Float] = []
    /// Spline second derivatives along y (SEP's scaled convention).
    private(set) var levelD2: [Float] = []
    private(set) var rmsD2: [Float] = []
    /// Median of the filtered level mesh and of the rms mesh (SEP's globalback, globalrms).
    public private(set) var global: Float = 0
    public private(set) var globalRMS: Float = 1
    /// Boxes that had no estimate of their own (masked, NaN) and were filled.
    public private(set) var filledBoxes = 0

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case emptyImage
        case badOptions(String)
        case tooLarge(cells: Int, capacity: Int)
        public var description: String {
            switch self {
            case .emptyImage: "background of an empty image"
            case .badOptions(let why): "background options: \(why)"
            case let .tooLarge(cells, capacity): "background mesh of \(cells) boxes exceeds the planned \(capacity)"
            }
        }
    }

    /// Estimates the model of `image`; pixels where `mask` is non-zero, and
    /// non-finite pixels, are left out.
    public init(_ image: ImageView<Float>, mask: ImageView<UInt8>? = nil, options: BackgroundOptions = .init()) throws(Failure) {
        let cells = Self.cellCount(width: image.width, height: image.height, options: options)
        self.init(capacity: cells)
        let workspace = BackgroundWorkspace(maxCells: cells, maxColumns: max(1, (image.width - 1) / max(1, options.boxWidth) + 1),
                                            maxRows: max(1, (image.height - 1) / max(1, options.boxHeight) + 1), threads: 1)
        try estimate(image, mask: mask, options: options, workspace: workspace, pool: nil)
    }

    /// An empty model whose storage holds meshes of up to `cells` boxes.
    init(capacity cells: Int) {
        levelMesh.reserveCapacity(cells); rmsMesh.reserveCapacity(cells)
        levelD2.reserveCapacity(cells); rmsD2.reserveCapacity(cells)
    }

    /// Boxes of the mesh for an image (0 for an empty image or bad options).
    static func cellCount(width: Int, height: Int, options: BackgroundOptions) -> Int {
        guard width > 0, height > 0, options.boxWidth > 0, options.boxHeight > 0 else { return 0 }
        return ((width - 1) / options.boxWidth + 1) * ((height - 1) / options.boxHeight + 1)
    }

    /// Re-estimates this model from `image` in its own storage and `workspace`:
    /// no allocation when the mesh fits the capacity they were made with. Box rows
    /// are estimated in parallel on `pool`.
    mutating func estimate(_ image: ImageView<Float>, mask: ImageView<UInt8>?, options: BackgroundOptions,
                           workspace: BackgroundWorkspace, pool: ThreadPool?) throws(Failure) {
        guard image.width > 0, image.height > 0 else { throw .emptyImage }
        guard options.boxWidth >= 1, options.boxHeight >= 1 else { throw .badOptions("box size must be positive") }
        guard options.filterWidth >= 1, options.filterHeight >= 1 else { throw .badOptions("filter size must be positive") }
        if let mask, mask.width != image.width || mask.height != image.height {
            throw .badOptions("mask is \(mask.width) x \(mask.height), image \(image.width) x \(image.height)")
        }
        let nx = (image.width - 1) / options.boxWidth + 1, ny = (image.height - 1) / options.boxHeight + 1
        guard nx * ny <= workspace.maxCells, nx <= workspace.maxColumns, ny <= workspace.maxRows else {
            throw .tooLarge(cells: nx * ny, capacity: workspace.maxCells)
        }
        width = image.width
        height = image.height
        boxWidth = options.boxWidth
        boxHeight = options.boxHeight
        columns = nx
        rows = ny
        let cells = nx * ny
        // The arrays are moved out while they are filled (unique, so no copy) and moved back.
        var level = Self.resized(&levelMesh, cells), rms = Self.resized(&rmsMesh, cells)
        var levelD = Self.resized(&levelD2, cells), rmsD = Self.resized(&rmsD2, cells)
        let good = workspace.good
        let bw = boxWidth, bh = boxHeight
        var filled = 0, globalLevel: Float = 0, globalNoise: Float = 1
        level.withUnsafeMutableBufferPointer { level in
            rms.withUnsafeMutableBufferPointer { rms in
                pool.forEach(ny) { by, thread in
                    let histogram = workspace.histogram(thread)
                    for bx in 0..<nx {
                        let box = image.subview(x: bx * bw, y: by * bh, width: bw, height: bh)
                        let boxMask = mask?.subview(x: bx * bw, y: by * bh, width: bw, height: bh)
                        if let e = MeshBoxStatistics.estimate(box, mask: boxMask, histogram: histogram) {
                            level[by * nx + bx] = e.mode; rms[by * nx + bx] = e.sigma; good[by * nx + bx] = 1
                        } else {
                            level[by * nx + bx] = 0; rms[by * nx + bx] = 0; good[by * nx + bx] = 0
                        }
                    }
                }
                filled = Self.fillBadBoxes(level, rms, good: good, columns: nx, rows: ny, workspace: workspace)
                Self.medianFilter(level, rms, columns: nx, rows: ny, options: options, workspace: workspace)
                let scratch = UnsafeMutableBufferPointer(rebasing: workspace.copyLevel[0..<cells])
                for i in 0..<cells { scratch[i] = level[i] }
                globalLevel = Self.median(scratch)
                for i in 0..<cells { scratch[i] = rms[i] }
                globalNoise = Self.median(scratch)
                if globalNoise <= 0 {
                    // All-flat boxes (rms 0) would make every threshold 0: use the positive ones, else 1 (as SEP).
                    var positive = 0
                    for v in rms where v > 0 { scratch[positive] = v; positive += 1 }
                    globalNoise = positive == 0 ? 1 : Self.median(UnsafeMutableBufferPointer(rebasing: scratch[0..<positive]))
                }
                let column = workspace.splineScratch(0)
                levelD.withUnsafeMutableBufferPointer { d in
                    MeshSpline.secondDerivativesAlongY(UnsafeBufferPointer(level), columns: nx, rows: ny, into: d, scratch: column)
                }
                rmsD.withUnsafeMutableBufferPointer { d in
                    MeshSpline.secondDerivativesAlongY(UnsafeBufferPointer(rms), columns: nx, rows: ny, into: d, scratch: column)
                }
            }
        }
        levelMesh = level; rmsMesh = rms; levelD2 = levelD; rmsD2 = rmsD
        filledBoxes = filled
        global = globalLevel
        globalRMS = globalNoise
    }

    /// Takes `array` out of its owner, `count` zeros long, keeping its capacity.
    private static func resized(_ array: inout [Float], _ count: Int) -> [Float] {
        var taken: [Float] = []
        swap(&taken, &array)
        taken.removeAll(keepingCapacity: true)
        // A plain loop: the generic append(contentsOf:) allocates in unoptimized builds.
        for _ in 0..<count { taken.append(0) }
        return taken
    }

    /// Background level of row `y` into `line` (at least `width` values).
    public func levelRow(_ y: Int, into line: UnsafeMutableBufferPointer<Float>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: MeshSpline.rowScratchCount(columns: columns)) { levelRow(y, into: line, scratch: $0) }
    }

    /// Background rms of row `y` into `line` (at least `width` values).
    public func rmsRow(_ y: Int, into line: UnsafeMutableBufferPointer<Float>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: MeshSpline.rowScratchCount(columns: columns)) { rmsRow(y, into: line, scratch: $0) }
    }

    /// `levelRow` with caller scratch of `MeshSpline.rowScratchCount(columns:)` floats: no allocation.
    func levelRow(_ y: Int, into line: UnsafeMutableBufferPointer<Float>, scratch: UnsafeMutableBufferPointer<Float>) {
        levelMesh.withUnsafeBufferPointer { m in
            levelD2.withUnsafeBufferPointer { d in
                MeshSpline.evaluateRow(y, mesh: m, d2: d, columns: columns, rows: rows,
                                       boxWidth: boxWidth, boxHeight: boxHeight, width: width, into: line, scratch: scratch)
            }
        }
    }

    /// `rmsRow` with caller scratch of `MeshSpline.rowScratchCount(columns:)` floats: no allocation.
    func rmsRow(_ y: Int, into line: UnsafeMutableBufferPointer<Float>, scratch: UnsafeMutableBufferPointer<Float>) {
        rmsMesh.withUnsafeBufferPointer { m in
            rmsD2.withUnsafeBufferPointer { d in
                MeshSpline.evaluateRow(y, mesh: m, d2: d, columns: columns, rows: rows,
                                       boxWidth: boxWidth, boxHeight: boxHeight, width: width, into: line, scratch: scratch)
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
    static func fillBadBoxes(_ level: UnsafeMutableBufferPointer<Float>, _ rms: UnsafeMutableBufferPointer<Float>,
                             good: UnsafeMutableBufferPointer<UInt8>, columns: Int, rows: Int,
                             workspace: BackgroundWorkspace) -> Int {
        let cells = columns * rows
        var filled = 0
        for i in 0..<cells where good[i] == 0 { filled += 1 }
        guard filled > 0 else { return 0 }
        let original = workspace.copyLevel, originalRMS = workspace.copyRMS
        for i in 0..<cells { original[i] = level[i]; originalRMS[i] = rms[i] }
        for py in 0..<rows {
            for px in 0..<columns where good[py * columns + px] == 0 {
                var best = Float.greatestFiniteMagnitude, sum: Float = 0, sumRMS: Float = 0, count = 0
                for y in 0..<rows {
                    for x in 0..<columns where good[y * columns + x] != 0 {
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
    static func medianFilter(_ level: UnsafeMutableBufferPointer<Float>, _ rms: UnsafeMutableBufferPointer<Float>,
                             columns: Int, rows: Int, options: BackgroundOptions, workspace: BackgroundWorkspace) {
        let hx = options.filterWidth / 2, hy = options.filterHeight / 2
        guard hx > 0 || hy > 0 else { return }
        let cells = columns * rows
        let original = workspace.copyLevel, originalRMS = workspace.copyRMS
        for i in 0..<cells { original[i] = level[i]; originalRMS[i] = rms[i] }
        let windowLevel = workspace.windowLevel, windowRMS = workspace.windowRMS
        for py in 0..<rows {
            let ry = min(hy, rows - 1 - py, py)
            for px in 0..<columns {
                let rx = min(hx, columns - 1 - px, px)
                var n = 0
                for y in (py - ry)...(py + ry) {
                    for x in (px - rx)...(px + rx) {
                        windowLevel[n] = original[y * columns + x]
                        windowRMS[n] = originalRMS[y * columns + x]
                        n += 1
                    }
                }
                let med = median(UnsafeMutableBufferPointer(rebasing: windowLevel[0..<n]))
                if abs(med - original[py * columns + px]) >= options.filterThreshold {
                    level[py * columns + px] = med
                    rms[py * columns + px] = median(UnsafeMutableBufferPointer(rebasing: windowRMS[0..<n]))
                }
            }
        }
    }

    /// Median; the mean of the two middle values for an even count (SEP's fqmedian). Reorders `values`.
    static func median(_ values: UnsafeMutableBufferPointer<Float>) -> Float {
        values.isEmpty ? 0 : Float(selectionMedian(values))
    }
}

/// Scratch of the background estimate, sized once for the largest mesh: the
/// good-box flags, copies for the fill and the median filter, its windows, and
/// per thread a box histogram and spline scratch.
final class BackgroundWorkspace: @unchecked Sendable {
    let maxCells: Int
    let maxColumns: Int
    let maxRows: Int
    let threads: Int
    let good: UnsafeMutableBufferPointer<UInt8>
    let copyLevel: UnsafeMutableBufferPointer<Float>
    let copyRMS: UnsafeMutableBufferPointer<Float>
    let windowLevel: UnsafeMutableBufferPointer<Float>
    let windowRMS: UnsafeMutableBufferPointer<Float>
    private let histograms: UnsafeMutableBufferPointer<UInt64>
    private let splines: UnsafeMutableBufferPointer<Float>
    private let splineStride: Int

    static func bytes(maxCells: Int, maxColumns: Int, maxRows: Int, threads: Int) -> Int {
        maxCells * (1 + 4 * 4) + threads * (MeshBoxStatistics.maxLevels * 8 + 4 * splineCount(maxColumns, maxRows))
    }

    private static func splineCount(_ columns: Int, _ rows: Int) -> Int {
        max(MeshSpline.rowScratchCount(columns: columns), MeshSpline.columnScratchCount(rows: rows))
    }

    init(maxCells: Int, maxColumns: Int, maxRows: Int, threads: Int) {
        self.maxCells = max(1, maxCells)
        self.maxColumns = max(1, maxColumns)
        self.maxRows = max(1, maxRows)
        self.threads = max(1, threads)
        good = .allocate(capacity: self.maxCells); good.initialize(repeating: 0)
        copyLevel = .allocate(capacity: self.maxCells); copyLevel.initialize(repeating: 0)
        copyRMS = .allocate(capacity: self.maxCells); copyRMS.initialize(repeating: 0)
        windowLevel = .allocate(capacity: self.maxCells); windowLevel.initialize(repeating: 0)
        windowRMS = .allocate(capacity: self.maxCells); windowRMS.initialize(repeating: 0)
        histograms = .allocate(capacity: self.threads * MeshBoxStatistics.maxLevels); histograms.initialize(repeating: 0)
        splineStride = Self.splineCount(self.maxColumns, self.maxRows)
        splines = .allocate(capacity: self.threads * splineStride); splines.initialize(repeating: 0)
    }

    deinit {
        good.deallocate(); copyLevel.deallocate(); copyRMS.deallocate(); windowLevel.deallocate(); windowRMS.deallocate()
        histograms.deallocate(); splines.deallocate()
    }

    func histogram(_ thread: Int) -> UnsafeMutableBufferPointer<UInt64> {
        UnsafeMutableBufferPointer(rebasing: histograms[(thread * MeshBoxStatistics.maxLevels)..<((thread + 1) * MeshBoxStatistics.maxLevels)])
    }

    func splineScratch(_ thread: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: splines[(thread * splineStride)..<((thread + 1) * splineStride)])
    }
}
