import SkyCapture
import SkyCore
import SkyImage

/// Judges one frame: background, sources and the quality verdict (DESIGN.md
/// section 2), each stage timed against the frame's deadline. Owns no frame-sized
/// memory: the float copy of the frame, the extractor's and the judgement's scratch
/// are arena regions; the catalogue, the judgement and the report's lists are made
/// once and refilled, so a frame allocates nothing once the first is done (a report
/// still held when the next frame is processed costs a copy of its lists).
public struct FramePipeline {
    let extractor: SourceExtractor
    /// The frame as floats (the extractor works in image units), an arena region.
    let floatFrame: UnsafeMutableBufferPointer<Float>
    var catalog: SourceCatalog
    var quality: QualityOptions
    var defaultSaturation: UInt16
    /// Simulated seconds per real second: deadlines shrink by this factor.
    let timeScale: Double
    /// Masters applied in place before the background (nil: the frame is judged in raw ADU).
    let calibration: SiteCalibration?
    var frameIndex: UInt64 = 0
    /// The quality judgement's scratch, an arena region.
    let qualityScratch: QualityScratch
    /// The judgement of the last frame judged, refilled in place frame after frame.
    private var judged = FrameQuality()
    private var hasJudged = false
    /// The report's lists, refilled frame after frame (see the type's note on held reports).
    private var stageList: [StageTiming] = []
    private var flagList: [String] = []
    private var shedList: [String] = []
    private var badColumnList: [Int] = []
    private var trailList: [TrailLine] = []
    /// The judgement of the last frame processed (the clear-sky reference is learnt from it).
    var lastQuality: FrameQuality? { hasJudged ? judged : nil }
    /// Trails (the last, optional stage) are skipped when less than this fraction of the deadline is left.
    static let trailSlackFraction = 0.25

    public init(config: SiteConfig, arena: Arena) {
        self.init(config: config, arena: arena, calibration: nil)
    }

    init(config: SiteConfig, arena: Arena, calibration: SiteCalibration?) {
        self.calibration = calibration
        let w = config.maxFrameWidth, h = config.maxFrameHeight
        let region = arena.region("float frame")
        floatFrame = UnsafeMutableBufferPointer(start: region.baseAddress!.bindMemory(to: Float.self, capacity: w * h), count: w * h)
        extractor = SourceExtractor(maxWidth: w, maxHeight: h, options: config.extractionOptions,
                                    background: BackgroundOptions(box: config.pipeline.meshBox),
                                    threads: config.pipeline.threads, scratch: arena.region("extractor scratch"))
        catalog = SourceCatalog(capacity: config.pipeline.maxStars)
        qualityScratch = QualityScratch(maxWidth: w, maxHeight: h, catalogCapacity: config.pipeline.maxStars,
                                        region: arena.region("quality scratch"))
        quality = config.qualityOptions
        stageList.reserveCapacity(Self.stageCapacity)
        flagList.reserveCapacity(Self.flagCapacity)
        shedList.reserveCapacity(1)
        badColumnList.reserveCapacity(FrameQualityJudge.maxBadColumns)
        trailList.reserveCapacity(FrameQualityJudge.maxTrails)
        defaultSaturation = UInt16(clamping: config.pipeline.saturation)
        timeScale = config.timeScale
    }

    /// Takes the thresholds of a reloaded config (detection sigma, minimum area, saturation)
    /// in place: ConfigReload refused anything that changes the plan, so the extractor's
    /// memory stays as it is, and nothing is allocated beside it.
    mutating func applyThresholds(of config: SiteConfig) {
        extractor.options = config.extractionOptions
        defaultSaturation = UInt16(clamping: config.pipeline.saturation)
    }

    /// Seconds until the next exposure ends, which is when this frame must be done.
    /// Without EXPTIME the frame gets one second.
    func deadline(for frame: CapturedFrame) -> Double {
        let exptime = frame.metadata.exptime.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? 1
        return exptime / timeScale
    }

