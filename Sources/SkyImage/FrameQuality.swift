import Foundation

/// Settings of the quality judgement; the defaults suit a small telescope with
/// a few arcseconds per pixel. See `FrameQuality.score` for the rule.
public struct QualityOptions: Sendable, Equatable {
    /// Seeing above this (px) starts to cost points; at twice it the frame is poor.
    public var goodFWHM = 4.0
    /// Median ellipticity above this costs points.
    public var goodEllipticity = 0.2
    /// Fewer usable stars than this: the frame is bad (clouds, dome, wrong pointing).
    public var minimumStars = 15
    /// Half-flux radius (px) above which stars count as defocused.
    public var defocusHFR = 5.0
    /// Fewer usable stars than this say nothing about focus: the median HFR of two or three
    /// detections on an overcast or twilight sky is that of lit cloud edges or optical ghosts.
    public var minimumFocusStars = 5
    /// Arcsec per pixel, for FWHM in arcsec (nil: not reported).
    public var pixelScale: Double?
    /// Grid for transparency per region.
    public var gridColumns = 4
    public var gridRows = 4
    /// A clear frame of this field, its stars held to this frame's depth (see `CloudRule`);
    /// nil: the frame's own best quarter of regions stands in for a clear sky.
    public var clearReference: ClearSkyReference?
    public var cloudRule = CloudRule()
    /// Exposure in seconds (for the sky brightness and the depth against `clearReference`).
    public var exposure: Double?
    /// Magnitude of a source that gives 1 ADU per second above the pedestal; with `pixelScale`
    /// it turns the background into a sky brightness in mag/arcsec² (1 s when `exposure` is nil).
    public var zeroPoint: Double?
    /// Bias level still in the frame (0 for a calibrated frame), ADU.
    public var pedestal = 0.0
    public var badColumns = BadColumnFinder.Settings()
    /// Regions for transparency: a grid, or for all-sky cameras rings and sectors about the sky circle.
    public var regionLayout: RegionLayout = .grid
    public var saturation: Float = .infinity
    /// All-sky cameras: the circle of sky in the frame; stars and trails outside it (horizon, housing) are ignored.
    public var skyCircle: SkyCircle?
    public init() {}
}

/// How a frame is cut into regions for cloud cover.
public enum RegionLayout: Sendable, Equatable {
    /// `gridColumns x gridRows` cells.
    case grid
    /// All-sky: a central disc and `rings` rings of `sectors` sectors inside the sky circle (cloudynight's
    /// layout with rings = 4, sectors = 8: ring borders at 1/5 steps of the radius; sector 0 starts at -pi,
    /// angles from atan2(y - cy, x - cx)).
    case allSky(rings: Int, sectors: Int)

    /// By the name configs and `skydiag quality --regions` use: `grid`, or `allsky` (cloudynight's 4 rings x 8 sectors).
    public init?(name: String) {
        switch name {
        case "grid": self = .grid
        case "allsky": self = .allSky(rings: 4, sectors: 8)
        default: return nil
        }
    }
}

/// The sky area of an all-sky frame (0-based pixels).
public struct SkyCircle: Sendable, Equatable {
    public var x: Double, y: Double, radius: Double
    public init(x: Double, y: Double, radius: Double) { self.x = x; self.y = y; self.radius = radius }
    public func contains(_ px: Double, _ py: Double) -> Bool { (px - x) * (px - x) + (py - y) * (py - y) <= radius * radius }
}

