import Foundation

/// One thread's scratch for gathering, deblending and measuring objects, with
/// capacities fixed when it is made: `maxObjectPixels` for an object's pixel
/// lists, `maxSeeds` for deblending branches.
///
/// Deblending follows SExtractor's multi-threshold rule without building lists:
/// an object's pixels are kept in `order`, and every set the rule looks at is a
/// contiguous range of it; splitting a range at a higher level permutes it so that
/// each part is again a range. Component search marks pixels in the shared label
/// map with -(2 + local index): objects are 8-connected components, so a pixel's
/// neighbours belong to its own object or to no object, and threads working on
/// different objects never touch the same labels.
final class ExtractionWorker {
    static let maxSeeds = 1024

    let maxObjectPixels: Int
    /// The object's pixel indices (y * width + x); position = local index.
    let pixels: UnsafeMutableBufferPointer<Int32>
    /// Local indices, permuted so that sets under study are ranges.
    let order: UnsafeMutableBufferPointer<Int32>
    /// Partition output, then the owner of each local index.
    let temp: UnsafeMutableBufferPointer<Int32>
    /// Pixel indices of the children, seed by seed.
    let children: UnsafeMutableBufferPointer<Int32>
    /// Ranges of `order`: seeds found, and significant parts pending on the recursion stack.
    let seedStart: UnsafeMutableBufferPointer<Int32>
    let seedCount: UnsafeMutableBufferPointer<Int32>
    let partStart: UnsafeMutableBufferPointer<Int32>
    let partCount: UnsafeMutableBufferPointer<Int32>
    let models: UnsafeMutableBufferPointer<SeedModel>
    let childStart: UnsafeMutableBufferPointer<Int32>
    let childCount: UnsafeMutableBufferPointer<Int32>
    let hfrBins: UnsafeMutableBufferPointer<Double>
    let columnWeights: UnsafeMutableBufferPointer<Double>
    /// 1 / rms^2 of three consecutive rows, for the matched filter in row strips.
    let inverseVariance: UnsafeMutableBufferPointer<Float>

    var seedTop = 0
    var partTop = 0
    /// Seeds or parts did not fit: the object was kept whole.
    var overflowed = false

    struct SeedModel { var mx, my, cxx, cyy, cxy, logAmp: Double }

    static func take(_ layout: inout ScratchLayout, maxObjectPixels m: Int, maxWidth: Int) -> ExtractionWorker {
        ExtractionWorker(layout: &layout, maxObjectPixels: m, maxWidth: maxWidth)
    }

    private init(layout: inout ScratchLayout, maxObjectPixels m: Int, maxWidth: Int) {
        maxObjectPixels = m
        pixels = layout.take(Int32.self, m)
        order = layout.take(Int32.self, m)
        temp = layout.take(Int32.self, m)
        children = layout.take(Int32.self, m)
        seedStart = layout.take(Int32.self, Self.maxSeeds)
        seedCount = layout.take(Int32.self, Self.maxSeeds)
        partStart = layout.take(Int32.self, Self.maxSeeds)
        partCount = layout.take(Int32.self, Self.maxSeeds)
        models = layout.take(SeedModel.self, Self.maxSeeds)
        childStart = layout.take(Int32.self, Self.maxSeeds)
        childCount = layout.take(Int32.self, Self.maxSeeds)
        hfrBins = layout.take(Double.self, SourceMeasurer.hfrBinCount)
        columnWeights = layout.take(Double.self, SourceMeasurer.gaussianColumns)
        inverseVariance = layout.take(Float.self, 3 * maxWidth)
    }

    /// Bytes of one worker's scratch.
    static func bytes(maxObjectPixels m: Int, maxWidth: Int) -> Int {
        var layout = ScratchLayout()
        _ = take(&layout, maxObjectPixels: m, maxWidth: maxWidth)
        return layout.bytes
    }

    // MARK: Gathering

    /// Collects the pixels labelled `label` connected to `seed` into `pixels`
    /// (breadth first); returns their count. `area` must fit `maxObjectPixels`.
    func gather(seed: Int32, label: Int32, area: Int, labels: UnsafeMutableBufferPointer<Int32>, width w: Int, height h: Int) -> Int {
        precondition(area <= maxObjectPixels)
        let l = labels.baseAddress!, list = pixels.baseAddress!
        var count = 1, head = 0
        list[0] = seed
        l[Int(seed)] = -2
        while head < count {
            let p = Int(list[head]); head &+= 1
            let px = p % w, py = p / w
            let y0 = py > 0 ? -1 : 0, y1 = py < h - 1 ? 1 : 0
            let x0 = px > 0 ? -1 : 0, x1 = px < w - 1 ? 1 : 0
            for dy in y0...y1 {
                let row = p &+ dy &* w
                for dx in x0...x1 where l[row &+ dx] == label {
                    guard count < maxObjectPixels else { continue }
                    l[row &+ dx] = -2
                    list[count] = Int32(row &+ dx); count &+= 1
                }
            }
        }
        for i in 0..<count { l[Int(list[i])] = label }
        return count
    }

