import Foundation

/// What a clear frame of the field shows per region: its stars and the noise they
/// were detected against, so that a frame taken through a brighter sky (moon,
/// twilight) or a shorter exposure is held to the stars it could have seen.
public struct ClearSkyReference: Sendable, Equatable {
    /// Usable stars per region in the clear frame.
    public var regionStars: [Double]
    /// Median noise (background rms, ADU) per region in the clear frame.
    public var regionNoise: [Double]
    /// Exposure of the clear frame, seconds.
    public var exposure: Double

    public init(regionStars: [Double], regionNoise: [Double], exposure: Double) {
        self.regionStars = regionStars; self.regionNoise = regionNoise; self.exposure = exposure
    }

    /// From the judgement of a clear frame. With the all-sky layout each ring's stars and noise
    /// are averaged over its sectors: the sky turns, so which sector holds the Milky Way changes
    /// from frame to frame, but a ring (an altitude band) keeps its airmass and its solid angle.
    public init?(clear q: FrameQuality, layout: RegionLayout, exposure: Double) {
        guard !q.regionStars.isEmpty, q.regionNoise.count == q.regionStars.count, exposure > 0 else { return nil }
        var stars = q.regionStars.map(Double.init), noise = q.regionNoise
        if case let .allSky(rings, sectors) = layout, stars.count == 1 + rings * sectors {
            for ring in 0..<rings {
                let range = (1 + ring * sectors)..<(1 + (ring + 1) * sectors)
                let meanStars = range.map { stars[$0] }.reduce(0, +) / Double(sectors)
                let medianNoise = FrameQualityJudge.median(range.map { noise[$0] }.filter { $0 > 0 })
                for i in range { stars[i] = meanStars; noise[i] = medianNoise }
            }
        }
        self.init(regionStars: stars, regionNoise: noise, exposure: exposure)
    }
}

/// Cloud cover per region from star counts against a clear reference.
///
/// The rule: a region's expected stars are the reference's, scaled to this frame's
/// depth. The faintest star detected at a given S/N has a flux proportional to the
/// noise per second of exposure, and star counts grow as N(<m) ~ 10^(0.45 m)
/// (the slope of bright star counts over the whole sky), so
/// `expected = referenceStars * (k)^(-2.5 * 0.45)` with
/// `k = (noise / exposure) / (referenceNoise / referenceExposure)`.
/// A region is judged when it expects at least `minimumExpectedStars` (fewer and an
/// empty region says nothing: the sky is too bright or the exposure too short to see
/// stars there, as in twilight), or when it shows at least `clearWithStars` stars
/// whatever it expects (stars seen through a region say it is clear there: under a
/// bright moon few regions expect 3, but many show some); it is cloudy when it expects
/// at least `minimumExpectedStars` and shows fewer than `cloudyFraction` of them. The frame's cloud fraction is over
/// the judged regions, and is left at 0 ("clouds_unknown") when fewer than
/// `minimumJudgedFraction` of the regions are judged: a moonlit frame with one
/// judged region says nothing about the sky as a whole.
public struct CloudRule: Sendable, Equatable {
    /// With 3 expected, an empty region happens by chance 5% of the time (Poisson).
    public var minimumExpectedStars = 3.0
    public var cloudyFraction = 0.3
    public var minimumJudgedFraction = 0.25
    /// A star at S/N >= 10 (hot pixels and extended detections are no stars) is seen through
    /// the region: it is not overcast there.
    public var clearWithStars = 1
    /// A frame whose stars cannot judge its cloud is clear when its sky is this smooth and this much
    /// darker overhead than along the rim (see `SkyGlow`; 002 of cloudynight, clear at dawn, reads
    /// 0.015 and 0.64; the overcast 000 reads 0.016 and 1.33).
    public var skyGlowMaximumRoughness = 0.05
    public var skyGlowMaximumZenithToRim = 0.85
    /// d log10 N / d m of star counts.
    public static let starCountSlope = 0.45
    /// Whether `judged` of `total` regions are enough to give the frame a cloud fraction.
    public func enoughJudged(_ judged: Int, of total: Int) -> Bool {
        Double(judged) >= max(1, minimumJudgedFraction * Double(total))
    }
    public init() {}
    public init(minimumExpectedStars: Double, cloudyFraction: Double) {
        self.minimumExpectedStars = minimumExpectedStars; self.cloudyFraction = cloudyFraction
    }
}