/// What the site publishes about one frame (DESIGN.md section 2).
public struct FrameQuality: Sendable {
    public var background = 0.0
    /// Largest minus smallest background over the mesh, after filtering.
    public var backgroundGradient = 0.0
    public var noise = 0.0
    /// Background as a sky brightness, mag/arcsec² (nil without a zero point and a pixel scale).
    public var skyMagnitudesPerSquareArcsec: Double?
    /// Point sources with S/N >= 10, not saturated, blended or cut by the border.
    public var stars = 0
    public var sources = 0
    /// Median FWHM of the bright usable stars (S/N >= 50, else >= 20; px; NaN without stars).
    public var fwhmPx = Double.nan
    public var fwhmArcsec: Double?
    public var ellipticity = Double.nan
    /// Length of the mean (e cos 2 theta, e sin 2 theta) over the median e: 1 when all stars are stretched alike (tracking), ~0 when at random.
    public var ellipticityCoherence = Double.nan
    public var halfFluxRadius = Double.nan
    /// Fraction of bright stars dimmer at their centre than around it (donuts).
    public var ringFraction = 0.0
    public var hotPixels = 0
    /// Where the hot pixels are (the first `FrameQualityJudge.maxHotPixels`; `hotPixels` counts those).
    public var hotPixelPositions: [(x: Int, y: Int)] = []
    public var cosmicRays = 0
    /// The first `FrameQualityJudge.maxBadColumns`, in column order.
    public var badColumns: [BadColumnSpan] = []
    public var saturatedFraction = 0.0
    /// At most `FrameQualityJudge.maxTrails`.
    public var trails: [TrailSegment] = []
    /// Tables the judgement keeps at a fixed size were full: more hot pixels, bad columns or trail
    /// pieces were found than kept (DESIGN.md section 3; flagged "hot_pixels_truncated",
    /// "bad_columns_truncated", "trails_truncated").
    public var hotPixelsTruncated = false
    public var badColumnsTruncated = false
    public var trailsTruncated = false
    /// Usable stars per grid region, row-major (hot pixels and extended blobs left out).
    public var regionStars: [Int] = []
    /// Median background rms per region, ADU.
    public var regionNoise: [Double] = []
    /// Stars a clear sky would show in each region at this frame's depth.
    public var regionExpectedStars: [Double] = []
    /// Regions that expect enough stars for their count to say whether they are clouded.
    public var regionJudged: [Bool] = []
    /// Which regions look clouded (see `CloudRule`).
    public var regionCloudy: [Bool] = []
    /// Clouded regions over judged regions.
    public var cloudFraction = 0.0
    /// All-sky frames (a sky circle or the all-sky layout): the sky's brightness pattern.
    public var skyGlow: SkyGlow?
    /// Too few stars to judge the cloud, and the sky's pattern says clear (flag "clear_by_sky_glow").
    public var clearBySkyGlow = false
    public var score = 0
    public var verdict = "bad"
    public var flags: [String] = []

    public init() {}

    /// A judgement of nothing yet, keeping the arrays' memory (and reserving the fixed tables
    /// once), so that the next frame's judgement fills them without allocating.
    mutating func startOver() {
        var next = FrameQuality()
        swap(&next.hotPixelPositions, &hotPixelPositions)
        swap(&next.badColumns, &badColumns)
        swap(&next.trails, &trails)
        swap(&next.regionStars, &regionStars)
        swap(&next.regionNoise, &regionNoise)
        swap(&next.regionExpectedStars, &regionExpectedStars)
        swap(&next.regionJudged, &regionJudged)
        swap(&next.regionCloudy, &regionCloudy)
        swap(&next.flags, &flags)
        next.hotPixelPositions.removeAll(keepingCapacity: true)
        next.badColumns.removeAll(keepingCapacity: true)
        next.trails.removeAll(keepingCapacity: true)
        next.regionStars.removeAll(keepingCapacity: true)
        next.regionNoise.removeAll(keepingCapacity: true)
        next.regionExpectedStars.removeAll(keepingCapacity: true)
        next.regionJudged.removeAll(keepingCapacity: true)
        next.regionCloudy.removeAll(keepingCapacity: true)
        next.flags.removeAll(keepingCapacity: true)
        next.hotPixelPositions.reserveCapacity(FrameQualityJudge.maxHotPixels)
        next.badColumns.reserveCapacity(FrameQualityJudge.maxBadColumns)
        next.trails.reserveCapacity(FrameQualityJudge.maxTrails)
        next.flags.reserveCapacity(24)
        self = next
    }
}

