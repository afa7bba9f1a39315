import Glibc

/// Finding and describing the V4L2 devices of this machine.
public enum V4L2Device {
    /// The `/dev/video*` nodes present, in numeric order (`video2` before `video10`).
    public static func devicePaths(directory: String = "/dev") -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var numbered: [(Int, String)] = []
        while let entry = readdir(dir) {
            let name = cString(entry.pointee.d_name)
            guard name.hasPrefix("video"), let n = Int(name.dropFirst(5)) else { continue }
            numbered.append((n, directory + "/" + name))
        }
        return numbered.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Every V4L2 node with what its driver says about it; empty when there is none.
    /// A node that cannot be opened (permission, busy) is listed with its `problem`.
    public static func list() -> [V4L2DeviceInfo] {
        devicePaths().map { path in
            do throws(CaptureError) {
                return try info(path: path)
            } catch {
                return V4L2DeviceInfo(path: path, driver: "", card: "", busInfo: "", capabilities: 0,
                                      isCaptureDevice: false, formats: [], problem: error.description)
            }
        }
    }

    /// One node's capabilities and formats. Errors as `V4L2FrameSource.open()` classifies
    /// them, except that a node which cannot capture is described (with `problem`), not refused.
    public static func info(path: String) throws(CaptureError) -> V4L2DeviceInfo {
        let handle = try V4L2Handle(path: path)
        let caps = handle.capabilities
        let problem = caps.unsuitability(path: path)
        return V4L2DeviceInfo(path: path, driver: caps.driver, card: caps.card, busInfo: caps.busInfo,
                              capabilities: caps.flags, isCaptureDevice: problem == nil,
                              formats: caps.canCapture ? handle.formats() : [], problem: problem)
    }

    /// The controls a node offers, with their ranges and current values.
    public static func controls(path: String) throws(CaptureError) -> [V4L2ControlInfo] {
        let handle = try V4L2Handle(path: path)
        return V4L2Controls(handle: handle).all()
    }
}
