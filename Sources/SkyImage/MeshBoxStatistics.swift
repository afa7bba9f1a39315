/// Sky level and noise of one background box, the way SExtractor and SEP
/// estimate it, so that our maps can be checked against theirs number for number:
///
/// 1. mean and standard deviation of the usable pixels, then again on the
///    pixels within mean +- 2 sigma (one clip that removes most of the stars);
/// 2. a histogram of the box with bins of 2 x 5 sigma / n (at most 4096 bins);
/// 3. on the histogram, iterative clipping at median +- 3 sigma until sigma
///    settles, then SExtractor's mode estimate 2.5 x median - 1.5 x mean when
///    the distribution is not too skewed (|mean - median| < 0.3 sigma), else
///    the median.
///
/// A box with fewer than half its pixels usable (masked, NaN) has no estimate.
/// Arithmetic follows SEP's float and double steps so results agree to float rounding.
enum MeshBoxStatistics {
    static let maxLevels = 4096
    static let clipSigmas: Double = 5          // histogram spans mean +- 5 sigma
    static let minimumModePixels: Double = 4   // SExtractor's QUANTIF_AMIN

    /// (mode, sigma) of the box, or nil when too few pixels are usable.
    /// `histogram` must hold `maxLevels` counters; its contents are overwritten.
    static func estimate(_ box: ImageView<Float>, mask: ImageView<UInt8>?,
                         histogram: UnsafeMutableBufferPointer<UInt64>) -> (mode: Float, sigma: Float)? {
        // Pass 1: plain mean and sigma.
        var sum = 0.0, sumSq = 0.0, n = 0
        for y in 0..<box.height {
            let row = box.row(y)
            let m = mask.map { $0.row(y) }
            for x in 0..<box.width {
                let v = row[x]
                if !v.isFinite || (m.map { $0[x] != 0 } ?? false) { continue }
                let d = Double(v)
                sum += d; sumSq += d * d; n &+= 1
            }
        }
        guard Float(n) >= Float(Double(box.pixelCount) * 0.5), n > 0 else { return nil }
        var mean = sum / Double(n)
        var variance = sumSq / Double(n) - mean * mean
        var sigma = variance > 0 ? variance.squareRoot() : 0
        let lcut = Double(Float(mean - 2 * sigma)), hcut = Double(Float(mean + 2 * sigma))

        // Pass 2: the same on the pixels within the cuts.
        sum = 0; sumSq = 0; n = 0
        for y in 0..<box.height {
            let row = box.row(y)
            let m = mask.map { $0.row(y) }
            for x in 0..<box.width {
                let v = row[x]
                if !v.isFinite || (m.map { $0[x] != 0 } ?? false) { continue }
                let d = Double(v)
                if d <= hcut && d >= lcut { sum += d; sumSq += d * d; n &+= 1 }
            }
        }
        mean = sum / Double(n)
        variance = sumSq / Double(n) - mean * mean
        sigma = variance > 0 ? variance.squareRoot() : 0
        let step = (2 / Double.pi).squareRoot() * clipSigmas / minimumModePixels
        let levels = min(Int(step * Double(n) + 1), maxLevels)
        let qscale = Float(sigma > 0 ? 2 * clipSigmas * sigma / Double(levels) : 1)
        let qzero = Float(mean - clipSigmas * sigma)
        let boxMean = Float(mean), boxSigma = Float(sigma)

        // Pass 3: histogram.
        let hist = UnsafeMutableBufferPointer(rebasing: histogram[0..<levels])
        hist.update(repeating: 0)
        let cste = Float(0.499999 - Double(qzero / qscale))
        for y in 0..<box.height {
            let row = box.row(y)
            let m = mask.map { $0.row(y) }
            for x in 0..<box.width {
                let v = row[x]
                if !v.isFinite || (m.map { $0[x] != 0 } ?? false) { continue }
                let f = v / qscale + cste
                // C's (int) truncates toward zero, so (-1, 0) lands in bin 0, as in SEP.
                guard f > -1, f < Float(levels) else { continue }
                hist[Int(f)] &+= 1
            }
        }
        return modeFromHistogram(hist, mean: boxMean, sigma: boxSigma, qzero: qzero, qscale: qscale)
    }

    /// SExtractor's `backguess`: clipped median and mean of the histogram, then the mode.
    static func modeFromHistogram(_ hist: UnsafeMutableBufferPointer<UInt64>, mean boxMean: Float, sigma boxSigma: Float,
                                  qzero: Float, qscale: Float) -> (mode: Float, sigma: Float) {
        let top = hist.count - 1
        var lcut = 0, hcut = top
        var sig = 10.0 * Double(top), sig1 = 1.0
        var mea = Double(boxMean), med = Double(boxMean)
        var iterations = 100
        while iterations > 0 && sig >= 0.1 && abs(sig / sig1 - 1) > 1e-4 {
            iterations -= 1
            sig1 = sig
            var sum: UInt64 = 0
            mea = 0; sig = 0
            var lowSum: UInt64 = 0, highSum: UInt64 = 0
            var low = lcut, high = hcut     // walk in from both ends to find the median bin
            for i in lcut...max(lcut, hcut) where i <= hcut {
                if lowSum < highSum { lowSum &+= hist[low]; low += 1 } else { highSum &+= hist[high]; high -= 1 }
                let count = hist[i]
                sum &+= count
                let d = Double(count) * Double(i)
                mea += d
                sig += d * Double(i)
            }
            if high >= 0 {
                let denominator = 2.0 * Double(max(hist[low < hist.count ? low : top], hist[high]))
                // An empty histogram is SEP's 0/0; take the bin centre instead of NaN.
                med = Double(high) + 0.5 + (denominator > 0 ? (Double(highSum) - Double(lowSum)) / denominator : 0)
            } else {
                med = 0
            }
            if sum > 0 {
                mea /= Double(sum)
                sig = sig / Double(sum) - mea * mea
            }
            sig = sig > 0 ? sig.squareRoot() : 0
            let lo = med - 3 * sig, hi = med + 3 * sig
            lcut = lo > 0 ? Int(lo + 0.5) : 0
            hcut = hi < Double(top) ? (hi > 0 ? Int(hi + 0.5) : Int(hi - 0.5)) : top
        }
        let mode: Double
        if abs(sig) > 0 {
            mode = abs((mea - med) / sig) < 0.3
                ? Double(qzero) + (2.5 * med - 1.5 * mea) * Double(qscale)
                : Double(qzero) + med * Double(qscale)
        } else {
            mode = Double(qzero) + mea * Double(qscale)
        }
        return (Float(mode), Float(sig * Double(qscale)))
    }
}