/// What a cosmic-ray hit looks like to the extractor: charge in a pixel or two across.
/// The minor-axis rms of a hit one or two pixels wide is 0.3 to 0.85 px whatever its length;
/// faint stars, whose isophotal moments shrink with the noise, stay above 0.9 px unless
/// the seeing is under about 2.2 px (then hits and stars cannot be told apart by shape).
enum CosmicRayRule {
    static let maximumMinorAxis = 0.9
}

/// Judges a frame from an extraction: seeing, shape, focus, defects, trails,
/// transparency; then a score and a verdict by the rule in `score(_:_:)`.
public enum FrameQualityJudge {
    /// Most hot-pixel positions, bad columns, trail pieces (candidates before the cross-section
    /// test) and trails a judgement keeps; more are left out and flagged.
    public static let maxHotPixels = 10_000
    public static let maxBadColumns = 1_024
    public static let maxTrailPieces = 1_024
    public static let maxTrails = 64

    /// `trails: false` skips the trail search (the site sheds it when a frame runs late).
    /// A judgement with memory of its own; the site judges in place (see the `scratch:into:` form).
    public static func judge(_ image: ImageView<Float>, extractor: SourceExtractor, catalog: SourceCatalog,
                             options: QualityOptions = .init(), trails findTrails: Bool = true) -> FrameQuality {
        let scratch = QualityScratch(maxWidth: image.width, maxHeight: image.height, catalogCapacity: catalog.count,
                                     badColumnBlockHeight: options.badColumns.blockHeight)
        var q = FrameQuality()
        judge(image, extractor: extractor, catalog: catalog, options: options, trails: findTrails, scratch: scratch, into: &q)
        return q
    }

    /// The judgement of a frame into `q`, whose arrays keep their capacity from frame to frame, with
    /// `scratch`'s memory: allocates nothing once `q` and `scratch` have judged a frame with these
    /// options (a frame or catalogue larger than `scratch` was made for is judged with memory of its own).
    /// A `q` still shared with a copy taken after the last frame costs that copy.
    public static func judge(_ image: ImageView<Float>, extractor: SourceExtractor, catalog: SourceCatalog,
                             options: QualityOptions = .init(), trails findTrails: Bool = true,
                             scratch: QualityScratch, into q: inout FrameQuality) {
        let w = image.width, h = image.height
        guard w <= scratch.maxWidth, h <= scratch.maxHeight, catalog.count <= scratch.catalogCapacity else {
            let own = QualityScratch(maxWidth: w, maxHeight: h, catalogCapacity: catalog.count,
                                     badColumnBlockHeight: options.badColumns.blockHeight)
            return judge(image, extractor: extractor, catalog: catalog, options: options, trails: findTrails, scratch: own, into: &q)
        }
        q.startOver()
        if let model = extractor.background {
            q.background = Double(model.global)
            q.noise = Double(model.globalRMS)
            q.backgroundGradient = Double((model.levelMesh.max() ?? 0) - (model.levelMesh.min() ?? 0))
        }
        if let zp = options.zeroPoint, let scale = options.pixelScale {
            q.skyMagnitudesPerSquareArcsec = SkyBrightness.magnitudesPerSquareArcsecond(
                background: q.background, pedestal: options.pedestal, exposure: options.exposure ?? 1,
                zeroPoint: zp, pixelScale: scale)
        }
        // An all-sky camera (a sky circle, or the all-sky layout): its sky's brightness pattern.
        var allSky = options.skyCircle != nil
        if case .allSky = options.regionLayout { allSky = true }
        if allSky, let model = extractor.background {
            q.skyGlow = SkyGlow(background: model, circle: options.skyCircle ?? RegionMap.defaultSkyCircle(width: w, height: h))
        }
        q.sources = catalog.count
        catalog.sources.withUnsafeBufferPointer { sources in
            judgeSources(sources, image: image, extractor: extractor, options: options, trails: findTrails, scratch: scratch, into: &q)
        }
        var flags: [String] = []
        swap(&flags, &q.flags)   // q's own buffer, not shared with the copy of q that `score` reads
        q.score = score(q, options, flags: &flags)
        if q.hotPixelsTruncated { flags.append("hot_pixels_truncated") }
        if q.badColumnsTruncated { flags.append("bad_columns_truncated") }
        if q.trailsTruncated { flags.append("trails_truncated") }
        swap(&flags, &q.flags)
        q.verdict = q.score >= 70 ? "good" : (q.score >= 40 ? "medium" : "bad")
    }

