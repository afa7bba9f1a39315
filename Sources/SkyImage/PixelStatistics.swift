import CSkyKernels

/// Summary statistics of an image's pixels, skipping NaN (and infinities) and
/// counting them.
///
/// The median of an even number of values is the mean of the two middle ones (as
/// numpy's `median`); `sigma` is the robust standard deviation 1.4826 x MAD, the
/// median absolute deviation from the median, by the same rule. With no finite pixel,
/// min, max, mean, median and sigma are NaN.
public struct PixelStatistics: Sendable, Equatable {
    /// Finite pixels that entered the statistics.
    public var count: Int
    /// Pixels skipped because they were NaN or infinite (always 0 for UInt16).
    public var nanCount: Int
    public var min: Double
    public var max: Double
    public var mean: Double
    public var median: Double
    /// 1.4826 x median absolute deviation: the standard deviation for Gaussian noise,
    /// insensitive to stars and hot pixels.
    public var sigma: Double

    public static let madToSigma = 1.4826

    public init(count: Int, nanCount: Int, min: Double, max: Double, mean: Double, median: Double, sigma: Double) {
        self.count = count; self.nanCount = nanCount
        self.min = min; self.max = max; self.mean = mean; self.median = median; self.sigma = sigma
    }

    static func empty(nanCount: Int) -> PixelStatistics {
        PixelStatistics(count: 0, nanCount: nanCount, min: .nan, max: .nan, mean: .nan, median: .nan, sigma: .nan)
    }

    /// Statistics of an owned image (keeps it alive while its pixels are read).
    public static func of(_ image: OwnedImage<Float>) -> PixelStatistics {
        withExtendedLifetime(image) { of(image.view) }
    }

    public static func of(_ image: OwnedImage<UInt16>) -> PixelStatistics {
        withExtendedLifetime(image) { of(image.view) }
    }

    // MARK: Float

    /// Statistics of a Float image. `scratch` (at least `view.pixelCount` Floats) holds a
    /// copy of the finite pixels for selection and is overwritten; without it one
    /// buffer of that size is allocated for the call.
    public static func of(_ view: ImageView<Float>, scratch: UnsafeMutableBufferPointer<Float>? = nil) -> PixelStatistics {
        let needed = view.pixelCount
        if let scratch, let base = scratch.baseAddress, scratch.count >= needed {
            return floatStatistics(view, base)
        }
        let owned = UnsafeMutableBufferPointer<Float>.allocate(capacity: Swift.max(1, needed))
        defer { owned.deallocate() }
        return floatStatistics(view, owned.baseAddress!)
    }

    private static func floatStatistics(_ view: ImageView<Float>, _ work: UnsafeMutablePointer<Float>) -> PixelStatistics {
        var n = 0
        var lo = Float.infinity, hi = -Float.infinity
        var sum = 0.0
        for y in 0..<view.height {
            let row = view.row(y)
            for v in row where v.isFinite {
                work[n] = v
                n &+= 1
                lo = Swift.min(lo, v)
                hi = Swift.max(hi, v)
                sum += Double(v)
            }
        }
        let skipped = view.pixelCount - n
        guard n > 0 else { return .empty(nanCount: skipped) }
        let median = middle(work, n)
        for i in 0..<n { work[i] = Float(abs(Double(work[i]) - median)) }
        let mad = middle(work, n)
        return PixelStatistics(count: n, nanCount: skipped, min: Double(lo), max: Double(hi),
                               mean: sum / Double(n), median: median, sigma: madToSigma * mad)
    }

    /// Median of a[0..<n] by selection (reorders a).
    private static func middle(_ a: UnsafeMutablePointer<Float>, _ n: Int) -> Double {
        let k = (n - 1) / 2
        let lower = Double(selectKth(UnsafeMutableBufferPointer(start: a, count: n), k))
        if n % 2 == 1 { return lower }
        // After selection everything right of k is >= a[k]; the upper middle is their minimum.
        var upper = a[k + 1]
        for i in (k + 2)..<Swift.max(k + 2, n) { upper = Swift.min(upper, a[i]) }
        return (lower + Double(upper)) / 2
    }

    // MARK: UInt16

    /// Statistics of a UInt16 image from a 65536-bin histogram (32-bit counters: views of
    /// fewer than 2^32 pixels, far beyond FITSFile's limits). `histogram` (at least 65536
    /// counters) is overwritten; without it one is allocated for the call.
    public static func of(_ view: ImageView<UInt16>, histogram: UnsafeMutableBufferPointer<UInt32>? = nil) -> PixelStatistics {
        if let histogram, let base = histogram.baseAddress, histogram.count >= 65_536 {
            return u16Statistics(view, base)
        }
        let owned = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: 65_536)
        defer { owned.deallocate() }
        return u16Statistics(view, owned.baseAddress!)
    }

    private static func u16Statistics(_ view: ImageView<UInt16>, _ hist: UnsafeMutablePointer<UInt32>) -> PixelStatistics {
        hist.initialize(repeating: 0, count: 65_536)
        if view.isContiguous {
            sky_histogram_u16(view.base, view.pixelCount, hist)
        } else {
            for y in 0..<view.height { sky_histogram_u16(view.row(y).baseAddress, view.width, hist) }
        }
        let n = view.pixelCount
        guard n > 0 else { return .empty(nanCount: 0) }
        var lo = 0
        while hist[lo] == 0 { lo &+= 1 }
        var hi = 65_535
        while hist[hi] == 0 { hi &-= 1 }
        var sum: UInt64 = 0
        for v in lo...hi { sum &+= UInt64(v) &* UInt64(hist[v]) }

        // Cumulative counts: cum[v] = pixels <= v. n < 2^32 by the pixel limits of readers.
        var running: UInt32 = 0
        for v in 0..<65_536 { running &+= hist[v]; hist[v] = running }
        let cum = hist

        func kth(_ k: Int) -> Int {             // k-th smallest value, 0-based
            var a = lo, b = hi                  // smallest v with cum[v] > k
            while a < b { let m = (a + b) >> 1; if Int(cum[m]) > k { b = m } else { a = m + 1 } }
            return a
        }
        let k = (n - 1) / 2
        let twiceMedian = n % 2 == 1 ? 2 * kth(k) : kth(k) + kth(k + 1)

        // Deviations in half-units: pixels within D/2 of the median are those v with
        // |2v - twiceMedian| <= D; find the k-th smallest D by bisection on counts.
        func within(_ d: Int) -> Int {
            let from = Swift.max(0, (twiceMedian - d + 1) >> 1)      // ceil((M2 - D) / 2)
            let to = Swift.min(65_535, (twiceMedian + d) >> 1)       // floor((M2 + D) / 2)
            guard from <= to else { return 0 }
            return Int(cum[to]) - (from > 0 ? Int(cum[from - 1]) : 0)
        }
        func kthDeviation(_ k: Int) -> Int {
            var a = 0, b = 2 * 65_535
            while a < b { let m = (a + b) >> 1; if within(m) > k { b = m } else { a = m + 1 } }
            return a
        }
        let twiceMAD = n % 2 == 1 ? Double(kthDeviation(k)) : Double(kthDeviation(k) + kthDeviation(k + 1)) / 2
        return PixelStatistics(count: n, nanCount: 0, min: Double(lo), max: Double(hi),
                               mean: Double(sum) / Double(n), median: Double(twiceMedian) / 2,
                               sigma: madToSigma * twiceMAD / 2)
    }
}
