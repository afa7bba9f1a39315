import Testing
@testable import SkyCapture

/// Deterministic bytes for the random cases (SplitMix64).
private struct SeededBytes {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// The plain reading of each format's definition, pixel by pixel, in Int arithmetic.
private func reference(_ format: V4L2PixelFormat, _ data: [UInt8], width: Int, height: Int, bytesPerLine: Int) -> [UInt16] {
    var out: [UInt16] = []
    for y in 0..<height {
        for x in 0..<width {
            let row = y * bytesPerLine
            let value: Int
            switch format {
            case .grey: value = Int(data[row + x]) * 256
            case .y16: value = Int(data[row + 2 * x]) + 256 * Int(data[row + 2 * x + 1])
            case .y10: value = ((Int(data[row + 2 * x]) + 256 * Int(data[row + 2 * x + 1])) % 1024) * 64
            case .yuyv: value = Int(data[row + 2 * x]) * 256   // Y0 U Y1 V: luma at even bytes
            }
            out.append(UInt16(value))
        }
    }
    return out
}

/// Converts with the function under test into a buffer with canaries after the frame.
private func converted(_ format: V4L2PixelFormat, _ data: [UInt8], width: Int, height: Int,
                       bytesPerLine: Int) -> (pixels: [UInt16], canariesIntact: Bool) {
    let canary: UInt16 = 0xA5A5
    var out = [UInt16](repeating: canary, count: width * height + 8)
    data.withUnsafeBytes { src in
        out.withUnsafeMutableBufferPointer { dst in
            format.convert(from: src.baseAddress!, bytesPerLine: bytesPerLine, width: width, height: height,
                           into: dst.baseAddress!)
        }
    }
    return (Array(out[0..<(width * height)]), out[(width * height)...].allSatisfy { $0 == canary })
}

@Test(arguments: V4L2PixelFormat.allCases)
func conversionMatchesReferenceOnRandomFramesWithOddWidthsAndPadding(format: V4L2PixelFormat) {
    var random = SeededBytes(state: UInt64(format.fourcc))
    for width in [1, 2, 3, 7, 33, 641] {
        for height in [1, 2, 5] {
            for padding in [0, 1, 3, 16, 37] {
                let bytesPerLine = width * format.bytesPerPixel + padding
                // Only as many bytes as the frame must have: the last row's padding is absent,
                // as in a driver buffer whose bytesused stops at the last pixel.
                let size = minimumSourceBytes(bytesPerPixel: format.bytesPerPixel, width: width, height: height,
                                              bytesPerLine: bytesPerLine)
                let data = random.bytes(size)
                let result = converted(format, data, width: width, height: height, bytesPerLine: bytesPerLine)
                let expected = reference(format, data, width: width, height: height, bytesPerLine: bytesPerLine)
                #expect(result.pixels == expected, "\(format) \(width)x\(height) stride \(bytesPerLine)")
                #expect(result.canariesIntact, "\(format) wrote past the frame")
            }
        }
    }
}

@Test func y16IsLittleEndian() {
    let result = converted(.y16, [0x34, 0x12, 0xFF, 0x00, 0x00, 0xFF], width: 3, height: 1, bytesPerLine: 6)
    let expected: [UInt16] = [0x1234, 0x00FF, 0xFF00]
    #expect(result.pixels == expected)
}

@Test func y10IsLittleEndianAndScaledToSixteenBits() {
    // 0x0201 = 513 -> 513 * 64; 1023 -> full scale; stray high bits are ignored.
    let result = converted(.y10, [0x01, 0x02, 0xFF, 0x03, 0xFF, 0xFF, 0x00, 0x00], width: 4, height: 1, bytesPerLine: 8)
    let expected: [UInt16] = [513 * 64, 1023 * 64, 1023 * 64, 0]
    #expect(result.pixels == expected)
}

@Test func greyAndYUYVScaleEightBitsByShifting() {
    let grey = converted(.grey, [0, 1, 128, 255], width: 4, height: 1, bytesPerLine: 4).pixels
    #expect(grey == [0, 256, 32768, 65280] as [UInt16])
    // Y0=10 U=200 Y1=20 V=100: chroma must not leak into the luma.
    let yuyv = converted(.yuyv, [10, 200, 20, 100], width: 2, height: 1, bytesPerLine: 4).pixels
    #expect(yuyv == [2560, 5120] as [UInt16])
}

@Test func fullScaleIsTheLargestConvertedValue() {
    #expect(V4L2PixelFormat.grey.fullScale == 255 << 8)
    #expect(V4L2PixelFormat.yuyv.fullScale == 255 << 8)
    #expect(V4L2PixelFormat.y10.fullScale == 1023 << 6)
    #expect(V4L2PixelFormat.y16.fullScale == 65535)
    let top = converted(.grey, [255], width: 1, height: 1, bytesPerLine: 1).pixels
    #expect(top == [V4L2PixelFormat.grey.fullScale])
}

@Test func minimumSourceBytesCountsStridesButNotTheLastRowsPadding() {
    #expect(minimumSourceBytes(bytesPerPixel: 2, width: 5, height: 3, bytesPerLine: 16) == 16 * 2 + 10)
    #expect(minimumSourceBytes(bytesPerPixel: 1, width: 0, height: 3, bytesPerLine: 16) == 0)
}