    /// Flags that keep a source out of the stars, and out of the cosmic rays (made once: an
    /// option-set literal builds an array).
    private static let unusableForStars: SourceFlags = [.saturated, .truncated, .blended, .nearEdge, .singular]
    private static let spoilsCosmicRays: SourceFlags = [.saturated, .truncated, .nearEdge]

    /// The measurements from the catalogue and the maps (all but the score).
    private static func judgeSources(_ sources: UnsafeBufferPointer<Source>, image: ImageView<Float>, extractor: SourceExtractor,
                                     options: QualityOptions, trails findTrails: Bool, scratch: QualityScratch, into q: inout FrameQuality) {
        let w = image.width, h = image.height
        let unusable = unusableForStars
        func inSky(_ s: Source) -> Bool { options.skyCircle.map { $0.contains(s.x, s.y) } ?? true }
        var count = 0
        for (i, s) in sources.enumerated()
        where s.flags.isDisjoint(with: unusable) && s.flux > 10 * s.fluxError && s.fwhm.isFinite && s.fwhm > 0.7 && inSky(s) {
            scratch.stars[count] = Int32(i); count += 1
        }
        let stars = UnsafeBufferPointer(rebasing: scratch.stars[0..<count])
        q.stars = count
        let values = scratch.values
        func all(_ s: Source) -> Bool { true }
        /// The median of `value` over the stars that pass `keep` (reorders the scratch values).
        func median(_ keep: (Source) -> Bool, _ value: (Source) -> Double) -> Double {
            var n = 0
            for i in stars where keep(sources[Int(i)]) { values[n] = value(sources[Int(i)]); n += 1 }
            return selectionMedian(UnsafeMutableBufferPointer(rebasing: values[0..<n]))
        }
        // Seeing from the bright stars: the width of faint ones is biased up by noise.
        let brightCount = stars.count { sources[Int($0)].flux > 50 * sources[Int($0)].fluxError }
        let seeingCut = brightCount >= 5 ? 50.0 : 20.0
        let seeingCount = stars.count { sources[Int($0)].flux > seeingCut * sources[Int($0)].fluxError }
        if count > 0 {
            q.fwhmPx = seeingCount == 0 ? median(all, { $0.fwhm }) : median({ $0.flux > seeingCut * $0.fluxError }, { $0.fwhm })
            if let scale = options.pixelScale { q.fwhmArcsec = q.fwhmPx * scale }
            q.ellipticity = median(all, { $0.ellipticity })
            q.halfFluxRadius = median({ $0.halfFluxRadius.isFinite }, { $0.halfFluxRadius })
            var cx = 0.0, cy = 0.0
            for i in stars { let s = sources[Int(i)]; cx += s.ellipticity * cos(2 * s.theta); cy += s.ellipticity * sin(2 * s.theta) }
            cx /= Double(count); cy /= Double(count)
            q.ellipticityCoherence = q.ellipticity > 0 ? min(1, (cx * cx + cy * cy).squareRoot() / q.ellipticity) : 0
        }
        // Cosmic rays: detections of two or more pixels far narrower than the stars across their
        // minor axis (a hit deposits its charge in a pixel or two across, whatever its length; a
        // star is as wide as the seeing every way), at S/N 10 or more. Their FWHM is often not
        // measurable, so the minor-axis rms is the test. A hit on a single pixel is also a hot
        // pixel to a single frame (the calibration's bad-pixel mask tells them apart).
        let starMinor = median({ $0.b.isFinite }, { $0.b })
        if starMinor.isFinite && q.stars >= options.minimumStars {
            q.cosmicRays = sources.count {
                $0.b.isFinite && $0.b < min(0.75 * starMinor, CosmicRayRule.maximumMinorAxis) && $0.area >= 2
                    && $0.flux > 10 * $0.fluxError && $0.flags.isDisjoint(with: spoilsCosmicRays)
            }
        }
        extractor.withMaps { sub, rms in
            q.hotPixelsTruncated = findHotPixels(sub, rms, noiseFloor: Float(0.25 * q.noise), width: w, height: h, into: &q.hotPixelPositions)
            q.hotPixels = q.hotPixelPositions.count
            q.ringFraction = ringFraction(sources, stars, sub, width: w, height: h)
            q.badColumnsTruncated = BadColumnFinder.find(sub, image: image, noise: Float(q.noise), saturation: options.saturation,
                                                         settings: options.badColumns, workspace: scratch.badColumns,
                                                         into: &q.badColumns, limit: maxBadColumns)
            // Clouds: every unsaturated point source at S/N >= 10, blended or not (a crowded ring counts).
            var cloudCount = 0
            for (i, s) in sources.enumerated()
            where !s.flags.contains(.saturated) && s.flux > 10 * s.fluxError && s.fwhm.isFinite && s.fwhm > 0.7 && inSky(s) {
                scratch.cloudStars[cloudCount] = Int32(i); cloudCount += 1
            }
            scratch.clouds.update(stars: sources, indices: UnsafeBufferPointer(rebasing: scratch.cloudStars[0..<cloudCount]),
                                  hotPixels: q.hotPixelPositions, fwhm: q.fwhmPx, rms: rms, noiseFloor: 0.25 * q.noise,
                                  width: w, height: h, options: options,
                                  map: scratch.regionMap(options: options, width: w, height: h), samples: scratch.regionSamples,
                                  glow: q.skyGlow)
            let clouds = scratch.clouds
            q.clearBySkyGlow = clouds.clearBySkyGlow
            q.regionStars.append(contentsOf: clouds.stars); q.regionNoise.append(contentsOf: clouds.noise)
            q.regionExpectedStars.append(contentsOf: clouds.expected)
            q.regionJudged.append(contentsOf: clouds.judged); q.regionCloudy.append(contentsOf: clouds.cloudy)
            q.cloudFraction = clouds.cloudFraction
        }
        var saturated = 0
        for y in 0..<h { let row = image.row(y); for x in 0..<w where row[x] >= options.saturation { saturated += 1 } }
        q.saturatedFraction = Double(saturated) / Double(max(1, w * h))
        guard findTrails else { return }
        // The seeing a trail's width is held to, when enough stars give it.
        let seeing = q.stars >= options.minimumStars ? q.fwhmPx : .nan
        q.trailsTruncated = extractor.trails(width: w, height: h, into: &scratch.trailPieces, limit: maxTrailPieces)
        extractor.withMaps { sub, _ in
            for t in scratch.trailPieces {
                // A trail must cross the sky, not run along its edge.
                if let c = options.skyCircle {
                    let inner = SkyCircle(x: c.x, y: c.y, radius: 0.95 * c.radius)
                    guard inner.contains(0.5 * (t.x0 + t.x1), 0.5 * (t.y0 + t.y1)) else { continue }
                }
                let ws = scratch.trailProfile
                guard let m = TrailProfile.measure(t, subtracted: sub, width: w, height: h, workspace: ws),
                      TrailProfile.isTrail(width: m.width, ridge: UnsafeBufferPointer(rebasing: ws.ridge[0..<m.sections]),
                                           sectionLength: m.sectionLength, seeing: seeing) else { continue }
                if q.trails.count < maxTrails { q.trails.append(t) } else { q.trailsTruncated = true }
            }
        }
    }

