import Testing
@testable import SkyCapture

private func format(_ f: V4L2PixelFormat, emulated: Bool = false,
                    sizes: V4L2FrameSizes = .unknown) -> V4L2FormatInfo {
    V4L2FormatInfo(fourcc: f.fourccName, description: f.rawValue, isEmulated: emulated, frameSizes: sizes)
}

private let mjpeg = V4L2FormatInfo(fourcc: "MJPG", description: "Motion-JPEG", isEmulated: false, frameSizes: .unknown)

private func chosen(_ offered: [V4L2FormatInfo], _ requested: V4L2PixelFormat? = nil) -> Result<V4L2PixelFormat, CaptureError> {
    Result { () throws(CaptureError) in try chooseV4L2PixelFormat(offered: offered, requested: requested, device: "/dev/video0") }
}

@Test func negotiationPrefersMoreBitsThenMonoThenYUYV() throws {
    #expect(try chosen([format(.yuyv), format(.grey), format(.y10), format(.y16)]).get() == .y16)
    #expect(try chosen([format(.yuyv), format(.grey), format(.y10)]).get() == .y10)
    #expect(try chosen([mjpeg, format(.yuyv), format(.grey)]).get() == .grey)
    #expect(try chosen([mjpeg, format(.yuyv)]).get() == .yuyv)
}

@Test func negotiationHonoursTheConfiguredFormatAndIgnoresEmulatedOnes() throws {
    #expect(try chosen([format(.y16), format(.grey)], .grey).get() == .grey)
    #expect(try chosen([format(.y16, emulated: true), format(.grey)]).get() == .grey)
    guard case let .failure(.misconfigured(message)) = chosen([format(.y16), mjpeg], .y10) else {
        Issue.record("an unoffered configured format must be refused"); return
    }
    #expect(message.contains("Y10") && message.contains("/dev/video0") && message.contains("MJPG"))
}

@Test func noConvertibleFormatIsMisconfiguredAndListsWhatIsOffered() {
    let h264 = V4L2FormatInfo(fourcc: "H264", description: "H.264", isEmulated: false, frameSizes: .unknown)
    guard case let .failure(.misconfigured(message)) = chosen([mjpeg, h264]) else {
        Issue.record("expected .misconfigured"); return
    }
    #expect(message.contains("/dev/video0"))
    #expect(message.contains("MJPG, H264"))
    #expect(message.contains("Y16"))
}

@Test func sizeIsTheConfiguredOneElseTheLargestOffered() {
    let discrete = V4L2FrameSizes.discrete([V4L2FrameSize(width: 640, height: 480),
                                           V4L2FrameSize(width: 1280, height: 960),
                                           V4L2FrameSize(width: 1280, height: 720)])
    #expect(chooseV4L2FrameSize(offered: discrete, requested: nil) == V4L2FrameSize(width: 1280, height: 960))
    let wanted = V4L2FrameSize(width: 640, height: 480)
    #expect(chooseV4L2FrameSize(offered: discrete, requested: wanted) == wanted)
    let range = V4L2FrameSizes.range(minimum: V4L2FrameSize(width: 8, height: 8),
                                     maximum: V4L2FrameSize(width: 4096, height: 3000),
                                     step: V4L2FrameSize(width: 8, height: 2))
    #expect(chooseV4L2FrameSize(offered: range, requested: nil) == V4L2FrameSize(width: 4096, height: 3000))
    #expect(chooseV4L2FrameSize(offered: .unknown, requested: nil) == nil)
}

@Test func layoutFillsAnUnsetStrideAndRefusesATooShortOne() throws {
    let packed = try V4L2FrameLayout(pixelFormat: .y16, width: 7, height: 3, bytesPerLine: 0, sizeImage: 0, device: "d")
    #expect(packed.bytesPerLine == 14)
    #expect(packed.minimumBytes == 42)
    #expect(throws: CaptureError.self) {
        try V4L2FrameLayout(pixelFormat: .y16, width: 7, height: 3, bytesPerLine: 13, sizeImage: 0, device: "d")
    }
    #expect(throws: CaptureError.self) {
        try V4L2FrameLayout(pixelFormat: .grey, width: 0, height: 3, bytesPerLine: 0, sizeImage: 0, device: "d")
    }
}

