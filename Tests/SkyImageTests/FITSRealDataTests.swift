import Foundation
import SkyCore
import Testing
@testable import SkyImage

/// Reading the real frames of ../shared/data and checking them against astropy.
@Suite(.enabled(if: TestPaths.dataAvailable, "../shared/data is absent: real-data FITS tests skipped"))
struct FITSRealDataTests {
    /// Oracle values for one file.
    ///
    /// Obtained on 2025-11 with astropy 8.0.2 and numpy 2.4.6, on the data as astropy
    /// returns it (BZERO/BSCALE applied) cast to float32 then float64:
    /// min/max = np.nanmin/np.nanmax, mean = np.nanmean, median = np.nanmedian,
    /// sigma = 1.4826 * np.nanmedian(np.abs(d - median)), nan = np.isnan(d).sum().
    struct Expected: Sendable {
        var path: String
        var width: Int, height: Int, bitpix: Int, hdu: Int
        var nan: Int
        var min: Double, max: Double, mean: Double, median: Double, sigma: Double
    }

    static let expected: [Expected] = [
        Expected(path: "panoptes_pocs/pocs_tests_solved.fits", width: 700, height: 700, bitpix: 16, hdu: 1, nan: 0,
                 min: 2033, max: 13863, mean: 2236.816730612245, median: 2211, sigma: 53.373599999999996),
        Expected(path: "astropy_data/visualization/reprojected_sdss_g.fits", width: 682, height: 496, bitpix: -32, hdu: 1,
                 nan: 0, min: -0.028759414330124855, max: 159.54156494140625, mean: 0.024780610960680505,
                 median: 0.0021044425666332245, sigma: 0.007955015423870644),
        Expected(path: "panoptes_pocs/tests_solved.fits.fz", width: 700, height: 700, bitpix: 16, hdu: 2, nan: 0,
                 min: 2033, max: 13863, mean: 2236.816730612245, median: 2211, sigma: 53.373599999999996),
        Expected(path: "cloudynight_allsky/000.fits.gz", width: 1392, height: 1040, bitpix: 16, hdu: 1, nan: 0,
                 min: 2042, max: 65535, mean: 3276.0660346209106, median: 2944, sigma: 898.4556),
        Expected(path: "astride/long.fits", width: 512, height: 512, bitpix: 16, hdu: 1, nan: 0,
                 min: -401, max: 4954, mean: 294.50592041015625, median: 293, sigma: 5.9304),
        Expected(path: "ccdproc/a8280271.fits", width: 536, height: 520, bitpix: 16, hdu: 1, nan: 0,
                 min: 187, max: 1715, mean: 296.00031214121697, median: 300, sigma: 7.412999999999999),
        Expected(path: "sep/image.fits", width: 256, height: 256, bitpix: 16, hdu: 1, nan: 0,
                 min: 6566.259765625, max: 98214.5625, mean: 6887.265324354172, median: 6855.6103515625,
                 sigma: 69.331819921875),
        Expected(path: "sfft_decam/input_data/DEC-OBS04a.mini.fits", width: 256, height: 256, bitpix: -64, hdu: 1,
                 nan: 0, min: -142.22509765625, max: 11496.0986328125, mean: 12.508328095078468,
                 median: 0.647705078125, sigma: 33.71973896484375),
        Expected(path: "allsky_cloud_detection/magic_20180817_0055.fits.gz", width: 1392, height: 1040, bitpix: 16,
                 hdu: 1, nan: 0, min: 1249, max: 64586, mean: 1790.400175453139, median: 1735, sigma: 432.9192),
        Expected(path: "ztf_alerts/cutouts/396522680015040001_sci.fits.gz", width: 63, height: 41, bitpix: -32,
                 hdu: 1, nan: 160, min: 140.38671875, max: 310.4375, mean: 276.84784716434143,
                 median: 279.6826171875, sigma: 8.206513146972656),
    ]

    static func close(_ a: Double, _ b: Double, relative: Double) -> Bool {
        abs(a - b) <= relative * Swift.max(abs(a), abs(b), 1e-12)
    }

