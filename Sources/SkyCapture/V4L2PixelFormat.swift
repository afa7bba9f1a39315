import CV4L2

/// The camera pixel layouts this source can turn into 16-bit mono, best first.
public enum V4L2PixelFormat: String, Sendable, CaseIterable, Codable {
    case y16 = "Y16"
    case y10 = "Y10"
    case grey = "GREY"
    case yuyv = "YUYV"

    /// Negotiation order when the configuration names none: most bits first,
    /// then a native mono format, then colour as the last resort.
    public static let preferenceOrder: [V4L2PixelFormat] = [.y16, .y10, .grey, .yuyv]

    public var fourcc: UInt32 {
        switch self {
        case .y16: SKY_PIX_FMT_Y16
        case .y10: SKY_PIX_FMT_Y10
        case .grey: SKY_PIX_FMT_GREY
        case .yuyv: SKY_PIX_FMT_YUYV
        }
    }

    public init?(fourcc: UInt32) {
        guard let known = V4L2PixelFormat.allCases.first(where: { $0.fourcc == fourcc }) else { return nil }
        self = known
    }

    /// Accepts the V4L2 names, case-insensitively, and `Y8` / `GRAY` for GREY.
    public init?(name: String) {
        switch name.uppercased() {
        case "Y16": self = .y16
        case "Y10": self = .y10
        case "GREY", "GRAY", "Y8", "Y800": self = .grey
        case "YUYV", "YUY2": self = .yuyv
        default: return nil
        }
    }

    /// Bytes one pixel takes in driver memory.
    public var bytesPerPixel: Int {
        switch self {
        case .grey: 1
        case .y16, .y10, .yuyv: 2
        }
    }

    /// Significant bits in the camera's values.
    public var bitDepth: Int {
        switch self {
        case .y16: 16
        case .y10: 10
        case .grey, .yuyv: 8
        }
    }

    /// The largest value a converted frame can hold (the camera's full scale after scaling).
    public var fullScale: UInt16 { UInt16(truncatingIfNeeded: 0xFFFF &<< (16 - bitDepth)) }

    /// Converts one frame; the caller has checked the sizes (see `V4L2FrameLayout`).
    public func convert(from source: UnsafeRawPointer, bytesPerLine: Int, width: Int, height: Int,
                        into destination: UnsafeMutablePointer<UInt16>) {
        switch self {
        case .y16: convertY16ToMono16(from: source, bytesPerLine: bytesPerLine, width: width, height: height, into: destination)
        case .y10: convertY10ToMono16(from: source, bytesPerLine: bytesPerLine, width: width, height: height, into: destination)
        case .grey: convertGreyToMono16(from: source, bytesPerLine: bytesPerLine, width: width, height: height, into: destination)
        case .yuyv: convertYUYVToMono16(from: source, bytesPerLine: bytesPerLine, width: width, height: height, into: destination)
        }
    }
}

/// A fourcc as its four characters (`YUYV`, `Y16 `), for messages; unprintable bytes become `?`.
public func fourccString(_ code: UInt32) -> String {
    var text = ""
    for shift in stride(from: 0, to: 32, by: 8) {
        let byte = UInt8(truncatingIfNeeded: code >> UInt32(shift))
        text.append((0x20..<0x7F).contains(byte) ? Character(Unicode.Scalar(byte)) : "?")
    }
    return text
}
