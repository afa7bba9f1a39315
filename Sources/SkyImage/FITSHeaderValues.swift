import Foundation
import SkyCore

/// Turning raw FITS header values into Swift values and into `FrameMetadata`.
/// Pure functions over a keyword lookup, so they work for any HDU and are testable
/// without files.
public enum FITSHeaderValues {
    /// A card's value field as text: string values lose their quotes, doubled quotes
    /// inside become one, and surrounding blanks go. Empty and undefined values give nil.
    public static func unquote(_ raw: String) -> String? {
        let trimmed = raw.trimmingBlanks()
        guard !trimmed.isEmpty else { return nil }
        guard trimmed.hasPrefix("'") else { return trimmed }
        var inner = trimmed.dropFirst()
        if inner.hasSuffix("'") { inner = inner.dropLast() }
        return String(inner).replacingOccurrences(of: "''", with: "'").trimmingBlanks()
    }

    /// A numeric value written as FITS allows (`1.5E+02`, Fortran `1.5D+02`), also
    /// when a header stored it as a string (`EXPTIME = '53.9'`).
    public static func number(_ text: String?) -> Double? {
        guard let text else { return nil }
        let normalized = String(text.trimmingBlanks().map { $0 == "D" || $0 == "d" ? "E" : $0 })
        guard !normalized.isEmpty, let value = Double(normalized), value.isFinite else { return nil }
        return value
    }

    /// DATE-OBS, with TIME-OBS (or UT) appended when DATE-OBS holds only a date, and the
    /// old `DD/MM/YY` form (including the `DD/MM/1YY` years some Y2K-era software wrote)
    /// turned into ISO `YYYY-MM-DD` first. Returns the text as written when it is
    /// neither form, so nothing is lost.
    public static func dateObs(date: String?, time: String?) -> String? {
        guard var date = date?.trimmingBlanks(), !date.isEmpty else { return nil }
        let parts = date.split(separator: "/")
        if parts.count == 3, let day = Int(parts[0]), let month = Int(parts[1]), let y = Int(parts[2]) {
            let year = y < 50 ? 2000 + y : (y < 1000 ? 1900 + y : y)
            date = String(format4: year) + "-" + String(format2: month) + "-" + String(format2: day)
        }
        let isDateOnly = !date.contains("T") && date.split(separator: "-").count == 3
        if isDateOnly, let time = time?.trimmingBlanks(), !time.isEmpty, time.contains(":") {
            return date + "T" + time
        }
        return date
    }

    /// The header keywords the pipeline uses, read through `lookup` (keyword name to
    /// unquoted value text). Geometry and scaling come from the caller, who knows the
    /// image layout (for tile-compressed images the stored header describes a table).
    public static func frameMetadata(width: Int, height: Int, bitpix: Int, bzero: Double, bscale: Double,
                                     lookup: (String) -> String?) -> FrameMetadata {
        func firstNumber(_ names: String...) -> Double? {
            for name in names { if let v = number(lookup(name)) { return v } }
            return nil
        }
        func firstText(_ names: String...) -> String? {
            for name in names { if let v = lookup(name), !v.isEmpty { return v } }
            return nil
        }
        return FrameMetadata(
            width: width, height: height, bitpix: bitpix, bzero: bzero, bscale: bscale,
            exptime: firstNumber("EXPTIME", "EXPOSURE"),
            dateObs: dateObs(date: lookup("DATE-OBS"), time: lookup("TIME-OBS") ?? lookup("UT")),
            gain: firstNumber("GAIN", "EGAIN"),
            readNoise: firstNumber("RDNOISE", "READNOIS", "RON"),
            filter: firstText("FILTER"),
            instrument: firstText("INSTRUME"),
            ccdTemperature: firstNumber("CCD-TEMP", "CCD_TEMP", "CCDTEMP"),
            object: firstText("OBJECT"),
            wcs: wcs(lookup: lookup),
            saturation: firstNumber("SATURATE", "DATAMAX"))
    }

    /// Celestial WCS when the header has one: CTYPE1/2 non-empty, CRVAL1/2, CRPIX1/2, and
    /// a scale from CDi_j (missing terms are 0), else CDELTi with PCi_j (missing terms
    /// from the identity), else CDELTi rotated by CROTA2 (degrees). Nil otherwise, so
    /// pixel-only headers (CTYPE = '') do not pass for sky coordinates.
    public static func wcs(lookup: (String) -> String?) -> WCSKeywords? {
        guard let ctype1 = lookup("CTYPE1"), let ctype2 = lookup("CTYPE2"), !ctype1.isEmpty, !ctype2.isEmpty,
              let crval1 = number(lookup("CRVAL1")), let crval2 = number(lookup("CRVAL2")),
              let crpix1 = number(lookup("CRPIX1")), let crpix2 = number(lookup("CRPIX2")) else { return nil }
        let cd = ["CD1_1", "CD1_2", "CD2_1", "CD2_2"].map { number(lookup($0)) }
        var m: (Double, Double, Double, Double)
        if cd.contains(where: { $0 != nil }) {
            m = (cd[0] ?? 0, cd[1] ?? 0, cd[2] ?? 0, cd[3] ?? 0)
        } else if let cdelt1 = number(lookup("CDELT1")), let cdelt2 = number(lookup("CDELT2")) {
            let pc = ["PC1_1", "PC1_2", "PC2_1", "PC2_2"].map { number(lookup($0)) }
            if pc.contains(where: { $0 != nil }) {
                let p = (pc[0] ?? 1, pc[1] ?? 0, pc[2] ?? 0, pc[3] ?? 1)
                m = (cdelt1 * p.0, cdelt1 * p.1, cdelt2 * p.2, cdelt2 * p.3)
            } else {
                let rho = (number(lookup("CROTA2")) ?? 0) * .pi / 180
                let (c, s) = (cos(rho), sin(rho))
                m = (cdelt1 * c, -cdelt2 * s, cdelt1 * s, cdelt2 * c)
            }
        } else {
            return nil
        }
        return WCSKeywords(ctype1: ctype1, ctype2: ctype2, crval1: crval1, crval2: crval2,
                           crpix1: crpix1, crpix2: crpix2, cd11: m.0, cd12: m.1, cd21: m.2, cd22: m.3)
    }
}

extension StringProtocol {
    func trimmingBlanks() -> String { trimmingCharacters(in: .whitespaces) }
}

extension String {
    init(format2 v: Int) { self = String(format: "%02d", v) }
    init(format4 v: Int) { self = String(format: "%04d", v) }
}
