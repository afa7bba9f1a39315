import Foundation
import Testing
import SkyCore

@Suite struct WCSTests {
    // Oracle values from astropy 8.0 (astropy.wcs.WCS all_pix2world / all_world2pix, origin 1).
    @Test func knownValueMatchesAstropy() {
        let wcs = TanWCS(centerRA: 150, centerDec: 20, pixelScaleArcsec: 1.5, rotationDegrees: 30, width: 1024, height: 1024)
        #expect(wcs.crpix1 == 512.5 && wcs.crpix2 == 512.5)
        let w = wcs.world(fitsX: 100, fitsY: 900)
        #expect(abs(w.ra - 150.244393223518) < 1e-9)
        #expect(abs(w.dec - 20.053721608595) < 1e-9)
    }

    @Test func nearThePoleMatchesAstropyBothWays() throws {
        let wcs = TanWCS(crval1: 10, crval2: 89.5, crpix1: 1, crpix2: 1, cd11: -2e-3, cd12: 1e-4, cd21: 2e-4, cd22: 2.1e-3)
        let w = wcs.world(fitsX: 700, fitsY: -300)
        #expect(abs(w.ra - 314.792412470325) < 1e-8)
        #expect(abs(w.dec - 88.261349281878) < 1e-9)
        let p = try #require(wcs.fitsPixel(ra: 200, dec: 89))
        #expect(abs(p.x - 122.6306011465) < 1e-6)
        #expect(abs(p.y - 696.6272030092) < 1e-6)
    }

    @Test(arguments: [(0.0, 0.0, 0.0), (359.9, -45.0, 77.0), (180.0, 60.0, -120.0), (42.0, -89.0, 10.0)])
    func roundTripsPixelWorldPixel(ra: Double, dec: Double, rotation: Double) throws {
        let wcs = TanWCS(centerRA: ra, centerDec: dec, pixelScaleArcsec: 2.0, rotationDegrees: rotation, width: 2048, height: 1536)
        for (x, y) in [(0.0, 0.0), (2047.0, 1535.0), (1023.5, 767.5), (-100.0, 3000.0), (512.25, 10.75)] {
            let w = wcs.world(x: x, y: y)
            #expect(w.ra >= 0 && w.ra < 360)
            let p = try #require(wcs.pixel(ra: w.ra, dec: w.dec))
            #expect(abs(p.x - x) < 1e-6 && abs(p.y - y) < 1e-6)
        }
    }

    @Test func zeroBasedIsFitsMinusOne() throws {
        let wcs = TanWCS(centerRA: 10, centerDec: 10, pixelScaleArcsec: 1, rotationDegrees: 0, width: 100, height: 100)
        // The reference pixel (FITS 50.5) is 0-based 49.5 and sits on CRVAL.
        let c = wcs.world(x: 49.5, y: 49.5)
        #expect(abs(c.ra - 10) < 1e-12 && abs(c.dec - 10) < 1e-12)
        // North is +y, east (larger RA) is -x at zero rotation.
        let north = try #require(wcs.pixel(ra: 10, dec: 10.01))
        let east = try #require(wcs.pixel(ra: 10.01, dec: 10))
        #expect(north.y > 49.5 && abs(north.x - 49.5) < 1e-6)
        #expect(east.x < 49.5)
        #expect(abs(wcs.pixelScaleArcsec - 1) < 1e-12)
    }

    @Test func farSideOfTheSkyHasNoPixel() {
        let wcs = TanWCS(centerRA: 0, centerDec: 0, pixelScaleArcsec: 1, rotationDegrees: 0, width: 10, height: 10)
        #expect(wcs.pixel(ra: 180, dec: 0) == nil)
        #expect(wcs.pixel(ra: 90, dec: 0) == nil)
        let singular = TanWCS(crval1: 0, crval2: 0, crpix1: 1, crpix2: 1, cd11: 1, cd12: 1, cd21: 1, cd22: 1)
        #expect(singular.pixel(ra: 0.1, dec: 0.1) == nil)
    }
}
