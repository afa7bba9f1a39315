import CSkyKernels
import Foundation
import SkyCore

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
    /// Largest object (pixels above the threshold, connected) that is measured;
    /// larger ones (a nebula, the Moon) are counted in `SourceCatalog.oversized`.
    public var maxObjectPixels = 1 << 18
    public init() {}
}
/// Finds and measures sources in a frame: background model, matched filter,
/// 8-connected segmentation above k x rms, multi-threshold deblending, and
/// per-source measurement (`SourceMeasurer`).
///
/// All memory is laid out when the extractor is made, for frames up to the size
/// and source count it was made for (one block: `scratchBytes`, which a site takes
/// from its arena); extracting a frame into a catalogue allocates nothing. Frame-sized
/// maps: the background-subtracted image, rms, filtered image, detection S/N and
/// labels; the rest is per thread and bounded by `maxObjectPixels`. With more than
/// one thread, the mesh, the maps and the measurement run in row bands and object
/// chunks on a fixed pool; results do not depend on the thread count.
public final class SourceExtractor: @unchecked Sendable {
    public let maxWidth: Int
    public let maxHeight: Int
    /// Settings; `capacity` and `maxObjectPixels` are fixed at init (the scratch is sized by them).
    public var options: ExtractionOptions
    public var backgroundOptions: BackgroundOptions
    public let threads: Int

    /// Background-subtracted image, rms map, convolved image, matched-filter S/N, labels.
    let subtracted: UnsafeMutableBufferPointer<Float>
    let rms: UnsafeMutableBufferPointer<Float>
    let convolved: UnsafeMutableBufferPointer<Float>
    let snr: UnsafeMutableBufferPointer<Float>
    let labels: UnsafeMutableBufferPointer<Int32>
    /// Objects found by segmentation: label, first pixel, area.
    let objectLabel: UnsafeMutableBufferPointer<Int32>
    let objectSeed: UnsafeMutableBufferPointer<Int32>
    let objectArea: UnsafeMutableBufferPointer<Int32>
    /// Measured sources of each object chunk before they are merged in order (threads > 1).
    let chunkSources: UnsafeMutableBufferPointer<Source>
    let chunkCounts: UnsafeMutableBufferPointer<Int>
    let workers: [ExtractionWorker]
    /// Cleaning scratch: models, order, survivors.
    let cleanModels: UnsafeMutableBufferPointer<SourceCleaner.Model>
    let cleanOrder: UnsafeMutableBufferPointer<Int32>
    let cleanKeep: UnsafeMutableBufferPointer<Bool>
    let capacity: Int
    let maxObjectPixels: Int
    private let ownedScratch: UnsafeMutableRawBufferPointer?
    private let backgroundWorkspace: BackgroundWorkspace
    private let pool: ThreadPool?

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

    /// Bytes of scratch an extractor needs (the `scratch` region of `init`).
    public static func scratchBytes(maxWidth: Int, maxHeight: Int, options: ExtractionOptions = .init(), threads: Int = 1) -> Int {
        var layout = ScratchLayout()
        _ = Layout(&layout, maxWidth: maxWidth, maxHeight: maxHeight, options: options, threads: threads)
        return layout.bytes
    }

    /// Bytes held outside the scratch region: the background mesh and its workspace, the thread pool.
    public static func smallBytes(maxWidth: Int, maxHeight: Int, background: BackgroundOptions = .init(), threads: Int = 1) -> Int {
        let columns = (maxWidth - 1) / max(1, background.boxWidth) + 1, rows = (maxHeight - 1) / max(1, background.boxHeight) + 1
        return BackgroundWorkspace.bytes(maxCells: columns * rows, maxColumns: columns, maxRows: rows, threads: threads)
            + 4 * 4 * columns * rows + max(0, threads - 1) * (64 << 10)
    }

    /// The buffers of the scratch region, in order.
    private struct Layout {
        var subtracted, rms, convolved, snr: UnsafeMutableBufferPointer<Float>
        var labels, objectLabel, objectSeed, objectArea, cleanOrder: UnsafeMutableBufferPointer<Int32>
        var chunkSources: UnsafeMutableBufferPointer<Source>
        var chunkCounts: UnsafeMutableBufferPointer<Int>
        var cleanModels: UnsafeMutableBufferPointer<SourceCleaner.Model>
        var cleanKeep: UnsafeMutableBufferPointer<Bool>
        var workers: [ExtractionWorker]

