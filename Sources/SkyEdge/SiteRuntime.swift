import Foundation
import SkyCapture
import SkyCore
import SkyImage
import Synchronization

/// Counters since boot, reported in every heartbeat.
public struct RuntimeCounters: Sendable, Equatable {
    public var framesCaptured: UInt64 = 0
    public var framesProcessed: UInt64 = 0
    /// Frames a free-running camera delivered sooner than the cadence allows, discarded.
    public var framesSkipped: UInt64 = 0
    public var deadlineMisses: UInt64 = 0
    public var captureErrors: UInt64 = 0
    public var lastError: String?
}

/// The site process: a capture thread fills frame slots from the source while
/// the calling thread runs the pipeline on the previous frame and publishes the
/// result. The source failing never ends the run: it is closed and reopened
/// with capped exponential backoff and jitter, and each failure is counted and
/// logged with its reason.
public final class SiteRuntime: @unchecked Sendable {
    public let config: SiteConfig
    public let board: BoardProfile
    public let plan: MemoryPlan
    let arena: Arena
    /// Masters loaded at start (nil: frames are judged raw).
    let calibration: SiteCalibration?
    /// Learnt at start from `quality.clearReference`.
    let clearSky: ClearSkyReference?
    let source: FrameSource
    let sink: RecordSink
    let ring: SlotRing<CapturedFrame>
    let slotPixels: Int
    /// Start of the frame slots in the arena, looked up once rather than per frame.
    let slotsBase: UnsafeMutableRawPointer
    let stopping = Atomic<Bool>(false)
    let counters = Mutex(RuntimeCounters())
    /// Exposure, cadence and reloadable settings the hub's commands change (SiteRuntime+Commands).
    let controls: SiteControls
    /// Backoff bounds for reopening a failed source, seconds.
    public var retryInitial = 0.5
    public var retryMax = 30.0

    /// Computes the memory plan and allocates the arena; throws `MemoryPlanError`
    /// (whose description is the printed plan) when it does not fit the board, and
    /// `CalibrationSetupError` when a configured master is missing, unreadable or the wrong size.
    public init(config: SiteConfig, board: BoardProfile, source: FrameSource, sink: RecordSink) throws {
        self.config = config
        self.board = board
        plan = MemoryPlan.make(config: config, board: board)
        arena = try Arena(plan: plan)
        calibration = try SiteCalibration.load(config: config, arena: arena)
        clearSky = try SiteClearSky.learn(config: config, arena: arena, calibration: calibration,
                                          slot: arena.region("frame slots").bindMemory(to: UInt16.self))
        self.source = source
        self.sink = sink
        ring = SlotRing(slots: config.pipeline.slots)
        slotPixels = config.maxFrameWidth * config.maxFrameHeight
        slotsBase = arena.region("frame slots").baseAddress!
        controls = SiteControls(config: config)
    }

    public var snapshot: RuntimeCounters { counters.withLock { $0 } }