    // MARK: Deblending

    /// Splits the gathered object (`count` pixels) by SExtractor's multi-threshold
    /// rule. Returns the number of children (their pixels in `children`, ranges in
    /// `childStart`/`childCount`); 0 when the object stays whole.
    func deblend(count n: Int, label: Int32, convolved: UnsafeMutableBufferPointer<Float>, rms: UnsafeMutableBufferPointer<Float>,
                 labels: UnsafeMutableBufferPointer<Int32>, width w: Int, height h: Int, options: ExtractionOptions) -> Int {
        let levels = options.deblendLevels
        guard levels > 1, n >= 2 * options.minArea else { return 0 }
        var peak: Float = -.infinity, total: Double = 0, thresholdSum: Double = 0
        for i in 0..<n {
            let p = Int(pixels[i])
            let c = convolved[p]
            peak = max(peak, c)
            total += Double(c)
            thresholdSum += Double(options.threshold * rms[p])
        }
        // Levels run from the object's threshold (mean k x rms over it, as SEP) to its filtered peak.
        let base = Float(thresholdSum / Double(n))
        guard base > 0, peak > base, total > 0 else { return 0 }
        for i in 0..<n { order[i] = Int32(i) }
        seedTop = 0; partTop = 0; overflowed = false
        var context = SplitContext(base: base, peak: peak, minimum: Double(options.deblendContrast) * total, levels: levels,
                                   minArea: options.minArea, label: label, convolved: convolved, labels: labels, width: w, height: h)
        split(0, n, from: 1, &context)
        guard seedTop >= 2, !overflowed else { return 0 }
        assign(count: n, threshold: base, convolved: convolved, width: w)
        return seedTop
    }

    struct SplitContext {
        var base: Float, peak: Float, minimum: Double, levels: Int, minArea: Int, label: Int32
        var convolved: UnsafeMutableBufferPointer<Float>, labels: UnsafeMutableBufferPointer<Int32>
        var width: Int, height: Int
    }

    /// Seeds of the deblending tree inside order[start ..< start + count] (a
    /// component at level `first - 1`): where a node has two or more branches
    /// whose flux above their level exceeds `minimum`, each such branch is a seed
    /// unless it splits again further up. A set that never splits is its own seed.
    private func split(_ start: Int, _ count: Int, from first: Int, _ c: inout SplitContext) {
        var currentStart = start, currentCount = count
        var k = first
        while k < c.levels {
            let t = c.base * powf(c.peak / c.base, Float(k) / Float(c.levels))
            let partsBase = partTop
            components(currentStart, currentCount, above: t, &c)
            let significant = partTop - partsBase
            if significant >= 2 {
                for i in partsBase..<(partsBase + significant) {
                    split(Int(partStart[i]), Int(partCount[i]), from: k + 1, &c)
                }
                partTop = partsBase
                return
            }
            partTop = partsBase
            // One significant branch: climb it; the small ones are noise on its flank.
            guard significant == 1 else { break }
            currentStart = Int(partStart[partsBase]); currentCount = Int(partCount[partsBase])
            k += 1
        }
        guard seedTop < Self.maxSeeds else { overflowed = true; return }
        seedStart[seedTop] = Int32(start); seedCount[seedTop] = Int32(count)
        seedTop += 1
    }