        init(_ layout: inout ScratchLayout, maxWidth: Int, maxHeight: Int, options: ExtractionOptions, threads: Int) {
            let n = maxWidth * maxHeight, c = max(1, options.capacity)
            subtracted = layout.take(Float.self, n)
            rms = layout.take(Float.self, n)
            convolved = layout.take(Float.self, n)
            snr = layout.take(Float.self, n)
            labels = layout.take(Int32.self, n)
            objectLabel = layout.take(Int32.self, c)
            objectSeed = layout.take(Int32.self, c)
            objectArea = layout.take(Int32.self, c)
            chunkSources = layout.take(Source.self, threads > 1 ? threads * c : 0)
            chunkCounts = layout.take(Int.self, 2 * threads)
            cleanModels = layout.take(SourceCleaner.Model.self, c)
            cleanOrder = layout.take(Int32.self, c)
            cleanKeep = layout.take(Bool.self, c)
            workers = []
            for _ in 0..<threads {
                workers.append(ExtractionWorker.take(&layout, maxObjectPixels: max(1, min(options.maxObjectPixels, n)), maxWidth: maxWidth))
            }
        }
    }

    /// An extractor for frames up to `maxWidth x maxHeight`. `scratch`, when given,
    /// must hold `scratchBytes(...)` and outlive the extractor (an arena region);
    /// otherwise the extractor allocates it. `threads` counts the caller.
    public init(maxWidth: Int, maxHeight: Int, options: ExtractionOptions = .init(), background: BackgroundOptions = .init(),
                threads: Int = 1, scratch: UnsafeMutableRawBufferPointer? = nil) {
        precondition(maxWidth > 0 && maxHeight > 0)
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.options = options
        self.backgroundOptions = background
        self.threads = max(1, threads)
        let bytes = Self.scratchBytes(maxWidth: maxWidth, maxHeight: maxHeight, options: options, threads: self.threads)
        let (region, owned) = ScratchLayout.memory(scratch, bytes: bytes, for: "extractor scratch")
        ownedScratch = owned
        var carver = ScratchLayout(region)
        let layout = Layout(&carver, maxWidth: maxWidth, maxHeight: maxHeight, options: options, threads: self.threads)
        subtracted = layout.subtracted; rms = layout.rms; convolved = layout.convolved; snr = layout.snr
        labels = layout.labels
        objectLabel = layout.objectLabel; objectSeed = layout.objectSeed; objectArea = layout.objectArea
        chunkSources = layout.chunkSources; chunkCounts = layout.chunkCounts
        cleanModels = layout.cleanModels; cleanOrder = layout.cleanOrder; cleanKeep = layout.cleanKeep
        workers = layout.workers
        capacity = max(1, options.capacity)
        maxObjectPixels = workers[0].maxObjectPixels
        let columns = (maxWidth - 1) / max(1, background.boxWidth) + 1, rows = (maxHeight - 1) / max(1, background.boxHeight) + 1
        backgroundWorkspace = BackgroundWorkspace(maxCells: columns * rows, maxColumns: columns, maxRows: rows, threads: self.threads)
        self.background = BackgroundModel(capacity: columns * rows)
        pool = self.threads > 1 ? ThreadPool(threads: self.threads) : nil
    }

    deinit { ownedScratch?.deallocate() }

    /// Background, detection and measurement of `image` into a new catalogue.
    public func extract(_ image: ImageView<Float>, mask: ImageView<UInt8>? = nil) throws(Failure) -> SourceCatalog {
        var catalog = SourceCatalog(capacity: options.capacity)
        try extract(image, mask: mask, into: &catalog)
        return catalog
    }

