import Foundation
import SkyCore
import SkyImage
import SkySim

/// A frame source that observes one simulated field: successive exposures of
/// the same stars with fresh noise, small pointing and seeing changes, and
/// DATE-OBS advancing by exposure plus overhead. Frame `k` depends only on the
/// configuration and `k`, never on timing, so a run can be replayed exactly.
/// Like every source it is used from one thread at a time; it may be handed
/// to the capture thread (hence `@unchecked Sendable`).
public final class SimulatorSource: FrameSource, @unchecked Sendable {
    /// How fast simulated time runs against the wall clock.
    public enum Pacing: Sendable, Equatable {
        /// Deliver each frame as soon as it is asked for.
        case immediate
        /// A 30 s exposure takes 30 s.
        case realTime
        /// Simulated seconds per real second: 60 delivers a 30 s exposure every 0.5 s.
        case accelerated(Double)

        var speed: Double? {
            switch self {
            case .immediate: nil
            case .realTime: 1
            case let .accelerated(s): s
            }
        }
    }

    public struct Configuration: Sendable {
        public var scene: SkyScene
        public var camera: CameraModel
        /// Every frame starts from these; `seed` and `startTime` are set per frame,
        /// and pointing and seeing get the jitter below.
        public var conditions: FrameConditions
        /// Seeds the per-frame noise and variation.
        public var seed: UInt64
        /// DATE-OBS of the first frame.
        public var startTime: UTCInstant
        /// Seconds between the end of one exposure and the start of the next (readout, download).
        public var overhead: Double
        public var pacing: Pacing
        /// Rms pointing scatter between frames, pixels.
        public var pointingJitterPixels: Double
        /// Rms fractional seeing change between frames.
        public var seeingJitter: Double
        /// Chance that a frame is crossed by a satellite, and by an aircraft.
        public var satelliteChancePerFrame: Double
        public var aircraftChancePerFrame: Double
        /// Stop after this many frames (nextFrame then returns nil); nil runs forever.
        public var frameLimit: Int?
        /// Last word on each frame's conditions (clouds rolling in at frame 20, a defocus at 40...).
        public var adjust: (@Sendable (_ frameIndex: Int, _ conditions: inout FrameConditions) -> Void)?

        public init(scene: SkyScene, camera: CameraModel, conditions: FrameConditions = FrameConditions(),
                    seed: UInt64 = 1, startTime: UTCInstant = UTCInstant(unixSeconds: 1_767_225_600),
                    overhead: Double = 2, pacing: Pacing = .immediate, pointingJitterPixels: Double = 0.5,
                    seeingJitter: Double = 0.05, satelliteChancePerFrame: Double = 0, aircraftChancePerFrame: Double = 0,
                    frameLimit: Int? = nil,
                    adjust: (@Sendable (_ frameIndex: Int, _ conditions: inout FrameConditions) -> Void)? = nil) {
            self.scene = scene; self.camera = camera; self.conditions = conditions; self.seed = seed
            self.startTime = startTime; self.overhead = overhead; self.pacing = pacing
            self.pointingJitterPixels = pointingJitterPixels; self.seeingJitter = seeingJitter
            self.satelliteChancePerFrame = satelliteChancePerFrame; self.aircraftChancePerFrame = aircraftChancePerFrame
            self.frameLimit = frameLimit; self.adjust = adjust
        }

        /// Simulated seconds from one exposure start to the next.
        public var cadence: Double { conditions.exposure + overhead }
    }

    /// Changes only through `setExposure(seconds:)`, between frames.
    public private(set) var configuration: Configuration
    /// The renderer, for calibration frames of the same camera (`render(.bias(seed:))`...).
    public let simulator: SkySimulator
    /// Index of the next frame to deliver.
    public private(set) var nextIndex = 0
    /// Metadata and ground truth of the frame delivered last.
    public private(set) var lastFrame: SimulatedFrame?
    private var isOpen = false
    /// Monotonic time at which frame 0 counts as started.
    private var scheduleBase = 0.0

    public init(configuration: Configuration) throws(CaptureError) {
        guard configuration.overhead >= 0, configuration.overhead.isFinite else {
            throw .misconfigured("simulator overhead \(configuration.overhead) s must be >= 0")
        }
        if case let .accelerated(s) = configuration.pacing, !(s > 0 && s.isFinite) {
            throw .misconfigured("simulator acceleration \(s) must be positive")
        }
        guard configuration.pointingJitterPixels >= 0, configuration.seeingJitter >= 0, configuration.seeingJitter < 0.5 else {
            throw .misconfigured("simulator jitter must be >= 0 (seeing jitter below 0.5)")
        }
        self.configuration = configuration
        do {
            simulator = try SkySimulator(scene: configuration.scene, camera: configuration.camera)
        } catch {
            throw .misconfigured(error.description)
        }
    }