    @Test(arguments: expected)
    func floatStatisticsMatchAstropy(_ e: Expected) throws {
        let file = try FITSFile.open(TestPaths.dataFile(e.path))
        let image = try file.image()
        #expect(image.index == e.hdu)
        #expect(image.width == e.width && image.height == e.height && image.bitpix == e.bitpix)
        let pixels = try file.readFloat()
        let s = PixelStatistics.of(pixels)
        #expect(s.count + s.nanCount == e.width * e.height)
        #expect(s.nanCount == e.nan)
        // Float32 values agree with astropy's to a few ULP (BSCALE is applied in double by
        // cfitsio, in float32 by astropy); the sigma's deviations are kept in Float here.
        #expect(Self.close(s.min, e.min, relative: 1e-6), "min \(s.min) vs \(e.min)")
        #expect(Self.close(s.max, e.max, relative: 1e-6), "max \(s.max) vs \(e.max)")
        #expect(Self.close(s.mean, e.mean, relative: 1e-6), "mean \(s.mean) vs \(e.mean)")
        #expect(Self.close(s.median, e.median, relative: 1e-6), "median \(s.median) vs \(e.median)")
        #expect(Self.close(s.sigma, e.sigma, relative: 1e-5), "sigma \(s.sigma) vs \(e.sigma)")
    }

    @Test func unsigned16FramesReadExactlyAsUInt16() throws {
        // Integer-valued camera frames must give identical statistics through the UInt16 path.
        for e in Self.expected where e.bitpix == 16 && e.min >= 0 && e.path != "sep/image.fits" {
            let file = try FITSFile.open(TestPaths.dataFile(e.path))
            let image = OwnedImage<UInt16>(width: e.width, height: e.height, fill: 0)
            try file.read(into: image.view)
            let s = PixelStatistics.of(image)
            #expect(s.count == e.width * e.height)
            #expect(s.min == e.min && s.max == e.max && s.median == e.median, "\(e.path)")
            #expect(Self.close(s.mean, e.mean, relative: 1e-12), "\(e.path) mean \(s.mean)")
            #expect(Self.close(s.sigma, e.sigma, relative: 1e-12), "\(e.path) sigma \(s.sigma)")
        }
    }

    @Test func signedInt16IsClampedToZeroInUInt16() throws {
        // astride/long.fits has negative pixels. Oracle: astropy 8.0.2, d = np.clip(data, 0, 65535):
        // mean 294.5086860656738, median 293.0, 1.4826 * MAD 5.9304, min 0, max 4954.
        let file = try FITSFile.open(TestPaths.dataFile("astride/long.fits"))
        let image = OwnedImage<UInt16>(width: 512, height: 512, fill: 7)
        try file.read(into: image.view)
        let s = PixelStatistics.of(image)
        #expect(s.min == 0 && s.max == 4954 && s.median == 293)
        #expect(Self.close(s.mean, 294.5086860656738, relative: 1e-12))
        #expect(Self.close(s.sigma, 5.9304, relative: 1e-12))
    }

