/// The quality judgement's working memory, laid out once for frames up to `maxWidth x
/// maxHeight` and catalogues up to `catalogCapacity` sources (one block, `bytes`, which a site
/// takes from its arena), and the small state kept from frame to frame; with it,
/// `FrameQualityJudge.judge(_:extractor:catalog:options:trails:scratch:into:)` allocates
/// nothing once the first frame has set the per-region arrays' capacity (DESIGN.md section 3).
/// One judgement at a time.
public final class QualityScratch: @unchecked Sendable {
    public let maxWidth: Int
    public let maxHeight: Int
    public let catalogCapacity: Int

    /// Which catalogue entries are usable stars, and which count for clouds.
    let stars: UnsafeMutableBufferPointer<Int32>
    let cloudStars: UnsafeMutableBufferPointer<Int32>
    /// One measurement per star, for its median.
    let values: UnsafeMutableBufferPointer<Double>
    let badColumns: BadColumnFinder.Workspace
    let trailProfile: TrailProfile.Workspace
    let regionSamples: RegionSamples
    /// Trail candidates: the finder's pieces, joined (capacity `FrameQualityJudge.maxTrailPieces`).
    var trailPieces: [TrailSegment] = []
    /// The region map of the last layout and frame size (rebuilt when they change).
    var regionMap: (key: RegionMapKey, map: RegionMap)?
    var clouds = RegionCloudAssessment()
    private let owned: UnsafeMutableRawBufferPointer?

    /// The buffers of the scratch region, in order.
    private struct Layout {
        var stars, cloudStars: UnsafeMutableBufferPointer<Int32>
        var values: UnsafeMutableBufferPointer<Double>
        var badColumns: BadColumnFinder.Workspace
        var trailProfile: TrailProfile.Workspace
        var regionValues, regionGrouped: UnsafeMutableBufferPointer<Float>
        var regionIndex: UnsafeMutableBufferPointer<Int32>

        init(_ layout: inout ScratchLayout, maxWidth w: Int, maxHeight h: Int, catalogCapacity c: Int, badColumnBlockHeight: Int) {
            stars = layout.take(Int32.self, c)
            cloudStars = layout.take(Int32.self, c)
            values = layout.take(Double.self, c)
            badColumns = BadColumnFinder.Workspace(&layout, maxWidth: w, maxHeight: h, blockHeight: badColumnBlockHeight)
            trailProfile = TrailProfile.Workspace(&layout, maxLength: TrailProfile.Workspace.maxLength(width: w, height: h))
            let n = RegionSamples.capacity(maxWidth: w, maxHeight: h)
            regionValues = layout.take(Float.self, n)
            regionGrouped = layout.take(Float.self, n)
            regionIndex = layout.take(Int32.self, n)
        }
    }

    /// Bytes of the scratch region for frames up to `maxWidth x maxHeight`, catalogues up to
    /// `catalogCapacity`, and bad columns sought in blocks of `badColumnBlockHeight` rows or more.
    /// What grows with the frame: the bad-column finder's per-block column offsets (4 bytes per
    /// column per block), its per-column levels, the trail profile's samples along the frame's
    /// diagonal; the region medians' lattice is bounded (about 150k samples).
    public static func bytes(maxWidth: Int, maxHeight: Int, catalogCapacity: Int,
                             badColumnBlockHeight: Int = BadColumnFinder.Settings().blockHeight) -> Int {
        var layout = ScratchLayout()
        _ = Layout(&layout, maxWidth: max(1, maxWidth), maxHeight: max(1, maxHeight), catalogCapacity: max(1, catalogCapacity),
                   badColumnBlockHeight: badColumnBlockHeight)
        return layout.bytes
    }

    /// Scratch for frames up to `maxWidth x maxHeight` and catalogues up to `catalogCapacity`.
    /// `region`, when given, must hold `bytes(...)` and outlive the scratch (an arena region);
    /// otherwise the scratch allocates it.
    public init(maxWidth: Int, maxHeight: Int, catalogCapacity: Int,
                badColumnBlockHeight: Int = BadColumnFinder.Settings().blockHeight, region: UnsafeMutableRawBufferPointer? = nil) {
        self.maxWidth = max(1, maxWidth)
        self.maxHeight = max(1, maxHeight)
        self.catalogCapacity = max(1, catalogCapacity)
        let bytes = Self.bytes(maxWidth: self.maxWidth, maxHeight: self.maxHeight, catalogCapacity: self.catalogCapacity,
                               badColumnBlockHeight: badColumnBlockHeight)
        let (memory, owned) = ScratchLayout.memory(region, bytes: bytes, for: "quality scratch")
        self.owned = owned
        var carver = ScratchLayout(memory)
        let layout = Layout(&carver, maxWidth: self.maxWidth, maxHeight: self.maxHeight, catalogCapacity: self.catalogCapacity,
                            badColumnBlockHeight: badColumnBlockHeight)
        stars = layout.stars; cloudStars = layout.cloudStars; values = layout.values
        badColumns = layout.badColumns; trailProfile = layout.trailProfile
        regionSamples = RegionSamples(value: layout.regionValues, grouped: layout.regionGrouped, region: layout.regionIndex)
        trailPieces.reserveCapacity(FrameQualityJudge.maxTrailPieces)
    }