    public var name: String {
        let c = configuration.camera
        return "simulator \(configuration.scene.name) \(c.width)x\(c.height) seed \(configuration.seed)"
    }

    public var maxFrameSize: (width: Int, height: Int)? { (configuration.camera.width, configuration.camera.height) }

    public func open() throws(CaptureError) {
        if !isOpen {
            isOpen = true
            scheduleBase = MonotonicClock.seconds() - Double(nextIndex) * realSecondsPerFrame
        }
    }

    public func close() { isOpen = false }

    /// Frames from `nextIndex` on are exposed `seconds` (the hub's `set-exposure`). The simulated
    /// clock stays continuous: the next frame starts when it would have, and later ones follow at
    /// the new cadence, so frame `k` still depends only on the configuration and `k`.
    public func setExposure(seconds: Double) throws(CaptureError) -> Double {
        guard seconds > 0, seconds <= 86_400, seconds.isFinite else {
            throw .misconfigured("simulator exposure \(seconds) s must be in (0, 86400]")
        }
        let nextStart = configuration.startTime.adding(seconds: Double(nextIndex) * configuration.cadence)
        let realBefore = realSecondsPerFrame
        let dueBefore = scheduleBase + Double(nextIndex + 1) * realBefore
        configuration.conditions.exposure = seconds
        configuration.startTime = nextStart.adding(seconds: -Double(nextIndex) * configuration.cadence)
        // The frame in progress ends at its old due time plus the change in its own exposure.
        let realAfter = realSecondsPerFrame
        scheduleBase = dueBefore + (realAfter - realBefore) - Double(nextIndex + 1) * realAfter
        return seconds
    }

    /// Restart the sequence at frame `index` (replay).
    public func seek(toFrame index: Int) {
        nextIndex = max(0, index)
        scheduleBase = MonotonicClock.seconds() - Double(nextIndex) * realSecondsPerFrame
    }

    private var realSecondsPerFrame: Double {
        guard let speed = configuration.pacing.speed else { return 0 }
        return configuration.cadence / speed
    }

    /// The conditions of frame `index`: the template, this frame's seed, time and jitter, then `adjust`.
    public func conditions(forFrame index: Int) -> FrameConditions {
        let cfg = configuration
        var rng = SeededRandom(seed: cfg.seed, stream: SeedMixer.label("frame") &+ UInt64(index))
        var c = cfg.conditions
        c.seed = SeedMixer.mix(cfg.seed, UInt64(index))
        c.startTime = cfg.startTime.adding(seconds: Double(index) * cfg.cadence)
        c.pointingOffset = PixelVector(dx: c.pointingOffset.dx + cfg.pointingJitterPixels * rng.gaussian(),
                                       dy: c.pointingOffset.dy + cfg.pointingJitterPixels * rng.gaussian())
        c.fwhmPixels = max(0.5, c.fwhmPixels * (1 + cfg.seeingJitter * rng.gaussian()))
        if rng.uniform() < cfg.satelliteChancePerFrame { c.satelliteCount += 1 }
        if rng.uniform() < cfg.aircraftChancePerFrame { c.aircraftCount += 1 }
        cfg.adjust?(index, &c)
        return c
    }

    public func nextFrame(into slot: UnsafeMutableBufferPointer<UInt16>, timeout: Double) throws(CaptureError) -> CapturedFrame? {
        guard isOpen else { throw .unavailable("simulator source is closed; open() it first") }
        let cam = configuration.camera
        guard slot.count >= cam.width * cam.height else {
            throw .tooLarge(width: cam.width, height: cam.height, capacity: slot.count)
        }
        if let limit = configuration.frameLimit, nextIndex >= limit {
            Thread.sleep(forTimeInterval: max(0, min(timeout, 0.05)))
            return nil
        }
        // A frame is delivered when its exposure ends on the simulated clock.
        let perFrame = realSecondsPerFrame
        if perFrame > 0 {
            var now = MonotonicClock.seconds()
            var due = scheduleBase + Double(nextIndex + 1) * perFrame
            if now > due + perFrame {
                // Fell behind (a stalled consumer): resume the schedule from now rather than burst.
                scheduleBase = now - Double(nextIndex + 1) * perFrame
                due = now
            }
            if due - now > timeout {
                Thread.sleep(forTimeInterval: max(0, timeout))
                return nil
            }
            while now < due {
                Thread.sleep(forTimeInterval: due - now)
                now = MonotonicClock.seconds()
            }
        }
        let index = nextIndex
        let frame: SimulatedFrame
        do {
            frame = try simulator.render(conditions(forFrame: index), into: slot)
        } catch {
            throw .misconfigured("simulated frame \(index): \(error.description)")
        }
        nextIndex += 1
        lastFrame = frame
        return CapturedFrame(metadata: frame.metadata, origin: "sim:\(configuration.seed)/\(index)",
                             capturedAtMonotonic: MonotonicClock.seconds())
    }
}
