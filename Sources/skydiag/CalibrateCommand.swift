import ArgumentParser
import Foundation
import SkyImage

/// `skydiag calibrate`: builds master bias, dark, flat and a bad-pixel mask
/// from folders of frames, as FITS with their provenance in the headers.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Build master bias, dark, flat and bad-pixel mask FITS files from folders of frames.",
        discussion: """
            Frames are overscan-corrected and trimmed first where their BIASSEC and TRIMSEC \
            keywords say how, or --overscan and --trim (FITS sections, 1-based, such as \
            '[1025:1056,1:1024]') say it for frames without them. \
            The master dark is bias-subtracted (EXPTIME = the darks' exposure, for scaling); \
            the master flat is bias- and dark-subtracted and divided by its median. \
            Writes bias.fits, dark.fits, flat.fits, badpix.fits (1 = bad) into --out.
            """)

    @Option(name: .customLong("bias"), help: "Folder of bias frames.")
    var biasDir: String?
    @Option(name: .customLong("dark"), help: "Folder of dark frames (one exposure time).")
    var darkDir: String?
    @Option(name: .customLong("flat"), help: "Folder of flat frames.")
    var flatDir: String?
    @Option(help: "Output folder.")
    var out: String
    @Option(help: "Combine method: median or sigma-clipped-mean.")
    var method: String = "sigma-clipped-mean"
    @Option(help: "Overscan section for frames without BIASSEC, e.g. '[1025:1056,1:1024]' (with --trim).")
    var overscan: String?
    @Option(help: "Section to keep for frames without TRIMSEC, e.g. '[1:1024,1:1024]' (with --overscan).")
    var trim: String?

    func run() throws {
        guard let combine = CombineMethod(rawValue: method) else { throw DiagFailure("unknown method \(method)") }
        guard biasDir != nil || darkDir != nil || flatDir != nil else { throw DiagFailure("give at least one of --bias, --dark, --flat") }
        var sections: (overscan: ImageSection, trim: ImageSection)?
        if overscan != nil || trim != nil {
            guard let o = overscan, let t = trim else { throw DiagFailure("--overscan and --trim go together") }
            guard let os = ImageSection(fits: o) else { throw DiagFailure("--overscan '\(o)' is not a FITS section such as [1025:1056,1:1024]") }
            guard let ts = ImageSection(fits: t) else { throw DiagFailure("--trim '\(t)' is not a FITS section such as [1:1024,1:1024]") }
            sections = (os, ts)
        }
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            var bias: OwnedImage<Float>?
            var darkSignal: OwnedImage<Float>?
            var darkExposure = 0.0
            var flat: OwnedImage<Float>?
            if let dir = biasDir {
                let (frames, names, _) = try Self.load(dir, sections: sections)
                bias = try Calibration.combine(frames, method: combine)
                try write(bias!, "bias.fits", kind: "BIAS", names: names, method: combine, exposure: 0)
            }
            if let dir = darkDir {
                let (frames, names, exposures) = try Self.load(dir, sections: sections)
                // A master dark is scaled by one exposure time: darks of several cannot make one.
                if let e0 = exposures.first, let i = exposures.firstIndex(where: { abs($0 - e0) > 1e-6 * max(1, abs(e0)) }) {
                    throw DiagFailure("darks of different exposures in \(dir): \(names[0]) is \(e0) s, \(names[i]) is \(exposures[i]) s; give one exposure time per folder")
                }
                let master = try Calibration.combine(frames, method: combine)
                if let b = bias { for i in 0..<master.storage.count { master.storage[i] -= b.storage[i] } }
                darkExposure = exposures.first ?? 0
                darkSignal = master
                try write(master, "dark.fits", kind: "DARK", names: names, method: combine, exposure: darkExposure,
                          note: bias == nil ? "not bias-subtracted" : "bias-subtracted")
            }
            if let dir = flatDir {
                let (frames, names, exposures) = try Self.load(dir, sections: sections)
                let master = try Calibration.combine(frames, method: combine)
                if let d = darkSignal, darkExposure > 0, let e = exposures.first {
                    for i in 0..<master.storage.count { master.storage[i] -= d.storage[i] * Float(e / darkExposure) }
                }
                flat = Calibration.normalizedFlat(master, bias: bias)
                try write(flat!, "flat.fits", kind: "FLAT", names: names, method: combine, exposure: exposures.first ?? 0,
                          note: "normalized to median 1")
            }
            if darkSignal != nil || flat != nil {
                let mask = Calibration.badPixelMask(darkMinusBias: darkSignal, normalizedFlat: flat)
                let asFloat = OwnedImage<Float>(width: mask.width, height: mask.height, fill: 0)
                var bad = 0
                for i in 0..<mask.storage.count where mask.storage[i] != 0 { asFloat.storage[i] = 1; bad += 1 }
                try write(asFloat, "badpix.fits", kind: "BADPIX", names: [], method: combine, exposure: 0,
                          note: "\(bad) bad pixels: hot in dark, low/high response in flat, bad columns")
                print("badpix.fits: \(bad) bad pixels")
            }
        } catch let error as FITSError {
            throw DiagFailure(error.description)
        } catch let error as CalibrationError {
            throw DiagFailure(error.description)
        }
    }

    /// Frames of a folder (sorted by name), overscan-corrected where their headers say how, or
    /// `sections` (the command line's) for frames whose headers do not.
    static func load(_ dir: String, sections: (overscan: ImageSection, trim: ImageSection)? = nil) throws -> ([OwnedImage<Float>], [String], [Double]) {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { let l = $0.lowercased(); return l.hasSuffix(".fits") || l.hasSuffix(".fit") || l.hasSuffix(".fits.gz") || l.hasSuffix(".fz") }
            .sorted()
        guard !names.isEmpty else { throw DiagFailure("no FITS files in \(dir)") }
        var frames: [OwnedImage<Float>] = [], exposures: [Double] = []
        for name in names {
            let file = try FITSFile.open((dir as NSString).appendingPathComponent(name))
            defer { file.close() }
            var image = try file.readFloat()
            if let b = try file.keyword("BIASSEC"), let t = try file.keyword("TRIMSEC"),
               let overscan = ImageSection(fits: b), let trim = ImageSection(fits: t) {
                image = try Calibration.overscanCorrect(image, overscan: overscan, trim: trim)
            } else if let s = sections {
                image = try Calibration.overscanCorrect(image, overscan: s.overscan, trim: s.trim)
            }
            frames.append(image)
            exposures.append(try file.metadata().exptime ?? 0)
        }
        return (frames, names, exposures)
    }

    private func write(_ image: OwnedImage<Float>, _ name: String, kind: String, names: [String], method: CombineMethod,
                       exposure: Double, note: String = "") throws {
        var cards: [FITSCard] = [
            FITSCard("IMAGETYP", .string("MASTER \(kind)"), comment: "built by skydiag calibrate"),
            FITSCard("NCOMBINE", .int(names.count), comment: "frames combined"),
            FITSCard("COMBINE", .string(method.rawValue), comment: "per-pixel combination"),
            FITSCard("EXPTIME", .double(exposure), comment: "exposure of the combined frames, s"),
            FITSCard("DATE", .string(ISO8601DateFormatter().string(from: Date())), comment: "when the master was built"),
        ]
        if !note.isEmpty { cards.append(FITSCard("CALNOTE", .string(note), comment: "")) }
        for (i, n) in names.prefix(999).enumerated() {
            cards.append(FITSCard(String(format: "SRC%03d", i + 1), .string(String(n.prefix(60))), comment: "input frame"))
        }
        let path = (out as NSString).appendingPathComponent(name)
        try image.withView { try FITSWriter.write(path: path, image: $0, extraCards: cards, overwrite: true) }
        print("\(name): \(image.width) x \(image.height) from \(names.count) frames")
    }
}
