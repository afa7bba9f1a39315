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

    /// `stars`: the frame's usable stars; `hotPixels`: where single hot pixels are (a detection on
    /// one is no star, and a camera's hot pixels shine through any cloud).
    /// `noiseFloor`: the least rms believed (the spline rms map can undershoot, even below zero).
    init(stars: [Source], hotPixels: [(x: Int, y: Int)], fwhm: Double, rms: UnsafeBufferPointer<Float>,
         noiseFloor: Double = 0, width w: Int, height h: Int, options: QualityOptions, glow: SkyGlow? = nil) {
        let map = RegionMap(options: options, width: w, height: h)
        var hot = Set<Int>()
        for p in hotPixels { for dy in -1...1 { for dx in -1...1 { hot.insert((p.y + dy) * w + p.x + dx) } } }
        var counts = [Int](repeating: 0, count: map.count)
        for s in stars {
            // Extended detections (the moon, lit cloud edges, lamps) are no stars either.
            if fwhm.isFinite && s.fwhm > 3 * fwhm { continue }
            if hot.contains(Int(s.y.rounded()) * w + Int(s.x.rounded())) { continue }
            if let i = map.index(s.x, s.y) { counts[i] += 1 }
        }
        self.stars = counts
        self.noise = map.medians(of: rms, width: w, height: h).map { $0.isNaN ? $0 : max($0, noiseFloor) }
        let referenced = options.clearReference.map {
            $0.regionStars.count == map.count && $0.regionNoise.count == map.count
        } ?? false
        if referenced, let reference = options.clearReference {
            let exposure = options.exposure ?? reference.exposure
            var rings: (count: Int, sectors: Int)?
            if case let .allSky(r, sectors) = options.regionLayout { rings = (r, sectors) }
            assess(reference: reference, exposure: exposure, rule: options.cloudRule, rings: rings)
        } else {
            // No reference: the frame's own best quarter of regions stands in for a clear sky.
            let best = Double(counts.sorted()[counts.count * 3 / 4])
            let reference = best
            expected = [Double](repeating: reference, count: counts.count)
            judged = [Bool](repeating: true, count: counts.count)
            cloudy = counts.map { reference > 0 ? Double($0) < options.cloudRule.cloudyFraction * reference : true }
            cloudFraction = Double(cloudy.filter { $0 }.count) / Double(max(1, counts.count))
        }
        if let glow, glow.looksClear(options.cloudRule),
           !starsCanJudge(options.cloudRule, withReference: referenced) {
            judged = [Bool](repeating: true, count: counts.count)
            cloudy = [Bool](repeating: false, count: counts.count)
            cloudFraction = 0
            clearBySkyGlow = true
        }
    }

    /// Whether enough regions expect (or show) stars for their counts to say where the cloud is:
    /// against a reference, as many judged regions as the rule asks; without one, a best quarter
    /// of regions that shows the stars a region must expect to be judged.
    private func starsCanJudge(_ rule: CloudRule, withReference: Bool) -> Bool {
        guard withReference else { return expected.contains { $0 >= rule.minimumExpectedStars } }
        return Double(judged.filter { $0 }.count) >= max(1, rule.minimumJudgedFraction * Double(judged.count))
    }

    /// `rings`: the all-sky layout, whose rings are altitude bands: within one, a clear sky is
    /// about as bright all round (the moon and twilight brighten one side smoothly), while
    /// cloud lit from below brightens patches. So a region's loss of depth is excused only
    /// up to the ring's darker quarter (its 25th percentile of depth loss): brighter than
    /// that, the extra sky is taken for cloud and the region still expects those stars.
    private mutating func assess(reference: ClearSkyReference, exposure: Double, rule: CloudRule, rings: (count: Int, sectors: Int)? = nil) {
        let exponent = -2.5 * CloudRule.starCountSlope
        var depth: [Double] = (0..<stars.count).map { i in
            let refNoise = reference.regionNoise[i], n = noise[i]
            guard refNoise > 0, n > 0, exposure > 0, reference.exposure > 0 else { return .nan }
            return (n / exposure) / (refNoise / reference.exposure)
        }
        if let r = rings, depth.count == 1 + r.count * r.sectors {
            for ring in 0..<r.count {
                let range = (1 + ring * r.sectors)..<(1 + (ring + 1) * r.sectors)
                let known = range.map { depth[$0] }.filter(\.isFinite).sorted()
                guard !known.isEmpty else { continue }
                let darkerQuarter = known[(known.count - 1) / 4]
                for i in range where depth[i].isFinite { depth[i] = min(depth[i], darkerQuarter) }
            }
        }
        expected = (0..<stars.count).map { i in depth[i].isFinite ? reference.regionStars[i] * pow(depth[i], exponent) : 0 }
        judged = (0..<stars.count).map { expected[$0] >= rule.minimumExpectedStars || stars[$0] >= rule.clearWithStars }
        cloudy = (0..<stars.count).map {
            expected[$0] >= rule.minimumExpectedStars && Double(stars[$0]) < rule.cloudyFraction * expected[$0]
        }
        let n = judged.filter { $0 }.count
        cloudFraction = Double(n) >= max(1, rule.minimumJudgedFraction * Double(judged.count))
            ? Double(cloudy.filter { $0 }.count) / Double(n) : 0
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
    /// (NaN where a region has none).
    func medians(of map: UnsafeBufferPointer<Float>, width w: Int, height h: Int) -> [Double] {
        var values = [[Float]](repeating: [], count: count)
        guard map.count >= w * h else { return [Double](repeating: .nan, count: count) }
        let step = max(2, Int((Double(w * h) / 65_536).squareRoot()))
        for y in stride(from: step / 2, to: h, by: step) {
            for x in stride(from: step / 2, to: w, by: step) {
                if let i = index(Double(x), Double(y)) { values[i].append(map[y * w + x]) }
            }
        }
        return values.map { v in v.isEmpty ? .nan : FrameQualityJudge.median(v.map(Double.init)) }
    }
}
