import CV4L2
import Glibc

/// One control a device offers (VIDIOC_QUERYCTRL), with its current value when readable.
public struct V4L2ControlInfo: Sendable, Equatable, Codable {
    public var id: UInt32
    public var name: String
    /// `integer`, `boolean`, `menu`, `integer-menu`, `button`, or `type N`.
    public var type: String
    public var minimum: Int
    public var maximum: Int
    public var step: Int
    public var defaultValue: Int
    public var value: Int?
    public var isReadOnly: Bool
    public var isInactive: Bool

    public init(id: UInt32, name: String, type: String, minimum: Int, maximum: Int, step: Int,
                defaultValue: Int, value: Int?, isReadOnly: Bool, isInactive: Bool) {
        self.id = id; self.name = name; self.type = type; self.minimum = minimum; self.maximum = maximum
        self.step = step; self.defaultValue = defaultValue; self.value = value
        self.isReadOnly = isReadOnly; self.isInactive = isInactive
    }
}

/// What happened to one requested control setting.
public enum V4L2ControlOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The configuration did not ask for it; the driver's setting stands.
    case notRequested
    /// The device has no such control (or it is disabled or read-only).
    case notSupported
    /// Set; `applied` is what the driver reports after clamping to its range and step.
    case applied(requested: Int, applied: Int, minimum: Int, maximum: Int)
    /// The control exists but setting it failed.
    case failed(String)

    public var appliedValue: Int? {
        if case let .applied(_, v, _, _) = self { v } else { nil }
    }

    public var description: String {
        switch self {
        case .notRequested: "not requested"
        case .notSupported: "not supported"
        case let .applied(r, a, lo, hi): r == a ? "\(a)" : "\(a) (asked \(r), range \(lo)...\(hi))"
        case let .failed(m): "failed: \(m)"
        }
    }
}

/// What `open()` did with the configured exposure and gain.
public struct V4L2ControlReport: Sendable, Equatable, CustomStringConvertible {
    /// In the driver's units of 100 microseconds (V4L2_CID_EXPOSURE_ABSOLUTE).
    public var exposure: V4L2ControlOutcome
    /// In the driver's own units (V4L2_CID_GAIN).
    public var gain: V4L2ControlOutcome

    public init(exposure: V4L2ControlOutcome, gain: V4L2ControlOutcome) {
        self.exposure = exposure; self.gain = gain
    }

    /// The exposure the camera now uses, in seconds, when it was set.
    public var exposureSeconds: Double? { exposure.appliedValue.map { Double($0) * 1e-4 } }

    public var description: String {
        let seconds = exposureSeconds.map { " = \($0) s" } ?? ""
        return "exposure (100 us units): \(exposure)\(seconds); gain: \(gain)"
    }
}

/// Seconds as V4L2_CID_EXPOSURE_ABSOLUTE units of 100 microseconds, rounded to nearest.
public func exposureUnits(seconds: Double) -> Int {
    guard seconds.isFinite, seconds > 0 else { return 0 }
    return Int(min(seconds * 10_000, Double(Int32.max)).rounded())
}

/// The value a driver with this range and step can take that is nearest to `value`.
public func clampControlValue(_ value: Int, minimum: Int, maximum: Int, step: Int) -> Int {
    guard maximum >= minimum else { return minimum }
    let clamped = min(max(value, minimum), maximum)
    guard step > 1 else { return clamped }
    let steps = ((clamped - minimum) + step / 2) / step
    let aligned = minimum + steps * step
    return aligned > maximum ? aligned - step : aligned
}

/// Control queries and settings on an open device.
struct V4L2Controls {
    let handle: V4L2Handle

    /// The control's description, or nil when the device lacks it or has it disabled.
    func query(_ id: UInt32) -> v4l2_queryctrl? {
        var q = v4l2_queryctrl()
        q.id = id
        guard handle.ioctl(SKY_VIDIOC_QUERYCTRL, &q) == nil, q.flags & SKY_CTRL_FLAG_DISABLED == 0 else { return nil }
        return q
    }

