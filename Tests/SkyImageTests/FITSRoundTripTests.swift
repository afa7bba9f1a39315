import Foundation
import SkyCore
import Testing
@testable import SkyImage

/// Writing then reading back, and hand-made files of every supported BITPIX.
@Suite struct FITSRoundTripTests {
    static let fullMetadata = FrameMetadata(
        width: 37, height: 23, exptime: 0.1 + 0.2, dateObs: "2026-03-04T05:06:07.125", gain: 1.9,
        readNoise: 5.0, filter: "r'", instrument: "ZWO ASI 'test'", ccdTemperature: -10.25, object: "M 13",
        wcs: WCSKeywords(ctype1: "RA---TAN", ctype2: "DEC--TAN", crval1: 250.423475, crval2: 36.4613194,
                         crpix1: 18.5, crpix2: 12.0, cd11: -2.51615660758e-05, cd12: 0.00286295836886,
                         cd21: -0.0028629, cd22: 1e-300),
        saturation: 65535)

    @Test func floatRoundTripIsExact() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("float.fits")
        let image = OwnedImage<Float>(width: 37, height: 23, fill: 0)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<image.storage.count { image.storage[i] = Float.random(in: -1e6...1e6, using: &rng) }
        image.storage[5] = .nan
        image.storage[6] = .leastNonzeroMagnitude
        image.storage[7] = -.greatestFiniteMagnitude
        var meta = Self.fullMetadata
        meta.bitpix = -32
        try FITSWriter.write(path: path, image: image.view, metadata: meta,
                             extraCards: [FITSCard("OBSERVER", "Jane O'Neil", comment: "who"),
                                          FITSCard("SEQNUM", 42), FITSCard("AIRMASS", 1.234567890123),
                                          FITSCard("DOMEOPEN", true), FITSCard("EXPTIME", 99.5)])
        let file = try FITSFile.open(path)
        let back = try file.readFloat()
        #expect(back.width == 37 && back.height == 23)
        for i in 0..<image.storage.count {
            #expect(back.storage[i].bitPattern == image.storage[i].bitPattern || (back.storage[i].isNaN && image.storage[i].isNaN))
        }
        var expected = meta
        expected.exptime = 99.5   // the extra card replaced the metadata's value
        #expect(try file.metadata() == expected)
        #expect(try file.keyword("OBSERVER") == "Jane O'Neil")
        #expect(try file.keyword("SEQNUM") == "42")
        #expect(try file.keyword("DOMEOPEN") == "T")
        #expect(FITSHeaderValues.number(try file.keyword("AIRMASS")) == 1.234567890123)
        #expect(file.imageHDUs.first?.bitpix == -32)
    }

    @Test func uint16RoundTripIsExactAndStoredAsCamerasDo() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("u16.fits")
        let image = OwnedImage<UInt16>(width: 256, height: 256, fill: 0)
        for i in 0..<65_536 { image.storage[i] = UInt16(truncatingIfNeeded: i &* 40_503) }  // every value once
        var meta = Self.fullMetadata
        meta.width = 256; meta.height = 256; meta.bzero = 32768
        try FITSWriter.write(path: path, image: image.view, metadata: meta)
        let file = try FITSFile.open(path)
        let info = try file.image()
        #expect(info.bitpix == 16 && info.bzero == 32768 && info.bscale == 1 && info.isUnsigned16)
        #expect(try file.metadata() == meta)
        let back = OwnedImage<UInt16>(width: 256, height: 256, fill: 1)
        try file.read(into: back.view)
        #expect(pixels(back) == pixels(image))
        // Raw check of what is on disk: the header says BITPIX 16, BZERO 32768.
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)).prefix(2880), as: UTF8.self)
        #expect(header.contains("BITPIX  =                   16"))
        #expect(header.contains("BZERO   =                32768"))
    }

    @Test func stridedViewsWriteAndRead() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("sub.fits")
        let big = OwnedImage<UInt16>(width: 20, height: 10, fill: 0)
        for y in 0..<10 { for x in 0..<20 { big[x, y] = UInt16(y * 100 + x) } }
        let sub = big.view.subview(x: 3, y: 2, width: 5, height: 4)
        try withExtendedLifetime(big) { try FITSWriter.write(path: path, image: sub) }
        let file = try FITSFile.open(path)
        #expect(try file.metadata().width == 5)
        let target = OwnedImage<UInt16>(width: 9, height: 6, fill: 9999)
        let window = target.view.subview(x: 2, y: 1, width: 5, height: 4)
        try file.read(into: window)
        for y in 0..<4 { for x in 0..<5 { #expect(window[x, y] == UInt16((y + 2) * 100 + x + 3)) } }
        #expect(target[0, 0] == 9999 && target[7, 1] == 9999 && target[2, 5] == 9999)   // untouched outside
        let floats = OwnedImage<Float>(width: 8, height: 4, fill: -1)
        try file.read(into: floats.view.subview(x: 1, y: 0, width: 5, height: 4))   // floats is used below
        #expect(floats[1, 0] == 203 && floats[5, 3] == 507 && floats[0, 0] == -1 && floats[6, 0] == -1)
    }

    @Test func overwriteRules() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("same.fits")
        let one = OwnedImage<Float>(width: 2, height: 2, fill: 1)
        let two = OwnedImage<Float>(width: 3, height: 2, fill: 2)
        try FITSWriter.write(path: path, image: one.view)
        var caught: FITSError?
        do { try FITSWriter.write(path: path, image: two.view) } catch { caught = error }
        #expect(caught?.kind == .alreadyExists)
        try FITSWriter.write(path: path, image: two.view, overwrite: true)
        #expect(try FITSFile.open(path).metadata().width == 3)
        #expect(throws: FITSError.self) { try FITSWriter.write(path: dir.path("x.fits.gz"), image: one.view) }
        #expect(throws: FITSError.self) {
            try FITSWriter.write(path: dir.path("y.fits"), image: one.view, extraCards: [FITSCard("NAXIS1", 5)])
        }
        // Only the finished files remain: no temporary left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.url.path)
        #expect(names == ["same.fits"])
    }

    // MARK: Hand-made files of each BITPIX

    /// Writes a primary image whose data bytes the test encodes itself (big-endian).
    static func handMade(_ dir: TemporaryDirectory, _ name: String, bitpix: Int, axes: [Int],
                         extra: [String] = [], data: [UInt8]) throws -> String {
        var bytes = RawFITS.imageHeader(bitpix: bitpix, axes: axes, extra: extra)
        var block = Data(data)
        block.append(Data(count: (2880 - data.count % 2880) % 2880))
        bytes.append(block)
        let path = dir.path(name)
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    static func bigEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    }

    @Test func bitpix8() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = try Self.handMade(dir, "b8.fits", bitpix: 8, axes: [4, 2], data: [0, 1, 2, 127, 128, 200, 254, 255])
        let file = try FITSFile.open(path)
        let u = OwnedImage<UInt16>(width: 4, height: 2, fill: 0)
        try file.read(into: u.view)
        #expect(pixels(u) == [0, 1, 2, 127, 128, 200, 254, 255])
        #expect(pixels(try file.readFloat()) == [0, 1, 2, 127, 128, 200, 254, 255])
    }

    @Test func bitpix16SignedAndScaled() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let raw: [Int16] = [-32768, -1, 0, 1, 1000, 32767]
        let signed = try Self.handMade(dir, "i16.fits", bitpix: 16, axes: [3, 2], data: Self.bigEndian(raw))
        let u = OwnedImage<UInt16>(width: 3, height: 2, fill: 7)
        try FITSFile.open(signed).read(into: u.view)
        #expect(pixels(u) == [0, 0, 0, 1, 1000, 32767])        // negatives clamp to 0
        #expect(pixels(try FITSFile.open(signed).readFloat()) == raw.map { Float($0) })

        // BSCALE 0.5, BZERO 10.25: physical = 10.25 + 0.5 * raw; UInt16 rounds halves away from 0.
        let scaled = try Self.handMade(dir, "scaled.fits", bitpix: 16, axes: [3, 2],
                                       extra: [RawFITS.card("BSCALE", "0.5"), RawFITS.card("BZERO", "10.25")],
                                       data: Self.bigEndian(raw))
        let f = try FITSFile.open(scaled).readFloat()
        #expect(pixels(f) == raw.map { Float(10.25 + 0.5 * Double($0)) })
        try FITSFile.open(scaled).read(into: u.view)
        #expect(pixels(u) == [0, 10, 10, 11, 510, 16394])   // 9.75 -> 10, 10.75 -> 11, 16393.75 -> 16394
    }

    @Test func bitpix32WithBzeroClampsForUInt16() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let raw: [Int32] = [-100, 0, 50_000, 70_000]
        let path = try Self.handMade(dir, "i32.fits", bitpix: 32, axes: [2, 2],
                                     extra: [RawFITS.card("BZERO", "5")], data: Self.bigEndian(raw))
        let file = try FITSFile.open(path)
        #expect(pixels(try file.readFloat()) == [-95, 5, 50_005, 70_005])
        let u = OwnedImage<UInt16>(width: 2, height: 2, fill: 0)
        try file.read(into: u.view)
        #expect(pixels(u) == [0, 5, 50_005, 65_535])
    }

    @Test func bitpixMinus64WithNaNAndCube() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        // A 2 x 2 x 3 cube: planes hold 1..4, 11..14, 21..24; plane 1 has a NaN.
        var values: [Double] = [1, .nan, 3, 4.6]
        values += [11, 12, 13, 14, 21, 22, 23, 24]
        let path = try Self.handMade(dir, "cube.fits", bitpix: -64, axes: [2, 2, 3],
                                     data: Self.bigEndian(values.map(\.bitPattern)))
        let file = try FITSFile.open(path)
        let info = try file.image()
        #expect(info.planes == 3 && info.axes == [2, 2, 3])
        let f = try file.readFloat()
        #expect(f.storage[0] == 1 && f.storage[1].isNaN && f.storage[2] == 3 && f.storage[3] == 4.6)
        let u = OwnedImage<UInt16>(width: 2, height: 2, fill: 9)
        try file.read(into: u.view)
        #expect(pixels(u) == [1, 0, 3, 5])                   // NaN -> 0, 4.6 -> 5
        let s = PixelStatistics.of(f)
        #expect(s.count == 3 && s.nanCount == 1 && s.median == 3)
    }

    @Test func blankIntegerPixelsBecomeNaNInFloat() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = try Self.handMade(dir, "blank.fits", bitpix: 16, axes: [2, 1],
                                     extra: [RawFITS.card("BLANK", "-32768")],
                                     data: Self.bigEndian([Int16(-32768), 7]))
        let f = try FITSFile.open(path).readFloat()
        #expect(f.storage[0].isNaN && f.storage[1] == 7)
    }

    // MARK: Header value parsing

    @Test func headerValueParsing() {
        #expect(FITSHeaderValues.unquote("'RGGB    '") == "RGGB")
        #expect(FITSHeaderValues.unquote("'O''Neil'") == "O'Neil")
        #expect(FITSHeaderValues.unquote("''") == "")
        #expect(FITSHeaderValues.unquote("   ") == nil)
        #expect(FITSHeaderValues.number("1.5D+02") == 150)
        #expect(FITSHeaderValues.number("'53.9'".replacingOccurrences(of: "'", with: "")) == 53.9)
        #expect(FITSHeaderValues.number("abc") == nil)
        #expect(FITSHeaderValues.dateObs(date: "2013-07-13", time: "00:57:33") == "2013-07-13T00:57:33")
        #expect(FITSHeaderValues.dateObs(date: "2013-07-13T01:02:03", time: "00:57:33") == "2013-07-13T01:02:03")
        #expect(FITSHeaderValues.dateObs(date: "26/10/92", time: nil) == "1992-10-26")
        #expect(FITSHeaderValues.dateObs(date: "26/07/102", time: "19:36:37") == "2002-07-26T19:36:37")
        #expect(FITSHeaderValues.dateObs(date: "", time: "1:2:3") == nil)
    }

    @Test func wcsFromCdeltAndRotation() throws {
        func lookup(_ cards: [String: String]) -> (String) -> String? { { cards[$0] } }
        let base = ["CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": "10", "CRVAL2": "20",
                    "CRPIX1": "5", "CRPIX2": "6", "CDELT1": "-0.001", "CDELT2": "0.002"]
        // CROTA2 = 30 deg: CD = [[c1 cos, -c2 sin], [c1 sin, c2 cos]] (FITS paper II, eq. 189).
        var rotated = base; rotated["CROTA2"] = "30"
        let r = try #require(FITSHeaderValues.wcs(lookup: lookup(rotated)))
        let (c, s) = (cos(Double.pi / 6), sin(Double.pi / 6))
        #expect(abs(r.cd11 - (-0.001 * c)) < 1e-15 && abs(r.cd12 - (-0.002 * s)) < 1e-15)
        #expect(abs(r.cd21 - (-0.001 * s)) < 1e-15 && abs(r.cd22 - (0.002 * c)) < 1e-15)
        // PCi_j scaled by CDELTi; missing PC terms come from the identity.
        var pc = base; pc["PC1_2"] = "0.5"
        let p = try #require(FITSHeaderValues.wcs(lookup: lookup(pc)))
        #expect(p.cd11 == -0.001 && p.cd12 == -0.0005 && p.cd21 == 0 && p.cd22 == 0.002)
        // No scale at all, or an empty CTYPE: no WCS.
        var noScale = base; noScale["CDELT1"] = nil
        #expect(FITSHeaderValues.wcs(lookup: lookup(noScale)) == nil)
        var pixelOnly = base; pixelOnly["CTYPE1"] = ""
        #expect(FITSHeaderValues.wcs(lookup: lookup(pixelOnly)) == nil)
    }

    @Test func exactDoubleText() {
        for v in [0.1 + 0.2, 1e-300, -2.51615660758e-05, 120.4, 65535, 1e21, -0.0] {
            let text = FITSWriter.exactText(v)
            #expect(Double(text) == v, "\(text)")
            #expect(text.contains(".") && !text.contains("e"))
        }
    }
}

/// The pixels of an owned image, copied while the image is certainly alive (its
/// storage is freed as soon as the last reference goes, which can be mid-expression).
func pixels<P>(_ image: OwnedImage<P>) -> [P] {
    withExtendedLifetime(image) { Array(image.storage) }
}
