import Foundation
import Testing
@testable import SkyCapture
import SkyImage

/// FITSDirectorySource on real directories written by the test.
@Suite final class FITSDirectorySourceTests {
    final class Scratch {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("fitsdir-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: url) }
        func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    }

    /// A small UInt16 frame whose every pixel is `value`, written atomically by FITSWriter.
    static func writeFrame(_ path: String, value: UInt16, width: Int = 8, height: Int = 6) throws {
        let image = OwnedImage<UInt16>(width: width, height: height, fill: value)
        try withExtendedLifetime(image) {
            try FITSWriter.write(path: path, image: image.view,
                                 metadata: FrameMetadata(width: width, height: height, exptime: Double(value)))
        }
    }

    /// The bytes of such a frame, for writing by hand in pieces.
    static func frameBytes(value: UInt16, width: Int, height: Int) throws -> Data {
        let scratch = try Scratch()
        try writeFrame(scratch.path("f.fits"), value: value, width: width, height: height)
        return try Data(contentsOf: URL(fileURLWithPath: scratch.path("f.fits")))
    }

    static func setMtime(_ path: String, secondsAgo: Double) throws {
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -secondsAgo)],
                                              ofItemAtPath: path)
    }

    /// The caller-owned frame slot: 4096 pixels.
    let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 4096)
    deinit { slot.deallocate() }

    func next(_ source: FITSDirectorySource, timeout: Double = 0) -> Result<CapturedFrame?, CaptureError> {
        do { return .success(try source.nextFrame(into: slot, timeout: timeout)) } catch { return .failure(error) }
    }

    func origin(_ result: Result<CapturedFrame?, CaptureError>) -> String? {
        guard case let .success(frame?) = result else { return nil }
        return URL(fileURLWithPath: frame.origin).lastPathComponent
    }

    @Test func replayGoesInNameOrderThenEndsOrLoops() throws {
        let dir = try Scratch()
        for (name, value) in [("frame-03.fits", 3), ("frame-01.fits", 1), ("frame-02.fits", 2)] {
            try Self.writeFrame(dir.path(name), value: UInt16(value))
        }
        // Modification times in reverse, so only the names give the order.
        try Self.setMtime(dir.path("frame-01.fits"), secondsAgo: 1)
        try Self.setMtime(dir.path("frame-03.fits"), secondsAgo: 100)
        try Data("junk".utf8).write(to: URL(fileURLWithPath: dir.path("notes.txt")))
        try Data("junk".utf8).write(to: URL(fileURLWithPath: dir.path(".hidden.fits")))

        let source = FITSDirectorySource(directory: dir.url.path, mode: .replay(loop: false))
        try source.open()
        for expected in 1...3 {
            let result = next(source)
            #expect(origin(result) == "frame-0\(expected).fits")
            if case let .success(frame?) = result {
                #expect(frame.metadata.width == 8 && frame.metadata.height == 6)
                #expect(frame.metadata.exptime == Double(expected))
                #expect(slot[0] == UInt16(expected) && slot[47] == UInt16(expected))
            }
        }
        #expect(origin(next(source)) == nil)
        #expect(source.isExhausted)

        let looping = FITSDirectorySource(directory: dir.url.path, mode: .replay(loop: true))
        let names = (0..<5).map { _ in origin(next(looping)) }
        #expect(names == ["frame-01.fits", "frame-02.fits", "frame-03.fits", "frame-01.fits", "frame-02.fits"])
    }

    @Test func corruptFileInTheMiddleIsReportedAndSkipped() throws {
        let dir = try Scratch()
        try Self.writeFrame(dir.path("a.fits"), value: 10)
        try Data(String(repeating: "not fits at all ", count: 300).utf8).write(to: URL(fileURLWithPath: dir.path("b.fits")))
        try Self.writeFrame(dir.path("c.fits"), value: 30, width: 100, height: 100)   // 10000 pixels > 4096
        try Self.writeFrame(dir.path("d.fits"), value: 40)
        let source = FITSDirectorySource(directory: dir.url.path, mode: .replay(loop: false))
        #expect(origin(next(source)) == "a.fits")
        guard case let .failure(.badFrame(message)) = next(source) else {
            Issue.record("b.fits should be a bad frame"); return
        }
        #expect(message.contains(dir.path("b.fits")))
        #expect(message.contains("not a FITS file"))
        guard case .failure(.tooLarge(width: 100, height: 100, capacity: 4096)) = next(source) else {
            Issue.record("c.fits should not fit the slot"); return
        }
        #expect(origin(next(source)) == "d.fits")
        #expect(slot[0] == 40)
    }

    @Test func watchPicksUpNewFilesOnlyWhenComplete() throws {
        let dir = try Scratch()
        try Self.writeFrame(dir.path("before-start.fits"), value: 1)
        let source = FITSDirectorySource(directory: dir.url.path, mode: .watch, pollInterval: 0.05)
        try source.open()
        #expect(origin(next(source, timeout: 0.2)) == nil, "files present before start are not new frames")

        // A camera midway through writing 60 x 50 pixels (6000 data bytes, 3 blocks): the
        // header block and one data block are there, so the size is block-aligned yet short.
        let bytes = try Self.frameBytes(value: 777, width: 60, height: 50)   // 6000 data bytes: 3 blocks
        #expect(bytes.count == 2880 * 4)
        let path = dir.path("new.fits")
        FileManager.default.createFile(atPath: path, contents: bytes.prefix(2880 * 2))
        #expect(origin(next(source, timeout: 0.4)) == nil, "a half-written file must not be delivered")

        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: bytes.dropFirst(2880 * 2))
        try handle.close()
        let result = next(source, timeout: 3)
        #expect(origin(result) == "new.fits")
        #expect(slot[0] == 777 && slot[60 * 50 - 1] == 777)
        #expect(origin(next(source, timeout: 0.3)) == nil, "a file is delivered once")

        // Temporary names and dotfiles are ignored; the renamed final file is taken.
        try Data(bytes).write(to: URL(fileURLWithPath: dir.path("next.fits.tmp")))
        try Data(bytes).write(to: URL(fileURLWithPath: dir.path(".next.fits")))
        try Self.writeFrame(dir.path("next.fits"), value: 5)
        #expect(origin(next(source, timeout: 3)) == "next.fits")
        #expect(origin(next(source, timeout: 0.3)) == nil)
    }

    @Test func watchDeliversOldestFirstAndReportsAFileThatNeverCompletes() throws {
        let dir = try Scratch()
        let source = FITSDirectorySource(directory: dir.url.path, mode: .watch, pollInterval: 0.05, settleTime: 0.5)
        try source.open()
        try Self.writeFrame(dir.path("z.fits"), value: 1)
        try Self.writeFrame(dir.path("y.fits"), value: 2)
        try Self.setMtime(dir.path("z.fits"), secondsAgo: 10)
        let bytes = try Self.frameBytes(value: 3, width: 60, height: 50)
        FileManager.default.createFile(atPath: dir.path("stuck.fits"), contents: bytes.prefix(2880 * 2))
        try Self.setMtime(dir.path("stuck.fits"), secondsAgo: 5)
        #expect(origin(next(source, timeout: 2)) == "z.fits")
        // stuck.fits is older than y.fits but incomplete: y goes first, then stuck is reported once settled.
        #expect(origin(next(source, timeout: 2)) == "y.fits")
        guard case let .failure(.badFrame(message)) = next(source, timeout: 3) else {
            Issue.record("an incomplete file that settled should be reported"); return
        }
        #expect(message.contains("stuck.fits") && message.contains("truncated"))
        #expect(origin(next(source, timeout: 0.3)) == nil)
    }

    @Test func floatFramesAreRoundedAndClamped() throws {
        let dir = try Scratch()
        let image = OwnedImage<Float>(width: 6, height: 1, fill: 0)
        for (i, v) in [Float(1.4), 1.5, -3, 70_000, .nan, 65_534.6].enumerated() { image.storage[i] = v }
        try withExtendedLifetime(image) { try FITSWriter.write(path: dir.path("f.fits"), image: image.view) }
        let source = FITSDirectorySource(directory: dir.url.path, mode: .replay(loop: false))
        #expect(origin(next(source)) == "f.fits")
        #expect(Array(slot.prefix(6)) == [1, 2, 0, 65_535, 0, 65_535])
    }

    @Test func missingThenVanishingDirectory() throws {
        let parent = try Scratch()
        let path = parent.path("incoming")
        let source = FITSDirectorySource(directory: path, mode: .watch, pollInterval: 0.05)
        var caught: CaptureError?
        do { try source.open() } catch { caught = error }
        guard case .unavailable = caught else { Issue.record("expected .unavailable, got \(String(describing: caught))"); return }
        #expect(caught?.isTransient == true)

        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        try source.open()
        #expect(origin(next(source, timeout: 0.1)) == nil)
        try FileManager.default.removeItem(atPath: path)
        guard case .failure(.lost) = next(source, timeout: 0.1) else { Issue.record("expected .lost"); return }

        let replay = FITSDirectorySource(directory: path, mode: .replay(loop: true))
        guard case .failure(.unavailable) = next(replay) else { Issue.record("expected .unavailable"); return }
    }

    @Test func frameNames() {
        for name in ["a.fits", "A.FIT", "b.fts", "c.fits.gz", "d.fz"] { #expect(FITSDirectorySource.isFrameName(name)) }
        for name in [".a.fits", "a.fits.tmp", "a.fits.part", "a.txt", ".fits", "fits"] {
            #expect(!FITSDirectorySource.isFrameName(name), "\(name)")
        }
    }
}