    func value(_ id: UInt32) -> Int? {
        var c = v4l2_control()
        c.id = id
        return handle.ioctl(SKY_VIDIOC_G_CTRL, &c) == nil ? Int(c.value) : nil
    }

    /// Sets a control and returns errno on failure.
    func set(_ id: UInt32, _ value: Int) -> Int32? {
        var c = v4l2_control()
        c.id = id
        c.value = Int32(clamping: value)
        return handle.ioctl(SKY_VIDIOC_S_CTRL, &c)
    }

    /// Sets an integer control to the nearest value its range allows and reads back what took.
    func apply(_ id: UInt32, requested: Int?) -> V4L2ControlOutcome {
        guard let requested else { return .notRequested }
        guard let q = query(id), q.flags & SKY_CTRL_FLAG_READ_ONLY == 0 else { return .notSupported }
        let lo = Int(q.minimum), hi = Int(q.maximum)
        let target = clampControlValue(requested, minimum: lo, maximum: hi, step: Int(q.step))
        if let err = set(id, target) {
            return .failed("\(cString(q.name)) = \(target) on \(handle.path): \(errnoText(err))")
        }
        return .applied(requested: requested, applied: value(id) ?? target, minimum: lo, maximum: hi)
    }

    /// Switches to manual exposure (when the device has an auto mode) and sets the time.
    func applyExposure(seconds: Double?) -> V4L2ControlOutcome {
        guard let seconds else { return .notRequested }
        guard query(SKY_CID_EXPOSURE_ABSOLUTE) != nil else { return .notSupported }
        if query(SKY_CID_EXPOSURE_AUTO) != nil, value(SKY_CID_EXPOSURE_AUTO) != Int(SKY_EXPOSURE_MANUAL),
           let err = set(SKY_CID_EXPOSURE_AUTO, Int(SKY_EXPOSURE_MANUAL)) {
            return .failed("cannot switch \(handle.path) to manual exposure: \(errnoText(err))")
        }
        return apply(SKY_CID_EXPOSURE_ABSOLUTE, requested: exposureUnits(seconds: seconds))
    }

    /// Every control, walked with V4L2_CTRL_FLAG_NEXT_CTRL; class headings are skipped.
    func all() -> [V4L2ControlInfo] {
        var result: [V4L2ControlInfo] = []
        var id = SKY_CTRL_FLAG_NEXT_CTRL
        for _ in 0..<1024 {
            var q = v4l2_queryctrl()
            q.id = id
            if handle.ioctl(SKY_VIDIOC_QUERYCTRL, &q) != nil { break }
            id = q.id | SKY_CTRL_FLAG_NEXT_CTRL
            let type = q.type
            if type == SKY_CTRL_TYPE_CTRL_CLASS || q.flags & SKY_CTRL_FLAG_DISABLED != 0 { continue }
            let readable = type != SKY_CTRL_TYPE_BUTTON && q.flags & SKY_CTRL_FLAG_WRITE_ONLY == 0
            result.append(V4L2ControlInfo(
                id: q.id, name: cString(q.name), type: controlTypeName(type),
                minimum: Int(q.minimum), maximum: Int(q.maximum), step: Int(q.step),
                defaultValue: Int(q.default_value), value: readable ? value(q.id) : nil,
                isReadOnly: q.flags & SKY_CTRL_FLAG_READ_ONLY != 0,
                isInactive: q.flags & SKY_CTRL_FLAG_INACTIVE != 0))
        }
        return result
    }
}

private func controlTypeName(_ type: UInt32) -> String {
    switch type {
    case SKY_CTRL_TYPE_INTEGER: "integer"
    case SKY_CTRL_TYPE_BOOLEAN: "boolean"
    case SKY_CTRL_TYPE_MENU: "menu"
    case SKY_CTRL_TYPE_INTEGER_MENU: "integer-menu"
    case SKY_CTRL_TYPE_BUTTON: "button"
    default: "type \(type)"
    }
}
