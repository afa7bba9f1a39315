import SkyCapture
import SkyCore
import SkyImage

/// Judges one frame: the stages of DESIGN.md section 2 that exist so far, each
/// timed against the frame's deadline. Owns no memory: scratch comes from the arena.
public struct FramePipeline {
    var summarizer: FrameSummarizer
    let defaultSaturation: UInt16
    /// Simulated seconds per real second: deadlines shrink by this factor.
    let timeScale: Double
    var frameIndex: UInt64 = 0

    public init(config: SiteConfig, arena: Arena) {
        summarizer = FrameSummarizer(maxWidth: config.maxFrameWidth, maxHeight: config.maxFrameHeight,
                                     options: config.summaryOptions,
                                     meshScratch: arena.region("background mesh"),
                                     detectionScratch: arena.region("detection scratch"))
        defaultSaturation = UInt16(clamping: config.pipeline.saturation)
        timeScale = config.source.kind == .simulator ? config.source.accelerate : 1
    }

    /// Seconds until the next exposure ends, which is when this frame must be done.
    /// Without EXPTIME the frame gets one second.
    func deadline(for frame: CapturedFrame) -> Double {
        let exptime = frame.metadata.exptime.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? 1
        return exptime / timeScale
    }

    public mutating func process(_ image: ImageView<UInt16>, frame: CapturedFrame) -> FrameReport {
        frameIndex &+= 1
        let deadline = deadline(for: frame)
        let saturation = frame.metadata.saturation.flatMap { v -> UInt16? in
            guard v.isFinite else { return nil }
            return v >= 65_535 ? .max : v <= 1 ? 1 : UInt16(v.rounded(.down))
        } ?? defaultSaturation
        var stages: [StageTiming] = []
        stages.reserveCapacity(4)
        var flags: [String] = []

        var t0 = MonotonicClock.seconds()
        func lap(_ name: String) {
            let t = MonotonicClock.seconds()
            stages.append(StageTiming(stage: name, ms: (t - t0) * 1000))
            t0 = t
        }
        let queueWait = t0 - frame.capturedAtMonotonic
        stages.append(StageTiming(stage: "queue", ms: max(0, queueWait) * 1000))

        let bg = summarizer.measureBackground(image, saturation: saturation)
        lap("background")
        let saturated = summarizer.countSaturated(image, saturation: saturation)
        lap("saturation")
        let stars = summarizer.countStars(image)
        lap("stars")

        if stars.truncated { flags.append("stars_truncated") }
        let satFraction = image.pixelCount > 0 ? Double(saturated) / Double(image.pixelCount) : 0
        if satFraction > 0.01 { flags.append("saturated") }
        if stars.count == 0 { flags.append("no_stars") }

        let elapsed = MonotonicClock.seconds() - frame.capturedAtMonotonic
        let slack = deadline - elapsed
        if slack < 0 { flags.append("deadline_missed") }
        // The record size is bounded in the memory plan: keep the end of long paths (the file name).
        let origin = frame.origin.utf8.count <= 200 ? frame.origin : "..." + String(frame.origin.suffix(197))
        return FrameReport(frameIndex: frameIndex, source: origin, dateObs: frame.metadata.dateObs,
                           exptime: frame.metadata.exptime ?? 0, width: image.width, height: image.height,
                           background: bg.level, noise: bg.noise, saturatedFraction: satFraction,
                           stars: stars.count, deadlineSeconds: deadline, elapsedSeconds: elapsed,
                           deadlineMet: slack >= 0, slackSeconds: slack, stages: stages, shed: [], flags: flags)
    }
}
