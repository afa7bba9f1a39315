import Foundation
import Testing
@testable import SkyImage
import SkyCore
import SkySim

/// Bad columns and sky brightness against the simulator's truth, and no bad
/// columns on real frames that have none.
@Suite struct QualityDefectsAndSkyTests {
    /// SkySim's CameraDefects: dead columns read bias, hot ones an offset of 80-600 ADU,
    /// a third of them from a charge trap part-way up the column.
    /// Camera seed 21 has a dead column beside a hot one and two that start at a charge trap.
    @Test(arguments: [21] as [UInt64])
    func badColumnsOfASimulatedCameraAreFound(seed: UInt64) throws {
        let r = try SimulatedQualityChecks.badColumnMatch(cameraSeed: seed)
        print("bad columns, camera seed \(seed): truth \(r.truthColumns) (\(r.findable) findable), found \(r.foundColumns)")
        #expect(r.findable >= 4)
        #expect(r.matched == r.findable)
        #expect(r.falsePositives == 0)
    }

    /// Cosmic rays against the simulator's hits: the multi-pixel ones counted, none on a clean frame.
    @Test func cosmicRaysAreCountedAndACleanFrameHasNone() throws {
        let row = try SimulatedQualityChecks.cosmicRays()
        #expect(row.passed, "\(row.truth): \(row.measured)")
    }

    @Test func cleanSensorsHaveNoBadColumns() throws {
        let row = try SimulatedQualityChecks.cleanFramesHaveNoBadColumns()
        #expect(row.passed, "\(row.measured)")
    }

    /// A column that steps (an overscan edge) stands out from one side only and is no bad column;
    /// one that reads 40 ADU high from row 100 on, in 4-sigma noise, is.
    @Test func aStepIsNoBadColumnButAnOffsetColumnIs() throws {
        let w = 256, h = 256
        let image = OwnedImage<Float>(width: w, height: h, fill: 0)
        var rng = SeededRandom(seed: 6060)   // fixed: a failure must be reproducible
        for y in 0..<h {
            for x in 0..<w {
                var v = 1000 + Float.random(in: -17...17, using: &rng)
                if x >= 200 { v += 300 }
                if x == 60 && y >= 100 { v += 40 }
                image[x, y] = v
            }
        }
        let extractor = SourceExtractor(maxWidth: w, maxHeight: h)
        let found = try image.withView { view -> [BadColumnSpan] in
            _ = try extractor.extract(view)
            return extractor.withMaps { sub, _ in BadColumnFinder.find(sub, image: view, noise: extractor.background!.globalRMS, saturation: .infinity) }
        }
        print("bad columns in the step frame: \(found)")
        #expect(found.map(\.x) == [60])
        #expect(found.first.map { abs($0.offset - 40) < 8 && abs($0.y0 - 100) <= 64 && $0.y1 == h - 1 } == true)
    }

    /// A diffraction spike (M6707HH), overscan (ccdproc), a Bayer mosaic (PANOPTES), coarse quantization
    /// and banding (phd2). Tools/quality_check.py shows the other real frames (none there either).
    @Test(arguments: ["panoptes_pocs/pocs_tests_solved.fits", "ccdproc/a8280271.fits", "phd2/simimage.fit",
                      "astropy_data/photometry/M6707HH.fits"])
    func realFramesWithoutBadColumns(path: String) throws {
        guard TestPaths.dataAvailable else { print("skip: ../shared/data absent"); return }
        let q = try QualityRealDataTests.judge(path)
        #expect(q.badColumns.isEmpty, "\(path): \(q.badColumns)")
        #expect(!q.flags.contains("bad_columns"))
    }

    @Test(arguments: [20.5])
    func skyBrightnessMatchesTheSimulatedSky(magnitude: Double) throws {
        let row = try SimulatedQualityChecks.skyBrightness(magnitude: magnitude)
        print("sky brightness: truth \(row.truth), measured \(row.measured)")
        #expect(row.passed)
    }

    /// 1000 ADU above a pedestal of 100 in 10 s on 2"x2" pixels is 25 ADU/s/arcsec²: 3.495 mag brighter than the zero point.
    @Test func skyBrightnessFormula() {
        let m = SkyBrightness.magnitudesPerSquareArcsecond(background: 1100, pedestal: 100, exposure: 10, zeroPoint: 25, pixelScale: 2)
        #expect(abs((m ?? 0) - 21.505) < 0.001)
        #expect(SkyBrightness.magnitudesPerSquareArcsecond(background: 90, pedestal: 100, exposure: 10, zeroPoint: 25, pixelScale: 2) == nil)
        #expect(SkyBrightness.magnitudesPerSquareArcsecond(background: 1100, pedestal: 100, exposure: 0, zeroPoint: 25, pixelScale: 2) == nil)
    }

    @Test func skydiagQualityReportsSkyBrightnessAndBadColumns() throws {
        guard TestPaths.dataAvailable else { print("skip: ../shared/data absent"); return }
        let run = try SkydiagFitsCommandTests.skydiag(["quality", TestPaths.dataFile("sep/image.fits"), "--json",
                                                        "--zero-point", "25", "--pixel-scale", "0.3", "--pedestal", "0"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let sky = try #require(object["sky_mag_arcsec2"] as? Double)
        let background = try #require(object["background"] as? Double)
        // EXPTIME = 1200 s in this frame's header.
        #expect(abs(sky - (25 - 2.5 * log10(background / (1200 * 0.3 * 0.3)))) < 0.01)
        #expect((object["bad_columns"] as? [Any])?.isEmpty == true)
        let plain = try SkydiagFitsCommandTests.skydiag(["quality", TestPaths.dataFile("sep/image.fits"), "--json"])
        let noZero = try #require(try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any])
        #expect(noZero["sky_mag_arcsec2"] is NSNull)
    }
}