/// Per-region stars, noise and cloud flags of one frame.
struct RegionCloudAssessment {
    var stars: [Int] = []
    var noise: [Double] = []
    var expected: [Double] = []
    var judged: [Bool] = []
    var cloudy: [Bool] = []
    var cloudFraction = 0.0
    /// The stars could not judge, and the sky's brightness pattern says clear (`SkyGlow`).
    var clearBySkyGlow = false
    /// Scratch kept from frame to frame (their capacity is what a frame needs): depth per region,
    /// a ring's known depths, the counts in order.
    private var depth: [Double] = []
    private var known: [Double] = []
    private var ordered: [Int] = []

    init() {}

    /// `stars`: the frame's usable stars; `hotPixels`: where single hot pixels are (a detection on
    /// one is no star, and a camera's hot pixels shine through any cloud).
    /// `noiseFloor`: the least rms believed (the spline rms map can undershoot, even below zero).
    init(stars: [Source], hotPixels: [(x: Int, y: Int)], fwhm: Double, rms: UnsafeBufferPointer<Float>,
         noiseFloor: Double = 0, width w: Int, height h: Int, options: QualityOptions, glow: SkyGlow? = nil) {
        let map = RegionMap(options: options, width: w, height: h)
        let samples = RegionSamples(maxWidth: w, maxHeight: h)
        let raster = hotPixels.sorted { ($0.y, $0.x) < ($1.y, $1.x) }
        let all = (0..<stars.count).map(Int32.init)
        stars.withUnsafeBufferPointer { s in
            all.withUnsafeBufferPointer { i in
                update(stars: s, indices: i, hotPixels: raster, fwhm: fwhm, rms: rms, noiseFloor: noiseFloor,
                       width: w, height: h, options: options, map: map, samples: samples, glow: glow)
            }
        }
    }

