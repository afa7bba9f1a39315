import ArgumentParser
import Foundation
import SkyImage

/// `skydiag fits FILE`: what a technician needs to know about one frame on disk.
struct FitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fits",
        abstract: "Show a FITS file's layout, key header values and pixel statistics.",
        discussion: "HDU numbers start at 1 (the primary HDU). Exits 1 with one 'error:' line for an unreadable file.")

    @Argument(help: "FITS file (.fits, .fit, .fits.gz, .fz).")
    var file: String

    @Option(help: "HDU number, 1-based (primary = 1). Default: the first image HDU.")
    var hdu: Int?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        do {
            let report = try FitsReport(path: file, selector: hdu.map { .index($0) } ?? .firstImage)
            print(json ? report.json() : report.text())
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Everything `skydiag fits` prints, gathered once.
struct FitsReport {
    let path: String
    let image: FITSImageHDU
    let hduCount: Int
    let meta: FrameMetadata
    let stats: PixelStatistics

    init(path: String, selector: FITSHDUSelector) throws(FITSError) {
        let file = try FITSFile.open(path)
        defer { file.close() }
        self.path = path
        image = try file.image(selector)
        hduCount = file.hduCount
        meta = try file.metadata(hdu: .index(image.index))
        let pixels = try file.readFloat(hdu: .index(image.index))
        stats = PixelStatistics.of(pixels)
    }

    func text() -> String {
        var lines: [String] = []
        func add(_ label: String, _ value: String?) {
            if let value { lines.append(label.padding(toLength: 10, withPad: " ", startingAt: 0) + value) }
        }
        add("file", path)
        add("hdu", "\(image.index) of \(hduCount)" + (image.extname.map { " (EXTNAME \($0))" } ?? "")
            + (image.isCompressed ? ", tile-compressed" : ""))
        add("size", "\(image.width) x \(image.height)"
            + (image.planes > 1 ? " x \(image.planes) planes (first plane shown)" : ""))
        add("bitpix", "\(image.bitpix)  bzero \(short(image.bzero))  bscale \(short(image.bscale))"
            + (image.isUnsigned16 ? "  (unsigned 16-bit)" : ""))
        add("exptime", meta.exptime.map { "\(short($0)) s" })
        add("date-obs", meta.dateObs)
        add("filter", meta.filter)
        add("object", meta.object)
        add("instrume", meta.instrument)
        add("gain", meta.gain.map { "\(short($0)) e-/ADU" })
        add("rdnoise", meta.readNoise.map { "\(short($0)) e-" })
        add("ccd-temp", meta.ccdTemperature.map { "\(short($0)) C" })
        add("saturate", meta.saturation.map { short($0) })
        if let w = meta.wcs {
            let scale = (abs(w.cd11 * w.cd22 - w.cd12 * w.cd21)).squareRoot() * 3600
            add("wcs", "\(w.ctype1) \(w.ctype2)  crval (\(short(w.crval1)), \(short(w.crval2)))"
                + "  crpix (\(short(w.crpix1)), \(short(w.crpix2)))  \(String(format: "%.3f", scale))\"/px")
        } else {
            add("wcs", "none")
        }
        add("pixels", "\(stats.count) finite, \(stats.nanCount) NaN")
        add("min/max", "\(short(stats.min)) / \(short(stats.max))")
        add("mean", short(stats.mean))
        add("median", short(stats.median))
        add("sigma", "\(short(stats.sigma))  (1.4826 x MAD)")
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        func number(_ v: Double?) -> Any { v.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
        func text(_ v: String?) -> Any { v ?? NSNull() }
        let object: [String: Any] = [
            "path": path, "hdu": image.index, "hdu_count": hduCount, "extname": text(image.extname),
            "width": image.width, "height": image.height, "planes": image.planes,
            "bitpix": image.bitpix, "bzero": image.bzero, "bscale": image.bscale, "compressed": image.isCompressed,
            "exptime": number(meta.exptime), "date_obs": text(meta.dateObs), "filter": text(meta.filter),
            "object": text(meta.object), "instrument": text(meta.instrument), "gain": number(meta.gain),
            "read_noise": number(meta.readNoise), "ccd_temp": number(meta.ccdTemperature),
            "saturation": number(meta.saturation),
            "wcs": meta.wcs.map { w -> Any in
                ["ctype1": w.ctype1, "ctype2": w.ctype2, "crval1": w.crval1, "crval2": w.crval2,
                 "crpix1": w.crpix1, "crpix2": w.crpix2, "cd": [[w.cd11, w.cd12], [w.cd21, w.cd22]]]
            } ?? NSNull(),
            "count": stats.count, "nan_count": stats.nanCount,
            "min": number(stats.min), "max": number(stats.max), "mean": number(stats.mean),
            "median": number(stats.median), "sigma": number(stats.sigma),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    private func short(_ v: Double) -> String {
        v.isFinite && v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(format: "%.6g", v)
    }
}
