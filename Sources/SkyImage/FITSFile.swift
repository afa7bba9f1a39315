import CFITSIO
import Foundation

/// A FITS file opened read-only through cfitsio: plain, gzip-compressed (`.fits.gz`)
/// or tile-compressed (`.fz`). Pixels go into memory the caller owns.
///
/// Limits (checked before anything is allocated or read): each of NAXIS1 and NAXIS2
/// at most `maxAxisLength`, and NAXIS1 x NAXIS2 at most `maxPixelCount`. Images with
/// more than two axes (cubes) are read as their first plane; `FITSImageHDU.planes`
/// says how many there are.
///
/// One FITSFile is used from one thread at a time; separate FITSFiles may be used
/// concurrently (cfitsio is built reentrant).
public final class FITSFile {
    /// Largest NAXIS1 or NAXIS2 accepted.
    public static let maxAxisLength = 65_536
    /// Largest NAXIS1 x NAXIS2 accepted (2^28 pixels: 1 GiB as Float).
    public static let maxPixelCount = 1 << 28
    /// HDUs beyond this are not listed (protects against pathological files).
    static let maxHDUs = 1_000
    /// Default for `open`'s `maxDecompressedBytes`: the largest accepted image as
    /// 64-bit floats plus room for headers and other HDUs.
    public static let defaultMaxDecompressedBytes = maxPixelCount * 8 + (64 << 20)

    public let path: String
    /// Number of HDUs that could be walked (a truncated tail ends the walk).
    public let hduCount: Int
    /// Every HDU holding an image with NAXIS >= 2, in file order.
    public let imageHDUs: [FITSImageHDU]
    /// EXTNAME of each HDU (index 0 is HDU 1), nil where absent.
    public let extnames: [String?]

    private var fptr: UnsafeMutablePointer<fitsfile>?
    /// One row of Float, for converting scaled or float data to UInt16.
    private var rowScratch: UnsafeMutableBufferPointer<Float>?

    private init(path: String, fptr: UnsafeMutablePointer<fitsfile>, hduCount: Int,
                 imageHDUs: [FITSImageHDU], extnames: [String?]) {
        self.path = path
        self.fptr = fptr
        self.hduCount = hduCount
        self.imageHDUs = imageHDUs
        self.extnames = extnames
    }

    deinit { close() }

    /// Closes the file; later calls fail with an `.io` error.
    public func close() {
        if let f = fptr {
            var status: Int32 = 0
            ffclos(f, &status)
            ffcmsg()
            fptr = nil
        }
        rowScratch?.deallocate()
        rowScratch = nil
    }

    /// Opens `path` read-only and lists its HDUs. The name is taken literally
    /// (cfitsio's extended `file.fits[1]` syntax is not interpreted).
    ///
    /// A gzip-compressed file is refused with `.tooLarge` when it expands to more
    /// than `maxDecompressedBytes`, checked before cfitsio decompresses it into memory.
    public static func open(_ path: String,
                            maxDecompressedBytes: Int = defaultMaxDecompressedBytes) throws(FITSError) -> FITSFile {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = errno == ENOENT ? "no such file" : "cannot access file: \(String(cString: strerror(errno)))"
            throw FITSError(errno == ENOENT ? .notFound : .io, path: path, reason)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FITSError(.notFITS, path: path, "not a regular file") }
        guard info.st_size > 0 else { throw FITSError(.notFITS, path: path, "empty file (0 bytes), not FITS") }
        guard access(path, R_OK) == 0 else {
            throw FITSError(.io, path: path, "cannot read file: \(String(cString: strerror(errno)))")
        }
        if GzipExpansionGuard.isGzip(path: path) {
            try GzipExpansionGuard.check(path: path, limit: maxDecompressedBytes)
        }

        var f: UnsafeMutablePointer<fitsfile>?
        var status: Int32 = 0
        ffdkopn(&f, path, READONLY, &status)
        guard status == 0, let f else {
            if let f { var s: Int32 = 0; ffclos(f, &s) }
            let what = status == BAD_BITPIX ? "unsupported or invalid BITPIX in the primary header"
                : status == FILE_NOT_OPENED || status == NO_SIMPLE || status == UNKNOWN_REC
                ? "not a FITS file (no valid primary header)" : "cannot open as FITS"
            var error = FITSError.cfitsio(status, path: path, while: what)
            if status == FILE_NOT_OPENED { error.kind = .notFITS }
            throw error
        }

