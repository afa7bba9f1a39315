import Foundation
import Testing
@testable import SkyImage

/// Broken files, made by hand at run time: each must give one FITSError of the right
/// kind, never a crash or an allocation sized by the header.
@Suite struct FITSBadFileTests {
    /// Opens the file and reads its first image; returns the one error that stopped it.
    static func firstError(_ path: String) -> FITSError? {
        do {
            let file = try FITSFile.open(path)
            _ = try file.metadata()
            _ = try file.readFloat()
            return nil
        } catch {
            return error
        }
    }

    static func expectOneLine(_ error: FITSError?, kind: FITSError.Kind, path: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error else {
            Issue.record("expected a \(kind) error, the file read fine", sourceLocation: sourceLocation)
            return
        }
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.contains(path), sourceLocation: sourceLocation)
        #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
    }

    @Test func missingFile() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("nowhere.fits")
        Self.expectOneLine(Self.firstError(path), kind: .notFound, path: path)
    }

    @Test func zeroLengthFile() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("empty.fits")
        try Data().write(to: URL(fileURLWithPath: path))
        Self.expectOneLine(Self.firstError(path), kind: .notFITS, path: path)
    }

    @Test func textFile() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("notes.fits")
        try Data(String(repeating: "this is not a FITS file, just text\n", count: 200).utf8)
            .write(to: URL(fileURLWithPath: path))
        let error = Self.firstError(path)
        Self.expectOneLine(error, kind: .notFITS, path: path)
        #expect(error?.status != 0, "cfitsio's own status should be reported")
    }

    @Test func directoryInsteadOfFile() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        Self.expectOneLine(Self.firstError(dir.url.path), kind: .notFITS, path: dir.url.path)
    }

    @Test(arguments: [1_000, 2_880 * 2])   // mid-block, and exactly at a block boundary
    func truncatedMidData(keepDataBytes: Int) throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("cut.fits")
        var bytes = RawFITS.imageHeader(bitpix: 16, axes: [100, 80], extra: [RawFITS.card("BZERO", "32768")])
        bytes.append(Data(count: keepDataBytes))   // 16000 bytes promised
        try bytes.write(to: URL(fileURLWithPath: path))
        let file = try FITSFile.open(path)          // the header alone is fine
        #expect(try file.metadata().width == 100)
        let u16 = OwnedImage<UInt16>(width: 100, height: 80, fill: 0)
        var caught: FITSError?
        do { try file.read(into: u16.view) } catch { caught = error }
        Self.expectOneLine(caught, kind: .truncated, path: path)
        #expect(throws: FITSError.self) { try file.checkComplete() }
    }

    @Test func truncatedGzipAndCompressedFiles() throws {
        // A real .fz cut in its compressed table, and a gzip stream cut short.
        guard TestPaths.dataAvailable else { return }
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        for (source, name) in [("panoptes_pocs/tests_solved.fits.fz", "cut.fits.fz"),
                               ("cloudynight_allsky/000.fits.gz", "cut.fits.gz")] {
            let whole = try Data(contentsOf: URL(fileURLWithPath: TestPaths.dataFile(source)))
            let path = dir.path(name)
            try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: path))
            let error = Self.firstError(path)
            #expect(error != nil, "\(name) read although cut in half")
            if let error {
                #expect(error.description.contains(path) && !error.description.contains("\n"))
            }
        }
    }

    /// A few kilobytes of gzip that expand to 8 MiB: refused under a 1 MiB limit before
    /// cfitsio decompresses it, read normally under the default limit.
    @Test func gzipExpandingPastTheLimitIsRefused() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let plain = dir.path("zeros.fits")
        var bytes = RawFITS.imageHeader(bitpix: 16, axes: [2048, 2048])
        bytes.append(RawFITS.data(bytes: 2048 * 2048 * 2))
        try bytes.write(to: URL(fileURLWithPath: plain))
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-9", plain]
        try gzip.run(); gzip.waitUntilExit()
        try #require(gzip.terminationStatus == 0)
        let path = plain + ".gz"
        let compressed = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        #expect(compressed < 1 << 20, "the test needs a file smaller than the limit it must trip")

        var caught: FITSError?
        do { _ = try FITSFile.open(path, maxDecompressedBytes: 1 << 20) } catch { caught = error }
        Self.expectOneLine(caught, kind: .tooLarge, path: path)
        #expect(caught?.description.contains("expands") == true)

        let file = try FITSFile.open(path)
        #expect(try file.metadata().width == 2048)
    }

    @Test func unsupportedBitpix() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("bitpix12.fits")
        var bytes = RawFITS.imageHeader(bitpix: 12, axes: [10, 10])
        bytes.append(RawFITS.data(bytes: 150))
        try bytes.write(to: URL(fileURLWithPath: path))
        let error = Self.firstError(path)
        Self.expectOneLine(error, kind: .unsupported, path: path)
        #expect(error?.description.contains("BITPIX") == true)
    }

    @Test func absurdAxesAreRefusedBeforeAllocating() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        for axes in [[1_000_000_000, 1_000_000_000], [65_537, 2], [40_000, 40_000]] {
            let path = dir.path("huge-\(axes[0])x\(axes[1]).fits")
            var bytes = RawFITS.imageHeader(bitpix: -32, axes: axes)
            bytes.append(RawFITS.data(bytes: 2880))
            try bytes.write(to: URL(fileURLWithPath: path))
            Self.expectOneLine(Self.firstError(path), kind: .tooLarge, path: path)
            let file = try FITSFile.open(path)
            #expect(throws: FITSError.self) { try file.metadata() }
        }
    }

    @Test func onlyATable() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("table.fits")
        var bytes = RawFITS.imageHeader(bitpix: 8, axes: [], extra: [RawFITS.card("EXTEND", "T")])
        bytes.append(RawFITS.header([
            RawFITS.card("XTENSION", "'BINTABLE'"), RawFITS.card("BITPIX", "8"), RawFITS.card("NAXIS", "2"),
            RawFITS.card("NAXIS1", "4"), RawFITS.card("NAXIS2", "3"), RawFITS.card("PCOUNT", "0"),
            RawFITS.card("GCOUNT", "1"), RawFITS.card("TFIELDS", "1"), RawFITS.card("TFORM1", "'1J'"),
            RawFITS.card("EXTNAME", "'EVENTS'"),
        ]))
        bytes.append(RawFITS.data(bytes: 12))
        try bytes.write(to: URL(fileURLWithPath: path))
        let file = try FITSFile.open(path)
        #expect(file.hduCount == 2)
        #expect(file.imageHDUs.isEmpty)
        #expect(try file.hduNumber(.named("events")) == 2)
        Self.expectOneLine(Self.firstError(path), kind: .noImage, path: path)
        #expect(throws: FITSError.self) { try file.metadata(hdu: .index(2)) }
        #expect(throws: FITSError.self) { try file.metadata(hdu: .index(3)) }
    }

    @Test func emptyPrimaryAlone() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("empty-primary.fits")
        try RawFITS.imageHeader(bitpix: 16, axes: []).write(to: URL(fileURLWithPath: path))
        Self.expectOneLine(Self.firstError(path), kind: .noImage, path: path)
    }

    @Test func destinationOfTheWrongSize() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("small.fits")
        var bytes = RawFITS.imageHeader(bitpix: 8, axes: [4, 3])
        bytes.append(RawFITS.data(bytes: 12))
        try bytes.write(to: URL(fileURLWithPath: path))
        let file = try FITSFile.open(path)
        let wrong = OwnedImage<Float>(width: 3, height: 4, fill: 0)
        var caught: FITSError?
        do { try file.read(into: wrong.view) } catch { caught = error }
        #expect(caught?.kind == .sizeMismatch)
    }
}
