import Foundation

/// Measures one source from its footprint (pixel indices) on the
/// background-subtracted image: isophotal and aperture photometry, moments,
/// windowed centroid, adaptive-moment FWHM, half-flux radius, flags.
struct SourceMeasurer {
    let image: ImageView<Float>                         // raw, for saturation
    let subtracted: UnsafeMutableBufferPointer<Float>
    let rms: UnsafeMutableBufferPointer<Float>
    let snr: UnsafeMutableBufferPointer<Float>
    let convolved: UnsafeMutableBufferPointer<Float>
    let width: Int
    let height: Int
    let options: ExtractionOptions
    /// Growth-curve bins of `halfFluxRadius` (at least `hfrBinCount`), so measuring allocates nothing.
    let bins: UnsafeMutableBufferPointer<Double>

    /// Growth-curve bins for the largest half-flux radius search (40 px at 1/20 px).
    static let hfrBinCount = 40 * 20 + 1
    /// Gaussian weights along x for one window row (`gaussianColumns` values), so a window costs
    /// one exp per column and row instead of one per pixel (exp(a + b) = exp(a) exp(b)).
    let columnWeights: UnsafeMutableBufferPointer<Double>
    static let gaussianColumns = 1024
    /// Bounds on the Gaussian windows, which cost their area on every iteration: a
    /// centroid window of sigma 4 px (FWHM 9 px) spans the core of any star worth
    /// centring; adaptive moments beyond sigma 8 px (FWHM 19 px) are not a seeing
    /// measurement (blobs, clouds, donuts, which the half-flux radius judges).
    static let maxWindowSigma = 4.0
    static let maxAdaptiveVariance = 64.0

    func measure(_ pixels: UnsafeMutableBufferPointer<Int32>, blended: Bool) -> Source {
        var s = Source()
        s.area = pixels.count
        if blended { s.flags.insert(.blended) }
        // Moments are weighted by the filtered image, as SEP does; fluxes use the raw pixels.
        var sum = 0.0, csum = 0.0, variance = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
        var peak = -Float.infinity, peakIndex = Int(pixels[0]), bestSNR: Float = 0
        var cpeak = -Float.infinity, thresholdSum = 0.0
        var xmin = Int.max, xmax = Int.min, ymin = Int.max, ymax = Int.min
        for q in pixels {
            let p = Int(q)
            let x = p % width, y = p / width
            if x < xmin { xmin = x }
            if y < ymin { ymin = y }
        }
        let x00 = xmin, y00 = ymin
        for q in pixels {
            let p = Int(q)
            let x = p % width, y = p / width
            let v = subtracted[p], c = convolved[p]
            if v > peak { peak = v; peakIndex = p }
            if c > cpeak { cpeak = c }
            thresholdSum += Double(options.threshold * rms[p])
            bestSNR = max(bestSNR, snr[p])
            let d = Double(c), fx = Double(x - x00), fy = Double(y - y00)
            sum += Double(v)
            csum += d
            variance += Double(rms[p]) * Double(rms[p])
            sx += d * fx; sy += d * fy
            sxx += d * fx * fx; syy += d * fy * fy; sxy += d * fx * fy
            xmin = min(xmin, x); xmax = max(xmax, x); ymin = min(ymin, y); ymax = max(ymax, y)
            if image[x, y] >= options.saturation { s.flags.insert(.saturated) }
        }
        if xmin == 0 || ymin == 0 || xmax == width - 1 || ymax == height - 1 { s.flags.insert(.truncated) }
        s.flux = sum
        s.fluxError = (variance + (options.gain > 0 ? max(sum, 0) / options.gain : 0)).squareRoot()
        s.peak = peak
        s.peakX = peakIndex % width
        s.peakY = peakIndex / width
        s.detectionSNR = bestSNR
        s.filteredFlux = csum
        s.threshold = thresholdSum / Double(pixels.count)   // SEP's get_mean_thresh
        s.minAreaExcess = minAreaExcess(pixels)

        // Isophotal barycentre and second moments (SEP's analyse).
        if csum > 0 {
            let mx = sx / csum, my = sy / csum
            s.isoX = mx + Double(x00); s.isoY = my + Double(y00)
            var x2 = sxx / csum - mx * mx, y2 = syy / csum - my * my
            let xy = sxy / csum - mx * my
            if x2 * y2 - xy * xy < 0.00694 {
                x2 += 0.0833333; y2 += 0.0833333
                s.flags.insert(.singular)
            }
            s.x2 = x2; s.y2 = y2; s.xy = xy
            let half = 0.5 * (x2 - y2)
            let root = (half * half + xy * xy).squareRoot()
            let mean = 0.5 * (x2 + y2)
            s.a = max(mean + root, 0).squareRoot()
            s.b = max(mean - root, 0).squareRoot()
            s.theta = x2 != y2 ? 0.5 * atan2(2 * xy, x2 - y2) : Double.pi / 4
        } else {
            s.isoX = Double(s.peakX); s.isoY = Double(s.peakY)
            s.x2 = 1.0 / 12; s.y2 = 1.0 / 12
            s.a = (1.0 / 12).squareRoot(); s.b = s.a
            s.flags.insert(.singular)
        }

        // Half-flux radius first: it sets the window of the windowed centroid.
        let sigmaGuess = max(0.5 * (s.x2 + s.y2), 0.25).squareRoot()
        s.halfFluxRadius = halfFluxRadius(cx: s.isoX, cy: s.isoY, radius: min(max(4, 6 * sigmaGuess), 40))
        let windowSigma = (s.halfFluxRadius.isFinite ? 2 * s.halfFluxRadius : 2.3548 * sigmaGuess) / 2.3548
        if blended {
            // The window would reach into the neighbours this source was split from.
            s.x = s.isoX; s.y = s.isoY
        } else if let (wx, wy) = windowedCentroid(x: s.isoX, y: s.isoY, sigma: min(max(windowSigma, 0.5), Self.maxWindowSigma)) {
            s.x = wx; s.y = wy
        } else {
            s.x = s.isoX; s.y = s.isoY
            s.flags.insert(.windowFailed)
        }
        let adaptive = adaptiveFWHM(x: s.x, y: s.y, start: max(sigmaGuess, 0.6))
        // The core fit reads the half-maximum width whatever the wings (Moffat); moments are the fallback.
        let core = adaptive.isFinite ? coreFWHM(x: s.x, y: s.y, guess: adaptive) : .nan
        s.fwhm = core.isFinite ? core : adaptive

        let r = options.apertureRadius
        let (af, av, clipped) = aperture(cx: s.x, cy: s.y, radius: r)
        s.apertureRadius = r
        s.apertureFlux = af
        s.apertureFluxError = (av + (options.gain > 0 ? max(af, 0) / options.gain : 0)).squareRoot()
        if clipped { s.flags.insert(.nearEdge) }
        return s
    }

