import SkyCore
import SkyImage

/// Why a source could not deliver a frame. Every case says what a technician should check.
public enum CaptureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The device or directory is not there (yet). The runtime retries.
    case unavailable(String)
    /// It was there and went away mid-stream (unplugged camera, unmounted disk). The runtime retries.
    case lost(String)
    /// A frame arrived but cannot be used (bad file, unsupported format); the next one may be fine.
    case badFrame(String)
    /// The frame does not fit the slot the memory plan gave it.
    case tooLarge(width: Int, height: Int, capacity: Int)
    /// The source is configured wrongly; retrying will not help.
    case misconfigured(String)

    public var description: String {
        switch self {
        case let .unavailable(m): "source unavailable: \(m)"
        case let .lost(m): "source lost: \(m)"
        case let .badFrame(m): "bad frame: \(m)"
        case let .tooLarge(w, h, c): "frame \(w)x\(h) does not fit the \(c)-pixel slot of the memory plan"
        case let .misconfigured(m): "misconfigured source: \(m)"
        }
    }

    /// Whether waiting and trying again can help.
    public var isTransient: Bool {
        switch self {
        case .unavailable, .lost, .badFrame: true
        case .tooLarge, .misconfigured: false
        }
    }
}

/// A frame delivered into a caller-owned slot.
public struct CapturedFrame: Sendable {
    public var metadata: FrameMetadata
    /// Where it came from: a file path, a device and buffer index, `sim:<seed>`.
    public var origin: String
    /// When it was captured (end of exposure), monotonic seconds, for deadlines.
    public var capturedAtMonotonic: Double

    public init(metadata: FrameMetadata, origin: String, capturedAtMonotonic: Double) {
        self.metadata = metadata
        self.origin = origin
        self.capturedAtMonotonic = capturedAtMonotonic
    }
}

/// A camera, a directory of FITS files, or the simulator: one thing that yields
/// 16-bit mono frames into memory the runtime owns. Sources are used from one
/// thread at a time (the capture thread).
public protocol FrameSource: AnyObject {
    /// One line naming the source, for logs and the birth message.
    var name: String { get }
    /// Largest frame this source will deliver, when known before the first frame.
    var maxFrameSize: (width: Int, height: Int)? { get }
    /// Opens (or reopens after a failure) the device or directory.
    func open() throws(CaptureError)
    /// Writes the next frame into `slot` (row-major, width pixels per row), waiting
    /// at most `timeout` seconds. Returns nil when no frame came in time.
    func nextFrame(into slot: UnsafeMutableBufferPointer<UInt16>, timeout: Double) throws(CaptureError) -> CapturedFrame?
    /// Releases the device; `open()` may be called again later.
    func close()
}
