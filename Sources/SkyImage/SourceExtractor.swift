import Foundation

/// Settings of source extraction; defaults follow `sep.extract`.
public struct ExtractionOptions: Sendable, Equatable {
    /// Detection threshold in units of the local background rms.
    public var threshold: Float = 5
    /// Fewest connected (8-neighbour) pixels above the threshold.
    public var minArea = 5
    /// Matched filter (SEP's default 3x3 kernel); off: raw pixels against k x rms.
    public var matchedFilter = true
    /// Multi-threshold deblending: levels between threshold and peak, and the
    /// fraction of the total flux a branch needs to count as a separate source.
    public var deblendLevels = 32
    public var deblendContrast: Float = 0.005
    /// Aperture radius for `apertureFlux` (px).
    public var apertureRadius: Double = 5
    /// Pixels at or above this (in the raw image) flag a source as saturated.
    public var saturation: Float = .infinity
    /// e-/ADU for the Poisson part of flux errors; 0 leaves it out.
    public var gain: Double = 0
    /// SExtractor's cleaning: drop detections explained by a brighter neighbour's wings.
    public var clean = true
    public var cleanParameter = 1.0
    /// Most sources kept per frame.
    public var capacity = 20_000
    public init() {}
}

/// Finds and measures sources in a frame: background model, matched filter,
/// 8-connected segmentation above k x rms, multi-threshold deblending, and
/// per-source measurement (`SourceMeasurer`).
///
/// An extractor owns frame-sized scratch for frames up to the size it was made
/// for and reuses it; only deblending of blended objects allocates.
public final class SourceExtractor: @unchecked Sendable {
    public let maxWidth: Int
    public let maxHeight: Int
    public var options: ExtractionOptions
    public var backgroundOptions: BackgroundOptions

    /// Background-subtracted image, rms map, convolved image, matched-filter S/N.
    let subtracted: UnsafeMutableBufferPointer<Float>
    let rms: UnsafeMutableBufferPointer<Float>
    let convolved: UnsafeMutableBufferPointer<Float>
    let snr: UnsafeMutableBufferPointer<Float>
    let inverseVariance: UnsafeMutableBufferPointer<Float>
    /// Object label per pixel (0: none), flood-fill stack, pixel lists.
    let labels: UnsafeMutableBufferPointer<Int32>
    let stack: UnsafeMutableBufferPointer<Int32>
    let pixelList: UnsafeMutableBufferPointer<Int32>
    /// Stamps for connected components inside one object (deblending).
    let stamps: UnsafeMutableBufferPointer<Int32>
    var stampCounter: Int32 = 0

    public private(set) var background: BackgroundModel?
    /// Seconds spent in the last `extract`: background model, maps + filter, segmentation + deblending + measurement.
    public private(set) var stageSeconds: (background: Double, filter: Double, objects: Double) = (0, 0, 0)

    public enum Failure: Error, CustomStringConvertible {
        case tooLarge(width: Int, height: Int, maxWidth: Int, maxHeight: Int)
        case background(BackgroundModel.Failure)
        public var description: String {
            switch self {
            case let .tooLarge(w, h, mw, mh): "frame \(w) x \(h) exceeds the extractor's \(mw) x \(mh)"
            case let .background(f): f.description
            }
        }
    }

    public init(maxWidth: Int, maxHeight: Int, options: ExtractionOptions = .init(), background: BackgroundOptions = .init()) {
        precondition(maxWidth > 0 && maxHeight > 0)
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.options = options
        self.backgroundOptions = background
        let n = maxWidth * maxHeight
        subtracted = .allocate(capacity: n)
        rms = .allocate(capacity: n)
        convolved = .allocate(capacity: n)
        snr = .allocate(capacity: n)
        inverseVariance = .allocate(capacity: n)
        labels = .allocate(capacity: n)
        stack = .allocate(capacity: n)
        pixelList = .allocate(capacity: n)
        stamps = .allocate(capacity: n)
        stamps.initialize(repeating: 0)
    }

    deinit {
        subtracted.deallocate(); rms.deallocate(); convolved.deallocate(); snr.deallocate(); inverseVariance.deallocate()
        labels.deallocate(); stack.deallocate(); pixelList.deallocate(); stamps.deallocate()
    }

