import Foundation
import Testing
@testable import SkyImage

/// Quality judgement on real frames from ../shared/data.
@Suite struct QualityRealDataTests {
    static func judge(_ relative: String, options: QualityOptions = .init()) throws -> FrameQuality {
        let file = try FITSFile.open(TestPaths.dataFile(relative))
        defer { file.close() }
        let image = try file.readFloat()
        let extractor = SourceExtractor(maxWidth: image.width, maxHeight: image.height)
        return try image.withView { view in
            let catalog = try extractor.extract(view)
            return FrameQualityJudge.judge(view, extractor: extractor, catalog: catalog, options: options)
        }
    }

    /// astride's reference (long.fits.streaks_reference.txt) lists the trail as two
    /// pieces of one line, from about (20, 338) through (184, 323) to (342, 309).
    @Test func astrideTrailMatchesReference() throws {
        guard TestPaths.dataAvailable else { print("skip: ../shared/data absent"); return }
        let q = try Self.judge("astride/long.fits")
        #expect(q.trails.count == 1)
        let t = try #require(q.trails.first)
        let (a, b) = t.x0 < t.x1 ? ((t.x0, t.y0), (t.x1, t.y1)) : ((t.x1, t.y1), (t.x0, t.y0))
        print("astride trail: (\(a.0), \(a.1)) - (\(b.0), \(b.1))")
        #expect(abs(a.0 - 20) < 5 && abs(a.1 - 338) < 5)
        #expect(abs(b.0 - 342) < 5 && abs(b.1 - 309) < 5)
        let reference = TrailSegment(x0: 20, y0: 338, x1: 342, y1: 309)
        #expect(TrailFinder.distanceToLine(reference, 184, 323) < 2, "reference pieces are collinear")
        #expect(q.flags.contains("trail"))
    }

    @Test(arguments: ["panoptes_pocs/pocs_tests_solved.fits", "astropy_data/visualization/reprojected_sdss_g.fits",
                      "astropy_data/visualization/reprojected_sdss_r.fits", "sep/image.fits"])
    func starFieldsHaveNoTrail(path: String) throws {
        guard TestPaths.dataAvailable else { print("skip: ../shared/data absent"); return }
        let q = try Self.judge(path)
        #expect(q.trails.isEmpty, "\(path): \(q.trails)")
        #expect(q.stars >= 20)
        #expect(q.verdict != "bad")
    }

    @Test(arguments: ["astropy_data/tutorials/FITS-images/M13_blue_0001.fits.gz",
                      "astropy_data/tutorials/FITS-images/M13_blue_0005.fits.gz"])
    func driftingNearEmptyFramesAreBad(path: String) throws {
        guard TestPaths.dataAvailable else { print("skip: ../shared/data absent"); return }
        let q = try Self.judge(path)
        #expect(q.verdict == "bad")
        #expect(q.flags.contains("few_stars"))
    }

    /// cloudynight's labels (y_train.dat): 000 cloudy in all 33 regions, 005 clear in all.
    /// The sky circle is cloudynight's region of interest (x 220..1190, y 0..960).
    @Test func allSkyClearAndCloudyFramesGetTheirVerdicts() throws {
        guard TestPaths.dataAvailable else { print("skip: ../shared/data absent"); return }
        var options = QualityOptions()
        options.skyCircle = SkyCircle(x: 705, y: 480, radius: 480)
        let clear = try Self.judge("cloudynight_allsky/005.fits.gz", options: options)
        let cloudy = try Self.judge("cloudynight_allsky/000.fits.gz", options: options)
        print("all-sky: clear \(clear.verdict) \(clear.score) \(clear.stars) stars; cloudy \(cloudy.verdict) \(cloudy.score) \(cloudy.stars) stars")
        #expect(clear.verdict == "good")
        #expect(clear.trails.isEmpty)
        #expect(cloudy.verdict == "bad")
        #expect(cloudy.stars * 10 < clear.stars)
    }
}