    /// Background, detection and measurement of `image` into `catalog` (emptied
    /// first; it keeps at most its capacity). Allocates nothing.
    public func extract(_ image: ImageView<Float>, mask: ImageView<UInt8>? = nil, into catalog: inout SourceCatalog) throws(Failure) {
        let w = image.width, h = image.height
        guard w <= maxWidth, h <= maxHeight, w * h <= maxWidth * maxHeight else {
            throw .tooLarge(width: w, height: h, maxWidth: maxWidth, maxHeight: maxHeight)
        }
        catalog.removeAll()
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            // Re-estimated in place; a model the caller still holds from the last frame is left alone (copy on write).
            var model = background ?? BackgroundModel(capacity: 0)
            background = nil
            defer { background = model }
            try model.estimate(image, mask: mask, options: backgroundOptions, workspace: backgroundWorkspace, pool: pool)
        } catch { throw .background(error) }
        let t1 = DispatchTime.now().uptimeNanoseconds
        prepareMaps(image, background!)
        filterAndMark(width: w, height: h)
        let t2 = DispatchTime.now().uptimeNanoseconds
        defer {
            let t3 = DispatchTime.now().uptimeNanoseconds
            stageSeconds = (Double(t1 - t0) / 1e9, Double(t2 - t1) / 1e9, Double(t3 - t2) / 1e9)
        }
        let objects = segment(width: w, height: h, catalog: &catalog)
        measure(objects: objects, image: image, width: w, height: h, into: &catalog)
        if options.clean {
            SourceCleaner.clean(&catalog, beta: options.cleanParameter, models: cleanModels, order: cleanOrder, keep: cleanKeep)
        }
    }

    /// Trails in the last extracted frame (uses the detection S/N map; reuses the segmentation scratch).
    public func trails(width w: Int, height h: Int) -> [TrailSegment] {
        TrailFinder.find(snr: snr, width: w, height: h, labels: labels, queue: workers[0].pixels,
                         scratch: workers[0].temp, pool: pool)
    }

    /// As `trails(width:height:)`, into `trails` (at most `limit` pieces; see `TrailFinder.find`):
    /// allocates nothing when `trails` has room for them. Returns whether pieces were left out.
    func trails(width w: Int, height h: Int, into trails: inout [TrailSegment], limit: Int) -> Bool {
        TrailFinder.find(snr: snr, width: w, height: h, labels: labels, queue: workers[0].pixels,
                         scratch: workers[0].temp, pool: pool, into: &trails, limit: limit)
    }

    /// The background-subtracted pixels and rms of the last extracted frame (valid until the next `extract`).
    public func withMaps<R>(_ body: (_ subtracted: UnsafeBufferPointer<Float>, _ rms: UnsafeBufferPointer<Float>) -> R) -> R {
        body(UnsafeBufferPointer(subtracted), UnsafeBufferPointer(rms))
    }

    /// Splits 0..<count into about four bands per thread, so uneven bands even out.
    private func bands(_ count: Int) -> Int { threads == 1 ? 1 : min(count, 4 * threads) }

    /// Runs body(lo, hi, thread) over consecutive bands of 0..<count.
    private func inBands(_ count: Int, _ body: (Int, Int, Int) -> Void) {
        let parts = bands(count)
        guard parts > 0 else { return }
        pool.forEach(parts) { i, thread in body(i * count / parts, (i + 1) * count / parts, thread) }
    }

    /// image - background into `subtracted`, the rms map into `rms`; NaN pixels become 0 signal.
    private func prepareMaps(_ image: ImageView<Float>, _ model: BackgroundModel) {
        let w = image.width
        inBands(image.height) { lo, hi, thread in
            let spline = self.backgroundWorkspace.splineScratch(thread)
            for y in lo..<hi {
                let level = UnsafeMutableBufferPointer(rebasing: self.subtracted[(y * w)..<(y * w + w)])
                model.levelRow(y, into: level, scratch: spline)
                model.rmsRow(y, into: UnsafeMutableBufferPointer(rebasing: self.rms[(y * w)..<(y * w + w)]), scratch: spline)
                let row = image.row(y)
                for x in 0..<w {
                    let v = row[x]
                    level[x] = v.isFinite ? v - level[x] : 0
                }
            }
        }
    }

    /// The matched filter (or the raw S/N) row by row, with 1/rms^2 of three rows
    /// at a time; marks the pixels above the detection threshold for segmentation.
    private func filterAndMark(width w: Int, height h: Int) {
        let matched = options.matchedFilter, threshold = options.threshold
        let sub = subtracted.baseAddress!, noise = rms.baseAddress!, conv = convolved.baseAddress!, s = snr.baseAddress!
        inBands(h) { lo, hi, thread in
            guard lo < hi else { return }
            let ivar = self.workers[thread].inverseVariance.baseAddress!
            func fill(_ y: Int) {
                let dst = ivar + (y % 3) * w, src = noise + y * w
                for x in 0..<w { dst[x] = SourceFilter.inverseVariance(src[x]) }
            }
            if matched {
                if lo > 0 { fill(lo - 1) }
                fill(lo)
            }
            for y in lo..<hi {
                if matched {
                    if y + 1 < h { fill(y + 1) }
                    SourceFilter.kernel.withUnsafeBufferPointer { k in
                        sky_matched_filter_3x3_row(y > 0 ? sub + (y - 1) * w : nil, sub + y * w, y + 1 < h ? sub + (y + 1) * w : nil,
                                                   y > 0 ? ivar + ((y - 1) % 3) * w : nil, ivar + (y % 3) * w,
                                                   y + 1 < h ? ivar + ((y + 1) % 3) * w : nil,
                                                   w, k.baseAddress, 16, conv + y * w, s + y * w)
                    }
                } else {
                    for i in (y * w)..<(y * w + w) {
                        conv[i] = sub[i]
                        s[i] = noise[i] > 0 ? sub[i] / noise[i] : 0
                    }
                }
            }
            ConnectedRegions.mark(above: threshold, in: self.snr, labels: self.labels, from: lo * w, to: hi * w)
        }
    }

    /// Labels 8-connected pixels above the threshold; records the objects of at
    /// least `minArea` pixels (up to the catalogue's capacity). Returns their number.
    private func segment(width w: Int, height h: Int, catalog: inout SourceCatalog) -> Int {
        var count = 0, oversized = 0, dropped = 0
        let cut = ConnectedRegions.label(width: w, height: h, labels: labels, queue: workers[0].temp, minArea: options.minArea) { region in
            if region.area > maxObjectPixels { oversized += 1; return }
            guard count < capacity else { dropped += 1; return }
            objectLabel[count] = region.label; objectSeed[count] = region.seed; objectArea[count] = Int32(region.area)
            count += 1
        }
        catalog.noteSegmentation(oversized: oversized, droppedObjects: dropped, cut: cut)
        return count
    }

    /// Gathers, deblends and measures every object; in object chunks on the pool,
    /// each chunk's sources kept apart and merged in chunk order (the catalogue
    /// order does not depend on the thread count).
    private func measure(objects: Int, image: ImageView<Float>, width w: Int, height h: Int, into catalog: inout SourceCatalog) {
        let opts = options
        func measureChunk(_ lo: Int, _ hi: Int, _ worker: ExtractionWorker, _ emit: (Source) -> Void) {
            let measurer = SourceMeasurer(image: image, subtracted: subtracted, rms: rms, snr: snr, convolved: convolved,
                                          width: w, height: h, options: opts, bins: worker.hfrBins,
                                          columnWeights: worker.columnWeights)
            for o in lo..<hi {
                let label = objectLabel[o]
                let n = worker.gather(seed: objectSeed[o], label: label, area: Int(objectArea[o]), labels: labels, width: w, height: h)
                let children = worker.deblend(count: n, label: label, convolved: convolved, rms: rms, labels: labels,
                                              width: w, height: h, options: opts)
                if children <= 1 {
                    emit(measurer.measure(UnsafeMutableBufferPointer(rebasing: worker.pixels[0..<n]), blended: false))
                } else {
                    for c in 0..<children {
                        let start = Int(worker.childStart[c]), size = Int(worker.childCount[c])
                        emit(measurer.measure(UnsafeMutableBufferPointer(rebasing: worker.children[start..<(start + size)]), blended: true))
                    }
                }
            }
        }
        guard let pool, objects > 1 else {
            measureChunk(0, objects, workers[0]) { catalog.append($0) }
            return
        }
        let chunks = threads
        let c = capacity
        pool.forEach(chunks) { i, thread in
            let lo = i * objects / chunks, hi = (i + 1) * objects / chunks
            let out = self.chunkSources.baseAddress! + i * c
            var n = 0, dropped = 0
            measureChunk(lo, hi, self.workers[thread]) { source in
                if n < c { out[n] = source; n += 1 } else { dropped += 1 }
            }
            self.chunkCounts[2 * i] = n
            self.chunkCounts[2 * i + 1] = dropped
        }
        for i in 0..<chunks {
            let out = chunkSources.baseAddress! + i * c
            for j in 0..<chunkCounts[2 * i] { catalog.append(out[j]) }
            catalog.noteDropped(chunkCounts[2 * i + 1])
        }
    }
}