    deinit { owned?.deallocate() }

    /// The region map for `options` on a `width x height` frame: the last one while they stay the same.
    func regionMap(options: QualityOptions, width: Int, height: Int) -> RegionMap {
        let key = RegionMapKey(layout: options.regionLayout, columns: options.gridColumns, rows: options.gridRows,
                               circle: options.skyCircle, width: width, height: height)
        if let cached = regionMap, cached.key == key { return cached.map }
        let map = RegionMap(options: options, width: width, height: height)
        regionMap = (key, map)
        return map
    }
}

/// What a `RegionMap` is made from.
struct RegionMapKey: Equatable {
    var layout: RegionLayout
    var columns: Int, rows: Int
    var circle: SkyCircle?
    var width: Int, height: Int
}

/// Memory for the region medians of a smooth map: the lattice samples, their regions, the samples
/// grouped by region, and where each region's group starts (as many as regions, kept from frame to frame).
final class RegionSamples {
    let value: UnsafeMutableBufferPointer<Float>
    let grouped: UnsafeMutableBufferPointer<Float>
    let region: UnsafeMutableBufferPointer<Int32>
    var regionStart: [Int] = []
    /// The memory of the one-off form.
    private let owner: AnyObject?
    var capacity: Int { value.count }

    init(value: UnsafeMutableBufferPointer<Float>, grouped: UnsafeMutableBufferPointer<Float>, region: UnsafeMutableBufferPointer<Int32>,
         owner: AnyObject? = nil) {
        self.value = value; self.grouped = grouped; self.region = region; self.owner = owner
    }

    /// Samples in memory of their own (the one-off `RegionCloudAssessment`).
    convenience init(maxWidth: Int, maxHeight: Int) {
        let n = Self.capacity(maxWidth: maxWidth, maxHeight: maxHeight)
        let own = OwnedScratch { ($0.take(Float.self, n), $0.take(Float.self, n), $0.take(Int32.self, n)) }
        self.init(value: own.buffers.0, grouped: own.buffers.1, region: own.buffers.2, owner: own)
    }

    /// The lattice step for about 64k samples of a `width x height` map.
    static func step(width w: Int, height h: Int) -> Int { max(2, Int((Double(w * h) / 65_536).squareRoot())) }

    /// The most lattice points of any frame up to `maxWidth x maxHeight`: (w / step + 1)(h / step + 1)
    /// with w h / step^2 under 65536 (3/2)^2 when the step is 2 (w h < 9 x 65536), under 65536 (4/3)^2 above;
    /// and never more than w h / 4 + (w + h) / 2 + 1.
    static func capacity(maxWidth w: Int, maxHeight h: Int) -> Int {
        min(147_456, w * h / 4 + 1) + (w + h) / 2 + 2
    }
}

extension FrameQualityJudge {
    /// Bytes of the judgement's fixed tables, held outside the scratch (a reused `FrameQuality`
    /// reserves them, and a site's report keeps its bad columns and trails as long): hot-pixel
    /// positions, bad columns, trail pieces and trails.
    public static var tableBytes: Int {
        maxHotPixels * MemoryLayout<(x: Int, y: Int)>.stride
            + maxBadColumns * (MemoryLayout<BadColumnSpan>.stride + MemoryLayout<Int>.stride)
            + maxTrailPieces * MemoryLayout<TrailSegment>.stride + maxTrails * 2 * MemoryLayout<TrailSegment>.stride
    }

    /// Whether pixel `key` (y * width + x) is a hot pixel or one of its 8 neighbours; `hotPixels` in
    /// raster order, none on the frame's border (as `findHotPixels` gives them). Three binary searches.
    static func nearHotPixel(_ key: Int, _ hotPixels: [(x: Int, y: Int)], width w: Int) -> Bool {
        guard !hotPixels.isEmpty, w > 0 else { return false }
        // The pixel's row and column, as a neighbour's (row + dy) * w + column + dx reads them.
        let row = key >= 0 ? key / w : -((-key + w - 1) / w), column = key - row * w
        return hotPixels.withUnsafeBufferPointer { hot in
            for dy in -1...1 {
                let lo = (row + dy) * w + max(0, column - 1), hi = (row + dy) * w + min(w - 1, column + 1)
                // First hot pixel at or after `lo`.
                var a = 0, b = hot.count
                while a < b {
                    let m = (a + b) / 2
                    if hot[m].y * w + hot[m].x < lo { a = m + 1 } else { b = m }
                }
                if a < hot.count, hot[a].y * w + hot[a].x <= hi { return true }
            }
            return false
        }
    }
}
