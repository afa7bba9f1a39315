import Foundation
import SkyCapture
import SkyTelemetry

/// The hub's `set-exposure`, `set-cadence` and `reload-config` for a running site
/// (Docs/telemetry.md, "Commands"). Decisions are made on the dispatcher's queue; the
/// camera is only touched on the capture thread, which this waits for.
extension SiteRuntime {
    /// Seconds a command waits for the capture thread to apply an exposure before it is
    /// accepted as pending (applied as soon as the source is open and between frames).
    static let exposureApplyTimeout = 5.0

    /// Handles the settings commands from `dispatcher` from now on. `reload` reads the
    /// config file again the way the process read it at start (same path, same overrides);
    /// without it `reload-config` is rejected.
    public func enableCommands(_ dispatcher: CommandDispatcher, reload: (@Sendable () throws -> SiteConfig)? = nil) {
        dispatcher.register(.setExposure) { [weak self] c in
            guard let self else { return .rejected("site is stopping") }
            guard let seconds = c.seconds else { return .rejected("set-exposure needs seconds") }
            return self.setExposure(seconds)
        }
        dispatcher.register(.setCadence) { [weak self] c in
            guard let self else { return .rejected("site is stopping") }
            guard let seconds = c.seconds else { return .rejected("set-cadence needs seconds") }
            return self.setCadence(seconds)
        }
        dispatcher.register(.reloadConfig) { [weak self] _ in
            guard let self else { return .rejected("site is stopping") }
            guard let reload else { return .rejected("this node was started without a config file to reload") }
            return self.reloadConfig(reload, dispatcher: dispatcher)
        }
    }

    var timeScale: Double { config.timeScale }

    func setExposure(_ seconds: Double) -> CommandOutcome {
        guard source is ExposureControllable else {
            return .rejected("the \(config.source.kind.rawValue) source has no exposure control")
        }
        var wanted = controls.settings
        wanted.exposure = seconds
        if let problem = wanted.problem(timeScale: timeScale, processingSeconds: controls.longestRecentProcessing) {
            return .rejected(problem)
        }
        switch controls.requestExposure(seconds, timeout: Self.exposureApplyTimeout) {
        case let .success(applied)?:
            Log.info("exposure set to \(applied) s (asked \(seconds) s)")
            return .accepted
        case let .failure(error)?:
            return .rejected("\(error)")
        case nil:
            Log.info("exposure \(seconds) s accepted; the capture thread applies it when the source is open")
            return .accepted
        }
    }

    func setCadence(_ seconds: Double) -> CommandOutcome {
        var wanted = controls.settings
        wanted.cadence = seconds
        if let problem = wanted.problem(timeScale: timeScale, processingSeconds: controls.longestRecentProcessing) {
            return .rejected(problem)
        }
        controls.setCadence(seconds)
        Log.info("cadence set to one frame every \(seconds) s")
        return .accepted
    }

    func reloadConfig(_ read: () throws -> SiteConfig, dispatcher: CommandDispatcher) -> CommandOutcome {
        let reloaded: SiteConfig
        do { reloaded = try read() } catch {
            return .rejected("reload refused: \(error); still running with the previous config")
        }
        let running = controls.config
        let changed: [String]
        switch ConfigReload.judge(running: running, reloaded: reloaded, board: board) {
        case let .refuse(reason):
            Log.warn(reason)
            return .rejected(reason)
        case let .apply(keys):
            changed = keys
        }
        let current = controls.settings
        let wanted = CaptureSettings(exposure: reloaded.source.exposure ?? current.exposure, cadence: reloaded.source.cadence)
        if let problem = wanted.problem(timeScale: timeScale, processingSeconds: controls.longestRecentProcessing) {
            return .rejected("reload refused: source.\(problem); still running with the previous config")
        }
        // The exposure first: it is the one change that can fail (a camera may refuse it).
        if changed.contains("source.exposure"), let seconds = reloaded.source.exposure {
            if case let .rejected(reason) = setExposure(seconds) {
                return .rejected("reload refused: \(reason); still running with the previous config")
            }
        }
        let pipelineKeys: Set<String> = ["pipeline.detectSigma", "pipeline.minArea", "pipeline.saturation"]
        controls.applyReload(reloaded, pipelineChanged: changed.contains { pipelineKeys.contains($0) })
        if let level = LogLevel(rawValue: reloaded.logLevel) { Log.level = level }
        dispatcher.setLocalProgram(reloaded.commands.handler, timeout: reloaded.commands.handlerTimeout)
        Log.info(changed.isEmpty ? "config reloaded: nothing changed" : "config reloaded: \(changed.joined(separator: ", "))")
        return .accepted
    }
}