    /// The assessment of a frame in place, reusing the arrays of the last (no allocation once they
    /// have the region count's capacity). `indices`: which of `stars` to count; `hotPixels` in
    /// raster order (as `FrameQualityJudge.findHotPixels` gives them); `map` for `options` and this
    /// frame size; `samples` for frames of at least this size.
    mutating func update(stars sources: UnsafeBufferPointer<Source>, indices: UnsafeBufferPointer<Int32>, hotPixels: [(x: Int, y: Int)],
                         fwhm: Double, rms: UnsafeBufferPointer<Float>, noiseFloor: Double = 0, width w: Int, height h: Int,
                         options: QualityOptions, map: RegionMap, samples: RegionSamples, glow: SkyGlow? = nil) {
        stars.removeAll(keepingCapacity: true)
        for _ in 0..<map.count { stars.append(0) }
        for j in indices {
            let s = sources[Int(j)]
            // Extended detections (the moon, lit cloud edges, lamps) are no stars either.
            if fwhm.isFinite && s.fwhm > 3 * fwhm { continue }
            if FrameQualityJudge.nearHotPixel(Int(s.y.rounded()) * w + Int(s.x.rounded()), hotPixels, width: w) { continue }
            if let i = map.index(s.x, s.y) { stars[i] += 1 }
        }
        map.medians(of: rms, width: w, height: h, samples: samples, into: &noise)
        for i in noise.indices { noise[i] = noise[i].isNaN ? noise[i] : max(noise[i], noiseFloor) }
        expected.removeAll(keepingCapacity: true)
        judged.removeAll(keepingCapacity: true)
        cloudy.removeAll(keepingCapacity: true)
        clearBySkyGlow = false
        let usable = options.clearReference.flatMap { $0.regionStars.count == map.count && $0.regionNoise.count == map.count ? $0 : nil }
        var ownBest = 0.0
        if let reference = usable {
            let exposure = options.exposure ?? reference.exposure
            var rings: (count: Int, sectors: Int)?
            if case let .allSky(r, sectors) = options.regionLayout { rings = (r, sectors) }
            assess(reference: reference, exposure: exposure, rule: options.cloudRule, rings: rings)
        } else {
            // No reference: the frame's own best quarter of regions stands in for a clear sky.
            ordered.removeAll(keepingCapacity: true)
            ordered.append(contentsOf: stars)
            ownBest = Double(ordered.withUnsafeMutableBufferPointer { selectKth($0, stars.count * 3 / 4) })
            for _ in stars.indices { expected.append(ownBest); judged.append(true) }
            for n in stars { cloudy.append(ownBest > 0 ? Double(n) < options.cloudRule.cloudyFraction * ownBest : true) }
            cloudFraction = Double(cloudy.count { $0 }) / Double(max(1, stars.count))
        }
        // Stars can judge against a reference where enough regions are judged; without one,
        // where the best quarter shows the stars a region must expect to be judged.
        let starsCanJudge = usable != nil ? options.cloudRule.enoughJudged(judged.count { $0 }, of: judged.count)
                                          : ownBest >= options.cloudRule.minimumExpectedStars
        if let glow, glow.looksClear(options.cloudRule), !starsCanJudge {
            judged.removeAll(keepingCapacity: true)
            cloudy.removeAll(keepingCapacity: true)
            for _ in stars.indices { judged.append(true); cloudy.append(false) }
            cloudFraction = 0
            clearBySkyGlow = true
        }
    }

    /// `rings`: the all-sky layout, whose rings are altitude bands: within one, a clear sky is
    /// about as bright all round (the moon and twilight brighten one side smoothly), while
    /// cloud lit from below brightens patches. So a region's loss of depth is excused only
    /// up to the ring's darker quarter (its 25th percentile of depth loss): brighter than
    /// that, the extra sky is taken for cloud and the region still expects those stars.
    private mutating func assess(reference: ClearSkyReference, exposure: Double, rule: CloudRule, rings: (count: Int, sectors: Int)? = nil) {
        let exponent = -2.5 * CloudRule.starCountSlope
        depth.removeAll(keepingCapacity: true)
        for i in 0..<stars.count {
            let refNoise = reference.regionNoise[i], n = noise[i]
            guard refNoise > 0, n > 0, exposure > 0, reference.exposure > 0 else { depth.append(.nan); continue }
            depth.append((n / exposure) / (refNoise / reference.exposure))
        }
        if let r = rings, depth.count == 1 + r.count * r.sectors {
            for ring in 0..<r.count {
                let range = (1 + ring * r.sectors)..<(1 + (ring + 1) * r.sectors)
                known.removeAll(keepingCapacity: true)
                for i in range where depth[i].isFinite { known.append(depth[i]) }
                guard !known.isEmpty else { continue }
                let darkerQuarter = known.withUnsafeMutableBufferPointer { selectKth($0, ($0.count - 1) / 4) }
                for i in range where depth[i].isFinite { depth[i] = min(depth[i], darkerQuarter) }
            }
        }
        for i in 0..<stars.count { expected.append(depth[i].isFinite ? reference.regionStars[i] * pow(depth[i], exponent) : 0) }
        for i in 0..<stars.count { judged.append(expected[i] >= rule.minimumExpectedStars || stars[i] >= rule.clearWithStars) }
        for i in 0..<stars.count {
            cloudy.append(expected[i] >= rule.minimumExpectedStars && Double(stars[i]) < rule.cloudyFraction * expected[i])
        }
        let n = judged.count { $0 }
        cloudFraction = rule.enoughJudged(n, of: judged.count) ? Double(cloudy.count { $0 }) / Double(n) : 0
    }
}

