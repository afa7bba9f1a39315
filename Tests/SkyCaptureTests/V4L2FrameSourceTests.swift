import Foundation
import Testing
@testable import SkyCapture

// Real device files of this machine; there is no camera here, so these are the
// error paths a technician meets on a misconfigured site.

private func captureError(_ body: () throws -> Void) -> CaptureError? {
    do {
        try body()
        return nil
    } catch let error as CaptureError {
        return error
    } catch {
        Issue.record("not a CaptureError: \(error)")
        return nil
    }
}

private func isUnavailable(_ error: CaptureError?, mentioning text: String) -> Bool {
    if case let .unavailable(m) = error { return m.contains(text) } else { return false }
}

private func isMisconfigured(_ error: CaptureError?, mentioning text: String) -> Bool {
    if case let .misconfigured(m) = error { return m.contains(text) } else { return false }
}

private func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

private func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("skyv4l2-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Test func listingMatchesTheVideoNodesOfThisMachine() {
    let paths = V4L2Device.devicePaths()
    let listed = V4L2Device.list()
    #expect(listed.map(\.path) == paths)
    if paths.isEmpty { #expect(listed.isEmpty) }
}

@Test func devicePathsAreVideoNodesInNumericOrder() throws {
    let dir = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    for name in ["video10", "video2", "video0", "videoX", "video", "media0", "vbi1"] {
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: Data())
    }
    let paths = V4L2Device.devicePaths(directory: dir.path)
    #expect(paths == ["video0", "video2", "video10"].map { dir.path + "/" + $0 })
    #expect(V4L2Device.devicePaths(directory: dir.path + "/absent").isEmpty)
}

@Test func missingDeviceIsUnavailableAndNamesThePath() {
    let source = V4L2FrameSource(devicePath: "/dev/video99")
    let error = captureError { try source.open() }
    #expect(isUnavailable(error, mentioning: "/dev/video99"), "\(String(describing: error))")
    #expect(isUnavailable(error, mentioning: "connected:"))
    #expect(error?.isTransient == true)
    #expect(!source.isOpen)
    let infoError = captureError { _ = try V4L2Device.info(path: "/dev/video99") }
    #expect(isUnavailable(infoError, mentioning: "/dev/video99"))
}

@Test func nullDeviceIsNotAV4L2Device() {
    let source = V4L2FrameSource(devicePath: "/dev/null")
    let error = captureError { try source.open() }
    #expect(isMisconfigured(error, mentioning: "/dev/null"), "\(String(describing: error))")
    #expect(isMisconfigured(error, mentioning: "not a V4L2 device"))
    let controlsError = captureError { _ = try V4L2Device.controls(path: "/dev/null") }
    #expect(isMisconfigured(controlsError, mentioning: "/dev/null"))
}

@Test func regularFileAndDirectoryAreNotCaptureDevices() throws {
    let dir = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("video0").path
    _ = FileManager.default.createFile(atPath: file, contents: Data(repeating: 7, count: 4096))
    let fileError = captureError { try V4L2FrameSource(devicePath: file).open() }
    #expect(isMisconfigured(fileError, mentioning: file), "\(String(describing: fileError))")
    #expect(isMisconfigured(fileError, mentioning: "regular file"))
    let dirError = captureError { try V4L2FrameSource(devicePath: dir.path).open() }
    #expect(isMisconfigured(dirError, mentioning: "directory"), "\(String(describing: dirError))")
}

@Test func permissionDeniedNamesTheDeviceAndTheVideoGroup() {
    let error = V4L2Handle.openError(path: "/dev/video3", errno: EACCES)
    #expect(isUnavailable(error, mentioning: "/dev/video3"))
    #expect(isUnavailable(error, mentioning: "'video' group"))
}

@Test func failedOpensLeakNoDescriptors() throws {
    // Other tests run in parallel and open a few files of their own, so allow some
    // slack; a leak of one descriptor per failed open would show as +100.
    let before = openDescriptorCount()
    for _ in 0..<100 {
        _ = captureError { try V4L2FrameSource(devicePath: "/dev/null").open() }
        _ = captureError { try V4L2FrameSource(devicePath: "/dev/video99").open() }
    }
    #expect(openDescriptorCount() - before < 20)
}

@Test func closeWithoutOpenIsHarmlessAndNextFrameBeforeOpenIsAClearError() {
    let source = V4L2FrameSource(devicePath: "/dev/video99")
    source.close()
    source.close()
    #expect(source.maxFrameSize == nil)
    #expect(source.name.contains("/dev/video99"))
    var slot = [UInt16](repeating: 0, count: 16)
    let error = slot.withUnsafeMutableBufferPointer { buffer in
        captureError { _ = try source.nextFrame(into: buffer, timeout: 0.01) }
    }
    #expect(isUnavailable(error, mentioning: "not open"), "\(String(describing: error))")
    #expect(isUnavailable(error, mentioning: "/dev/video99"))
    let controlError = captureError { _ = try source.applyControls(exposureSeconds: 1, gain: nil) }
    #expect(isUnavailable(controlError, mentioning: "not open"))
}

@Test func configuredSizeIsKnownBeforeOpen() {
    let source = V4L2FrameSource(configuration: V4L2Configuration(
        devicePath: "/dev/video99", frameSize: V4L2FrameSize(width: 1280, height: 960)))
    #expect(source.maxFrameSize?.width == 1280)
    #expect(source.maxFrameSize?.height == 960)
}

@Test func zeroBuffersIsMisconfigured() {
    let source = V4L2FrameSource(configuration: V4L2Configuration(devicePath: "/dev/video99", bufferCount: 0))
    let error = captureError { try source.open() }
    #expect(isMisconfigured(error, mentioning: "buffer count"))
}