    /// Permutes order[start ..< start + count] so that its 8-connected parts above
    /// `t` come first, each contiguous, then the pixels below `t`; pushes the parts
    /// with at least `minArea` pixels and flux above `t` over `minimum` on the part stack.
    private func components(_ start: Int, _ count: Int, above t: Float, _ c: inout SplitContext) {
        let l = c.labels.baseAddress!, conv = c.convolved.baseAddress!, w = c.width, h = c.height
        let ord = order.baseAddress! + start, out = temp.baseAddress!, pix = pixels.baseAddress!
        for j in 0..<count {
            let li = ord[j]
            let p = Int(pix[Int(li)])
            if conv[p] > t { l[p] = -2 &- li }
        }
        var n = 0
        for j in 0..<count {
            let li = ord[j]
            let p0 = Int(pix[Int(li)])
            guard l[p0] == -2 &- li else { continue }
            let first = n
            l[p0] = c.label
            out[n] = li; n &+= 1
            var head = first
            var flux = 0.0
            while head < n {
                let p = Int(pix[Int(out[head])]); head &+= 1
                flux += Double(conv[p])
                let px = p % w, py = p / w
                let y0 = py > 0 ? -1 : 0, y1 = py < h - 1 ? 1 : 0
                let x0 = px > 0 ? -1 : 0, x1 = px < w - 1 ? 1 : 0
                for dy in y0...y1 {
                    let row = p &+ dy &* w
                    for dx in x0...x1 {
                        let v = l[row &+ dx]
                        if v <= -2 { l[row &+ dx] = c.label; out[n] = -2 &- v; n &+= 1 }
                    }
                }
            }
            let size = n - first
            if size >= c.minArea && flux - Double(t) * Double(size) > c.minimum {
                if partTop < Self.maxSeeds {
                    partStart[partTop] = Int32(start + first); partCount[partTop] = Int32(size)
                    partTop += 1
                } else {
                    overflowed = true
                }
            }
        }
        for j in 0..<count where !(conv[Int(pix[Int(ord[j])])] > t) { out[n] = ord[j]; n &+= 1 }
        for j in 0..<count { ord[j] = out[j] }
    }

    /// Every pixel of the object outside the seeds goes to the seed whose
    /// Gaussian model (SEP's gatherup: amplitude from the seed's area and
    /// threshold, shape from its moments) is brightest there. SEP draws the
    /// owner at random in proportion to these; here the most likely one wins,
    /// so results are reproducible. Children go to `children`, seed by seed.
    private func assign(count n: Int, threshold: Float, convolved: UnsafeMutableBufferPointer<Float>, width w: Int) {
        let seeds = seedTop
        let owner = temp
        for i in 0..<n { owner[i] = -1 }
        for s in 0..<seeds {
            var sum = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0, fdpeak = -Double.infinity
            let a = Int(seedStart[s]), size = Int(seedCount[s])
            for j in a..<(a + size) {
                let li = Int(order[j])
                owner[li] = Int32(s)
                let p = Int(pixels[li])
                let v = Double(convolved[p]), x = Double(p % w), y = Double(p / w)
                sum += v; sx += v * x; sy += v * y; sxx += v * x * x; syy += v * y * y; sxy += v * x * y
                fdpeak = max(fdpeak, v)
            }
            let mx = sx / sum, my = sy / sum
            var x2 = sxx / sum - mx * mx, y2 = syy / sum - my * my
            let xy = sxy / sum - mx * my
            if x2 * y2 - xy * xy < 0.00694 { x2 += 0.0833333; y2 += 0.0833333 }
            let det = x2 * y2 - xy * xy
            let half = 0.5 * (x2 - y2), root = (half * half + xy * xy).squareRoot(), mean = 0.5 * (x2 + y2)
            let ra = max(mean + root, 0).squareRoot(), rb = max(mean - root, 0).squareRoot()
            let dist = Double(size) / (2 * Double.pi * max(ra * rb, 1e-6))
            let amp = min(dist < 70 ? Double(threshold) * exp(dist) : 4 * fdpeak, 4 * fdpeak)
            models[s] = SeedModel(mx: mx, my: my, cxx: y2 / det, cyy: x2 / det, cxy: -2 * xy / det, logAmp: log(max(amp, 1e-30)))
        }
        for li in 0..<n where owner[li] < 0 {
            let p = Int(pixels[li])
            let x = Double(p % w), y = Double(p / w)
            var best = 0, bestValue = -Double.infinity
            for s in 0..<seeds {
                let m = models[s]
                let dx = x - m.mx, dy = y - m.my
                let v = m.logAmp - 0.5 * (m.cxx * dx * dx + m.cyy * dy * dy + m.cxy * dx * dy)
                if v > bestValue { bestValue = v; best = s }
            }
            owner[li] = Int32(best)
        }
        // Counting sort of the pixels by owner: each child's pixels contiguous, seed pixels first.
        for s in 0..<seeds { childCount[s] = 0 }
        for li in 0..<n { childCount[Int(owner[li])] &+= 1 }
        var offset: Int32 = 0
        for s in 0..<seeds { childStart[s] = offset; offset &+= childCount[s]; childCount[s] = 0 }
        for li in 0..<n {
            let s = Int(owner[li])
            children[Int(childStart[s] &+ childCount[s])] = pixels[li]
            childCount[s] &+= 1
        }
    }
}
