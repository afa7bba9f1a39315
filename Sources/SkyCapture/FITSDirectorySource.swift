import Foundation
import SkyCore
import SkyImage

/// Frames from a directory of FITS files (`.fits`, `.fit`, `.fts`, their `.gz`, and `.fz`).
///
/// - `.watch`: delivers files that appear after `open()`, as camera software writes
///   them. Files present at the first `open()` are ignored. A file is taken once its
///   size and modification time have not changed for at least `pollInterval` and its
///   header's data length is all there; a file that stays incomplete for `settleTime`
///   is delivered anyway, so it is reported as a bad frame rather than waited on forever.
///   Ready files go oldest first (modification time, then name). Each name is delivered
///   at most once while it stays in the directory.
/// - `.replay(loop:)`: every file present, in name order; with `loop`, the directory is
///   listed again and replayed from the start after the last file. Without it,
///   `nextFrame` returns nil at the end and `isExhausted` becomes true.
///
/// Dotfiles and names without a FITS suffix (`x.fits.tmp`, `x.fits.part`) are ignored.
/// Pixels are converted to UInt16 into the caller's slot, row-major, `width` per row:
/// 16-bit camera data exactly; other data rounded to nearest (halves away from zero)
/// and clamped to 0...65535, NaN to 0 (see `FITSFile.read(into:hdu:)` for UInt16).
/// The returned metadata describes the file (its BITPIX, BZERO, BSCALE), not the slot.
///
/// Errors: a bad file gives `.badFrame` naming the path and the FITS error, and the
/// next call moves on to the next file; a frame larger than the slot gives `.tooLarge`
/// (that file is skipped too); a directory that does not exist gives `.unavailable`;
/// one that disappears after opening gives `.lost`.
public final class FITSDirectorySource: FrameSource {
    public enum Mode: Sendable, Equatable {
        case watch
        case replay(loop: Bool)
    }

    public let directory: String
    public let mode: Mode
    public let hdu: FITSHDUSelector
    /// Seconds between directory scans while waiting, and the time a file must stay unchanged.
    public let pollInterval: Double
    /// Seconds after which an unchanged but incomplete file is delivered (and reported bad).
    public let settleTime: Double
    public let name: String
    public let maxFrameSize: (width: Int, height: Int)?
    /// Replay without loop has delivered every file.
    public private(set) var isExhausted = false

    static let suffixes = [".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fz"]

    private struct Observation { var size: Int64; var mtime: Double; var since: Double }

    private var isOpen = false
    private var hasBaseline = false
    private var delivered: Set<String> = []
    private var pending: [String: Observation] = [:]
    private var replayQueue: [String] = []
    private var replayPosition = 0

    /// - Parameters:
    ///   - expectedFrameSize: the largest frame, when the caller knows it (reported as `maxFrameSize`).
    public init(directory: String, mode: Mode, hdu: FITSHDUSelector = .firstImage, pollInterval: Double = 0.25,
                settleTime: Double = 5, expectedFrameSize: (width: Int, height: Int)? = nil) {
        self.directory = directory
        self.mode = mode
        self.hdu = hdu
        self.pollInterval = max(0.001, pollInterval)
        self.settleTime = settleTime
        self.maxFrameSize = expectedFrameSize
        switch mode {
        case .watch: name = "fits-dir watch \(directory)"
        case let .replay(loop): name = "fits-dir replay\(loop ? " loop" : "") \(directory)"
        }
    }

    public func open() throws(CaptureError) {
        var info = stat()
        guard stat(directory, &info) == 0 else {
            throw .unavailable("directory \(directory) does not exist or cannot be read (\(String(cString: strerror(errno))))")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw .misconfigured("\(directory) is not a directory") }
        let names = try listing()
        switch mode {
        case .watch:
            // Files there before the first start are history, not new frames.
            if !hasBaseline { delivered = Set(names); hasBaseline = true }
            pending = [:]
        case .replay:
            replayQueue = names.sorted()
            replayPosition = 0
            isExhausted = false
        }
        isOpen = true
    }

    public func close() {
        isOpen = false
        pending = [:]
    }

    public func nextFrame(into slot: UnsafeMutableBufferPointer<UInt16>, timeout: Double) throws(CaptureError) -> CapturedFrame? {
        if !isOpen { try open() }
        switch mode {
        case let .replay(loop):
            let frame = try nextReplayed(into: slot, loop: loop)
            // Nothing left (or an empty looped directory): wait as a camera would,
            // so a caller polling in a loop does not spin a core.
            if frame == nil { usleep(useconds_t(min(max(0, timeout), pollInterval) * 1_000_000)) }
            return frame
        case .watch: return try nextWatched(into: slot, timeout: timeout)
        }
    }

    // MARK: Replay

