import ArgumentParser
import Foundation
import SkyImage

/// `skydiag sources FILE --csv`: the source catalogue of one frame, for
/// comparison with SExtractor/SEP (Tools/compare_sep.py).
struct SourcesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sources",
        abstract: "Detect and measure sources in a FITS frame (SEP-compatible background and detection).",
        discussion: """
            CSV columns: x,y,flux,flux_err,fwhm,a,b,theta,flags. x and y are 0-based pixel \
            coordinates (windowed centroid), flux is the isophotal sum after background \
            subtraction, theta in radians counter-clockwise from +x. Flags: 1 blended, \
            2 truncated at the border, 4 saturated, 8 aperture crosses the border, \
            16 singular moments, 32 windowed centroid failed.
            """)

    @Argument(help: "FITS file (.fits, .fit, .fits.gz, .fz).")
    var file: String

    @Option(help: "HDU number, 1-based (primary = 1). Default: the first image HDU.")
    var hdu: Int?

    @Flag(help: "Write the catalogue as CSV (one source per row, the columns above) instead of a table for people.")
    var csv = false

    @Option(help: "Detection threshold in units of the local background rms.")
    var threshold: Float = 5

    @Option(name: .customLong("min-area"), help: "Fewest connected pixels of a source.")
    var minArea = 5

    @Option(help: "Background box size in pixels.")
    var box = 64

    @Flag(name: .customLong("no-filter"), help: "Detect on raw pixels instead of the matched filter.")
    var noFilter = false

    @Flag(help: "Print 'timing SECONDS' (background + detection + measurement, one thread) to stderr.")
    var timing = false

    @Option(help: "Threads for extraction and trails (row bands, object chunks), the caller included.")
    var threads = 1

    @Option(help: "With --timing: run the extraction this many times on the same extractor and report the median (later runs reuse its scratch, as the site runtime does).")
    var repeats = 1

    @Option(name: .customLong("background-map"), help: "Also write the background level map to this FITS file.")
    var backgroundMap: String?

    @Option(name: .customLong("rms-map"), help: "Also write the background rms map to this FITS file.")
    var rmsMap: String?

    func run() throws {
        do {
            let fits = try FITSFile.open(file)
            defer { fits.close() }
            let selector: FITSHDUSelector = hdu.map { .index($0) } ?? .firstImage
            let hduInfo = try fits.image(selector)
            let meta = try fits.metadata(hdu: .index(hduInfo.index))
            let image = try fits.readFloat(hdu: .index(hduInfo.index))
            var options = ExtractionOptions()
            options.threshold = threshold
            options.minArea = minArea
            options.matchedFilter = !noFilter
            options.saturation = Float(meta.saturation ?? (hduInfo.isUnsigned16 ? 65535 : .infinity))
            options.gain = meta.gain ?? 0
            let extractor = SourceExtractor(maxWidth: image.width, maxHeight: image.height, options: options,
                                            background: BackgroundOptions(box: box), threads: threads)
            var runs: [(Double, (background: Double, filter: Double, objects: Double))] = []
            var catalog = SourceCatalog(capacity: 0)
            for _ in 0..<max(1, timing ? repeats : 1) {
                let start = DispatchTime.now().uptimeNanoseconds
                catalog = try image.withView { try extractor.extract($0) }
                runs.append((Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, extractor.stageSeconds))
            }
            if timing {
                let (seconds, st) = runs.sorted { $0.0 < $1.0 }[runs.count / 2]
                FileHandle.standardError.write(Data("timing \(seconds) background \(st.background) filter \(st.filter) objects \(st.objects) (median of \(runs.count))\n".utf8))
            }
            if let model = extractor.background {
                if let path = backgroundMap { try writeMap(path, model, rms: false) }
                if let path = rmsMap { try writeMap(path, model, rms: true) }
            }
            let out = csv ? Self.csvText(catalog.sources) : Self.table(catalog.sources, file: file, model: extractor.background)
            FileHandle.standardOutput.write(Data(out.utf8))
            if catalog.overflowed {
                FileHandle.standardError.write(Data("warning: source table full, \(catalog.detected - catalog.count) sources dropped\n".utf8))
            }
        } catch let error as FITSError {
            throw DiagFailure(error.description)
        } catch let error as SourceExtractor.Failure {
            throw DiagFailure(error.description)
        }
    }

    static func csvText(_ sources: [Source]) -> String {
        var out = "x,y,flux,flux_err,fwhm,a,b,theta,flags\n"
        for s in sources {
            out += String(format: "%.4f,%.4f,%.6g,%.6g,%.4f,%.4f,%.4f,%.5f,%d\n",
                          s.x, s.y, s.flux, s.fluxError, s.fwhm.isFinite ? s.fwhm : -1, s.a, s.b, s.theta, Int(s.flags.rawValue))
        }
        return out
    }

    /// For a person at a terminal: what was found, then the brightest sources first, with their
    /// flags spelled out.
    static func table(_ sources: [Source], file: String, model: BackgroundModel?) -> String {
        var out = "\(file): \(sources.count) sources"
        if let m = model { out += String(format: ", background %.6g, rms %.4g", m.global, m.globalRMS) }
        out += "\n"
        guard !sources.isEmpty else { return out }
        let widths = [9, 9, 12, 10, 6, 6, 6, 7]
        let heads = ["x", "y", "flux", "flux_err", "fwhm", "a", "b", "theta"]
        out += zip(heads, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: " ") + "  flags\n"
        for s in sources.sorted(by: { $0.flux > $1.flux }) {
            let fwhm = s.fwhm.isFinite ? String(format: "%.2f", s.fwhm) : "-"
            out += String(format: "%9.2f %9.2f %12.5g %10.4g ", s.x, s.y, s.flux, s.fluxError)
                + String(repeating: " ", count: max(0, 6 - fwhm.count)) + fwhm
                + String(format: " %6.2f %6.2f %7.3f  ", s.a, s.b, s.theta) + flagNames(s.flags) + "\n"
        }
        return out
    }

    static func flagNames(_ f: SourceFlags) -> String {
        let names: [(SourceFlags, String)] = [(.blended, "blended"), (.truncated, "truncated"), (.saturated, "saturated"),
                                              (.nearEdge, "near-edge"), (.singular, "singular"),
                                              (.windowFailed, "window-failed")]
        let on = names.filter { f.contains($0.0) }.map(\.1)
        return on.isEmpty ? "-" : on.joined(separator: ",")
    }

    private func writeMap(_ path: String, _ model: BackgroundModel, rms: Bool) throws {
        let map = OwnedImage<Float>(width: model.width, height: model.height, fill: 0)
        try map.withView { view in
            if rms { model.fillRMS(view) } else { model.fillLevel(view) }
            try FITSWriter.write(path: path, image: view, extraCards: [
                FITSCard("GLOBBACK", .double(Double(model.global)), comment: "median of the background mesh"),
                FITSCard("GLOBRMS", .double(Double(model.globalRMS)), comment: "median of the rms mesh"),
            ], overwrite: true)
        }
    }
}
