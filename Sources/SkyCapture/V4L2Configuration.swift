/// How to run one V4L2 camera.
public struct V4L2Configuration: Sendable, Equatable {
    public var devicePath: String
    /// nil: the best the device offers, in `V4L2PixelFormat.preferenceOrder`.
    public var pixelFormat: V4L2PixelFormat?
    /// nil: the largest size the device lists for the chosen format.
    public var frameSize: V4L2FrameSize?
    /// Driver buffers to stream through; more absorb longer processing hiccups.
    public var bufferCount: Int
    /// Exposure time to set (manual exposure); nil leaves the driver's setting.
    public var exposureSeconds: Double?
    /// Gain in the driver's units; nil leaves the driver's setting.
    public var gain: Int?

    public init(devicePath: String, pixelFormat: V4L2PixelFormat? = nil, frameSize: V4L2FrameSize? = nil,
                bufferCount: Int = 4, exposureSeconds: Double? = nil, gain: Int? = nil) {
        self.devicePath = devicePath
        self.pixelFormat = pixelFormat
        self.frameSize = frameSize
        self.bufferCount = bufferCount
        self.exposureSeconds = exposureSeconds
        self.gain = gain
    }
}
