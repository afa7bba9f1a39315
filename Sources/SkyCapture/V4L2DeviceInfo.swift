/// One V4L2 device node as the driver describes it.
public struct V4L2DeviceInfo: Sendable, Equatable, Codable {
    public var path: String
    public var driver: String
    public var card: String
    public var busInfo: String
    /// The node's capability bits (VIDIOC_QUERYCAP device_caps).
    public var capabilities: UInt32
    /// Whether this node can be a camera for us (video capture with streaming I/O).
    public var isCaptureDevice: Bool
    public var formats: [V4L2FormatInfo]
    /// Why the node could not be queried or used (permission, not a capture node), or nil.
    public var problem: String?

    public init(path: String, driver: String, card: String, busInfo: String, capabilities: UInt32,
                isCaptureDevice: Bool, formats: [V4L2FormatInfo], problem: String?) {
        self.path = path; self.driver = driver; self.card = card; self.busInfo = busInfo
        self.capabilities = capabilities; self.isCaptureDevice = isCaptureDevice
        self.formats = formats; self.problem = problem
    }
}

/// One pixel format a device offers.
public struct V4L2FormatInfo: Sendable, Equatable, Codable {
    /// The four characters, e.g. `YUYV` or `Y16 ` (V4L2 pads short codes with spaces).
    public var fourcc: String
    public var description: String
    /// Produced by libv4l2 in software from another format rather than by the camera.
    public var isEmulated: Bool
    public var frameSizes: V4L2FrameSizes

    public init(fourcc: String, description: String, isEmulated: Bool, frameSizes: V4L2FrameSizes) {
        self.fourcc = fourcc; self.description = description; self.isEmulated = isEmulated; self.frameSizes = frameSizes
    }

    /// The format as this source knows it, when it can convert it.
    public var pixelFormat: V4L2PixelFormat? {
        V4L2PixelFormat.allCases.first { $0.fourccName == fourcc }
    }
}

public struct V4L2FrameSize: Sendable, Hashable, Codable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { self.width = width; self.height = height }
    public var description: String { "\(width)x\(height)" }
}

/// The frame sizes a device offers for one format.
public enum V4L2FrameSizes: Sendable, Equatable, Codable, CustomStringConvertible {
    case discrete([V4L2FrameSize])
    /// Any size from minimum to maximum in steps (continuous ranges have step 1).
    case range(minimum: V4L2FrameSize, maximum: V4L2FrameSize, step: V4L2FrameSize)
    /// The driver does not enumerate sizes.
    case unknown

    /// The largest size offered (by pixel count), if any.
    public var largest: V4L2FrameSize? {
        switch self {
        case let .discrete(sizes): sizes.max { $0.width * $0.height < $1.width * $1.height }
        case let .range(_, maximum, _): maximum
        case .unknown: nil
        }
    }

    public var description: String {
        switch self {
        case let .discrete(sizes): sizes.map(\.description).joined(separator: " ")
        case let .range(lo, hi, step): "\(lo)..\(hi) step \(step)"
        case .unknown: "sizes not enumerated"
        }
    }
}

extension V4L2PixelFormat {
    /// The fourcc as the four characters V4L2 uses (`Y16 ` has a trailing space).
    public var fourccName: String { fourccString(fourcc) }
}