    private func nextReplayed(into slot: UnsafeMutableBufferPointer<UInt16>, loop: Bool) throws(CaptureError) -> CapturedFrame? {
        try checkDirectoryStillThere()
        if replayPosition >= replayQueue.count {
            guard loop else { isExhausted = true; return nil }
            replayQueue = try listing().sorted()
            replayPosition = 0
            if replayQueue.isEmpty { return nil }
        }
        let name = replayQueue[replayPosition]
        replayPosition += 1
        return try deliver(name, file: nil, into: slot)
    }

    // MARK: Watch

    private func nextWatched(into slot: UnsafeMutableBufferPointer<UInt16>, timeout: Double) throws(CaptureError) -> CapturedFrame? {
        let deadline = MonotonicClock.seconds() + max(0, timeout)
        while true {
            try checkDirectoryStillThere()
            if let (name, file) = try readyFile(limit: Self.decompressionLimit(slot)) {
                delivered.insert(name)
                pending[name] = nil
                return try deliver(name, file: file, into: slot)
            }
            let left = deadline - MonotonicClock.seconds()
            if left <= 0 { return nil }
            usleep(useconds_t(min(left, pollInterval) * 1_000_000))
        }
    }

    /// The oldest file that is ready, with the FITSFile opened while checking it (nil
    /// when it is being delivered only because it settled while incomplete or unreadable).
    private func readyFile(limit: Int) throws(CaptureError) -> (String, FITSFile?)? {
        let names = try listing()
        let now = MonotonicClock.seconds()
        let present = Set(names)
        delivered.formIntersection(present)          // a name that comes back is a new file
        pending = pending.filter { present.contains($0.key) }

        var stable: [(name: String, mtime: Double, settled: Bool)] = []
        for name in names where !delivered.contains(name) {
            var info = stat()
            guard stat(path(name), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            let size = Int64(info.st_size)
            let mtime = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) * 1e-9
            if let seen = pending[name], seen.size == size, seen.mtime == mtime {
                if now - seen.since >= pollInterval, size > 0 {
                    stable.append((name, mtime, now - seen.since >= settleTime))
                }
            } else {
                pending[name] = Observation(size: size, mtime: mtime, since: now)
            }
        }
        for candidate in stable.sorted(by: { ($0.mtime, $0.name) < ($1.mtime, $1.name) }) {
            if let file = completeFile(candidate.name, limit: limit) { return (candidate.name, file) }
            if candidate.settled { return (candidate.name, nil) }
        }
        return nil
    }

    /// The file opened, when its header and all its data are on disk.
    private func completeFile(_ name: String, limit: Int) -> FITSFile? {
        do {
            let file = try FITSFile.open(path(name), maxDecompressedBytes: limit)
            try file.checkComplete(hdu: hdu)
            return file
        } catch {
            return nil
        }
    }

    // MARK: Shared

    /// The most a `.fits.gz` may expand to: the slot's frame as 64-bit floats plus
    /// room for headers and small extra HDUs, so that cfitsio's in-memory copy of a
    /// compressed file stays near the frame size the memory plan was made for.
    static func decompressionLimit(_ slot: UnsafeMutableBufferPointer<UInt16>) -> Int {
        slot.count * 8 + (64 << 20)
    }

    private func deliver(_ name: String, file: FITSFile?, into slot: UnsafeMutableBufferPointer<UInt16>) throws(CaptureError) -> CapturedFrame {
        let path = path(name)
        do {
            let file = try file ?? FITSFile.open(path, maxDecompressedBytes: Self.decompressionLimit(slot))
            defer { file.close() }
            let meta = try file.metadata(hdu: hdu)
            guard let base = slot.baseAddress, meta.width * meta.height <= slot.count else {
                throw CaptureError.tooLarge(width: meta.width, height: meta.height, capacity: slot.count)
            }
            try file.read(into: ImageView(base: base, width: meta.width, height: meta.height), hdu: hdu)
            return CapturedFrame(metadata: meta, origin: path, capturedAtMonotonic: MonotonicClock.seconds())
        } catch let error as CaptureError {
            throw error
        } catch {
            throw .badFrame("\(error)")
        }
    }

    private func checkDirectoryStillThere() throws(CaptureError) {
        var info = stat()
        guard stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .lost("directory \(directory) disappeared")
        }
    }

    /// FITS file names in the directory (not sorted).
    private func listing() throws(CaptureError) -> [String] {
        guard let dir = opendir(directory) else {
            throw .lost("cannot list \(directory): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if FITSDirectorySource.isFrameName(name) { names.append(name) }
        }
        return names
    }

    /// A visible name with a FITS suffix (so `x.fits.tmp`, `x.fits.part` and dotfiles are not).
    public static func isFrameName(_ name: String) -> Bool {
        guard !name.hasPrefix(".") else { return false }
        let lower = name.lowercased()
        return suffixes.contains { lower.hasSuffix($0) && lower.count > $0.count }
    }

    private func path(_ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
