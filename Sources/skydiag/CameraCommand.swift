import ArgumentParser
import Foundation
import SkyCapture

/// `skydiag camera`: what V4L2 cameras this machine has, and whether one delivers frames.
struct CameraCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camera",
        abstract: "List V4L2 cameras, or show one camera's formats and controls and grab test frames.")

    @Option(name: .long, help: "Device node to inspect, e.g. /dev/video0 (default: list all).")
    var device: String?

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    @Option(name: .long, help: "Grab this many frames and print each one's min/max/mean.")
    var grab = 0

    @Option(name: .long, help: "Pixel format to negotiate for --grab: Y16, Y10, GREY or YUYV (default: best offered).")
    var format: String?

    @Option(name: .long, help: "Exposure to set for --grab, in seconds.")
    var exposure: Double?

    @Option(name: .long, help: "Gain to set for --grab, in the driver's units.")
    var gain: Int?

    @Option(name: .long, help: "Seconds to wait for each frame.")
    var timeout = 5.0

    func validate() throws {
        guard grab >= 0 else { throw ValidationError("--grab must be 0 or more") }
        if let format, V4L2PixelFormat(name: format) == nil {
            throw ValidationError("unknown --format \(format): use Y16, Y10, GREY or YUYV")
        }
    }

    func run() throws {
        guard let path = device ?? (grab > 0 ? firstCaptureDevice() : nil) else {
            if grab > 0 { fail("no V4L2 capture device to grab from (no usable /dev/video* node)") }
            return listAll()
        }
        do throws(CaptureError) {
            try show(path: path)
        } catch {
            fail(error.description)
        }
    }

    private func firstCaptureDevice() -> String? {
        V4L2Device.list().first { $0.isCaptureDevice }?.path
    }

    private func listAll() {
        let devices = V4L2Device.list()
        if json { return devices.isEmpty ? print("[]") : printJSON(devices) }
        guard !devices.isEmpty else {
            print("no V4L2 camera found (no /dev/video* devices)")
            return
        }
        for info in devices { printDevice(info) }
    }

    private func show(path: String) throws(CaptureError) {
        let info = try V4L2Device.info(path: path)
        let controls = try V4L2Device.controls(path: path)
        var report = CameraReport(device: info, controls: controls)
        if !json {
            printDevice(info)
            printControls(controls)
        }
        if grab > 0 { try grabFrames(path: path, into: &report) }
        if json { printJSON(report) }
    }

    private func grabFrames(path: String, into report: inout CameraReport) throws(CaptureError) {
        let source = V4L2FrameSource(configuration: V4L2Configuration(
            devicePath: path, pixelFormat: format.flatMap { V4L2PixelFormat(name: $0) },
            exposureSeconds: exposure, gain: gain))
        try source.open()
        defer { source.close() }
        guard let layout = source.layout, let size = source.maxFrameSize else { return }
        report.negotiated = "\(layout.pixelFormat.rawValue) \(layout.width)x\(layout.height), \(layout.bytesPerLine) bytes per line"
        report.controlsApplied = source.controlReport?.description
        if !json {
            print("grabbing \(grab) frame(s): \(report.negotiated ?? "")")
            if let applied = report.controlsApplied { print("  controls: \(applied)") }
        }
        let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: size.width * size.height)
        defer { slot.deallocate() }
        for n in 1...grab {
            var stats = FrameStats(number: n)
            switch Result(catching: { () throws(CaptureError) in try source.nextFrame(into: slot, timeout: timeout) }) {
            case let .success(frame?):
                let count = frame.metadata.width * frame.metadata.height
                stats.measure(UnsafeBufferPointer(rebasing: slot[0..<min(count, slot.count)]))
                stats.origin = frame.origin
            case .success(nil):
                stats.problem = "no frame within \(timeout) s"
            case let .failure(.badFrame(message)):
                // One bad frame is worth reporting, not stopping for.
                stats.problem = "bad frame: \(message)"
            case let .failure(error):
                throw error
            }
            if !json { print("  " + stats.line) }
            report.frames.append(stats)
        }
    }

    private func printDevice(_ info: V4L2DeviceInfo) {
        let name = info.card.isEmpty ? "" : " \(info.card) (\(info.driver), \(info.busInfo))"
        print("\(info.path):\(name)")
        if let problem = info.problem { print("  note: \(problem)") }
        for f in info.formats {
            let usable = f.pixelFormat != nil && !f.isEmulated ? " [usable]" : ""
            let emulated = f.isEmulated ? " (emulated by libv4l2)" : ""
            print("  \(f.fourcc) \(f.description)\(emulated)\(usable): \(f.frameSizes)")
        }
    }

    private func printControls(_ controls: [V4L2ControlInfo]) {
        guard !controls.isEmpty else { return print("  controls: none") }
        print("  controls:")
        for c in controls {
            let value = c.value.map { " = \($0)" } ?? ""
            let flags = (c.isReadOnly ? " read-only" : "") + (c.isInactive ? " inactive" : "")
            print("    \(c.name) (\(c.type) \(c.minimum)...\(c.maximum) step \(c.step), default \(c.defaultValue))\(value)\(flags)")
        }
    }

    private func printJSON<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(value) else { return }
        print(String(decoding: data, as: UTF8.self))
    }

    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        Self.exit(withError: ExitCode.failure)
    }
}

/// Everything `skydiag camera --device` found, for --json.
private struct CameraReport: Encodable {
    var device: V4L2DeviceInfo
    var controls: [V4L2ControlInfo]
    var negotiated: String?
    var controlsApplied: String?
    var frames: [FrameStats] = []

    init(device: V4L2DeviceInfo, controls: [V4L2ControlInfo]) {
        self.device = device
        self.controls = controls
    }
}

/// One grabbed frame's pixel statistics, on the converted 16-bit scale.
private struct FrameStats: Encodable {
    var number: Int
    var origin: String?
    var pixels = 0
    var minimum: Int?
    var maximum: Int?
    var mean: Double?
    var problem: String?

    init(number: Int) { self.number = number }

    mutating func measure(_ pixels: UnsafeBufferPointer<UInt16>) {
        guard !pixels.isEmpty else { return }
        var lo = UInt16.max, hi = UInt16.min, sum: UInt64 = 0
        for p in pixels {
            lo = min(lo, p)
            hi = max(hi, p)
            sum &+= UInt64(p)
        }
        self.pixels = pixels.count
        minimum = Int(lo)
        maximum = Int(hi)
        mean = Double(sum) / Double(pixels.count)
    }

    var line: String {
        if let problem { return "frame \(number): \(problem)" }
        let m = mean.map { String(format: "%.1f", $0) } ?? "-"
        return "frame \(number): min \(minimum ?? 0) max \(maximum ?? 0) mean \(m) (\(pixels) pixels, \(origin ?? ""))"
    }
}