    /// The rule: start at 100 and subtract
    /// - 60 when fewer than `minimumStars` usable stars ("few_stars");
    /// - 40 x (FWHM / goodFWHM - 1), at most 40, when seeing is worse than goodFWHM ("poor_seeing");
    /// - 100 x (ellipticity - goodEllipticity), at most 30 ("elongated"), and 20 more when the
    ///   elongation is coherent across the frame, coherence > 0.6 ("tracking");
    /// - 30 when the median half-flux radius exceeds defocusHFR (of at least `minimumFocusStars` stars) or
    ///   over half the bright stars are rings ("defocus");
    /// - 50 x cloud fraction ("clouds" when above 0.25), and a cloudy frame is at best medium
    ///   (score at most 69 above 0.25) and bad above 0.5 (at most 39);
    /// - 10 per trail, at most 20 ("trail"); 10 when over 1% of pixels are saturated ("saturation").
    /// Hot pixels, cosmic rays and bad columns are flagged (> 100, > 50, any) but cost nothing: calibration removes them.
    /// All-sky frames whose stars cannot judge the cloud are judged clear, all regions, when the sky's
    /// brightness pattern says so (`SkyGlow.looksClear`; "clear_by_sky_glow").
    /// "clouds_unknown" when too few regions expect enough stars to judge their cloud (twilight, moonlight, a very
    /// short exposure; see `CloudRule`): the cloud fraction is then 0 and costs nothing.
    /// With fewer than `minimumStars` stars the seeing and shape are not judged (what few
    /// detections there are may be no stars: a lit cloud edge, the moon, a lamp), so none of
    /// "poor_seeing", "elongated" or "tracking" is flagged or costs anything. Focus still is:
    /// a badly defocused frame shows few stars because they are donuts.
    /// Verdict: good >= 70, medium >= 40, bad below.
    public static func score(_ q: FrameQuality, _ o: QualityOptions) -> (Int, [String]) {
        var flags: [String] = []
        let s = score(q, o, flags: &flags)
        return (s, flags)
    }