    public func stop() {
        stopping.store(true, ordering: .releasing)
        ring.close()
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    func slot(_ i: Int) -> UnsafeMutableBufferPointer<UInt16> {
        let base = (slotsBase + i * slotPixels * 2).bindMemory(to: UInt16.self, capacity: slotPixels)
        return UnsafeMutableBufferPointer(start: base, count: slotPixels)
    }

    /// Runs until `stop()` or `config.maxFrames` frames are processed.
    public func run() {
        // Read before the capture thread starts: a source's name may change when it (re)opens.
        Log.info("\(config.address) on board \(board.name): arena \(plan.arenaBytes >> 20) MiB, source \(source.name)")
        let captureDone = DispatchSemaphore(value: 0)
        let capture = Thread { [self] in
            captureLoop()
            captureDone.signal()
        }
        capture.name = "skyedge-capture"
        capture.start()

        if let c = calibration {
            let m = c.masters
            let parts = [m.bias != nil ? "bias" : nil, m.dark != nil ? "dark (\(m.darkExposure) s)" : nil,
                         m.flat != nil ? "flat" : nil, m.mask != nil ? "bad-pixel mask" : nil].compactMap { $0 }
            Log.info("calibrating with \(parts.isEmpty ? "no masters" : parts.joined(separator: ", ")); gain \(c.gain.map { "\($0) e-/ADU" } ?? "from each frame's GAIN, else ADU")")
        }
        var pipeline = FramePipeline(config: config, arena: arena, calibration: calibration)
        pipeline.quality.clearReference = clearSky
        if let c = clearSky { Log.info("cloud judged against a clear frame: \(Int(c.regionStars.reduce(0, +))) stars over \(c.regionStars.count) regions") }
        var live = controls.config
        var nextStatus = MonotonicClock.seconds() + live.statusInterval
        while !isStopping {
            if let changed = controls.takePipelineChange() {
                pipeline.applyThresholds(of: changed)
            }
            live = controls.config
            if let (index, frame) = ring.takeReady(timeout: 0.2) {
                let slot = slot(index)
                let view = ImageView(base: slot.baseAddress!, width: frame.metadata.width, height: frame.metadata.height)
                let started = MonotonicClock.seconds()
                let report = pipeline.process(view, frame: frame)
                controls.noteProcessing(seconds: MonotonicClock.seconds() - started)
                let done = counters.withLock { c -> Bool in
                    c.framesProcessed += 1
                    if !report.deadlineMet { c.deadlineMisses += 1 }
                    return live.maxFrames.map { Int(c.framesProcessed) >= $0 } ?? false
                }
                sink.publish(frame: report)
                // The slot goes back only now, so "frame N's report is out" and "slot free" are one event.
                ring.giveBack(index)
                Log.info(Self.summaryLine(report))
                if done { break }
            }
            let now = MonotonicClock.seconds()
            if controls.takeStatusDue() {
                // Exposure, cadence or config changed: the hub hears it now, and the next birth says it too.
                let s = controls.settings
                sink.settingsChanged(exposure: s.exposure, cadence: s.cadence)
                sink.publish(status: statusReport())
                nextStatus = now + live.statusInterval
            } else if now >= nextStatus {
                sink.publish(status: statusReport())
                // After a stall, one heartbeat, not one per missed interval.
                nextStatus = max(nextStatus + live.statusInterval, now)
            }
        }
        stop()
        captureDone.wait()
        source.close()
        sink.publish(status: statusReport())
        let c = snapshot
        Log.info("\(config.address) stopped: \(c.framesProcessed) frames processed, \(c.deadlineMisses) deadline misses, \(c.captureErrors) capture errors")
    }

    /// One log line per frame: what a technician tailing the journal wants to see.
    static func summaryLine(_ r: FrameReport) -> String {
        // File paths shrink to the file name; other origins (sim:11/118, a device) stay whole.
        let name = r.source.hasPrefix("/") ? (r.source.split(separator: "/").last.map(String.init) ?? r.source) : r.source
        let flags = r.flags.isEmpty ? "" : " [\(r.flags.joined(separator: ","))]"
        let verdict = r.verdict.map { " \($0) (\(r.score ?? 0))" } ?? ""
        return String(format: "frame %llu %@ %dx%d: bkg %.1f noise %.2f stars %d sat %.3f%%%@ in %.0f ms of %.1f s%@",
                      r.frameIndex, name, r.width, r.height, r.background, r.noise, r.stars,
                      100 * r.saturatedFraction, verdict, 1000 * r.elapsedSeconds, r.deadlineSeconds, flags)
    }

    public func statusReport() -> StatusReport {
        let c = snapshot
        let d = sink.delivery
        let s = controls.settings
        return StatusReport(framesCaptured: c.framesCaptured, framesProcessed: c.framesProcessed,
                            recordsPublished: d.published, recordsAcknowledged: d.acknowledged,
                            recordsDropped: d.dropped, outboxDepth: d.pending,
                            deadlineMisses: c.deadlineMisses, captureErrors: c.captureErrors, lastError: c.lastError,
                            exposure: s.exposure, cadence: s.cadence)
    }

    func captureLoop() {
        var isOpen = false
        var backoff = retryInitial
        var generator = SystemRandomNumberGenerator()
        var consecutiveBadFrames = 0
        var pacer = CadencePacer(onRequest: (source as? FramesOnRequest)?.makesFramesOnRequest ?? false)
        func recordFailure(_ e: CaptureError) {
            // Bounded: the status record's size is part of the memory plan.
            let text = e.description.utf8.count <= 400 ? e.description : String(e.description.prefix(400)) + "..."
            counters.withLock { $0.captureErrors += 1; $0.lastError = text }
        }
        func pause() {
            // Full jitter: many sites restarting after a shared outage do not retry in step.
            let wait = Double.random(in: backoff / 2...backoff, using: &generator)
            backoff = min(backoff * 2, retryMax)
            let until = MonotonicClock.seconds() + wait
            while !isStopping && MonotonicClock.seconds() < until { usleep(50_000) }
        }
        while !isStopping {
            if !isOpen {
                do throws(CaptureError) {
                    try source.open()
                    isOpen = true
                    backoff = retryInitial
                    Log.info("source open: \(source.name)")
                    // A reopened camera is back at its configured exposure; a commanded one wins.
                    if let seconds = controls.exposureToRestore, let s = source as? ExposureControllable {
                        do throws(CaptureError) { _ = try s.setExposure(seconds: seconds) } catch {
                            Log.warn("cannot restore exposure \(seconds) s after reopening: \(error)")
                        }
                    }
                } catch {
                    recordFailure(error)
                    Log.error("\(error); retrying")
                    pause()
                    continue
                }
            }
            applyExposureRequest()
            let interval = controls.settings.realInterval(timeScale: timeScale)
            if pacer.waitBeforeAsking(interval: interval, stop: { isStopping }) { continue }
            guard let index = ring.takeFree(timeout: 0.5) else { continue }
            do throws(CaptureError) {
                pacer.asking()
                if let frame = try source.nextFrame(into: slot(index), timeout: 1.0) {
                    // Sources check the pixel count against the slot; the pipeline also needs each side to fit.
                    let w = frame.metadata.width, h = frame.metadata.height
                    guard w >= 1, h >= 1, w <= config.maxFrameWidth, h <= config.maxFrameHeight else {
                        throw CaptureError.badFrame("\(frame.origin) is \(w)x\(h), beyond the \(config.maxFrameWidth)x\(config.maxFrameHeight) frames of the memory plan")
                    }
                    if consecutiveBadFrames > 0 { consecutiveBadFrames = 0; backoff = retryInitial }
                    if !pacer.keeps(frame.capturedAtMonotonic, interval: interval) {
                        ring.giveBack(index)
                        counters.withLock { $0.framesSkipped += 1 }
                        continue
                    }
                    controls.noteFrame(exposure: frame.metadata.exptime)
                    counters.withLock { $0.framesCaptured += 1 }
                    ring.markReady(index, frame)
                } else {
                    ring.giveBack(index)
                }
            } catch {
                ring.giveBack(index)
                recordFailure(error)
                switch error {
                case .badFrame, .tooLarge:
                    Log.warn("\(error); skipping it")
                    // A camera that only ever sends unusable frames is misconfigured: back off
                    // instead of logging at frame rate forever.
                    consecutiveBadFrames += 1
                    if consecutiveBadFrames >= 3 { pause() }
                case .lost, .unavailable, .misconfigured:
                    Log.error("\(error); closing the source and retrying")
                    source.close()
                    isOpen = false
                    pause()
                }
            }
        }
    }
}

extension SiteRuntime {
    /// Capture thread: applies the exposure a command asked for, between frames.
    func applyExposureRequest() {
        guard let request = controls.takeExposureRequest() else { return }
        guard let s = source as? ExposureControllable else {
            controls.finish(request, .failure(.misconfigured("the source has no exposure control")))
            return
        }
        do throws(CaptureError) {
            controls.finish(request, .success(try s.setExposure(seconds: request.seconds)))
        } catch {
            controls.finish(request, .failure(error))
        }
    }
}

/// Keeps frames at most one per cadence interval (wall-clock seconds). A source that makes
/// frames on request is not asked before the interval is up; a free-running camera's
/// frames that come sooner are discarded, so the kept ones are fresh, not queued.
struct CadencePacer {
    let onRequest: Bool
    private var lastAsked: Double?
    private var lastKept: Double?

    init(onRequest: Bool) { self.onRequest = onRequest }

    /// Sleeps (in short steps) until an on-request source may be asked again; true when it
    /// stopped early to let the caller look at commands and stopping first.
    mutating func waitBeforeAsking(interval: Double?, stop: () -> Bool) -> Bool {
        guard onRequest, let interval, let last = lastAsked else { return false }
        let due = last + interval
        let now = MonotonicClock.seconds()
        guard now < due else { return false }
        usleep(useconds_t(min(due - now, 0.05) * 1_000_000))
        return !stop()
    }

    mutating func asking() { lastAsked = MonotonicClock.seconds() }

    /// Whether a frame captured at `capturedAt` is kept.
    mutating func keeps(_ capturedAt: Double, interval: Double?) -> Bool {
        if !onRequest, let interval, let last = lastKept, capturedAt < last + interval { return false }
        lastKept = capturedAt
        return true
    }
}
