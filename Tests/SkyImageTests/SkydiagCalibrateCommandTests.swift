import Foundation
import Testing
@testable import SkyImage

/// `skydiag calibrate` as a process: masters with their provenance, overscan from the command
/// line for frames whose headers do not give it, and darks of mixed exposures refused.
struct SkydiagCalibrateCommandTests {
    /// A 40 x 32 raw frame: columns 33-40 are overscan at `level`; the 32 x 32 image reads
    /// level + signal(x, y).
    static func writeRaw(_ path: String, level: Float, exposure: Double, signal: (Int, Int) -> Float) throws {
        let image = OwnedImage<Float>(width: 40, height: 32, fill: level)
        for y in 0..<32 { for x in 0..<32 { image.storage[y * 40 + x] = level + signal(x, y) } }
        try withExtendedLifetime(image) {
            try FITSWriter.write(path: path, image: image.view, metadata: FrameMetadata(width: 40, height: 32, exptime: exposure))
        }
    }

    @Test func mastersCarryTheirProvenanceAndTheCommandLineOverscan() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let fm = FileManager.default
        for sub in ["bias", "dark", "mixed", "out"] { try fm.createDirectory(atPath: dir.path(sub), withIntermediateDirectories: true) }
        // The bias pattern rides on an overscan level that changes from frame to frame.
        let pattern = { (x: Int, y: Int) -> Float in Float((x * 7 + y * 3) % 11) }
        for (i, level) in [1000, 1012, 994].enumerated() {
            try Self.writeRaw(dir.path("bias/b\(i).fits"), level: Float(level), exposure: 0, signal: pattern)
        }
        // Darks: the bias pattern plus 2 e/s of dark current over 10 s.
        for (i, level) in [1003, 998].enumerated() {
            try Self.writeRaw(dir.path("dark/d\(i).fits"), level: Float(level), exposure: 10) { pattern($0, $1) + 20 }
        }
        let run = try SkydiagFitsCommandTests.skydiag(["calibrate", "--bias", dir.path("bias"), "--dark", dir.path("dark"),
                                                       "--out", dir.path("out"), "--method", "median",
                                                       "--overscan", "[33:40,1:32]", "--trim", "[1:32,1:32]"])
        #expect(run.status == 0, "\(run.stderr)")
        let bias = try FITSFile.open(dir.path("out/bias.fits"))
        defer { bias.close() }
        let b = try bias.readFloat()
        #expect(b.width == 32 && b.height == 32, "trimmed to the --trim section")
        #expect((0..<(32 * 32)).allSatisfy { abs(b.storage[$0] - pattern($0 % 32, $0 / 32)) < 1e-3 }, "overscan level removed")
        #expect(try bias.keyword("IMAGETYP")?.contains("MASTER BIAS") == true)
        #expect(try bias.keyword("NCOMBINE") == "3")
        #expect(try bias.keyword("SRC001")?.contains("b0.fits") == true)
        let dark = try FITSFile.open(dir.path("out/dark.fits"))
        defer { dark.close() }
        #expect(try dark.metadata().exptime == 10)
        let darkPixels = try dark.readFloat()
        #expect(darkPixels.storage.allSatisfy { abs($0 - 20) < 1e-3 }, "bias-subtracted dark signal: \(darkPixels.storage.min() ?? .nan)...\(darkPixels.storage.max() ?? .nan)")
        #expect(try dark.keyword("CALNOTE")?.contains("bias-subtracted") == true)

        // Darks of two exposure times cannot make one master.
        try Self.writeRaw(dir.path("mixed/a.fits"), level: 1000, exposure: 10) { _, _ in 20 }
        try Self.writeRaw(dir.path("mixed/b.fits"), level: 1000, exposure: 30) { _, _ in 60 }
        let mixed = try SkydiagFitsCommandTests.skydiag(["calibrate", "--dark", dir.path("mixed"), "--out", dir.path("out2"),
                                                         "--overscan", "[33:40,1:32]", "--trim", "[1:32,1:32]"])
        #expect(mixed.status != 0 && mixed.stderr.contains("different exposures"), "\(mixed.stderr)")
        let half = try SkydiagFitsCommandTests.skydiag(["calibrate", "--bias", dir.path("bias"), "--out", dir.path("out3"), "--overscan", "[33:40,1:32]"])
        #expect(half.status != 0 && half.stderr.contains("go together"), "\(half.stderr)")
    }
}