    /// `score(_:_:)` with its flags appended to `flags` (no allocation when it has room for them).
    static func score(_ q: FrameQuality, _ o: QualityOptions, flags: inout [String]) -> Int {
        var s = 100.0
        let starsJudged = q.stars >= o.minimumStars
        if !starsJudged { s -= 60; flags.append("few_stars") }
        if starsJudged && q.fwhmPx.isFinite && q.fwhmPx > o.goodFWHM {
            s -= min(40, 40 * (q.fwhmPx / o.goodFWHM - 1)); flags.append("poor_seeing")
        }
        if starsJudged && q.ellipticity.isFinite && q.ellipticity > o.goodEllipticity {
            s -= min(30, 100 * (q.ellipticity - o.goodEllipticity)); flags.append("elongated")
            if q.ellipticityCoherence > 0.6 { s -= 20; flags.append("tracking") }
        }
        if (q.stars >= o.minimumFocusStars && q.halfFluxRadius.isFinite && q.halfFluxRadius > o.defocusHFR) || q.ringFraction > 0.5 {
            s -= 30; flags.append("defocus")
        }
        s -= 50 * q.cloudFraction
        if q.cloudFraction > 0.25 { flags.append("clouds"); s = min(s, q.cloudFraction > 0.5 ? 39 : 69) }
        if !q.trails.isEmpty { s -= min(20, 10 * Double(q.trails.count)); flags.append("trail") }
        if q.saturatedFraction > 0.01 { s -= 10; flags.append("saturation") }
        if q.hotPixels > 100 { flags.append("hot_pixels") }
        if q.cosmicRays > 50 { flags.append("cosmic_rays") }
        if !q.badColumns.isEmpty { flags.append("bad_columns") }
        if q.clearBySkyGlow { flags.append("clear_by_sky_glow") }
        let judged = q.regionJudged.count { $0 }
        if !q.regionJudged.isEmpty && !o.cloudRule.enoughJudged(judged, of: q.regionJudged.count) {
            flags.append("clouds_unknown")
        }
        return max(0, min(100, Int(s.rounded())))
    }