    /// `trails: false` leaves the trail search out whatever the deadline (the clear-sky frame
    /// learnt at start needs only its stars and noise).
    public mutating func process(_ image: ImageView<UInt16>, frame: CapturedFrame, trails: Bool = true) -> FrameReport {
        frameIndex &+= 1
        let deadline = deadline(for: frame)
        let saturation = frame.metadata.saturation.flatMap { v -> UInt16? in
            guard v.isFinite else { return nil }
            return v >= 65_535 ? .max : v <= 1 ? 1 : UInt16(v.rounded(.down))
        } ?? defaultSaturation
        // The lists of the last report, emptied (no allocation unless that report is still held).
        var stages: [StageTiming] = [], flags: [String] = [], shed: [String] = []
        swap(&stages, &stageList); swap(&flags, &flagList); swap(&shed, &shedList)
        stages.removeAll(keepingCapacity: true); flags.removeAll(keepingCapacity: true); shed.removeAll(keepingCapacity: true)
        defer { stageList = stages; flagList = flags; shedList = shed }

        var t0 = MonotonicClock.seconds()
        let queueWait = t0 - frame.capturedAtMonotonic
        stages.append(StageTiming(stage: "queue", ms: max(0, queueWait) * 1000))

        let view = ImageView(base: floatFrame.baseAddress!, width: image.width, height: image.height)
        for y in 0..<image.height {
            let src = image.row(y), dst = view.row(y)
            for x in 0..<image.width { dst[x] = Float(src[x]) }
        }
        t0 = Self.lap("convert", since: t0, into: &stages)
        var saturationLevel = Float(saturation)
        if let cal = calibration {
            let (exposure, known) = cal.exposure(of: frame.metadata)
            let gain = cal.gain(of: frame.metadata)
            // Saturated pixels are tested in calibrated units: clipped ones are set to a level no
            // unclipped pixel can reach after calibration.
            saturationLevel = cal.saturationLevel(raw: Float(saturation), exposure: exposure, gain: gain)
            do {
                try Calibration.applyInPlace(view, masters: cal.masters, exposure: exposure, gain: gain,
                                             saturation: (Float(saturation), saturationLevel))
                if !known && cal.masters.dark != nil { flags.append("dark_unscaled") }
            } catch {
                // A frame smaller than the masters (a camera's ROI) is judged raw, and says so.
                flags.append("uncalibrated")
                saturationLevel = Float(saturation)
            }
            t0 = Self.lap("calibrate", since: t0, into: &stages)
        }
        extractor.options.saturation = saturationLevel
        quality.saturation = saturationLevel
        quality.exposure = frame.metadata.exptime
        var extracted = true
        do {
            try extractor.extract(view, into: &catalog)
        } catch {
            // A frame larger than planned is refused by the source already; this is the backstop.
            extracted = false
            flags.append("extraction_failed")
        }
        let st = extractor.stageSeconds
        t0 = Self.lap("background", since: t0, seconds: st.background, into: &stages)
        stages.append(StageTiming(stage: "detection", ms: st.filter * 1000))
        stages.append(StageTiming(stage: "measurement", ms: st.objects * 1000))
        t0 = MonotonicClock.seconds()

        var report = FrameReport(frameIndex: frameIndex, source: Self.shortOrigin(frame.origin), dateObs: frame.metadata.dateObs,
                                 exptime: frame.metadata.exptime ?? 0, width: image.width, height: image.height,
                                 background: 0, noise: 0, saturatedFraction: 0, stars: 0, deadlineSeconds: deadline,
                                 elapsedSeconds: 0, deadlineMet: true, slackSeconds: 0, stages: [], shed: [], flags: [])
        if extracted {
            // Trails are the optional part of the judgement: dropped when the deadline is close.
            let left = deadline - (MonotonicClock.seconds() - frame.capturedAtMonotonic)
            let withTrails = trails && left > Self.trailSlackFraction * deadline
            if !withTrails { shed.append("trails") }
            FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: quality, trails: withTrails,
                                    scratch: qualityScratch, into: &judged)
            hasJudged = true
            t0 = Self.lap("quality", since: t0, into: &stages)
            let q = judged
            report.background = q.background
            report.noise = q.noise
            report.saturatedFraction = q.saturatedFraction
            report.stars = catalog.count
            report.score = q.score
            report.verdict = q.verdict
            report.fwhm = q.fwhmPx.isFinite ? q.fwhmPx : nil
            report.cloudFraction = q.cloudFraction.isFinite ? q.cloudFraction : nil
            report.trails = withTrails ? q.trails.count : nil
            report.quality = details(q)
            if catalog.truncated { flags.append("stars_truncated") }
            if q.saturatedFraction > 0.01 { flags.append("saturated") }
            if catalog.count == 0 { flags.append("no_stars") }
            // Index loops: the debug build's unspecialized iterators allocate (the allocation test runs there).
            for i in 0..<q.flags.count where !Self.holds(flags, q.flags[i]) { flags.append(q.flags[i]) }
        }

