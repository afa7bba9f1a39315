import CSkyKernels

/// Detection filters over a background-subtracted image and its noise.
enum SourceFilter {
    /// SEP's default detection kernel (a 3x3 pyramid, ~ a Gaussian of FWHM 2 px).
    static let kernel: [Float] = [1, 2, 1, 2, 4, 2, 1, 2, 1]

    /// 1 / rms^2, 0 where the rms is not positive.
    @inline(__always)
    static func inverseVariance(_ rms: Float) -> Float { rms > 0 ? 1 / (rms * rms) : 0 }

    /// Matched filter, the fast path: the C kernel `sky_matched_filter_3x3`, same results as `matched`.
    static func matchedFast(_ image: UnsafeMutableBufferPointer<Float>, inverseVariance ivar: UnsafeMutableBufferPointer<Float>,
                            width w: Int, height h: Int,
                            convolved: UnsafeMutableBufferPointer<Float>, snr: UnsafeMutableBufferPointer<Float>) {
        kernel.withUnsafeBufferPointer { k in
            sky_matched_filter_3x3(image.baseAddress, ivar.baseAddress, w, h, k.baseAddress, 16, convolved.baseAddress, snr.baseAddress)
        }
    }

    /// Matched filter (the reference): `convolved` = kernel-weighted mean of the image, `snr` =
    /// sum(k d / var) / sqrt(sum(k^2 / var)), the S/N of a kernel-shaped source
    /// centred on the pixel. The kernel is clipped at the image border.
    static func matched(_ image: UnsafeMutableBufferPointer<Float>, inverseVariance rms: UnsafeMutableBufferPointer<Float>,
                        width w: Int, height h: Int,
                        convolved: UnsafeMutableBufferPointer<Float>, snr: UnsafeMutableBufferPointer<Float>) {
        let k = kernel
        let ksum: Float = 16
        for y in 0..<h {
            let interiorY = y > 0 && y < h - 1
            for x in 0..<w {
                var sumKD: Float = 0, sumKDV: Float = 0, sumKKV: Float = 0
                if interiorY && x > 0 && x < w - 1 {
                    var i = 0
                    for dy in -1...1 {
                        let row = (y + dy) * w + x
                        for dx in -1...1 {
                            let p = row + dx
                            let kv = k[i]; i += 1
                            let iv = rms[p]
                            sumKD += kv * image[p]
                            sumKDV += kv * image[p] * iv
                            sumKKV += kv * kv * iv
                        }
                    }
                } else {
                    for dy in -1...1 {
                        let yy = y + dy
                        guard yy >= 0, yy < h else { continue }
                        for dx in -1...1 {
                            let xx = x + dx
                            guard xx >= 0, xx < w else { continue }
                            let p = yy * w + xx
                            let kv = k[(dy + 1) * 3 + dx + 1]
                            let iv = rms[p]
                            sumKD += kv * image[p]
                            sumKDV += kv * image[p] * iv
                            sumKKV += kv * kv * iv
                        }
                    }
                }
                convolved[y * w + x] = sumKD / ksum
                snr[y * w + x] = sumKKV > 0 ? sumKDV / sumKKV.squareRoot() : 0
            }
        }
    }

    /// No filter: the pixel itself against its rms.
    static func none(_ image: UnsafeMutableBufferPointer<Float>, _ rms: UnsafeMutableBufferPointer<Float>,
                     width w: Int, height h: Int,
                     convolved: UnsafeMutableBufferPointer<Float>, snr: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<(w * h) {
            convolved[i] = image[i]
            snr[i] = rms[i] > 0 ? image[i] / rms[i] : 0
        }
    }
}
