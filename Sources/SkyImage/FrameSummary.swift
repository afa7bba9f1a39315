/// What the site measures on every frame before anything else: sky level,
/// noise, saturation and a first star count.
public struct FrameSummary: Sendable, Equatable {
    public var background: Double
    public var noise: Double
    /// Difference between the brightest and faintest mesh box levels, in ADU.
    public var backgroundRange: Double
    public var saturatedPixels: Int
    public var saturatedFraction: Double
    public var stars: Int
    public var starsTruncated: Bool
}

/// Settings of the first-look measurement.
public struct FrameSummaryOptions: Sendable, Equatable {
    public var meshBox: Int = 64
    public var detectSigma: Float = 5
    public var minArea: Int = 5
    public var maxStars: Int = 100_000
    public var fillStackCapacity: Int = 1 << 20
    public init() {}
}

/// Measures frames up to a planned size with scratch memory laid out once.
public struct FrameSummarizer {
    public let options: FrameSummaryOptions
    public let maxWidth: Int
    public let maxHeight: Int
    var mesh: BackgroundMesh
    let counter: StarCounter

    /// Scratch bytes for frames up to `maxWidth x maxHeight`, for the memory plan.
    public static func scratchBytes(maxWidth: Int, maxHeight: Int, options: FrameSummaryOptions) -> (mesh: Int, detection: Int) {
        (BackgroundMesh.scratchBytes(maxWidth: maxWidth, maxHeight: maxHeight, boxSize: options.meshBox),
         StarCounter.scratchBytes(maxPixels: maxWidth * maxHeight, stackCapacity: options.fillStackCapacity))
    }

    public init(maxWidth: Int, maxHeight: Int, options: FrameSummaryOptions,
                meshScratch: UnsafeMutableRawBufferPointer, detectionScratch: UnsafeMutableRawBufferPointer) {
        self.options = options
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        mesh = BackgroundMesh(maxWidth: maxWidth, maxHeight: maxHeight, boxSize: options.meshBox, scratch: meshScratch)
        counter = StarCounter(maxPixels: maxWidth * maxHeight, stackCapacity: options.fillStackCapacity,
                              capacity: options.maxStars, thresholdSigma: options.detectSigma,
                              minArea: options.minArea, scratch: detectionScratch)
    }

    /// Stage 1: background and noise. Separate from `countStars` so the runtime can time each stage.
    public mutating func measureBackground(_ image: ImageView<UInt16>, saturation: UInt16) -> (level: Double, noise: Double, range: Double) {
        precondition(image.width <= maxWidth && image.height <= maxHeight)
        mesh.estimate(image, saturation: saturation)
        let (level, sigma) = mesh.summary()
        var lo = Float.infinity, hi = -Float.infinity
        for i in 0..<(mesh.columns * mesh.rows) {
            lo = min(lo, mesh.levels[i]); hi = max(hi, mesh.levels[i])
        }
        return (Double(level), Double(sigma), Double(hi - lo))
    }

    /// Pixels at or above `saturation`.
    public func countSaturated(_ image: ImageView<UInt16>, saturation: UInt16) -> Int {
        var n = 0
        for y in 0..<image.height {
            for v in image.row(y) where v >= saturation { n &+= 1 }
        }
        return n
    }

    /// Stage 2: star count against the background from `measureBackground`.
    public func countStars(_ image: ImageView<UInt16>) -> StarCounter.Result {
        counter.count(image, background: mesh)
    }

    /// All stages in one call.
    public mutating func summarize(_ image: ImageView<UInt16>, saturation: UInt16 = .max) -> FrameSummary {
        let bg = measureBackground(image, saturation: saturation)
        let sat = countSaturated(image, saturation: saturation)
        let stars = countStars(image)
        return FrameSummary(background: bg.level, noise: bg.noise, backgroundRange: bg.range,
                            saturatedPixels: sat,
                            saturatedFraction: image.pixelCount > 0 ? Double(sat) / Double(image.pixelCount) : 0,
                            stars: stars.count, starsTruncated: stars.truncated)
    }
}