        let elapsed = MonotonicClock.seconds() - frame.capturedAtMonotonic
        let slack = deadline - elapsed
        if slack < 0 { flags.append("deadline_missed") }
        report.elapsedSeconds = elapsed
        report.deadlineMet = slack >= 0
        report.slackSeconds = slack
        report.stages = stages
        report.shed = shed
        report.flags = flags
        return report
    }

    /// Most stage timings and flags a report holds without growing its lists.
    static let stageCapacity = 8
    static let flagCapacity = 32

    /// The judgement's other measurements for the record (what could not be measured is absent), its
    /// lists refilled from the pipeline's (no allocation unless the last report is still held).
    private mutating func details(_ q: FrameQuality) -> FrameQualityDetails {
        var badColumns: [Int] = [], trails: [TrailLine] = []
        swap(&badColumns, &badColumnList); swap(&trails, &trailList)
        defer { badColumnList = badColumns; trailList = trails }
        return Self.details(q, badColumns: &badColumns, trails: &trails)
    }

    private static func details(_ q: FrameQuality, badColumns: inout [Int], trails: inout [TrailLine]) -> FrameQualityDetails {
        func finite(_ v: Double?) -> Double? { v.flatMap { $0.isFinite ? $0 : nil } }
        badColumns.removeAll(keepingCapacity: true)
        for i in 0..<q.badColumns.count { badColumns.append(q.badColumns[i].x) }
        trails.removeAll(keepingCapacity: true)
        for i in 0..<q.trails.count { let t = q.trails[i]; trails.append(TrailLine(x0: t.x0, y0: t.y0, x1: t.x1, y1: t.y1)) }
        var anyJudged = false
        for i in 0..<q.regionJudged.count where q.regionJudged[i] { anyJudged = true; break }
        return FrameQualityDetails(
            backgroundGradient: q.backgroundGradient.isFinite ? q.backgroundGradient : 0,
            skyMagnitude: finite(q.skyMagnitudesPerSquareArcsec), fwhmArcsec: finite(q.fwhmArcsec),
            ellipticity: finite(q.ellipticity), ellipticityCoherence: finite(q.ellipticityCoherence),
            halfFluxRadius: finite(q.halfFluxRadius), hotPixels: q.hotPixels, badColumns: badColumns,
            cosmicRays: q.cosmicRays, trails: trails,
            regionCloudy: anyJudged ? q.regionCloudy : nil)
    }

    /// Ends a stage begun at `t0`: its time (or `seconds`, measured elsewhere) into `stages`; returns now.
    private static func lap(_ name: String, since t0: Double, seconds: Double? = nil, into stages: inout [StageTiming]) -> Double {
        let t = MonotonicClock.seconds()
        stages.append(StageTiming(stage: name, ms: (seconds ?? (t - t0)) * 1000))
        return t
    }

    private static func holds(_ list: [String], _ s: String) -> Bool {
        for i in 0..<list.count where list[i] == s { return true }
        return false
    }

    /// The record size is bounded in the memory plan: keep the end of long paths (the file name).
    static func shortOrigin(_ origin: String) -> String {
        origin.utf8.count <= 200 ? origin : "..." + String(origin.suffix(197))
    }
}

extension SiteConfig {
    /// Judgement settings from the quality section (QualityOptions' defaults otherwise).
    var qualityOptions: QualityOptions {
        var o = QualityOptions()
        o.skyCircle = quality.skyCircle.map { SkyCircle(x: $0.x, y: $0.y, radius: $0.radius) }
        o.regionLayout = RegionLayout(name: quality.regions) ?? .grid
        o.gridColumns = quality.gridColumns
        o.gridRows = quality.gridRows
        o.pixelScale = quality.pixelScale
        o.zeroPoint = quality.zeroPoint
        return o
    }

    /// Extraction settings from the pipeline section (SEP's defaults otherwise).
    var extractionOptions: ExtractionOptions {
        var o = ExtractionOptions()
        o.threshold = Float(pipeline.detectSigma)
        o.minArea = pipeline.minArea
        o.capacity = pipeline.maxStars
        o.saturation = Float(pipeline.saturation)
        return o
    }
}
