import Foundation
import Testing
@testable import SkyImage

/// `skydiag fits` as a process: exit codes, JSON keys, one-line errors.
enum SkydiagBinary {
    static let path = TestPaths.packageRoot.appendingPathComponent(".build/debug/skydiag").path
    static var exists: Bool { FileManager.default.isExecutableFile(atPath: path) }
}

struct CommandNotBuilt: Error, CustomStringConvertible {
    var path: String
    var description: String { "\(path) is not built: run swift build --build-tests first (Tools/test.sh does)" }
}

/// The binary is built by `swift build --build-tests` (Tools/test.sh): a missing one fails the tests
/// rather than skipping them, so the command's behaviour is never silently untested.
struct SkydiagFitsCommandTests {
    struct Run { var status: Int32; var stdout: String; var stderr: String }

    static func skydiag(_ arguments: [String]) throws -> Run {
        guard SkydiagBinary.exists else {
            throw CommandNotBuilt(path: SkydiagBinary.path)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SkydiagBinary.path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func jsonForAWrittenFrame() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("ramp.fits")
        // 10 x 10 pixels 100...199: min 100, max 199, mean = median = 149.5.
        let image = OwnedImage<UInt16>(width: 10, height: 10, fill: 0)
        for i in 0..<100 { image.storage[i] = UInt16(100 + i) }
        try withExtendedLifetime(image) {
            try FITSWriter.write(path: path, image: image.view,
                                 metadata: FrameMetadata(width: 10, height: 10, exptime: 30, filter: "V"))
        }
        let run = try Self.skydiag(["fits", path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        for key in ["width", "height", "bitpix", "exptime", "min", "max", "mean", "median", "sigma",
                    "nan_count", "hdu", "filter", "gain", "date_obs"] {
            #expect(object.keys.contains(key), "missing key \(key)")
        }
        #expect(object["width"] as? Int == 10 && object["height"] as? Int == 10)
        #expect(object["bitpix"] as? Int == 16)
        #expect(object["exptime"] as? Double == 30)
        #expect(object["min"] as? Double == 100 && object["max"] as? Double == 199)
        #expect(object["mean"] as? Double == 149.5 && object["median"] as? Double == 149.5)
        #expect(object["filter"] as? String == "V")
        #expect(object["gain"] is NSNull)
    }

    @Test(.enabled(if: TestPaths.dataAvailable, "../shared/data absent"))
    func jsonForARealFrame() throws {
        // astropy 8.0.2 on pocs_tests_solved.fits: 700 x 700, min 2033, max 13863, median 2211.
        let run = try Self.skydiag(["fits", "--json", TestPaths.dataFile("panoptes_pocs/pocs_tests_solved.fits")])
        #expect(run.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["width"] as? Int == 700 && object["min"] as? Double == 2033)
        #expect(object["max"] as? Double == 13863 && object["median"] as? Double == 2211)
        #expect(object["exptime"] as? Double == 120.4)
    }

    /// `skydiag sources`: the CSV the issue names with `--csv`, a table for people without it,
    /// both the same catalogue (the table brightest first).
    @Test(.enabled(if: TestPaths.dataAvailable, "../shared/data absent"))
    func sourcesAsCSVAndAsATable() throws {
        let file = TestPaths.dataFile("sep/image.fits")
        let csv = try Self.skydiag(["sources", file, "--csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.first == "x,y,flux,flux_err,fwhm,a,b,theta,flags")
        let rows = lines.dropFirst().map { $0.split(separator: ",") }
        #expect(rows.count > 10 && rows.allSatisfy { $0.count == 9 })
        let table = try Self.skydiag(["sources", file])
        #expect(table.status == 0)
        let tableLines = table.stdout.split(separator: "\n")
        #expect(tableLines.first?.contains(": \(rows.count) sources, background ") == true, "\(tableLines.first ?? "")")
        let fluxes = tableLines.dropFirst(2).map { Double($0.split(separator: " ")[2]) ?? .nan }
        #expect(fluxes.count == rows.count)
        #expect(fluxes == fluxes.sorted(by: >), "brightest first")
        let csvFluxes = rows.map { Double($0[2]) ?? .nan }.sorted(by: >)
        #expect(zip(fluxes, csvFluxes).allSatisfy { abs($0 - $1) <= 1e-4 * abs($1) })
    }

    /// The keys the issue names for `skydiag quality --json`, on a frame with a trail.
    @Test(.enabled(if: TestPaths.dataAvailable, "../shared/data absent"))
    func qualityJSONHasTheIssuesKeys() throws {
        let run = try Self.skydiag(["quality", TestPaths.dataFile("astride/long.fits"), "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let q = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        for key in ["background", "noise", "stars", "fwhm_px", "ellipticity", "trails", "cloud_fraction", "score", "verdict", "flags"] {
            #expect(q.keys.contains(key), "missing \(key)")
        }
        let trails = try #require(q["trails"] as? [[String: Any]])
        #expect(trails.count == 1 && ["x0", "y0", "x1", "y1"].allSatisfy { trails[0][$0] is Double })
        #expect(["good", "medium", "bad"].contains(q["verdict"] as? String ?? ""))
        #expect((q["flags"] as? [String])?.contains("trail") == true)
    }

    @Test func textOutputForAFrame() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("flat.fits")
        let image = OwnedImage<Float>(width: 6, height: 4, fill: 2.5)
        try withExtendedLifetime(image) { try FITSWriter.write(path: path, image: image.view) }
        let run = try Self.skydiag(["fits", path])
        #expect(run.status == 0)
        #expect(run.stdout.contains("6 x 4") && run.stdout.contains("-32") && run.stdout.contains("median"))
    }

    @Test func badFileGivesOneErrorLine() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.path("bad.fits")
        try Data("SIMPLE? no, just text\n".utf8).write(to: URL(fileURLWithPath: path))
        for arguments in [["fits", path], ["fits", "--json", path], ["fits", dir.path("missing.fits")]] {
            let run = try Self.skydiag(arguments)
            #expect(run.status == 1)
            #expect(run.stdout.isEmpty)
            let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: true)
            #expect(lines.count == 1, "stderr: \(run.stderr)")
            #expect(lines.first?.hasPrefix("error: ") == true)
        }
    }
}