@Test func layoutRefusesShortFramesAndSmallSlots() throws {
    let layout = try V4L2FrameLayout(pixelFormat: .grey, width: 5, height: 4, bytesPerLine: 8, sizeImage: 32, device: "/dev/video0")
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 8)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 9)
    let raw = UnsafeRawBufferPointer(buffer)
    let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 20)
    defer { slot.deallocate() }
    slot.initialize(repeating: 0)
    // 3 strides + 5 pixels = 29 bytes are enough; 28 are not.
    try layout.convert(raw, bytesUsed: 29, into: slot, device: "/dev/video0")
    #expect(slot.allSatisfy { $0 == 9 << 8 })
    #expect(throws: CaptureError.badFrame(
        "/dev/video0 delivered 28 bytes (buffer 32); a 5x4 GREY frame with 8 bytes per line needs 29")) {
        try layout.convert(raw, bytesUsed: 28, into: slot, device: "/dev/video0")
    }
    // A driver claiming more than the buffer holds must not make us read past it.
    #expect(throws: CaptureError.self) { try layout.convert(raw, bytesUsed: 33, into: slot, device: "/dev/video0") }
    let small = UnsafeMutableBufferPointer(rebasing: slot[0..<19])
    #expect(throws: CaptureError.tooLarge(width: 5, height: 4, capacity: 19)) {
        try layout.convert(raw, bytesUsed: 32, into: small, device: "/dev/video0")
    }
}

@Test func controlValuesClampToTheRangeAndStep() {
    #expect(clampControlValue(500, minimum: 1, maximum: 5000, step: 1) == 500)
    #expect(clampControlValue(-3, minimum: 1, maximum: 5000, step: 1) == 1)
    #expect(clampControlValue(90_000, minimum: 1, maximum: 5000, step: 1) == 5000)
    // Steps count from the minimum: 3, 13, 23, ...; 17 is nearer 13 than 23.
    #expect(clampControlValue(17, minimum: 3, maximum: 100, step: 10) == 13)
    #expect(clampControlValue(19, minimum: 3, maximum: 100, step: 10) == 23)
    // The top of a range that is not a whole number of steps is not reachable.
    #expect(clampControlValue(100, minimum: 3, maximum: 100, step: 10) == 93)
    #expect(clampControlValue(7, minimum: 10, maximum: 5, step: 1) == 10)
}

@Test func exposureIsInUnitsOfOneHundredMicroseconds() {
    #expect(exposureUnits(seconds: 1) == 10_000)
    #expect(exposureUnits(seconds: 0.00026) == 3)
    #expect(exposureUnits(seconds: 0.00024) == 2)
    #expect(exposureUnits(seconds: 30) == 300_000)
    #expect(exposureUnits(seconds: -1) == 0)
    #expect(exposureUnits(seconds: .nan) == 0)
    let report = V4L2ControlReport(exposure: .applied(requested: 20_000, applied: 10_000, minimum: 1, maximum: 10_000),
                                   gain: .notSupported)
    #expect(report.exposureSeconds == 1.0)
    #expect(report.description.contains("gain: not supported"))
}

@Test func fourccsReadAsTheirCharacters() {
    #expect(V4L2PixelFormat.y16.fourccName == "Y16 ")
    #expect(V4L2PixelFormat.y10.fourccName == "Y10 ")
    #expect(V4L2PixelFormat.grey.fourccName == "GREY")
    #expect(V4L2PixelFormat.yuyv.fourccName == "YUYV")
    #expect(fourccString(0x0000_4142) == "BA??")
    for f in V4L2PixelFormat.allCases { #expect(V4L2PixelFormat(fourcc: f.fourcc) == f) }
    #expect(V4L2PixelFormat(name: "gray") == .grey)
    #expect(V4L2PixelFormat(name: "MJPG") == nil)
}