    /// SEP's `mthresh`: the `minArea`-th largest excess of the filtered image
    /// over the pixel's threshold, found with SExtractor's small heap, kept as
    /// it is (the sixth pixel is skipped and the sift-down index runs one
    /// ahead) because cleaning decisions must agree with SEP's. Pixels are
    /// visited in raster order, close to SEP's scan order.
    func minAreaExcess(_ pixels: UnsafeMutableBufferPointer<Int32>) -> Double {
        let minarea = options.minArea
        guard minarea > 0, pixels.count >= minarea else { return 0 }
        heapSort(pixels, by: <)
        let sorted = pixels
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: minarea) { heap in
            var h = minarea, filled = 0
            for q in sorted {
                let p = Int(q)
                let tpix = convolved[p] - options.threshold * rms[p]
                if h > 0 {
                    heap[filled] = tpix; filled += 1
                } else if h != 0 {
                    if tpix > heap[0] {
                        heap[0] = tpix
                        var j = 0
                        while true {
                            var k = (j + 1) << 1
                            if k > minarea { break }
                            var child = k
                            if k != minarea && heap[k - 1] > heap[k] { child = k + 1; k += 1 }
                            child -= 1
                            if heap[j] <= heap[child] { break }
                            heap.swapAt(child, j)
                            j = k
                        }
                    }
                } else {
                    // Insertion sort in place (minarea is small): sorted() would allocate.
                    for i in 1..<max(1, minarea) {
                        let v = heap[i]
                        var j = i
                        while j > 0 && heap[j - 1] > v { heap[j] = heap[j - 1]; j -= 1 }
                        heap[j] = v
                    }
                }
                h -= 1
            }
            return Double(heap[0])
        }
    }

    /// Sum and variance in a circle (pixel centres inside), and whether it crossed the border.
    func aperture(cx: Double, cy: Double, radius r: Double) -> (Double, Double, Bool) {
        let x0 = Int((cx - r).rounded(.down)), x1 = Int((cx + r).rounded(.up))
        let y0 = Int((cy - r).rounded(.down)), y1 = Int((cy + r).rounded(.up))
        let clipped = x0 < 0 || y0 < 0 || x1 >= width || y1 >= height
        var sum = 0.0, variance = 0.0
        let r2 = r * r
        for y in max(0, y0)...min(height - 1, max(0, y1)) {
            let dy = Double(y) - cy
            for x in max(0, x0)...min(width - 1, max(0, x1)) {
                let dx = Double(x) - cx
                if dx * dx + dy * dy <= r2 {
                    let p = y * width + x
                    sum += Double(subtracted[p])
                    variance += Double(rms[p]) * Double(rms[p])
                }
            }
        }
        return (sum, variance, clipped)
    }

    /// Radius enclosing half the flux inside `radius`, from a growth curve in
    /// 1/20-pixel radial bins with 3x3 subsampling of each pixel (so small stars
    /// are not quantized to whole pixels).
    func halfFluxRadius(cx: Double, cy: Double, radius: Double) -> Double {
        let binsPerPixel = 20.0
        let count = Int(radius * binsPerPixel) + 1
        let x0 = max(0, Int((cx - radius - 1).rounded(.down))), x1 = min(width - 1, Int((cx + radius + 1).rounded(.up)))
        let y0 = max(0, Int((cy - radius - 1).rounded(.down))), y1 = min(height - 1, Int((cy + radius + 1).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return .nan }
        precondition(count <= bins.count)
        do {
            for i in 0..<count { bins[i] = 0 }
            let r2max = radius * radius
            for y in y0...y1 {
                for x in x0...x1 {
                    let v = Double(subtracted[y * width + x]) / 9
                    for sy in 0..<3 {
                        let dy = Double(y) + (Double(sy) - 1) / 3 - cy
                        for sx in 0..<3 {
                            let dx = Double(x) + (Double(sx) - 1) / 3 - cx
                            let d2 = dx * dx + dy * dy
                            if d2 <= r2max { bins[min(count - 1, Int(d2.squareRoot() * binsPerPixel))] += v }
                        }
                    }
                }
            }
            var total = 0.0
            for i in 0..<count { total += bins[i] }
            guard total > 0 else { return .nan }
            var cumulative = 0.0
            for i in 0..<count {
                let next = cumulative + bins[i]
                if next >= 0.5 * total {
                    let fraction = bins[i] > 0 ? (0.5 * total - cumulative) / bins[i] : 0
                    return (Double(i) + fraction) / binsPerPixel
                }
                cumulative = next
            }
            return radius
        }
    }

    /// SExtractor's windowed centroid: Gaussian-weighted first moments,
    /// iterated; nil when the weights vanish or the centre runs away.
    func windowedCentroid(x startX: Double, y startY: Double, sigma: Double) -> (Double, Double)? {
        var x = startX, y = startY
        for _ in 0..<16 {
            guard let m = gaussianWindowSums(x: x, y: y, sigma: sigma), m.norm > 0 else { return nil }
            let stepX = 2 * m.mx / m.norm, stepY = 2 * m.my / m.norm
            x += stepX; y += stepY
            if (x - startX) * (x - startX) + (y - startY) * (y - startY) > max(4, 4 * sigma * sigma) { return nil }
            if stepX * stepX + stepY * stepY < 4e-8 { break }
        }
        return (x, y)
    }

    /// Sums over the disc of radius 4 sigma around (x, y) of w·v, w·v·dx, w·v·dy and w·v·r²,
    /// where v is the background-subtracted pixel and w the Gaussian weight of that sigma
    /// (separable through `columnWeights` when the window fits it); nil when the window
    /// lies outside the image.
    @inline(__always)
    func gaussianWindowSums(x: Double, y: Double, sigma: Double) -> (norm: Double, mx: Double, my: Double, mr2: Double)? {
        let r = 4 * sigma, inv = 1 / (2 * sigma * sigma)
        let x0 = max(0, Int((x - r).rounded(.down))), x1 = min(width - 1, Int((x + r).rounded(.up)))
        let y0 = max(0, Int((y - r).rounded(.down))), y1 = min(height - 1, Int((y + r).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return nil }
        var norm = 0.0, mx = 0.0, my = 0.0, mr2 = 0.0
        let separable = fillColumnWeights(x0, x1, centre: x, inv: inv)
        for py in y0...y1 {
            let dy = Double(py) - y
            let wy = separable ? exp(-dy * dy * inv) : 0
            for px in x0...x1 {
                let dx = Double(px) - x
                let d2 = dx * dx + dy * dy
                if d2 > r * r { continue }
                let weight = separable ? wy * columnWeights[px - x0] : exp(-d2 * inv)
                let wv = weight * Double(subtracted[py * width + px])
                norm += wv; mx += wv * dx; my += wv * dy; mr2 += wv * d2
            }
        }
        return (norm, mx, my, mr2)
    }

    /// exp(-(x - centre)^2 inv) for x in x0...x1 into `columnWeights`; false when the window is wider than it.
    @inline(__always)
    func fillColumnWeights(_ x0: Int, _ x1: Int, centre: Double, inv: Double) -> Bool {
        guard x1 - x0 < columnWeights.count else { return false }
        for px in x0...x1 {
            let dx = Double(px) - centre
            columnWeights[px - x0] = exp(-dx * dx * inv)
        }
        return true
    }

    /// FWHM from adaptive Gaussian moments: with a Gaussian weight of variance
    /// s2 a Gaussian source of variance v gives a weighted radial moment
    /// m = 2 v s2 / (v + s2); the weight is set to the v that this implies and
    /// the moment measured again until it settles (one step for a Gaussian).
    /// The 1/12 px^2 of pixel sampling is removed. NaN when it does not settle.
    func adaptiveFWHM(x cx: Double, y cy: Double, start: Double) -> Double {
        var s2 = start * start
        var settled = false
        for _ in 0..<20 {
            guard let sums = gaussianWindowSums(x: cx, y: cy, sigma: s2.squareRoot()), sums.norm > 0 else { return .nan }
            let m = sums.mr2 / sums.norm
            guard m > 0 else { return .nan }
            // v = m s2 / (2 s2 - m); steps limited to a factor 2 for profiles far from Gaussian.
            var next = 2 * s2 > m ? m * s2 / (2 * s2 - m) : 2 * s2
            next = min(max(next, 0.5 * s2), 2 * s2)
            guard next < Self.maxAdaptiveVariance else { return .nan }
            let change = abs(next - s2) / s2
            s2 = next
            if change < 1e-4 { settled = true; break }
        }
        guard settled else { return .nan }
        let corrected = s2 - 1.0 / 12
        return corrected > 0 ? 2.3548 * corrected.squareRoot() : .nan
    }

    /// FWHM from the core of the profile: a Gaussian fitted by weighted least
    /// squares to ln(value) against r^2 over the pixels above half the peak
    /// (where a Moffat and a Gaussian of the same FWHM agree), weights value^2
    /// to even out the noise of the logarithm. The 1/12 px^2 of pixel sampling is removed.
    func coreFWHM(x cx: Double, y cy: Double, guess: Double) -> Double {
        let r = max(2, guess * 1.2)
        let x0 = max(0, Int((cx - r).rounded(.down))), x1 = min(width - 1, Int((cx + r).rounded(.up)))
        let y0 = max(0, Int((cy - r).rounded(.down))), y1 = min(height - 1, Int((cy + r).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return .nan }
        var peak: Float = 0
        for py in y0...y1 { for px in x0...x1 { peak = max(peak, subtracted[py * width + px]) } }
        guard peak > 0 else { return .nan }
        let floor = 0.5 * peak
        var sw = 0.0, swx = 0.0, swy = 0.0, swxx = 0.0, swxy = 0.0, n = 0
        for py in y0...y1 {
            let dy = Double(py) - cy
            for px in x0...x1 {
                let v = subtracted[py * width + px]
                guard v > floor else { continue }
                let dx = Double(px) - cx
                let r2 = dx * dx + dy * dy
                if r2 > r * r { continue }
                let wgt = Double(v) * Double(v), lv = log(Double(v))
                sw += wgt; swx += wgt * r2; swy += wgt * lv; swxx += wgt * r2 * r2; swxy += wgt * r2 * lv
                n += 1
            }
        }
        guard n >= 4 else { return .nan }
        let det = sw * swxx - swx * swx
        guard det > 0 else { return .nan }
        let slope = (sw * swxy - swx * swy) / det
        guard slope < 0 else { return .nan }
        let sigma2 = -1 / (2 * slope) - 1.0 / 12
        return sigma2 > 0 ? 2.3548 * sigma2.squareRoot() : .nan
    }
}