        var images: [FITSImageHDU] = []
        var names: [String?] = []
        var index = 1
        while index <= maxHDUs {
            var hduType: Int32 = 0
            ffmahd(f, Int32(index), &hduType, &status)
            if status != 0 {
                // The end of the file, or a damaged HDU after the good ones: stop listing there.
                let failedOnPrimary = index == 1
                let code = status
                status = 0
                ffcmsg()
                if failedOnPrimary {
                    ffclos(f, &status)
                    throw FITSError.cfitsio(code, path: path, while: "cannot read the primary HDU")
                }
                break
            }
            names.append(keywordText(f, "EXTNAME"))
            if hduType == IMAGE_HDU, let image = describeImage(f, index: index, extname: names.last ?? nil) {
                images.append(image)
            }
            index += 1
        }
        return FITSFile(path: path, fptr: f, hduCount: names.count, imageHDUs: images, extnames: names)
    }

    // MARK: HDU selection

    /// The image HDU a selector names. Throws `.noImage` when there is none (or the
    /// selected HDU is not an image with NAXIS >= 2), `.noSuchHDU` when it is not in the file.
    public func image(_ selector: FITSHDUSelector = .firstImage) throws(FITSError) -> FITSImageHDU {
        let number = try hduNumber(selector)
        if let image = imageHDUs.first(where: { $0.index == number }) { return image }
        throw FITSError(.noImage, path: path, "HDU \(number) of \(hduCount) is not an image with NAXIS >= 2")
    }

    /// The 1-based HDU number a selector names (any HDU type).
    public func hduNumber(_ selector: FITSHDUSelector) throws(FITSError) -> Int {
        switch selector {
        case .firstImage:
            guard let first = imageHDUs.first else {
                throw FITSError(.noImage, path: path,
                                "no image HDU with NAXIS >= 2 among its \(hduCount) HDU\(hduCount == 1 ? "" : "s")")
            }
            return first.index
        case let .index(n):
            guard (1...max(1, hduCount)).contains(n), n <= hduCount else {
                throw FITSError(.noSuchHDU, path: path, "no HDU \(n): the file has \(hduCount) (numbered from 1)")
            }
            return n
        case let .named(name):
            let wanted = name.trimmingBlanks().uppercased()
            guard let i = extnames.firstIndex(where: { $0?.uppercased() == wanted }) else {
                throw FITSError(.noSuchHDU, path: path, "no HDU with EXTNAME '\(name)'")
            }
            return i + 1
        }
    }

    // MARK: Header

    /// A keyword's value as text (string values unquoted and trimmed), or nil when the
    /// HDU lacks it. For a tile-compressed image this is the stored (table) header.
    public func keyword(_ name: String, hdu: FITSHDUSelector = .firstImage) throws(FITSError) -> String? {
        let f = try move(to: hduNumber(hdu))
        return FITSFile.keywordText(f, name)
    }

    /// Geometry, scaling and the pipeline's header keywords of an image HDU.
    public func metadata(hdu: FITSHDUSelector = .firstImage) throws(FITSError) -> FrameMetadata {
        let image = try image(hdu)
        try checkLimits(image)
        let f = try move(to: image.index)
        return FITSHeaderValues.frameMetadata(width: image.width, height: image.height, bitpix: image.bitpix,
                                              bzero: image.bzero, bscale: image.bscale) {
            FITSFile.keywordText(f, $0)
        }
    }

    /// Throws `.truncated` when the file is shorter than the HDU's header says its data
    /// is (a file cut mid-data, or one a camera is still writing). Trailing padding to
    /// the 2880-byte block is not required.
    public func checkComplete(hdu: FITSHDUSelector = .firstImage) throws(FITSError) {
        let image = try image(hdu)
        let f = try move(to: image.index)
        var status: Int32 = 0
        var headStart: Int64 = 0, dataStart: Int64 = 0, dataEnd: Int64 = 0
        ffghadll(f, &headStart, &dataStart, &dataEnd, &status)
        if status != 0 { throw FITSError.cfitsio(status, path: path, while: "cannot locate the data of HDU \(image.index)") }
        var bytes: Int64
        if image.isCompressed {
            // The compressed image is a binary table: rows x row width plus its heap.
            let rowBytes = FITSHeaderValues.number(FITSFile.keywordText(f, "NAXIS1")) ?? 0
            let rows = FITSHeaderValues.number(FITSFile.keywordText(f, "NAXIS2")) ?? 0
            let heap = FITSHeaderValues.number(FITSFile.keywordText(f, "PCOUNT")) ?? 0
            let total = rowBytes * rows + heap
            bytes = total < 9e18 ? Int64(total) : .max
        } else {
            bytes = Int64(abs(image.bitpix) / 8)
            for axis in image.axes {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: Int64(axis))
                bytes = overflow ? .max : product
            }
        }
        let fileSize = f.pointee.Fptr.pointee.logfilesize
        let (needed, overflow) = dataStart.addingReportingOverflow(bytes)
        if overflow || needed > fileSize {
            throw FITSError(.truncated, path: path,
                            "truncated: HDU \(image.index) needs \(overflow ? "more than 2^63" : String(needed)) bytes but the file holds \(fileSize)")
        }
    }

    // MARK: Pixels

    /// Reads the first plane of an image HDU as Float (physical values: BZERO and BSCALE
    /// applied). Float data come through bit for bit (NaN, infinities, denormals);
    /// integer pixels equal to BLANK become NaN.
    /// The view must have the image's width and height; its row stride may be larger.
    public func read(into view: ImageView<Float>, hdu: FITSHDUSelector = .firstImage) throws(FITSError) {
        let (image, f) = try prepareRead(hdu, width: view.width, height: view.height)
        // Null checking only where BLANK defines nulls: for float data cfitsio's check
        // would also turn infinities into NaN and denormals into 0, and NaN is NaN anyway.
        if image.bitpix > 0 && FITSFile.keywordText(f, "BLANK") != nil {
            var null = Float.nan
            try readRows(f, image, view.base, view.rowStride, type: TFLOAT, null: &null)
        } else {
            try readRows(f, image, view.base, view.rowStride, type: TFLOAT, null: nil as UnsafeMutablePointer<Float>?)
        }
    }

    /// Reads the first plane of an image HDU as UInt16 physical values.
    /// Unsigned 16-bit data (BITPIX 16, BZERO 32768) and 8-bit data come through exactly.
    /// Other data are clamped to 0...65535 (negative values become 0), and non-integer
    /// values (float data, fractional BSCALE) are rounded to the nearest integer, halves
    /// away from zero; NaN becomes 0, +infinity 65535. BLANK pixels become 0 when the
    /// data are scaled, and keep their stored value when they are plain integers.
    /// The view must have the image's width and height; its row stride may be larger.
    public func read(into view: ImageView<UInt16>, hdu: FITSHDUSelector = .firstImage) throws(FITSError) {
        let (image, f) = try prepareRead(hdu, width: view.width, height: view.height)
        let integral = image.bitpix > 0 && image.bscale == 1 && image.bzero == image.bzero.rounded()
        if integral {
            // cfitsio clamps out-of-range integers itself (and says so with NUM_OVERFLOW).
            try readRows(f, image, view.base, view.rowStride, type: TUSHORT, null: nil as UnsafeMutablePointer<UInt16>?)
            return
        }
        let row = scratchRow(count: image.width)
        var null = Float.nan     // BLANK pixels of scaled integer data become NaN, then 0
        let checkNulls = image.bitpix > 0 && FITSFile.keywordText(f, "BLANK") != nil
        var first = [Int64](repeating: 1, count: image.axes.count)
        for y in 0..<image.height {
            first[1] = Int64(y + 1)
            var status: Int32 = 0
            var anyNull: Int32 = 0
            if checkNulls {
                ffgpxvll(f, TFLOAT, &first, Int64(image.width), &null, row.baseAddress, &anyNull, &status)
            } else {
                ffgpxvll(f, TFLOAT, &first, Int64(image.width), nil, row.baseAddress, &anyNull, &status)
            }
            if status != 0 { throw pixelError(status, image) }
            let out = view.row(y)
            for x in 0..<image.width { out[x] = FITSFile.toUInt16(row[x]) }
        }
    }

    /// Reads the first plane of an image HDU into new memory (for tools and tests).
    public func readFloat(hdu: FITSHDUSelector = .firstImage) throws(FITSError) -> OwnedImage<Float> {
        let image = try image(hdu)
        try checkLimits(image)
        let owned = OwnedImage<Float>(width: image.width, height: image.height, fill: 0)
        try read(into: owned.view, hdu: .index(image.index))
        return owned
    }

    /// Rounds half away from zero and clamps to 0...65535; NaN gives 0.
    @inline(__always)
    static func toUInt16(_ v: Float) -> UInt16 {
        if !(v > 0) { return 0 }          // also NaN
        if v >= 65_535 { return 65_535 }
        return UInt16(v.rounded())
    }

    // MARK: Internals

    private func checkLimits(_ image: FITSImageHDU) throws(FITSError) {
        let (w, h) = (image.width, image.height)
        guard w <= FITSFile.maxAxisLength, h <= FITSFile.maxAxisLength, w * h <= FITSFile.maxPixelCount else {
            throw FITSError(.tooLarge, path: path,
                            "image \(w) x \(h) in HDU \(image.index) exceeds the limits (\(FITSFile.maxAxisLength) per axis, \(FITSFile.maxPixelCount) pixels)")
        }
    }

    private func prepareRead(_ selector: FITSHDUSelector, width: Int, height: Int) throws(FITSError)
        -> (FITSImageHDU, UnsafeMutablePointer<fitsfile>) {
        let image = try image(selector)
        try checkLimits(image)
        guard image.width == width, image.height == height else {
            throw FITSError(.sizeMismatch, path: path,
                            "image is \(image.width) x \(image.height) but the destination is \(width) x \(height)")
        }
        try checkComplete(hdu: .index(image.index))
        return (image, try move(to: image.index))
    }

    private func readRows<P>(_ f: UnsafeMutablePointer<fitsfile>, _ image: FITSImageHDU, _ base: UnsafeMutablePointer<P>,
                             _ rowStride: Int, type: Int32, null: UnsafeMutablePointer<P>?) throws(FITSError) {
        var first = [Int64](repeating: 1, count: image.axes.count)
        let contiguous = rowStride == image.width
        let chunks = contiguous ? 1 : image.height
        let perChunk = contiguous ? image.width * image.height : image.width
        for chunk in 0..<chunks {
            first[1] = Int64(chunk + 1)
            var status: Int32 = 0
            var anyNull: Int32 = 0
            ffgpxvll(f, type, &first, Int64(perChunk), null, base + chunk * rowStride, &anyNull, &status)
            if status == NUM_OVERFLOW { status = 0; ffcmsg() }
            if status != 0 { throw pixelError(status, image) }
        }
    }

    private func pixelError(_ status: Int32, _ image: FITSImageHDU) -> FITSError {
        FITSError.cfitsio(status, path: path, while: "reading the pixels of HDU \(image.index) failed")
    }

    private func scratchRow(count: Int) -> UnsafeMutableBufferPointer<Float> {
        if let row = rowScratch, row.count >= count { return row }
        rowScratch?.deallocate()
        let row = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        rowScratch = row
        return row
    }

    private func move(to number: Int) throws(FITSError) -> UnsafeMutablePointer<fitsfile> {
        guard let f = fptr else { throw FITSError(.io, path: path, "file already closed") }
        var status: Int32 = 0
        ffmahd(f, Int32(number), nil, &status)
        if status != 0 { throw FITSError.cfitsio(status, path: path, while: "cannot move to HDU \(number)") }
        return f
    }

    private static func describeImage(_ f: UnsafeMutablePointer<fitsfile>, index: Int, extname: String?) -> FITSImageHDU? {
        var status: Int32 = 0
        var naxis: Int32 = 0
        ffgidm(f, &naxis, &status)
        guard status == 0, naxis >= 2, naxis <= 999 else { ffcmsg(); return nil }
        var axes = [Int64](repeating: 0, count: Int(naxis))
        ffgiszll(f, naxis, &axes, &status)
        var bitpix: Int32 = 0
        ffgidt(f, &bitpix, &status)
        let compressed = fits_is_compressed_image(f, &status) != 0
        guard status == 0, axes.allSatisfy({ $0 > 0 && $0 <= Int64(Int32.max) }) else { ffcmsg(); return nil }
        return FITSImageHDU(index: index, extname: extname, axes: axes.map { Int($0) }, bitpix: Int(bitpix),
                            bzero: FITSHeaderValues.number(keywordText(f, "BZERO")) ?? 0,
                            bscale: FITSHeaderValues.number(keywordText(f, "BSCALE")) ?? 1,
                            isCompressed: compressed)
    }

    /// The unquoted value of a keyword in the current HDU, nil when absent or empty.
    static func keywordText(_ f: UnsafeMutablePointer<fitsfile>, _ name: String) -> String? {
        var status: Int32 = 0
        var value = [CChar](repeating: 0, count: Int(FLEN_VALUE) + 1)
        var comment = [CChar](repeating: 0, count: Int(FLEN_COMMENT) + 1)
        ffgkey(f, name, &value, &comment, &status)
        guard status == 0 else { ffcmsg(); return nil }
        return FITSHeaderValues.unquote(cString(value))
    }
}

func cString(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
