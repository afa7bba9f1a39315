import ArgumentParser
import Foundation
import SkyImage

/// `skydiag quality FILE [--json]`: the site's quality judgement of one frame.
struct QualityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Judge a frame: background, noise, stars, seeing, shape, focus, defects, trails, clouds, score.",
        discussion: "The score rule is documented in FrameQualityJudge.score (SkyImage/FrameQuality.swift).")

    @Argument(help: "FITS file (.fits, .fit, .fits.gz, .fz).")
    var file: String

    @Option(help: "HDU number, 1-based (primary = 1). Default: the first image HDU.")
    var hdu: Int?

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(name: .customLong("pixel-scale"), help: "Arcsec per pixel (default: from the WCS when present).")
    var pixelScale: Double?

    @Option(name: .customLong("sky-circle"), help: "All-sky frames: X,Y,R of the sky circle (0-based pixels).")
    var skyCircle: String?

    @Option(name: .customLong("regions"), help: "Cloud regions: 'grid' (4 x 4) or 'allsky' (central disc + 4 rings x 8 sectors in the sky circle).")
    var regions = "grid"

    @Option(name: .customLong("clear-reference"), help: "A clear frame of the same field and camera: regions with under --cloudy-fraction of the stars it shows, held to this frame's depth, are cloudy.")
    var clearReference: String?

    @Option(name: .customLong("cloudy-fraction"), help: "A judged region is cloudy below this fraction of the stars it expects (default 0.3).")
    var cloudyFraction: Double?

    @Option(name: .customLong("min-expected-stars"), help: "Regions expecting fewer stars than this are not judged for cloud (default 3).")
    var minimumExpectedStars: Double?

    @Option(name: .customLong("background-box"), help: "Background mesh box in pixels (default 64; 32 suits all-sky frames, whose sky changes fast across the frame).")
    var backgroundBox = 64

    @Option(name: .customLong("zero-point"), help: "Magnitude that gives 1 ADU per second above the pedestal: reports the sky in mag/arcsec² (needs a pixel scale).")
    var zeroPoint: Double?

    @Option(help: "Bias level still in the frame, ADU (default 0: a calibrated frame).")
    var pedestal = 0.0

    @Option(help: "Threads for extraction and trails (row bands, object chunks), the caller included.")
    var threads = 1

    @Flag(help: "Print 'timing SECONDS extract E judge J' (after the file is read) to stderr.")
    var timing = false

    @Option(help: "With --timing: judge the frame this many times and report the median run.")
    var repeats = 1

    func run() throws {
        do {
            let fits = try FITSFile.open(file)
            defer { fits.close() }
            let info = try fits.image(hdu.map { .index($0) } ?? .firstImage)
            let meta = try fits.metadata(hdu: .index(info.index))
            let image = try fits.readFloat(hdu: .index(info.index))
            var extraction = ExtractionOptions()
            extraction.saturation = Float(meta.saturation ?? (info.isUnsigned16 ? 65535 : .infinity))
            extraction.gain = meta.gain ?? 0
            guard (8...1024).contains(backgroundBox) else { throw DiagFailure("--background-box wants 8...1024, got \(backgroundBox)") }
            let background = BackgroundOptions(box: backgroundBox)
            var options = QualityOptions()
            options.saturation = extraction.saturation
            options.exposure = meta.exptime
            options.zeroPoint = zeroPoint
            options.pedestal = pedestal
            if let f = cloudyFraction { options.cloudRule.cloudyFraction = f }
            if let n = minimumExpectedStars { options.cloudRule.minimumExpectedStars = n }
            options.pixelScale = pixelScale ?? meta.wcs.map { w in (abs(w.cd11 * w.cd22 - w.cd12 * w.cd21)).squareRoot() * 3600 }
            if let text = skyCircle {
                let v = text.split(separator: ",").compactMap { Double($0) }
                guard v.count == 3, v[2] > 0 else { throw DiagFailure("--sky-circle wants X,Y,R, got \(text)") }
                options.skyCircle = SkyCircle(x: v[0], y: v[1], radius: v[2])
            }
            guard let layout = RegionLayout(name: regions) else { throw DiagFailure("--regions is grid or allsky, got \(regions)") }
            options.regionLayout = layout
            if let path = clearReference {
                let ref = try FITSFile.open(path)
                defer { ref.close() }
                let refImage = try ref.readFloat()
                let refExposure = try ref.metadata().exptime ?? meta.exptime ?? 1
                let refExtractor = SourceExtractor(maxWidth: refImage.width, maxHeight: refImage.height, options: extraction,
                                                   background: background)
                var refOptions = options
                refOptions.exposure = refExposure
                let refQuality = try refImage.withView { view -> FrameQuality in
                    let catalog = try refExtractor.extract(view)
                    // Only its region stars and noise are used: no trail search.
                    return FrameQualityJudge.judge(view, extractor: refExtractor, catalog: catalog, options: refOptions, trails: false)
                }
                guard let reference = ClearSkyReference(clear: refQuality, layout: options.regionLayout, exposure: refExposure) else {
                    throw DiagFailure("\(path): no stars or no exposure time to serve as a clear reference")
                }
                options.clearReference = reference
            }
            let extractor = SourceExtractor(maxWidth: image.width, maxHeight: image.height, options: extraction, background: background,
                                            threads: threads)
            // With --timing and --repeats: the median run (the extractor's scratch reused, as at a site).
            var runs: [(total: Double, extract: Double, judge: Double, trails: Double)] = []
            var judged: FrameQuality?
            for _ in 0..<max(1, timing ? repeats : 1) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                var t1 = t0
                judged = try image.withView { view -> FrameQuality in
                    let catalog = try extractor.extract(view)
                    t1 = DispatchTime.now().uptimeNanoseconds
                    return FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: options)
                }
                let t2 = DispatchTime.now().uptimeNanoseconds
                var trailSeconds = 0.0
                if timing {   // the trail search again, timed alone (judge ran it once already)
                    let t3 = DispatchTime.now().uptimeNanoseconds
                    _ = extractor.trails(width: image.width, height: image.height)
                    trailSeconds = Double(DispatchTime.now().uptimeNanoseconds - t3) / 1e9
                }
                runs.append((Double(t2 - t0) / 1e9, Double(t1 - t0) / 1e9, Double(t2 - t1) / 1e9, trailSeconds))
            }
            if timing {
                let r = runs.sorted { $0.total < $1.total }[runs.count / 2]
                let st = extractor.stageSeconds
                FileHandle.standardError.write(Data(("timing \(r.total) extract \(r.extract) judge \(r.judge) (of which trails \(r.trails)) "
                    + "threads \(threads) median of \(runs.count); last extract: background \(st.background) filter \(st.filter) objects \(st.objects)\n").utf8))
            }
            let q = judged!
            print(json ? Self.json(q) : Self.text(q))
        } catch let error as FITSError {
            throw DiagFailure(error.description)
        } catch let error as SourceExtractor.Failure {
            throw DiagFailure(error.description)
        }
    }

    static func number(_ v: Double) -> Any { v.isFinite ? v : NSNull() }

    static func json(_ q: FrameQuality) -> String {
        let object: [String: Any] = [
            "background": number(q.background), "background_gradient": number(q.backgroundGradient),
            "noise": number(q.noise), "sky_mag_arcsec2": q.skyMagnitudesPerSquareArcsec.map(number) ?? NSNull(),
            "bad_columns": q.badColumns.map { ["x": $0.x, "y0": $0.y0, "y1": $0.y1, "offset": $0.offset] },
            "stars": q.stars, "sources": q.sources,
            "fwhm_px": number(q.fwhmPx), "fwhm_arcsec": q.fwhmArcsec.map(number) ?? NSNull(),
            "ellipticity": number(q.ellipticity), "ellipticity_coherence": number(q.ellipticityCoherence),
            "hfr_px": number(q.halfFluxRadius), "ring_fraction": number(q.ringFraction),
            "hot_pixels": q.hotPixels, "cosmic_rays": q.cosmicRays, "saturated_fraction": number(q.saturatedFraction),
            "trails": q.trails.map { ["x0": $0.x0, "y0": $0.y0, "x1": $0.x1, "y1": $0.y1,
                                      "length": $0.length, "angle_deg": $0.angleDegrees] },
            "region_stars": q.regionStars, "region_cloudy": q.regionCloudy, "region_judged": q.regionJudged,
            "region_noise": q.regionNoise.map(number), "region_expected_stars": q.regionExpectedStars.map(number), "cloud_fraction": number(q.cloudFraction),
            "score": q.score, "verdict": q.verdict, "flags": q.flags,
            "sky_glow": q.skyGlow.map { ["roughness": number($0.roughness), "zenith_to_rim": number($0.zenithToRim)] } ?? NSNull(),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func text(_ q: FrameQuality) -> String {
        func f(_ v: Double) -> String { v.isFinite ? String(format: "%.3g", v) : "-" }
        let flags = q.flags.isEmpty ? "" : "  flags: " + q.flags.joined(separator: ", ")
        let arcsec: String = q.fwhmArcsec.map { "  " + f($0) + "\"" } ?? ""
        let saturated: String = f(100 * q.saturatedFraction)
        var lines: [String] = []
        lines.append("verdict   \(q.verdict) (score \(q.score))" + flags)
        let sky: String = q.skyMagnitudesPerSquareArcsec.map { "  sky " + String(format: "%.2f", $0) + " mag/arcsec²" } ?? ""
        lines.append("sky       background \(f(q.background))  gradient \(f(q.backgroundGradient))  noise \(f(q.noise))" + sky)
        lines.append("stars     \(q.stars) usable of \(q.sources) sources; per region \(q.regionStars); cloud fraction \(f(q.cloudFraction))")
        if let g = q.skyGlow {
            lines.append("sky glow  roughness \(f(g.roughness))  zenith/rim \(f(g.zenithToRim))" + (q.clearBySkyGlow ? "  (clear by it)" : ""))
        }
        let shape: String = "  ellipticity \(f(q.ellipticity)) (coherence \(f(q.ellipticityCoherence)))"
        let focus: String = "  HFR \(f(q.halfFluxRadius)) px  rings \(f(q.ringFraction))"
        lines.append("seeing    FWHM \(f(q.fwhmPx)) px" + arcsec + shape + focus)
        lines.append("defects   hot pixels \(q.hotPixels)  cosmic rays \(q.cosmicRays)  saturated " + saturated + "%"
                     + "  bad columns " + (q.badColumns.isEmpty ? "none" : q.badColumns.map { "x=\($0.x) rows \($0.y0)-\($0.y1)" }.joined(separator: ", ")))
        for t in q.trails {
            lines.append(String(format: "trail     (%.1f, %.1f) - (%.1f, %.1f)  length %.1f px  angle %.1f deg", t.x0, t.y0, t.x1, t.y1, t.length, t.angleDegrees))
        }
        return lines.joined(separator: "\n")
    }
}
