import CV4L2
import Glibc

/// An open V4L2 device file registered with libv4l2, and the ioctls this
/// module needs, each turning errno into a message that names the device.
/// A class so that mapped buffers can keep the descriptor alive while they exist;
/// the descriptor closes when the last reference goes.
final class V4L2Handle {
    let path: String
    let fd: Int32
    let capabilities: V4L2Capabilities

    /// Opens `path` and checks it is a V4L2 video-capture device with streaming I/O.
    /// Classifies failures the way the runtime acts on them: missing or forbidden
    /// -> `.unavailable` (may appear or be fixed), anything else -> `.misconfigured`.
    init(path: String) throws(CaptureError) {
        self.path = path
        var info = stat()
        if stat(path, &info) != 0 {
            let err = errno
            throw V4L2Handle.openError(path: path, errno: err)
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFCHR else {
            let what = kind == S_IFDIR ? "a directory" : kind == S_IFREG ? "a regular file" : "not a character device"
            throw .misconfigured("\(path) is not a V4L2 capture device (it is \(what))")
        }
        // Plain open, so a non-V4L2 file fails our QUERYCAP quietly instead of
        // libv4l2 logging to stderr; then hand the descriptor to libv4l2.
        let fd = Glibc.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let err = errno
            throw V4L2Handle.openError(path: path, errno: err)
        }
        var cap = v4l2_capability()
        if skyv4l2_ioctl(fd, SKY_VIDIOC_QUERYCAP, &cap) != 0 {
            let err = errno
            Glibc.close(fd)
            throw .misconfigured("\(path) is not a V4L2 device (VIDIOC_QUERYCAP: \(errnoText(err)))")
        }
        let caps = V4L2Capabilities(cap)
        guard v4l2_fd_open(fd, 0) >= 0 else {
            let err = errno
            Glibc.close(fd)
            throw .misconfigured("libv4l2 refused \(path): \(errnoText(err))")
        }
        self.fd = fd
        self.capabilities = caps
    }

    deinit { v4l2_close(fd) }

    /// The error for a path that cannot be opened at all.
    static func openError(path: String, errno err: Int32) -> CaptureError {
        switch err {
        case ENOENT, ENODEV, ENXIO:
            let present = V4L2Device.devicePaths()
            let connected = present.isEmpty ? "none" : present.joined(separator: ", ")
            return .unavailable("no such device \(path); connected: \(connected)")
        case EACCES, EPERM:
            return .unavailable("permission denied opening \(path): add the user that runs skyedge to the "
                + "'video' group (sudo usermod -aG video USER, then log in again) or fix the device's udev rule")
        case EBUSY:
            return .unavailable("\(path) is busy: another program is using the camera")
        case EISDIR:
            return .misconfigured("\(path) is not a V4L2 capture device (it is a directory)")
        default:
            return .unavailable("cannot open \(path): \(errnoText(err))")
        }
    }

    /// Runs one ioctl; on failure returns errno (never 0).
    func ioctl<T>(_ request: UInt, _ argument: inout T) -> Int32? {
        let r = withUnsafeMutableBytes(of: &argument) { skyv4l2_ioctl(fd, request, $0.baseAddress) }
        return r == 0 ? nil : errno
    }

    /// Every pixel format the driver offers for video capture.
    func formats() -> [V4L2FormatInfo] {
        var result: [V4L2FormatInfo] = []
        var index: UInt32 = 0
        while index < 256 {
            var desc = v4l2_fmtdesc()
            desc.index = index
            desc.type = SKY_BUF_TYPE_VIDEO_CAPTURE
            if ioctl(SKY_VIDIOC_ENUM_FMT, &desc) != nil { break }
            result.append(V4L2FormatInfo(
                fourcc: fourccString(desc.pixelformat),
                description: cString(desc.description),
                isEmulated: desc.flags & SKY_FMT_FLAG_EMULATED != 0,
                frameSizes: frameSizes(fourcc: desc.pixelformat)))
            index += 1
        }
        return result
    }

    /// The frame sizes the driver offers for one pixel format.
    func frameSizes(fourcc: UInt32) -> V4L2FrameSizes {
        var sizes: [V4L2FrameSize] = []
        var index: UInt32 = 0
        while index < 1024 {
            var e = v4l2_frmsizeenum()
            e.index = index
            e.pixel_format = fourcc
            if ioctl(SKY_VIDIOC_ENUM_FRAMESIZES, &e) != nil { break }
            if e.type == SKY_FRMSIZE_TYPE_DISCRETE {
                sizes.append(V4L2FrameSize(width: Int(e.discrete.width), height: Int(e.discrete.height)))
            } else {
                let s = e.stepwise
                return .range(minimum: V4L2FrameSize(width: Int(s.min_width), height: Int(s.min_height)),
                              maximum: V4L2FrameSize(width: Int(s.max_width), height: Int(s.max_height)),
                              step: V4L2FrameSize(width: Int(s.step_width), height: Int(s.step_height)))
            }
            index += 1
        }
        return sizes.isEmpty ? .unknown : .discrete(sizes)
    }
}

/// What VIDIOC_QUERYCAP said about a device.
struct V4L2Capabilities {
    var driver: String
    var card: String
    var busInfo: String
    /// The capabilities of this device node (not of the whole physical device).
    var flags: UInt32

    init(_ cap: v4l2_capability) {
        driver = cString(cap.driver)
        card = cString(cap.card)
        busInfo = cString(cap.bus_info)
        flags = cap.capabilities & SKY_CAP_DEVICE_CAPS != 0 ? cap.device_caps : cap.capabilities
    }

    var canCapture: Bool { flags & SKY_CAP_VIDEO_CAPTURE != 0 }
    var canStream: Bool { flags & SKY_CAP_STREAMING != 0 }

    /// Why this node cannot be our camera, or nil when it can.
    func unsuitability(path: String) -> String? {
        if !canCapture {
            if flags & SKY_CAP_META_CAPTURE != 0 {
                return "\(path) (\(card)) is a metadata node, not video capture: use the camera's other /dev/video node"
            }
            if flags & SKY_CAP_VIDEO_CAPTURE_MPLANE != 0 {
                return "\(path) (\(card)) only offers the multi-planar capture API, which this source does not support"
            }
            return "\(path) (\(card)) is not a video capture device (capabilities 0x\(String(flags, radix: 16)))"
        }
        if !canStream { return "\(path) (\(card)) does not support streaming I/O" }
        return nil
    }
}

/// A NUL-terminated C char array (imported as a tuple) as a String.
func cString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
}

func errnoText(_ err: Int32) -> String {
    guard let text = strerror(err) else { return "errno \(err)" }
    return "\(String(cString: text)) (errno \(err))"
}
