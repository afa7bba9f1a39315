/// Why a source's measurements may be less than clean.
public struct SourceFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Split from a blend by the multi-threshold deblender.
    public static let blended = SourceFlags(rawValue: 1 << 0)
    /// Its footprint touches the image border (SEP's OBJ_TRUNC).
    public static let truncated = SourceFlags(rawValue: 1 << 1)
    /// A pixel reaches the saturation level.
    public static let saturated = SourceFlags(rawValue: 1 << 2)
    /// The measurement aperture crosses the image border.
    public static let nearEdge = SourceFlags(rawValue: 1 << 3)
    /// Second moments were degenerate (a line or a point); 1/12 px^2 added, as SEP.
    public static let singular = SourceFlags(rawValue: 1 << 4)
    /// The windowed centroid did not converge; the barycentre is reported.
    public static let windowFailed = SourceFlags(rawValue: 1 << 5)
}

/// One detected source. Pixel coordinates are 0-based (centre of the first
/// pixel at 0,0); fluxes are in image units after background subtraction.
public struct Source: Sendable, Equatable {
    /// Windowed centroid (SExtractor's XWIN/YWIN), the barycentre where that failed.
    public var x: Double = 0
    public var y: Double = 0
    /// Isophotal barycentre (SEP's x, y).
    public var isoX: Double = 0
    public var isoY: Double = 0
    /// Sum over the detection footprint, and its 1-sigma error from the rms map.
    public var flux: Double = 0
    public var fluxError: Double = 0
    /// Sum in a circular aperture of `apertureRadius` around the centroid, and its error.
    public var apertureFlux: Double = 0
    public var apertureFluxError: Double = 0
    public var apertureRadius: Double = 0
    /// Highest background-subtracted pixel and where it is.
    public var peak: Float = 0
    public var peakX: Int = 0
    public var peakY: Int = 0
    /// Pixels in the footprint.
    public var area: Int = 0
    /// Second moments of the footprint (px^2), and the ellipse they define (SEP's a, b, theta).
    public var x2: Double = 0
    public var y2: Double = 0
    public var xy: Double = 0
    public var a: Double = 0
    public var b: Double = 0
    /// Position angle in radians, counter-clockwise from +x, in (-pi/2, pi/2].
    public var theta: Double = 0
    /// FWHM from adaptive Gaussian moments (px); NaN when they do not converge.
    public var fwhm: Double = .nan
    /// Radius holding half the aperture flux (px).
    public var halfFluxRadius: Double = .nan
    /// Peak signal to noise of the detection filter.
    public var detectionSNR: Float = 0
    public var flags: SourceFlags = []
    /// Sum of the filtered image over the footprint (SEP's cflux); used by cleaning.
    public var filteredFlux: Double = 0
    /// Detection threshold at the source in image units (k x rms).
    public var threshold: Double = 0
    /// The source's `minArea`-th brightest filtered pixel (SEP's mthresh).
    public var minAreaExcess: Double = 0

    public init() {}

    /// 1 - b/a.
    public var ellipticity: Double { a > 0 ? 1 - b / a : 0 }
}

/// A table with a fixed capacity: a frame with more sources than planned keeps
/// the first `capacity` (in detection order) and says so, rather than growing
/// or failing (DESIGN.md section 3).
public struct SourceCatalog: Sendable {
    public let capacity: Int
    public private(set) var sources: [Source]
    /// True when sources were dropped because the table was full.
    public private(set) var overflowed = false
    /// How many sources were found, including dropped ones.
    public private(set) var detected = 0
    /// Objects larger than the extractor's `maxObjectPixels`, not measured.
    public private(set) var oversized = 0
    /// A detection fill was cut short by its fixed queue (the object may be split).
    public private(set) var segmentationCut = false
    /// Anything left out for lack of room: sources or objects over capacity, oversized objects, cut fills.
    public var truncated: Bool { overflowed || oversized > 0 || segmentationCut }

    public init(capacity: Int) {
        precondition(capacity >= 0)
        self.capacity = capacity
        sources = []
        sources.reserveCapacity(capacity)
    }

    public var count: Int { sources.count }

    /// Keeps the sources for which `keep` is true, in order.
    public mutating func retain(_ keep: [Bool]) {
        precondition(keep.count == sources.count)
        var j = 0
        for i in 0..<sources.count where keep[i] { sources[j] = sources[i]; j += 1 }
        sources.removeLast(sources.count - j)
    }

    /// Keeps the sources for which `keep` is true, in order (no allocation).
    public mutating func retain(_ keep: UnsafeBufferPointer<Bool>) {
        precondition(keep.count >= sources.count)
        var j = 0
        for i in 0..<sources.count where keep[i] { sources[j] = sources[i]; j += 1 }
        sources.removeLast(sources.count - j)
    }

    public mutating func removeAll() {
        sources.removeAll(keepingCapacity: true)
        overflowed = false
        detected = 0
        oversized = 0
        segmentationCut = false
    }

    /// What segmentation could not keep: objects too large to measure, objects beyond
    /// the capacity (each is at least one source), fills cut short.
    mutating func noteSegmentation(oversized: Int, droppedObjects: Int, cut: Bool) {
        self.oversized += oversized
        noteDropped(droppedObjects)
        segmentationCut = segmentationCut || cut
    }

    /// Sources measured but not kept for lack of room.
    mutating func noteDropped(_ count: Int) {
        guard count > 0 else { return }
        detected += count
        overflowed = true
    }

    /// Adds `source` unless the table is full; returns whether it was kept.
    @discardableResult
    public mutating func append(_ source: Source) -> Bool {
        detected += 1
        guard sources.count < capacity else { overflowed = true; return false }
        sources.append(source)
        return true
    }
}
