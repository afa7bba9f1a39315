/// What the driver agreed to deliver (VIDIOC_S_FMT's answer): the layout of every frame.
public struct V4L2FrameLayout: Sendable, Equatable {
    public var pixelFormat: V4L2PixelFormat
    public var width: Int
    public var height: Int
    /// Bytes from one row to the next in driver memory; at least `width * bytesPerPixel`.
    public var bytesPerLine: Int
    /// Bytes the driver says a whole frame takes (0 when it did not say).
    public var sizeImage: Int

    /// Validates the driver's numbers. A `bytesPerLine` of 0 (some drivers leave it
    /// unset for packed formats) means rows are not padded.
    public init(pixelFormat: V4L2PixelFormat, width: Int, height: Int, bytesPerLine: Int, sizeImage: Int,
                device: String) throws(CaptureError) {
        guard width > 0, height > 0 else {
            throw .misconfigured("\(device) negotiated an empty frame (\(width)x\(height))")
        }
        let rowBytes = width * pixelFormat.bytesPerPixel
        let stride = bytesPerLine == 0 ? rowBytes : bytesPerLine
        guard stride >= rowBytes else {
            throw .misconfigured("\(device) reports \(bytesPerLine) bytes per line for \(width) \(pixelFormat.rawValue) pixels")
        }
        self.pixelFormat = pixelFormat
        self.width = width
        self.height = height
        self.bytesPerLine = stride
        self.sizeImage = sizeImage
    }

    /// Bytes a complete frame must have.
    public var minimumBytes: Int {
        minimumSourceBytes(bytesPerPixel: pixelFormat.bytesPerPixel, width: width, height: height, bytesPerLine: bytesPerLine)
    }

    /// Converts one driver buffer (of which `bytesUsed` bytes hold the frame) into
    /// `slot` as `width` 16-bit pixels per row. Checks every size first, so a short
    /// or oversized frame is an error, never an out-of-bounds access.
    public func convert(_ buffer: UnsafeRawBufferPointer, bytesUsed: Int,
                        into slot: UnsafeMutableBufferPointer<UInt16>, device: String) throws(CaptureError) {
        guard width * height <= slot.count, let destination = slot.baseAddress else {
            throw .tooLarge(width: width, height: height, capacity: slot.count)
        }
        let needed = minimumBytes
        guard bytesUsed >= needed, bytesUsed <= buffer.count, let source = buffer.baseAddress else {
            throw .badFrame("\(device) delivered \(bytesUsed) bytes (buffer \(buffer.count)); a "
                + "\(width)x\(height) \(pixelFormat.rawValue) frame with \(bytesPerLine) bytes per line needs \(needed)")
        }
        pixelFormat.convert(from: source, bytesPerLine: bytesPerLine, width: width, height: height, into: destination)
    }
}

/// The format to ask for: the configured one when the device offers it natively,
/// otherwise the first of `V4L2PixelFormat.preferenceOrder` it offers.
public func chooseV4L2PixelFormat(offered: [V4L2FormatInfo], requested: V4L2PixelFormat?,
                                  device: String) throws(CaptureError) -> V4L2PixelFormat {
    let native = offered.filter { !$0.isEmulated }
    let offeredText = native.isEmpty ? "nothing" : native.map { $0.fourcc.v4l2TrimmedFourcc }.joined(separator: ", ")
    if let requested {
        guard native.contains(where: { $0.pixelFormat == requested }) else {
            throw .misconfigured("\(device) does not offer the configured pixel format \(requested.rawValue); it offers \(offeredText)")
        }
        return requested
    }
    for candidate in V4L2PixelFormat.preferenceOrder where native.contains(where: { $0.pixelFormat == candidate }) {
        return candidate
    }
    let supported = V4L2PixelFormat.preferenceOrder.map(\.rawValue).joined(separator: ", ")
    throw .misconfigured("\(device) offers no pixel format this source can convert: it offers \(offeredText); supported are \(supported)")
}

/// The frame size to ask for: the configured one, else the largest the device lists
/// (astronomy wants the whole sensor), else nil to keep the driver's current size.
public func chooseV4L2FrameSize(offered: V4L2FrameSizes, requested: V4L2FrameSize?) -> V4L2FrameSize? {
    requested ?? offered.largest
}

extension String {
    var v4l2TrimmedFourcc: String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
