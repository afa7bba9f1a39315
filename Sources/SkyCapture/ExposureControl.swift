/// A source whose exposure can change while it runs (the hub's `set-exposure`).
/// Called only on the thread that calls `nextFrame` (the capture thread): a camera's
/// controls are never touched from the network thread.
public protocol ExposureControllable: AnyObject {
    /// Frames delivered after this call use `seconds`; returns the exposure the source
    /// will actually use (a camera clamps to its range and step).
    func setExposure(seconds: Double) throws(CaptureError) -> Double
}

/// A source that may make frames only when asked (the simulator, a FITS replay): a cadence
/// waits before asking rather than discarding frames, which a free-running camera (or a
/// watched directory the camera software fills) needs instead.
public protocol FramesOnRequest: AnyObject {
    var makesFramesOnRequest: Bool { get }
}

extension V4L2FrameSource: ExposureControllable {
    public func setExposure(seconds: Double) throws(CaptureError) -> Double {
        let report = try applyControls(exposureSeconds: seconds, gain: nil)
        switch report.exposure {
        case .applied:
            return report.exposureSeconds ?? seconds
        case .notSupported:
            throw .misconfigured("\(configuration.devicePath) has no settable exposure control")
        case let .failed(reason):
            throw .misconfigured("\(configuration.devicePath): setting the exposure failed: \(reason)")
        case .notRequested:
            return seconds
        }
    }
}

extension SimulatorSource: ExposureControllable, FramesOnRequest {
    public var makesFramesOnRequest: Bool { true }
}

extension FITSDirectorySource: FramesOnRequest {
    public var makesFramesOnRequest: Bool { mode != .watch }
}
