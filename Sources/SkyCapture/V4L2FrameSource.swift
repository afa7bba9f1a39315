import CV4L2
import SkyCore
import SkyImage

/// A V4L2 camera through libv4l2: negotiates a mono-convertible format, streams
/// through memory-mapped driver buffers and converts each frame to 16-bit mono.
///
/// Reopenable: after `.lost` (unplugged camera), `close()` then `open()` starts
/// afresh once the device is back. Closing unmaps every buffer and closes the
/// descriptor; so does dropping the source.
public final class V4L2FrameSource: FrameSource {
    public let configuration: V4L2Configuration
    /// What the driver agreed to, while open.
    public private(set) var layout: V4L2FrameLayout?
    /// What became of the configured exposure and gain at the last `open()`.
    public private(set) var controlReport: V4L2ControlReport?
    /// The driver and card of the open device.
    public private(set) var driver: String?
    public private(set) var card: String?

    private var handle: V4L2Handle?
    private var buffers: V4L2MappedBuffers?
    /// Built at open so that delivering a frame allocates no strings.
    private var bufferOrigins: [String] = []
    private var metadataTemplate: FrameMetadata?

    public init(configuration: V4L2Configuration) {
        self.configuration = configuration
    }

    public convenience init(devicePath: String) {
        self.init(configuration: V4L2Configuration(devicePath: devicePath))
    }

    deinit { close() }

    public var name: String {
        let path = configuration.devicePath
        guard let layout else { return "v4l2 \(path)" }
        return "v4l2 \(path) (\(card ?? "?"), \(layout.pixelFormat.rawValue) \(layout.width)x\(layout.height))"
    }

    public var maxFrameSize: (width: Int, height: Int)? {
        if let layout { return (layout.width, layout.height) }
        if let size = configuration.frameSize { return (size.width, size.height) }
        return nil
    }

    public var isOpen: Bool { buffers != nil }

    public func open() throws(CaptureError) {
        close()
        let path = configuration.devicePath
        guard configuration.bufferCount >= 1 else {
            throw .misconfigured("\(path): buffer count must be at least 1, not \(configuration.bufferCount)")
        }
        let handle = try V4L2Handle(path: path)
        if let problem = handle.capabilities.unsuitability(path: path) { throw .misconfigured(problem) }
        let offered = handle.formats()
        let format = try chooseV4L2PixelFormat(offered: offered, requested: configuration.pixelFormat, device: path)
        let sizes = offered.first { $0.pixelFormat == format && !$0.isEmulated }?.frameSizes ?? .unknown
        let size = chooseV4L2FrameSize(offered: sizes, requested: configuration.frameSize)
        let layout = try V4L2FrameSource.setFormat(handle, format, size)
        let controls = V4L2Controls(handle: handle)
        let report = V4L2ControlReport(exposure: controls.applyExposure(seconds: configuration.exposureSeconds),
                                       gain: controls.apply(SKY_CID_GAIN, requested: configuration.gain))
        let buffers = try V4L2MappedBuffers(handle: handle, count: configuration.bufferCount)

        self.handle = handle
        self.buffers = buffers
        self.layout = layout
        self.controlReport = report
        self.driver = handle.capabilities.driver
        self.card = handle.capabilities.card
        bufferOrigins = (0..<buffers.count).map { "\(path)#\($0)" }
        metadataTemplate = FrameMetadata(
            width: layout.width, height: layout.height, bitpix: 16, bzero: 32768,
            exptime: report.exposureSeconds, instrument: handle.capabilities.card,
            saturation: Double(layout.pixelFormat.fullScale))
    }

    public func nextFrame(into slot: UnsafeMutableBufferPointer<UInt16>,
                          timeout: Double) throws(CaptureError) -> CapturedFrame? {
        guard let buffers, let layout, let metadataTemplate else {
            throw .unavailable("V4L2 source \(configuration.devicePath) is not open: call open() first")
        }
        let reader = V4L2FrameReader(device: configuration.devicePath, layout: layout)
        guard let frame = try reader.nextFrame(from: buffers, into: slot, timeout: timeout) else { return nil }
        var metadata = metadataTemplate
        // The instant only (no DATE-OBS text): formatting a string per frame would allocate.
        // The buffer stamp marks the end of the exposure; DATE-OBS is its start.
        let age = MonotonicClock.seconds() - frame.capturedAtMonotonic
        metadata.dateObsInstant = UTCInstant.now().adding(seconds: -age - (metadata.exptime ?? 0))
        let origin = bufferOrigins.indices.contains(frame.bufferIndex)
            ? bufferOrigins[frame.bufferIndex] : configuration.devicePath
        return CapturedFrame(metadata: metadata, origin: origin, capturedAtMonotonic: frame.capturedAtMonotonic)
    }

    public func close() {
        buffers = nil   // stops streaming and unmaps while the descriptor is still open
        handle = nil    // closes the descriptor
        layout = nil
        metadataTemplate = nil
    }

    /// Changes exposure and gain on the open camera, as `open()` does from the configuration.
    public func applyControls(exposureSeconds: Double?, gain: Int?) throws(CaptureError) -> V4L2ControlReport {
        guard let handle else {
            throw .unavailable("V4L2 source \(configuration.devicePath) is not open: call open() first")
        }
        let controls = V4L2Controls(handle: handle)
        let report = V4L2ControlReport(exposure: controls.applyExposure(seconds: exposureSeconds),
                                       gain: controls.apply(SKY_CID_GAIN, requested: gain))
        controlReport = report
        if let seconds = report.exposureSeconds { metadataTemplate?.exptime = seconds }
        return report
    }

    /// VIDIOC_S_FMT, then checks the driver kept the pixel format (it may change the size).
    private static func setFormat(_ handle: V4L2Handle, _ format: V4L2PixelFormat,
                                  _ size: V4L2FrameSize?) throws(CaptureError) -> V4L2FrameLayout {
        let path = handle.path
        var f = v4l2_format()
        f.type = SKY_BUF_TYPE_VIDEO_CAPTURE
        if let err = handle.ioctl(SKY_VIDIOC_G_FMT, &f) {
            throw V4L2MappedBuffers.failure(path, "VIDIOC_G_FMT", err)
        }
        f.fmt.pix.pixelformat = format.fourcc
        if let size {
            f.fmt.pix.width = UInt32(clamping: size.width)
            f.fmt.pix.height = UInt32(clamping: size.height)
        }
        f.fmt.pix.field = SKY_FIELD_ANY
        f.fmt.pix.bytesperline = 0
        f.fmt.pix.sizeimage = 0
        if let err = handle.ioctl(SKY_VIDIOC_S_FMT, &f) {
            throw V4L2MappedBuffers.failure(path, "VIDIOC_S_FMT \(format.rawValue)", err)
        }
        let pix = f.fmt.pix
        guard pix.pixelformat == format.fourcc else {
            throw .misconfigured("\(path) was asked for \(format.rawValue) but chose \(fourccString(pix.pixelformat).v4l2TrimmedFourcc)")
        }
        return try V4L2FrameLayout(pixelFormat: format, width: Int(pix.width), height: Int(pix.height),
                                   bytesPerLine: Int(pix.bytesperline), sizeImage: Int(pix.sizeimage), device: path)
    }
}