/// Which region a pixel belongs to, for the layout of `QualityOptions`.
struct RegionMap {
    let count: Int
    private let locate: (Double, Double) -> Int?

    init(options: QualityOptions, width w: Int, height h: Int) {
        switch options.regionLayout {
        case .grid:
            let gc = max(1, options.gridColumns), gr = max(1, options.gridRows)
            // Grid cells whose centre is outside the sky circle hold no sky and are left out.
            var compact = [Int?](repeating: nil, count: gc * gr)
            var n = 0
            for r in 0..<gr {
                for k in 0..<gc {
                    let inside = options.skyCircle.map {
                        $0.contains((Double(k) + 0.5) * Double(w) / Double(gc), (Double(r) + 0.5) * Double(h) / Double(gr))
                    } ?? true
                    if inside { compact[r * gc + k] = n; n += 1 }
                }
            }
            count = max(1, n)
            locate = { x, y in
                guard x >= 0, y >= 0, x < Double(w), y < Double(h) else { return nil }
                return compact[min(gr - 1, Int(y) * gr / max(1, h)) * gc + min(gc - 1, Int(x) * gc / max(1, w))]
            }
        case let .allSky(rings, sectors):
            let rings = max(1, rings), sectors = max(1, sectors)
            let c = options.skyCircle ?? Self.defaultSkyCircle(width: w, height: h)
            count = 1 + rings * sectors
            locate = { x, y in FrameQualityJudge.allSkyRegion(x: x, y: y, circle: c, rings: rings, sectors: sectors) }
        }
    }

    func index(_ x: Double, _ y: Double) -> Int? { locate(x, y) }

    /// An all-sky frame without a configured circle: the largest circle centred in the frame.
    static func defaultSkyCircle(width w: Int, height h: Int) -> SkyCircle {
        SkyCircle(x: Double(w) / 2, y: Double(h) / 2, radius: Double(min(w, h)) / 2)
    }

    /// Median of a smooth full-frame map over each region, from about 64k samples on a square lattice
    /// (NaN where a region has none), into `medians` with `samples`' memory.
    func medians(of map: UnsafeBufferPointer<Float>, width w: Int, height h: Int, samples: RegionSamples, into medians: inout [Double]) {
        medians.removeAll(keepingCapacity: true)
        guard map.count >= w * h else { for _ in 0..<count { medians.append(.nan) }; return }
        // The samples of each region together (a counting sort by region), in lattice order within it.
        let step = RegionSamples.step(width: w, height: h)
        samples.regionStart.removeAll(keepingCapacity: true)
        for _ in 0...count { samples.regionStart.append(0) }
        samples.regionStart.withUnsafeMutableBufferPointer { start in
            var n = 0
            for y in stride(from: step / 2, to: h, by: step) {
                for x in stride(from: step / 2, to: w, by: step) {
                    if let i = index(Double(x), Double(y)), n < samples.capacity {
                        samples.value[n] = map[y * w + x]; samples.region[n] = Int32(i); start[i + 1] += 1; n += 1
                    }
                }
            }
            for i in 0..<count { start[i + 1] += start[i] }
            for j in 0..<n {
                let i = Int(samples.region[j])
                samples.grouped[start[i]] = samples.value[j]; start[i] += 1
            }
            // `start[i]` is now region i's end, `start[i - 1]` (0 for the first) its beginning.
            for i in 0..<count {
                let lo = i == 0 ? 0 : start[i - 1], hi = start[i]
                medians.append(hi > lo ? selectionMedian(UnsafeMutableBufferPointer(rebasing: samples.grouped[lo..<hi])) : .nan)
            }
        }
    }
}
