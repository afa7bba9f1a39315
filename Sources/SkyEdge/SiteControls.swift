import Foundation
import SkyCapture

/// What the hub's commands can change in a running site, shared by the command queue
/// (which decides), the capture thread (which applies exposure and paces frames) and the
/// processing loop (which rebuilds the pipeline and sends a heartbeat when settings change).
final class SiteControls: @unchecked Sendable {
    struct ExposureRequest { var id: UInt64; var seconds: Double }

    private let cond = NSCondition()
    // Guarded by `cond`.
    /// The config the site runs with now: the boot config plus every applied command and reload.
    private var running: SiteConfig
    /// The exposure of the latest frame (or the one just applied), seconds; nil when unknown.
    private var exposureNow: Double?
    /// Set by a command: applied again after the source reopens (a camera forgets it).
    private var commandedExposure: Double?
    private var request: ExposureRequest?
    private var results: [UInt64: Result<Double, CaptureError>] = [:]
    private var nextRequestID: UInt64 = 1
    private var processing = RecentProcessingTimes()
    private var pipelineChange: SiteConfig?
    private var statusDue = false

    init(config: SiteConfig) {
        running = config
        exposureNow = config.effectiveExposure
    }

    var config: SiteConfig { cond.withLock { running } }
    var settings: CaptureSettings { cond.withLock { CaptureSettings(exposure: exposureNow, cadence: running.source.cadence) } }
    var longestRecentProcessing: Double? { cond.withLock { processing.longest } }

    // MARK: command queue

    /// Asks the capture thread for a new exposure and waits up to `timeout` for its answer;
    /// nil when it did not come in time (the source is closed or between long frames): the
    /// request stays and is applied when the capture thread gets to it.
    func requestExposure(_ seconds: Double, timeout: Double) -> Result<Double, CaptureError>? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        let id = nextRequestID
        nextRequestID += 1
        request = ExposureRequest(id: id, seconds: seconds)
        while results[id] == nil {
            if !cond.wait(until: deadline) { break }
        }
        return results.removeValue(forKey: id)
    }

    func setCadence(_ seconds: Double?) {
        cond.withLock {
            running.source.cadence = seconds
            statusDue = true
        }
    }

    /// A reload's live keys; exposure has been applied before (it can fail, nothing else can).
    func applyReload(_ config: SiteConfig, pipelineChanged: Bool) {
        cond.withLock {
            let exposure = running.source.exposure
            running = config
            running.source.exposure = exposure
            if pipelineChanged { pipelineChange = config }
            statusDue = true
        }
    }

    // MARK: capture thread

    /// The pending exposure request, if any (taken: it will be answered by `finish`).
    func takeExposureRequest() -> ExposureRequest? {
        cond.withLock {
            defer { request = nil }
            return request
        }
    }

    func finish(_ request: ExposureRequest, _ result: Result<Double, CaptureError>) {
        cond.withLock {
            if case let .success(applied) = result {
                exposureNow = applied
                commandedExposure = applied
                running.source.exposure = applied
                statusDue = true
            }
            results[request.id] = result
            // Nobody waits for answers older than the newest few.
            if results.count > 16, let oldest = results.keys.min() { results[oldest] = nil }
            cond.broadcast()
        }
    }

    /// After the source (re)opens: the exposure a command set, to apply again.
    var exposureToRestore: Double? { cond.withLock { commandedExposure } }

    func noteFrame(exposure: Double?) {
        guard let exposure, exposure > 0 else { return }
        cond.withLock { exposureNow = exposure }
    }

    // MARK: processing loop

    func noteProcessing(seconds: Double) { cond.withLock { processing.add(seconds) } }

    /// A reloaded config whose thresholds the pipeline must take, once.
    func takePipelineChange() -> SiteConfig? {
        cond.withLock {
            defer { pipelineChange = nil }
            return pipelineChange
        }
    }

    /// True once after each change of exposure, cadence or config: send a heartbeat now.
    func takeStatusDue() -> Bool {
        cond.withLock {
            defer { statusDue = false }
            return statusDue
        }
    }
}
