// Pure conversions from camera pixel layouts to the 16-bit mono frames the
// pipeline works on. Each reads `height` rows of `bytesPerLine` bytes (drivers
// pad rows, so the stride is not derived from the width) and writes `width`
// pixels per row, contiguously, into `destination`.
//
// Callers check sizes first (`minimumSourceBytes`): these functions trust them,
// so they can run as plain pointer loops that never allocate.
//
// Scaling keeps every format on the same 16-bit scale so thresholds mean the
// same thing whatever the camera: an n-bit value is shifted left by 16 - n.
// Shifting (rather than multiplying by 65535 / (2^n - 1)) keeps the steps equal
// and zero at zero, so the data stay linear and the noise statistics of the
// original integers carry over exactly; the price is that full scale lands at
// 65535 - (2^(16-n) - 1), e.g. 65280 for 8-bit and 65472 for 10-bit, which
// `V4L2PixelFormat.fullScale` reports as the saturation level.

/// Bytes a frame must span: every row's stride except the last, plus one row of pixels.
public func minimumSourceBytes(bytesPerPixel: Int, width: Int, height: Int, bytesPerLine: Int) -> Int {
    guard width > 0, height > 0 else { return 0 }
    return bytesPerLine * (height - 1) + bytesPerPixel * width
}

/// GREY: one byte per pixel, scaled by `<< 8` (255 becomes 65280).
public func convertGreyToMono16(from source: UnsafeRawPointer, bytesPerLine: Int, width: Int, height: Int,
                                into destination: UnsafeMutablePointer<UInt16>) {
    let bytes = source.assumingMemoryBound(to: UInt8.self)
    for y in 0..<height {
        let row = bytes + y &* bytesPerLine
        let out = destination + y &* width
        for x in 0..<width {
            out[x] = UInt16(row[x]) &<< 8
        }
    }
}

/// Y16: 16-bit little-endian words, taken as they are.
public func convertY16ToMono16(from source: UnsafeRawPointer, bytesPerLine: Int, width: Int, height: Int,
                               into destination: UnsafeMutablePointer<UInt16>) {
    let bytes = source.assumingMemoryBound(to: UInt8.self)
    for y in 0..<height {
        let row = bytes + y &* bytesPerLine
        let out = destination + y &* width
        for x in 0..<width {
            // Assembled from bytes: correct on any host byte order and any alignment.
            out[x] = UInt16(row[2 &* x]) | UInt16(row[2 &* x &+ 1]) &<< 8
        }
    }
}

/// Y10: 10-bit values in the low bits of 16-bit little-endian words, scaled by `<< 6`
/// (1023 becomes 65472). The six high bits should be zero; they are masked off so
/// a driver that leaves garbage there cannot wrap values around.
public func convertY10ToMono16(from source: UnsafeRawPointer, bytesPerLine: Int, width: Int, height: Int,
                               into destination: UnsafeMutablePointer<UInt16>) {
    let bytes = source.assumingMemoryBound(to: UInt8.self)
    for y in 0..<height {
        let row = bytes + y &* bytesPerLine
        let out = destination + y &* width
        for x in 0..<width {
            let word = UInt16(row[2 &* x]) | UInt16(row[2 &* x &+ 1]) &<< 8
            out[x] = (word & 0x03FF) &<< 6
        }
    }
}

/// YUYV (Y0 U Y1 V per pixel pair): the luma byte of each pixel, scaled by `<< 8`.
/// Chroma is dropped: an astronomical frame is mono.
public func convertYUYVToMono16(from source: UnsafeRawPointer, bytesPerLine: Int, width: Int, height: Int,
                                into destination: UnsafeMutablePointer<UInt16>) {
    let bytes = source.assumingMemoryBound(to: UInt8.self)
    for y in 0..<height {
        let row = bytes + y &* bytesPerLine
        let out = destination + y &* width
        for x in 0..<width {
            out[x] = UInt16(row[2 &* x]) &<< 8
        }
    }
}