    @Test func headerKeywordsBecomeFrameMetadata() throws {
        // Values as printed by astropy 8.0.2 from each header.
        let panoptes = try FITSFile.open(TestPaths.dataFile("panoptes_pocs/pocs_tests_solved.fits")).metadata()
        #expect(panoptes.bitpix == 16 && panoptes.bzero == 32768 && panoptes.bscale == 1)
        #expect(panoptes.exptime == 120.4)
        #expect(panoptes.dateObs == "2016-09-09T08:14:34")
        #expect(panoptes.dateObsInstant != nil)
        #expect(panoptes.filter == "RGGB")
        #expect(panoptes.wcs?.ctype1 == "RA---TAN-SIP")
        #expect(panoptes.wcs?.crval1 == 303.206422334)
        #expect(panoptes.wcs?.crpix1 == 350.5)
        #expect(panoptes.wcs?.cd11 == -2.51615660758e-05)
        #expect(panoptes.wcs?.cd12 == 0.00286295836886)

        // The .fz copy carries the same header behind an empty primary.
        let fz = try FITSFile.open(TestPaths.dataFile("panoptes_pocs/tests_solved.fits.fz"))
        #expect(fz.imageHDUs.map(\.index) == [2])
        #expect(fz.imageHDUs.first?.isCompressed == true)
        #expect(try fz.metadata() == panoptes)

        // EXPTIME stored as a string; DATE-OBS without a time and no TIME-OBS.
        let sdss = try FITSFile.open(TestPaths.dataFile("astropy_data/visualization/reprojected_sdss_g.fits")).metadata()
        #expect(sdss.exptime == 53.907456)
        #expect(sdss.dateObs == "2000-09-27")
        #expect(sdss.filter == "g" && sdss.object == "86 S")
        #expect(sdss.wcs?.ctype1 == "RA---TAN" && sdss.wcs?.crpix1 == 342.66666666667)

        // DATE-OBS + UT; GAIN, RDNOISE, CCD-TEMP.
        let raw = try FITSFile.open(TestPaths.dataFile("ccdproc/a8280271.fits")).metadata()
        #expect(raw.exptime == 150.04)
        #expect(raw.dateObs == "2013-07-13T00:57:33")
        #expect(raw.dateObsInstant == UTCInstant(iso: "2013-07-13T00:57:33"))
        #expect(raw.gain == 1.9 && raw.readNoise == 5.0 && raw.ccdTemperature == 180.2)
        #expect(raw.instrument == "STE3 CCD" && raw.object == "rf0420")
        #expect(raw.wcs == nil)

        // Old DD/MM/YY form with a Y2K-era three-digit year, plus TIME-OBS.
        let long = try FITSFile.open(TestPaths.dataFile("astride/long.fits")).metadata()
        #expect(long.dateObs == "2002-07-26T19:36:37")
        #expect(long.exptime == 60 && long.filter == "R" && long.instrument == "Apogee CCD Camera")
        #expect(long.wcs?.cd11 == 0.00084444077898485)

        // Pixel-only WCS (CTYPE = '') is not celestial; DATAMAX gives the saturation.
        let allsky = try FITSFile.open(TestPaths.dataFile("cloudynight_allsky/000.fits.gz")).metadata()
        #expect(allsky.wcs == nil)
        #expect(allsky.saturation == 65535)
        #expect(allsky.dateObs == "2018-07-29T04:08:29.014")

        // SATURATE is preferred; DECam's GAIN and RDNOISE; EXTNAME selection.
        let decamFile = try FITSFile.open(TestPaths.dataFile("sfft_decam/input_data/DEC-OBS04a.mini.fits"))
        let decam = try decamFile.metadata(hdu: .named("n6"))
        #expect(decam.gain == 3.984046692260535 && decam.readNoise == 11.83702)
        #expect(decam.saturation == 46536.1041736873)
        #expect(decam.wcs?.ctype1 == "RA---TPV")
        #expect(try decamFile.keyword("EXTNAME") == "N6")
        #expect(try decamFile.keyword("NO-SUCH") == nil)
    }

    /// Every FITS file in the data folder, plus a sample of the alert cutouts.
    static func allFiles() -> [String] {
        guard TestPaths.dataAvailable else { return [] }
        var files: [String] = []
        let root = TestPaths.data.path
        if let walker = FileManager.default.enumerator(atPath: root) {
            for case let relative as String in walker where !relative.contains("/cutouts/") {
                let lower = relative.lowercased()
                if [".fits", ".fit", ".fits.gz", ".fz"].contains(where: { lower.hasSuffix($0) }) {
                    files.append(relative)
                }
            }
        }
        // Every 20th alert of alerts_index.csv: its science, reference and difference cutouts.
        if let index = try? String(contentsOfFile: TestPaths.dataFile("alerts_index.csv"), encoding: .utf8) {
            let rows = index.split(whereSeparator: \.isNewline).dropFirst()   // CRLF lines
            for (i, row) in rows.enumerated() where i % 20 == 0 {
                files += row.split(separator: ",", omittingEmptySubsequences: false)
                    .filter { $0.hasSuffix(".fits.gz") }.map(String.init)
            }
        }
        return files.sorted()
    }

    @Test func everyFileOpensAndReads() throws {
        let files = Self.allFiles()
        #expect(files.count > 60, "expected the data folder's ~55 frames and sampled cutouts, found \(files.count)")
        for relative in files {
            let path = TestPaths.dataFile(relative)
            do {
                let file = try FITSFile.open(path)
                let meta = try file.metadata()
                #expect(meta.width > 0 && meta.height > 0)
                let pixels = try file.readFloat()
                let s = PixelStatistics.of(pixels)
                #expect(s.count + s.nanCount == meta.width * meta.height, "\(relative)")
                #expect(s.count > 0, "\(relative) has no finite pixel")
                let u16 = OwnedImage<UInt16>(width: meta.width, height: meta.height, fill: 0)
                try file.read(into: u16.view)
            } catch {
                Issue.record("\(relative): \(error)")
            }
        }
    }
}
