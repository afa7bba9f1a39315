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

    @Option(name: .customLong("clear-reference"), help: "A clear frame of the same field and camera: regions with under 30% of its stars are cloudy.")
    var clearReference: String?

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
            var options = QualityOptions()
            options.saturation = extraction.saturation
            options.pixelScale = pixelScale ?? meta.wcs.map { w in (abs(w.cd11 * w.cd22 - w.cd12 * w.cd21)).squareRoot() * 3600 }
            if let text = skyCircle {
                let v = text.split(separator: ",").compactMap { Double($0) }
                guard v.count == 3, v[2] > 0 else { throw DiagFailure("--sky-circle wants X,Y,R, got \(text)") }
                options.skyCircle = SkyCircle(x: v[0], y: v[1], radius: v[2])
            }
            switch regions {
            case "grid": options.regionLayout = .grid
            case "allsky": options.regionLayout = .allSky(rings: 4, sectors: 8)
            default: throw DiagFailure("--regions is grid or allsky, got \(regions)")
            }
            if let path = clearReference {
                let ref = try FITSFile.open(path)
                defer { ref.close() }
                let refImage = try ref.readFloat()
                let refExtractor = SourceExtractor(maxWidth: refImage.width, maxHeight: refImage.height, options: extraction)
                let refQuality = try refImage.withView { view -> FrameQuality in
                    let catalog = try refExtractor.extract(view)
                    return FrameQualityJudge.judge(view, extractor: refExtractor, catalog: catalog, options: options)
                }
                options.clearRegionStars = refQuality.regionStars
            }
            let extractor = SourceExtractor(maxWidth: image.width, maxHeight: image.height, options: extraction, threads: threads)
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
                let t3 = DispatchTime.now().uptimeNanoseconds
                _ = extractor.trails(width: image.width, height: image.height)   // timed alone: part of judge
                let t4 = DispatchTime.now().uptimeNanoseconds
                runs.append((Double(t2 - t0) / 1e9, Double(t1 - t0) / 1e9, Double(t2 - t1) / 1e9, Double(t4 - t3) / 1e9))
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
            "noise": number(q.noise), "stars": q.stars, "sources": q.sources,
            "fwhm_px": number(q.fwhmPx), "fwhm_arcsec": q.fwhmArcsec.map(number) ?? NSNull(),
            "ellipticity": number(q.ellipticity), "ellipticity_coherence": number(q.ellipticityCoherence),
            "hfr_px": number(q.halfFluxRadius), "ring_fraction": number(q.ringFraction),
            "hot_pixels": q.hotPixels, "cosmic_rays": q.cosmicRays, "saturated_fraction": number(q.saturatedFraction),
            "trails": q.trails.map { ["x0": $0.x0, "y0": $0.y0, "x1": $0.x1, "y1": $0.y1,
                                      "length": $0.length, "angle_deg": $0.angleDegrees] },
            "region_stars": q.regionStars, "region_cloudy": q.regionCloudy, "cloud_fraction": number(q.cloudFraction),
            "score": q.score, "verdict": q.verdict, "flags": q.flags,
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
        lines.append("sky       background \(f(q.background))  gradient \(f(q.backgroundGradient))  noise \(f(q.noise))")
        lines.append("stars     \(q.stars) usable of \(q.sources) sources; per region \(q.regionStars); cloud fraction \(f(q.cloudFraction))")
        let shape: String = "  ellipticity \(f(q.ellipticity)) (coherence \(f(q.ellipticityCoherence)))"
        let focus: String = "  HFR \(f(q.halfFluxRadius)) px  rings \(f(q.ringFraction))"
        lines.append("seeing    FWHM \(f(q.fwhmPx)) px" + arcsec + shape + focus)
        lines.append("defects   hot pixels \(q.hotPixels)  cosmic rays \(q.cosmicRays)  saturated " + saturated + "%")
        for t in q.trails {
            lines.append(String(format: "trail     (%.1f, %.1f) - (%.1f, %.1f)  length %.1f px  angle %.1f deg", t.x0, t.y0, t.x1, t.y1, t.length, t.angleDegrees))
        }
        return lines.joined(separator: "\n")
    }
}