    /// Single pixels far above the sky whose neighbours are all much fainter
    /// (a star, even sharp, spreads over its neighbours).
    /// `noiseFloor`: the least rms believed; SExtractor's spline rms map undershoots, even below
    /// zero, where the sky changes fast (a twilight frame's edge), and every pixel there would
    /// look hot against it.
    static func findHotPixels(_ sub: UnsafeBufferPointer<Float>, _ rms: UnsafeBufferPointer<Float>, noiseFloor: Float,
                              width w: Int, height h: Int, into found: inout [(x: Int, y: Int)]) -> Bool {
        found.removeAll(keepingCapacity: true)
        guard w >= 3, h >= 3 else { return false }
        var truncated = false
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                let p = y * w + x
                let v = sub[p]
                guard v > 10 * max(rms[p], noiseFloor) else { continue }
                var brightest: Float = -.infinity
                for dy in -1...1 { for dx in -1...1 where dx != 0 || dy != 0 { brightest = max(brightest, sub[p + dy * w + dx]) } }
                if brightest < 0.2 * v {
                    if found.count < maxHotPixels { found.append((x, y)) } else { truncated = true }
                }
            }
        }
        return truncated
    }

    /// Fraction of bright stars (S/N > 50) whose central pixel is fainter than
    /// the mean at their half-flux radius: the donut of a defocused reflector.
    static func ringFraction(_ sources: UnsafeBufferPointer<Source>, _ stars: UnsafeBufferPointer<Int32>,
                             _ sub: UnsafeBufferPointer<Float>, width w: Int, height h: Int) -> Double {
        var bright = 0, rings = 0
        for i in stars {
            let s = sources[Int(i)]
            guard s.flux > 50 * s.fluxError && s.halfFluxRadius.isFinite && s.halfFluxRadius >= 2 else { continue }
            let cx = Int(s.x.rounded()), cy = Int(s.y.rounded())
            let r = s.halfFluxRadius
            guard cx - Int(r) - 1 >= 0, cy - Int(r) - 1 >= 0, cx + Int(r) + 1 < w, cy + Int(r) + 1 < h else { continue }
            bright += 1
            var ring = 0.0, n = 0.0
            for k in 0..<16 {
                let a = Double(k) * .pi / 8
                let x = Int((s.x + r * cos(a)).rounded()), y = Int((s.y + r * sin(a)).rounded())
                ring += Double(sub[y * w + x]); n += 1
            }
            if Double(sub[cy * w + cx]) < ring / n { rings += 1 }
        }
        return bright > 0 ? Double(rings) / Double(bright) : 0
    }

    /// cloudynight's region of a point: 0 for the central disc, then ring by ring, sector by sector; nil outside.
    static func allSkyRegion(x: Double, y: Double, circle c: SkyCircle, rings: Int, sectors: Int) -> Int? {
        let dx = x - c.x, dy = y - c.y
        let r = (dx * dx + dy * dy).squareRoot()
        let step = c.radius / Double(rings + 1)
        guard r < c.radius else { return nil }
        if r < step { return 0 }
        let ring = min(rings, Int(r / step))
        let angle = atan2(dy, dx)
        let sector = min(sectors - 1, max(0, Int((angle + .pi) / (2 * .pi) * Double(sectors))))
        return (ring - 1) * sectors + sector + 1
    }

    static func median(_ v: [Double]) -> Double {
        var copy = v
        return copy.withUnsafeMutableBufferPointer { selectionMedian($0) }
    }
}
