import CFITSIO
import Foundation

/// The value of a header card written by `FITSWriter`.
public enum FITSCardValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral {
    case string(String)
    case double(Double)
    case int(Int)
    case bool(Bool)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// One extra header card: `FITSCard("OBSERVER", "Jane", comment: "who")`.
public struct FITSCard: Sendable, Equatable {
    public var name: String
    public var value: FITSCardValue
    public var comment: String

    public init(_ name: String, _ value: FITSCardValue, comment: String = "") {
        self.name = name; self.value = value; self.comment = comment
    }
}

/// Writes a single-image, uncompressed FITS file.
///
/// The file is written under a hidden temporary name in the same directory and renamed
/// into place when complete, so a directory watcher never sees it half-written.
/// Doubles are written in their shortest exact form, so they read back identically.
public enum FITSWriter {
    /// Keywords the image structure owns; extra cards may not set them.
    static let structural: Set<String> = ["SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND",
                                          "BZERO", "BSCALE", "END", "XTENSION", "PCOUNT", "GCOUNT"]

    /// BITPIX -32; NaN pixels are stored as NaN.
    public static func write(path: String, image: ImageView<Float>, metadata: FrameMetadata? = nil,
                             extraCards: [FITSCard] = [], overwrite: Bool = false) throws(FITSError) {
        try write(path: path, image: image, imageType: FLOAT_IMG, dataType: TFLOAT,
                  metadata: metadata, extraCards: extraCards, overwrite: overwrite)
    }

    /// BITPIX 16 with BZERO 32768 (unsigned 16-bit, as cameras write it).
    public static func write(path: String, image: ImageView<UInt16>, metadata: FrameMetadata? = nil,
                             extraCards: [FITSCard] = [], overwrite: Bool = false) throws(FITSError) {
        try write(path: path, image: image, imageType: USHORT_IMG, dataType: TUSHORT,
                  metadata: metadata, extraCards: extraCards, overwrite: overwrite)
    }

    private static func write<P>(path: String, image: ImageView<P>, imageType: Int32, dataType: Int32,
                                 metadata: FrameMetadata?, extraCards: [FITSCard], overwrite: Bool) throws(FITSError) {
        let lower = path.lowercased()
        if lower.hasSuffix(".gz") || lower.hasSuffix(".fz") {
            throw FITSError(.unsupported, path: path, "writing compressed FITS is not supported; use a .fits name")
        }
        guard image.width > 0, image.height > 0 else {
            throw FITSError(.unsupported, path: path, "cannot write an empty \(image.width) x \(image.height) image")
        }
        if let bad = extraCards.first(where: { structural.contains($0.name.uppercased()) }) {
            throw FITSError(.unsupported, path: path, "extra card \(bad.name) would change the image structure")
        }
        if !overwrite, access(path, F_OK) == 0 {
            throw FITSError(.alreadyExists, path: path, "file exists and overwrite is false")
        }

        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).partial").path
        var f: UnsafeMutablePointer<fitsfile>?
        var status: Int32 = 0
        ffdkinit(&f, temporary, &status)
        guard status == 0, let f else {
            throw FITSError.cfitsio(status, path: path, while: "cannot create the file")
        }
        var axes: [Int64] = [Int64(image.width), Int64(image.height)]
        ffcrimll(f, imageType, 2, &axes, &status)
        if let metadata { writeMetadata(f, metadata, &status) }
        for card in extraCards { writeCard(f, card.name, card.value, card.comment, &status) }

        var first: [Int64] = [1, 1]
        if image.isContiguous {
            ffppxll(f, dataType, &first, Int64(image.pixelCount), image.base, &status)
        } else {
            for y in 0..<image.height where status == 0 {
                first[1] = Int64(y + 1)
                ffppxll(f, dataType, &first, Int64(image.width), image.row(y).baseAddress, &status)
            }
        }
        let writeStatus = status
        var closeStatus: Int32 = 0
        ffclos(f, &closeStatus)
        if writeStatus != 0 || closeStatus != 0 {
            unlink(temporary)
            throw FITSError.cfitsio(writeStatus != 0 ? writeStatus : closeStatus, path: path, while: "writing failed")
        }
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw FITSError(.io, path: path, "cannot move the finished file into place: \(reason)")
        }
    }

    private static func writeMetadata(_ f: UnsafeMutablePointer<fitsfile>, _ m: FrameMetadata, _ status: inout Int32) {
        func put(_ name: String, _ value: Double?, _ comment: String) {
            if let value { writeCard(f, name, .double(value), comment, &status) }
        }
        func put(_ name: String, _ value: String?, _ comment: String) {
            if let value { writeCard(f, name, .string(value), comment, &status) }
        }
        put("EXPTIME", m.exptime, "exposure time [s]")
        put("DATE-OBS", m.dateObs, "start of exposure (UTC)")
        put("GAIN", m.gain, "gain [e-/ADU]")
        put("RDNOISE", m.readNoise, "read noise [e-]")
        put("FILTER", m.filter, "filter")
        put("INSTRUME", m.instrument, "instrument")
        put("CCD-TEMP", m.ccdTemperature, "sensor temperature [C]")
        put("OBJECT", m.object, "target")
        put("SATURATE", m.saturation, "saturation level [ADU]")
        if let w = m.wcs {
            put("CTYPE1", w.ctype1, ""); put("CTYPE2", w.ctype2, "")
            put("CRVAL1", w.crval1, "[deg]"); put("CRVAL2", w.crval2, "[deg]")
            put("CRPIX1", w.crpix1, "1-based"); put("CRPIX2", w.crpix2, "1-based")
            put("CD1_1", w.cd11, "[deg/pixel]"); put("CD1_2", w.cd12, "[deg/pixel]")
            put("CD2_1", w.cd21, "[deg/pixel]"); put("CD2_2", w.cd22, "[deg/pixel]")
        }
    }

    /// Writes or replaces one card, so a keyword given twice keeps the last value.
    private static func writeCard(_ f: UnsafeMutablePointer<fitsfile>, _ name: String, _ value: FITSCardValue,
                                  _ comment: String, _ status: inout Int32) {
        switch value {
        case let .string(s): ffukys(f, name, s, comment, &status)
        case let .int(i): ffukyj(f, name, Int64(i), comment, &status)
        case let .bool(b): ffukyl(f, name, b ? 1 : 0, comment, &status)
        case let .double(d):
            guard d.isFinite else { return }     // FITS has no NaN keyword value
            var text = Array(exactText(d).utf8CString)
            var card = [CChar](repeating: 0, count: Int(FLEN_CARD) + 1)
            ffmkky(name, &text, comment, &card, &status)
            ffucrd(f, name, card, &status)
        }
    }

    /// The shortest decimal that reads back as exactly `d`, in FITS form (E exponent,
    /// always a decimal point or exponent so readers see a real number).
    static func exactText(_ d: Double) -> String {
        var text = "\(d)".uppercased()
        if !text.contains(".") && !text.contains("E") { text += ".0" }
        if let e = text.firstIndex(of: "E"), !text[..<e].contains(".") {
            text.insert(contentsOf: ".0", at: e)
        }
        return text
    }
}