    /// Background, detection and measurement of `image`.
    public func extract(_ image: ImageView<Float>, mask: ImageView<UInt8>? = nil) throws(Failure) -> SourceCatalog {
        let w = image.width, h = image.height
        guard w <= maxWidth, h <= maxHeight, w * h <= maxWidth * maxHeight else {
            throw .tooLarge(width: w, height: h, maxWidth: maxWidth, maxHeight: maxHeight)
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let model: BackgroundModel
        do { model = try BackgroundModel(image, mask: mask, options: backgroundOptions) } catch { throw .background(error) }
        background = model
        let t1 = DispatchTime.now().uptimeNanoseconds
        prepareMaps(image, model)
        if options.matchedFilter {
            SourceFilter.matchedFast(subtracted, inverseVariance: inverseVariance, width: w, height: h, convolved: convolved, snr: snr)
        }
        else { SourceFilter.none(subtracted, rms, width: w, height: h, convolved: convolved, snr: snr) }
        let t2 = DispatchTime.now().uptimeNanoseconds
        defer {
            let t3 = DispatchTime.now().uptimeNanoseconds
            stageSeconds = (Double(t1 - t0) / 1e9, Double(t2 - t1) / 1e9, Double(t3 - t2) / 1e9)
        }
        var catalog = SourceCatalog(capacity: options.capacity)
        segment(width: w, height: h) { pixels in
            self.deblendAndMeasure(pixels, image: image, width: w, height: h, into: &catalog)
        }
        if options.clean { SourceCleaner.clean(&catalog, beta: options.cleanParameter) }
        return catalog
    }

    /// Trails in the last extracted frame (uses the detection S/N map; reuses the segmentation scratch).
    public func trails(width w: Int, height h: Int) -> [TrailSegment] {
        TrailFinder.find(snr: snr, width: w, height: h, labels: labels, stack: stack, pixels: pixelList)
    }

    /// The background-subtracted pixels and rms of the last extracted frame (valid until the next `extract`).
    public func withMaps<R>(_ body: (_ subtracted: UnsafeBufferPointer<Float>, _ rms: UnsafeBufferPointer<Float>) -> R) -> R {
        body(UnsafeBufferPointer(subtracted), UnsafeBufferPointer(rms))
    }

    /// image - background into `subtracted`, the rms map into `rms`; NaN pixels become 0 signal.
    private func prepareMaps(_ image: ImageView<Float>, _ model: BackgroundModel) {
        let w = image.width
        for y in 0..<image.height {
            let level = UnsafeMutableBufferPointer(rebasing: subtracted[(y * w)..<(y * w + w)])
            model.levelRow(y, into: level)
            model.rmsRow(y, into: UnsafeMutableBufferPointer(rebasing: rms[(y * w)..<(y * w + w)]))
            let row = image.row(y)
            for x in 0..<w {
                inverseVariance[y * w + x] = SourceFilter.inverseVariance(rms[y * w + x])
                let v = row[x]
                level[x] = v.isFinite ? v - level[x] : 0
            }
        }
    }

    /// Flood-fills 8-connected pixels with S/N above the threshold; calls `body`
    /// with each component of at least `minArea` pixels.
    private func segment(width w: Int, height h: Int, _ body: (UnsafeMutableBufferPointer<Int32>) -> Void) {
        ConnectedRegions.forEach(above: options.threshold, in: snr, width: w, height: h, labels: labels, stack: stack,
                                 pixels: pixelList, minArea: options.minArea, body)
    }

    private func deblendAndMeasure(_ pixels: UnsafeMutableBufferPointer<Int32>, image: ImageView<Float>,
                                   width w: Int, height h: Int, into catalog: inout SourceCatalog) {
        let measurer = SourceMeasurer(image: image, subtracted: subtracted, rms: rms, snr: snr, convolved: convolved, width: w, height: h, options: options)
        let children = deblend(pixels, width: w)
        if children.count <= 1 {
            catalog.append(measurer.measure(pixels, blended: false))
            return
        }
        for child in children {
            child.withUnsafeBufferPointer { c in
                let mutable = UnsafeMutableBufferPointer(mutating: c)
                catalog.append(measurer.measure(mutable, blended: true))
            }
        }
    }

    // MARK: Deblending

    /// Splits an object into children by SExtractor's multi-threshold rule; one
    /// element (or none) means the object stays whole.
    func deblend(_ pixels: UnsafeMutableBufferPointer<Int32>, width w: Int) -> [[Int32]] {
        let levels = options.deblendLevels
        guard levels > 1, pixels.count >= 2 * options.minArea else { return [] }
        var peak: Float = -.infinity, total: Double = 0, thresholdSum: Double = 0
        for p in pixels {
            let c = convolved[Int(p)]
            peak = max(peak, c)
            total += Double(c)
            thresholdSum += Double(options.threshold * rms[Int(p)])
        }
        // Levels run from the object's threshold (mean k x rms over it, as SEP) to its filtered peak.
        let base = Float(thresholdSum / Double(pixels.count))
        guard base > 0, peak > base, total > 0 else { return [] }
        let minimum = Double(options.deblendContrast) * total
        let seeds = split(Array(pixels), from: 1, base: base, peak: peak, minimum: minimum, width: w)
        guard seeds.count >= 2 else { return [] }
        return assign(Array(pixels), to: seeds, threshold: base, width: w)
    }

    /// Seeds of the deblending tree inside `set` (a component at level
    /// `first - 1`): where a node has two or more branches whose flux above
    /// their level exceeds `minimum`, each such branch is a seed unless it splits
    /// again further up. A set that never splits is its own single seed.
    private func split(_ set: [Int32], from first: Int, base: Float, peak: Float, minimum: Double, width w: Int) -> [[Int32]] {
        let levels = options.deblendLevels
        var current = set
        var k = first
        while k < levels {
            let t = base * powf(peak / base, Float(k) / Float(levels))
            let parts = components(of: current, above: t, width: w)
            let significant = parts.filter { part in
                part.reduce(0.0) { $0 + Double(convolved[Int($1)]) } - Double(t) * Double(part.count) > minimum
            }
            if significant.count >= 2 {
                return significant.flatMap { split($0, from: k + 1, base: base, peak: peak, minimum: minimum, width: w) }
            }
            // One significant branch: climb it; the small ones are noise on its flank.
            guard let only = significant.first else { break }
            current = only
            k += 1
        }
        return [set]
    }

    /// 8-connected parts of `set` whose convolved value exceeds `t`, with at least `minArea` pixels.
    private func components(of set: [Int32], above t: Float, width w: Int) -> [[Int32]] {
        stampCounter &+= 2
        if stampCounter <= 0 { stamps.update(repeating: 0); stampCounter = 2 }
        let inSet = stampCounter, visited = stampCounter - 1
        for p in set where convolved[Int(p)] > t { stamps[Int(p)] = inSet }
        let h = set.isEmpty ? 0 : Int(set.max()!) / w + 2
        var parts: [[Int32]] = []
        for s in set where stamps[Int(s)] == inSet {
            var part: [Int32] = []
            var todo: [Int32] = [s]
            stamps[Int(s)] = visited
            while let p = todo.popLast() {
                part.append(p)
                let px = Int(p) % w, py = Int(p) / w
                for dy in -1...1 {
                    let ny = py + dy
                    guard ny >= 0, ny < h else { continue }
                    for dx in -1...1 {
                        let nx = px + dx
                        guard nx >= 0, nx < w else { continue }
                        let q = ny * w + nx
                        if q < stamps.count && stamps[q] == inSet { stamps[q] = visited; todo.append(Int32(q)) }
                    }
                }
            }
            if part.count >= options.minArea { parts.append(part) }
        }
        return parts
    }

    /// Every pixel of the object outside the seeds goes to the seed whose
    /// Gaussian model (SEP's gatherup: amplitude from the seed's area and
    /// threshold, shape from its moments) is brightest there. SEP draws the
    /// owner at random in proportion to these; here the most likely one wins,
    /// so results are reproducible.
    private func assign(_ all: [Int32], to seeds: [[Int32]], threshold: Float, width w: Int) -> [[Int32]] {
        struct Model { var mx, my, cxx, cyy, cxy, logAmp: Double }
        var models: [Model] = []
        for seed in seeds {
            var s = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0, fdpeak = -Double.infinity
            for p in seed {
                let v = Double(convolved[Int(p)]), x = Double(Int(p) % w), y = Double(Int(p) / w)
                s += v; sx += v * x; sy += v * y; sxx += v * x * x; syy += v * y * y; sxy += v * x * y
                fdpeak = max(fdpeak, v)
            }
            let mx = sx / s, my = sy / s
            var x2 = sxx / s - mx * mx, y2 = syy / s - my * my
            let xy = sxy / s - mx * my
            if x2 * y2 - xy * xy < 0.00694 { x2 += 0.0833333; y2 += 0.0833333 }
            let det = x2 * y2 - xy * xy
            let half = 0.5 * (x2 - y2), root = (half * half + xy * xy).squareRoot(), mean = 0.5 * (x2 + y2)
            let a = max(mean + root, 0).squareRoot(), b = max(mean - root, 0).squareRoot()
            let dist = Double(seed.count) / (2 * Double.pi * max(a * b, 1e-6))
            let amp = min(dist < 70 ? Double(threshold) * exp(dist) : 4 * fdpeak, 4 * fdpeak)
            models.append(Model(mx: mx, my: my, cxx: y2 / det, cyy: x2 / det, cxy: -2 * xy / det, logAmp: log(max(amp, 1e-30))))
        }
        var owner = [Int32: Int]()
        for (i, seed) in seeds.enumerated() { for p in seed { owner[p] = i } }
        var children = seeds
        for p in all where owner[p] == nil {
            let x = Double(Int(p) % w), y = Double(Int(p) / w)
            var best = 0, bestValue = -Double.infinity
            for (i, m) in models.enumerated() {
                let dx = x - m.mx, dy = y - m.my
                let v = m.logAmp - 0.5 * (m.cxx * dx * dx + m.cyy * dy * dy + m.cxy * dx * dy)
                if v > bestValue { bestValue = v; best = i }
            }
            children[best].append(p)
        }
        return children
    }
}
