import Foundation
import SkyCore
import SkyImage

/// One line of the simulated-truth table: what the simulator put in, what the
/// quality judgement measured, and whether that meets the target.
public struct TruthCheck: Sendable, Equatable {
    public var name: String
    public var truth: String
    public var measured: String
    public var target: String
    public var passed: Bool
}

/// The quality judgement run on simulated frames whose truth is known (what real data
/// cannot give: seeing, defocus, tracking error, trails, hot pixels, bad columns and sky
/// brightness that are exactly known). Shared by the tests and `skydiag quality-truth`.
public enum SimulatedQualityChecks {
    public struct Judged: Sendable {
        public let quality: FrameQuality
        public let sources: [Source]
        public let frame: SimulatedFrame
        public let camera: CameraModel
        public let rms: Double
    }

    public static let field = SkyScene(seed: 5, starsPerSquareDegree: 6000, brightestMagnitude: 10, faintestMagnitude: 17)

    /// Renders and judges one frame as the site would (saturation from the camera).
    public static func judge(_ conditions: FrameConditions, camera: CameraModel = CameraModel(width: 512, height: 512).withoutDefects(),
                             scene: SkyScene = field, clean: Bool = true,
                             adjust: (inout QualityOptions) -> Void = { _ in }) throws -> Judged {
        let sim = try SkySimulator(scene: scene, camera: camera)
        let (raw, frame) = try sim.render(conditions)
        let image = OwnedImage<Float>(width: raw.width, height: raw.height, fill: 0)
        for i in 0..<raw.storage.count { image.storage[i] = Float(raw.storage[i]) }
        var options = ExtractionOptions()
        options.saturation = Float(camera.saturationADU)
        options.clean = clean
        let extractor = SourceExtractor(maxWidth: raw.width, maxHeight: raw.height, options: options)
        var quality = QualityOptions()
        quality.saturation = options.saturation
        quality.exposure = conditions.exposure
        adjust(&quality)
        let (q, catalog) = try image.withView { view in
            let catalog = try extractor.extract(view)
            return (FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: quality), catalog)
        }
        return Judged(quality: q, sources: catalog.sources, frame: frame, camera: camera,
                      rms: Double(extractor.background?.globalRMS ?? .nan))
    }

    /// Every check, in table order.
    public static func all() throws -> [TruthCheck] {
        var rows: [TruthCheck] = []
        for (fwhm, beta) in [(2.5, 3.0), (4.0, 3.0), (2.5, 4.765), (4.0, 4.765)] { rows.append(try seeing(fwhm: fwhm, beta: beta)) }
        rows.append(try defocus())
        rows.append(try tracking())
        rows.append(try recovery())
        rows.append(try trail())
        rows.append(try hotPixels())
        rows.append(try cosmicRays())
        for seed in [21, 22, 23] as [UInt64] { rows.append(try badColumns(cameraSeed: seed)) }
        rows.append(try cleanFramesHaveNoBadColumns())
        for sky in [18.0, 20.5] { rows.append(try skyBrightness(magnitude: sky)) }
        return rows
    }

    static func format(_ v: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", v) }

    public static func seeing(fwhm: Double, beta: Double) throws -> TruthCheck {
        var c = FrameConditions(seed: 2, fwhmPixels: fwhm, moffatBeta: beta, cosmicRayRate: 0)
        c.transientsEnabled = false
        let q = try judge(c).quality
        let ok = q.stars >= 20 && abs(q.fwhmPx / fwhm - 1) <= 0.05
        return TruthCheck(name: "FWHM (Moffat beta \(format(beta, 2)))", truth: "\(format(fwhm, 2)) px",
                          measured: "\(format(q.fwhmPx)) px (\(format(100 * (q.fwhmPx / fwhm - 1), 1))%)", target: "within 5%", passed: ok)
    }

    public static func defocus() throws -> TruthCheck {
        var c = FrameConditions(seed: 4, fwhmPixels: 2.5, cosmicRayRate: 0)
        c.defocus = Defocus(outerDiameterPixels: 16, obstruction: 0.4)
        c.transientsEnabled = false
        let q = try judge(c).quality
        return TruthCheck(name: "defocus", truth: "donut 16 px, obstruction 0.4",
                          measured: "HFR \(format(q.halfFluxRadius, 2)) px, rings \(format(q.ringFraction, 2)), \(q.verdict)",
                          target: "flag defocus, not good", passed: q.flags.contains("defocus") && q.verdict != "good")
    }

    public static func tracking() throws -> TruthCheck {
        var c = FrameConditions(seed: 6, fwhmPixels: 2.5, cosmicRayRate: 0)
        c.trackingDrift = PixelVector(dx: 7, dy: 3)
        c.transientsEnabled = false
        let q = try judge(c).quality
        return TruthCheck(name: "tracking error", truth: "drift (7, 3) px",
                          measured: "e \(format(q.ellipticity, 2)), coherence \(format(q.ellipticityCoherence, 2)), trails \(q.trails.count)",
                          target: "flag tracking, no trail", passed: q.flags.contains("tracking") && q.trails.isEmpty)
    }

    /// Isolated stars (no brighter star within 2.5 FWHM) at S/N >= 10 in an optimal aperture,
    /// found within 1.5 px. Without SExtractor's cleaning, which by design drops faint stars in
    /// the wings of bright ones.
    public static func recovery() throws -> TruthCheck {
        var c = FrameConditions(seed: 3, fwhmPixels: 3, moffatBeta: 4.765, cosmicRayRate: 0)
        c.transientsEnabled = false
        let j = try judge(c, clean: false)
        let r = recoveryCounts(j, fwhm: 3)
        let fraction = Double(r.isolatedFound) / Double(max(1, r.isolated))
        return TruthCheck(name: "star recovery above 10 sigma", truth: "\(r.isolated) isolated stars",
                          measured: "\(r.isolatedFound) found (\(format(100 * fraction, 1))%); all \(r.allFound) of \(r.all)",
                          target: ">= 98%", passed: r.isolated >= 50 && fraction >= 0.98)
    }

    public static func recoveryCounts(_ j: Judged, fwhm: Double) -> (isolated: Int, isolatedFound: Int, all: Int, allFound: Int) {
        let truth = j.frame.truth.stars.filter(\.inFrame)
        let w = Double(j.camera.width), h = Double(j.camera.height)
        // S/N of a star in an optimal PSF-sized aperture: flux / (rms sqrt(4 pi sigma^2)).
        let sigma = fwhm / 2.3548
        let noiseArea = (4 * Double.pi * sigma * sigma).squareRoot()
        var all = 0, allFound = 0, isolated = 0, isolatedFound = 0
        for s in truth where !s.saturated && s.fluxADU / (j.rms * noiseArea) >= 10 {
            guard s.position.x > 5, s.position.y > 5, s.position.x < w - 6, s.position.y < h - 6 else { continue }
            func brighterWithin(_ r: Double) -> Bool {
                truth.contains { o in
                    o.catalogIndex != s.catalogIndex && o.fluxADU > s.fluxADU
                        && hypot(o.position.x - s.position.x, o.position.y - s.position.y) < r
                }
            }
            // Within 3 px of a brighter star it is one source to any detector.
            if brighterWithin(3) { continue }
            let found = j.sources.contains { hypot($0.x - s.position.x, $0.y - s.position.y) < 1.5 }
            all += 1; if found { allFound += 1 }
            if !brighterWithin(2.5 * fwhm) { isolated += 1; if found { isolatedFound += 1 } }
        }
        return (isolated, isolatedFound, all, allFound)
    }

    public static func trail() throws -> TruthCheck {
        var c = FrameConditions(seed: 9, fwhmPixels: 2.5, cosmicRayRate: 0, satelliteCount: 1)
        c.transientsEnabled = false
        let j = try judge(c)
        let q = j.quality
        guard let t = j.frame.truth.trails.first?.path else {
            return TruthCheck(name: "satellite trail", truth: "none rendered", measured: "-", target: "found", passed: false)
        }
        let ok = q.trails.count == 1 && q.trails.first.map { f in
            distance(t, f.x0, f.y0) < 3 && distance(t, f.x1, f.y1) < 3 && f.length > 0.8 * t.length
        } == true
        let found = q.trails.map { "(\(Int($0.x0)),\(Int($0.y0)))-(\(Int($0.x1)),\(Int($0.y1)))" }.joined(separator: " ")
        return TruthCheck(name: "satellite trail",
                          truth: "(\(Int(t.start.x)),\(Int(t.start.y)))-(\(Int(t.end.x)),\(Int(t.end.y)))",
                          measured: found.isEmpty ? "none" : found, target: "one, ends within 3 px of the line", passed: ok)
    }

    static func distance(_ s: LineSegment, _ x: Double, _ y: Double) -> Double {
        let dx = s.end.x - s.start.x, dy = s.end.y - s.start.y
        let l = (dx * dx + dy * dy).squareRoot()
        guard l > 0 else { return hypot(x - s.start.x, y - s.start.y) }
        return abs(dy * (x - s.start.x) - dx * (y - s.start.y)) / l
    }

    public static func hotPixels() throws -> TruthCheck {
        var camera = CameraModel(width: 512, height: 512)
        camera.vignetting = 0; camera.dustDonutCount = 0; camera.badColumnCount = 0
        var c = FrameConditions(exposure: 60, seed: 8, fwhmPixels: 2.5, cosmicRayRate: 0)
        c.transientsEnabled = false
        c.flatFieldEnabled = false
        let j = try judge(c, camera: camera)
        // Hot pixels that stand 20 sigma above the sky in this exposure.
        let bright = j.frame.truth.hotPixels.filter { $0.darkRate * 60 / camera.gain > 20 * j.rms }
        let found = Set(j.quality.hotPixelPositions.map { $0.y * camera.width + $0.x })
        let hits = bright.filter { found.contains($0.y * camera.width + $0.x) }.count
        return TruthCheck(name: "hot pixels (> 20 sigma)", truth: "\(bright.count)", measured: "\(hits) found, \(found.count) reported",
                          target: ">= 90% found", passed: bright.count >= 5 && Double(hits) >= 0.9 * Double(bright.count))
    }

    /// Hits of two or more pixels above 30 sigma are counted, single-pixel ones may be (a
    /// single frame takes them for hot pixels); a frame without hits shows none.
    public static func cosmicRays() throws -> TruthCheck {
        var camera = CameraModel(width: 512, height: 512)
        camera.vignetting = 0; camera.dustDonutCount = 0; camera.badColumnCount = 0; camera.hotPixelFraction = 0
        func frame(rate: Double) throws -> Judged {
            var c = FrameConditions(exposure: 60, seed: 9, fwhmPixels: 3, cosmicRayRate: rate)
            c.transientsEnabled = false; c.flatFieldEnabled = false
            return try judge(c, camera: camera)
        }
        let hit = try frame(rate: 2), clean = try frame(rate: 0)
        let bright = hit.frame.truth.cosmicRays.filter { $0.totalElectrons / camera.gain > 30 * hit.rms }
        let multi = bright.filter { $0.kind != .single }.count
        let counted = hit.quality.cosmicRays
        return TruthCheck(name: "cosmic rays (> 30 sigma)", truth: "\(bright.count) hits, \(multi) of 2+ pixels; none on a clean frame",
                          measured: "\(counted) counted; \(clean.quality.cosmicRays) on the clean frame",
                          target: ">= 90% of 2+ pixel hits, <= all hits, 0 clean",
                          passed: multi >= 5 && Double(counted) >= 0.9 * Double(multi) && counted <= bright.count
                              && clean.quality.cosmicRays == 0)
    }

    /// Columns the finder can see: at least 3 blocks of 64 rows affected (a column spoiled only
    /// near its far end gives too few rows to tell from noise), 8 or more columns from the edges.
    public static func badColumns(cameraSeed: UInt64) throws -> TruthCheck {
        let r = try badColumnMatch(cameraSeed: cameraSeed)
        return TruthCheck(name: "bad columns (camera seed \(cameraSeed))",
                          truth: "\(r.findable) of \(r.truth) findable: x \(r.truthColumns)",
                          measured: "\(r.found) found: x \(r.foundColumns)",
                          target: "all findable, right sign and start, no others",
                          passed: r.findable > 0 && r.matched == r.findable && r.falsePositives == 0)
    }

    public struct BadColumnMatch: Sendable {
        public var truth = 0, findable = 0, found = 0, matched = 0, falsePositives = 0
        public var truthColumns: [Int] = [], foundColumns: [Int] = []
    }

    public static func badColumnMatch(cameraSeed: UInt64) throws -> BadColumnMatch {
        var camera = CameraModel(width: 512, height: 512, seed: cameraSeed)
        camera.badColumnCount = 6
        var c = FrameConditions(exposure: 60, seed: cameraSeed, fwhmPixels: 2.5, cosmicRayRate: 0.1)
        c.transientsEnabled = false
        let j = try judge(c, camera: camera)
        var r = BadColumnMatch()
        let truth = j.frame.truth.badColumns
        r.truth = truth.count
        r.truthColumns = truth.map(\.x)
        r.found = j.quality.badColumns.count
        r.foundColumns = j.quality.badColumns.map(\.x)
        // The 8 columns at each edge lack neighbours on one side and are not judged.
        for t in truth where t.rows.count >= 3 * 64 && t.x >= 8 && t.x < camera.width - 8 {
            r.findable += 1
            let hit = j.quality.badColumns.contains { f in
                f.x == t.x && (t.kind == .hot ? f.offset > 0 : f.offset < 0) && abs(f.y0 - t.rows.lowerBound) <= 64
            }
            if hit { r.matched += 1 }
        }
        r.falsePositives = j.quality.badColumns.filter { f in !truth.contains { $0.x == f.x } }.count
        return r
    }

    /// Perfect sensors under varied skies (gradient, clouds, a trail, bright stars): nothing to find.
    public static func cleanFramesHaveNoBadColumns() throws -> TruthCheck {
        var reported: [Int] = []
        for seed in [31, 32, 33] as [UInt64] {
            var c = FrameConditions(exposure: 60, seed: seed, fwhmPixels: 3, cosmicRayRate: 0.1, satelliteCount: seed == 32 ? 1 : 0)
            if seed == 31 { c.skyGradient = SkyGradient(amplitude: 0.3, angleDegrees: 20) }
            if seed == 33 { c.clouds = Clouds(coverage: 0.5, opacity: 0.6, scalePixels: 120) }
            let scene = SkyScene(seed: seed, starsPerSquareDegree: 6000, brightestMagnitude: 7, faintestMagnitude: 17)
            reported += try judge(c, scene: scene).quality.badColumns.map(\.x)
        }
        return TruthCheck(name: "bad columns on clean sensors", truth: "none (3 frames)", measured: reported.isEmpty ? "none" : "x \(reported)",
                          target: "none", passed: reported.isEmpty)
    }

    /// The sky above bias in mag/arcsec², with the zero point in ADU (the camera's electron
    /// zero point less 2.5 log10 gain) and the bias as the pedestal.
    public static func skyBrightness(magnitude: Double) throws -> TruthCheck {
        var camera = CameraModel(width: 512, height: 512).withoutDefects()
        camera.darkCurrent = 0
        var c = FrameConditions(exposure: 45, seed: 12, fwhmPixels: 2.5, skyBrightness: magnitude, cosmicRayRate: 0)
        c.transientsEnabled = false
        let j = try judge(c, camera: camera) { o in
            o.zeroPoint = camera.zeroPoint - 2.5 * log10(camera.gain)
            o.pedestal = camera.biasADU
            o.pixelScale = camera.pixelScaleArcsec
        }
        let m = j.quality.skyMagnitudesPerSquareArcsec ?? .nan
        return TruthCheck(name: "sky brightness", truth: "\(format(magnitude, 2)) mag/arcsec²", measured: "\(format(m)) mag/arcsec²",
                          target: "within 0.03 mag", passed: abs(m - magnitude) <= 0.03)
    }
}
