/// Exposure and cadence a site runs with, and the rule they must keep: a frame's
/// deadline is its exposure (FramePipeline: the next exposure ends then), so neither the
/// exposure nor the interval between frames may be shorter than the time the pipeline
/// needs per frame, and frames cannot start faster than they are exposed.
///
/// Seconds are the site's own: simulated seconds for an accelerated simulator, divided by
/// `timeScale` to get wall-clock seconds (as FramePipeline does for deadlines).
public struct CaptureSettings: Sendable, Equatable {
    public static let exposureRange = 0.0001...86_400.0
    public static let cadenceRange = 0.001...86_400.0

    /// nil: unknown (a camera at its driver's setting).
    public var exposure: Double?
    /// nil: as fast as the source delivers.
    public var cadence: Double?

    public init(exposure: Double?, cadence: Double?) {
        self.exposure = exposure
        self.cadence = cadence
    }

    /// Why these settings cannot be used, or nil. `processingSeconds` is the wall-clock time the
    /// pipeline recently needed per frame (nil before the first frame).
    public func problem(timeScale: Double = 1, processingSeconds: Double? = nil) -> String? {
        if let e = exposure, !(e.isFinite && Self.exposureRange.contains(e)) {
            return "exposure \(e) s is outside \(Self.exposureRange.lowerBound)...\(Int(Self.exposureRange.upperBound)) s"
        }
        if let c = cadence, !(c.isFinite && Self.cadenceRange.contains(c)) {
            return "cadence \(c) s is outside \(Self.cadenceRange.lowerBound)...\(Int(Self.cadenceRange.upperBound)) s"
        }
        if let e = exposure, let c = cadence, c < e {
            return "cadence \(c) s is shorter than the \(e) s exposure: a frame cannot start before the previous one is exposed"
        }
        if let p = processingSeconds, p > 0, timeScale > 0 {
            let needed = p * timeScale
            if let e = exposure, e < needed {
                return "exposure \(e) s would give frames a deadline of \(Self.format(e / timeScale)) s, shorter than the \(Self.format(p)) s the pipeline needs per frame: every frame would miss its deadline"
            }
            if exposure == nil, let c = cadence, c < needed {
                return "cadence \(c) s would bring frames every \(Self.format(c / timeScale)) s, faster than the \(Self.format(p)) s the pipeline needs per frame: every frame would miss its deadline"
            }
        }
        return nil
    }

    /// Wall-clock seconds between frame starts, if a cadence is set.
    func realInterval(timeScale: Double) -> Double? {
        cadence.map { $0 / (timeScale > 0 ? timeScale : 1) }
    }

    private static func format(_ s: Double) -> String {
        s >= 1 ? String(format: "%.2f", s) : String(format: "%.4f", s)
    }
}

/// The longest of the last few frames' processing times (wall clock), for the deadline
/// rule: one slow frame among fast ones still counts, so a new setting is not judged on luck.
struct RecentProcessingTimes: Sendable {
    private var times: [Double] = []
    private var next = 0
    let capacity: Int

    init(capacity: Int = 16) {
        self.capacity = capacity
        times.reserveCapacity(capacity)
    }

    mutating func add(_ seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        if times.count < capacity { times.append(seconds) } else { times[next] = seconds }
        next = (next + 1) % capacity
    }

    var longest: Double? { times.max() }
}
