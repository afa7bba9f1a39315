import Foundation

/// A gnomonic (FITS `RA---TAN` / `DEC--TAN`) world coordinate system: CRVAL
/// (degrees), CRPIX (FITS, 1-based) and the CD matrix (degrees per pixel), as
/// in Calabretta & Greisen (2002) with the default LONPOLE of 180 degrees.
///
/// Two pixel conventions are offered because both are in use: the `fits`
/// methods take and give FITS pixel coordinates (first pixel centre is 1.0),
/// the others 0-based array coordinates (first pixel centre is 0.0), which is
/// what the image code and the simulator's ground truth use.
public struct TanWCS: Sendable, Equatable, Codable {
    public var crval1: Double
    public var crval2: Double
    public var crpix1: Double
    public var crpix2: Double
    public var cd11: Double
    public var cd12: Double
    public var cd21: Double
    public var cd22: Double

    public init(crval1: Double, crval2: Double, crpix1: Double, crpix2: Double,
                cd11: Double, cd12: Double, cd21: Double, cd22: Double) {
        self.crval1 = crval1; self.crval2 = crval2; self.crpix1 = crpix1; self.crpix2 = crpix2
        self.cd11 = cd11; self.cd12 = cd12; self.cd21 = cd21; self.cd22 = cd22
    }

    /// The usual camera layout: the reference point at the centre of a
    /// `width` x `height` frame, `pixelScaleArcsec` square pixels, north up and
    /// east left at zero rotation; `rotationDegrees` rotates the CD matrix
    /// (CD = scale * [[-cos, sin], [sin, cos]], the CROTA2 convention).
    public init(centerRA: Double, centerDec: Double, pixelScaleArcsec: Double, rotationDegrees: Double,
                width: Int, height: Int) {
        let s = pixelScaleArcsec / 3600
        let t = rotationDegrees * .pi / 180
        let c = Foundation.cos(t), sn = Foundation.sin(t)
        self.init(crval1: centerRA, crval2: centerDec,
                  crpix1: (Double(width) + 1) / 2, crpix2: (Double(height) + 1) / 2,
                  cd11: -s * c, cd12: s * sn, cd21: s * sn, cd22: s * c)
    }

    /// Determinant of the CD matrix; zero means the matrix cannot be inverted.
    public var determinant: Double { cd11 * cd22 - cd12 * cd21 }

    /// Mean pixel scale in arcseconds per pixel.
    public var pixelScaleArcsec: Double { abs(determinant).squareRoot() * 3600 }

    /// The same sky seen with the camera moved so that every object lands
    /// `dx`, `dy` pixels further along x and y.
    public func shifted(dx: Double, dy: Double) -> TanWCS {
        var w = self
        w.crpix1 += dx; w.crpix2 += dy
        return w
    }

    // MARK: pixel -> world

    /// World coordinates (RA, Dec in degrees, RA in [0, 360)) of a FITS (1-based) pixel position.
    public func world(fitsX: Double, fitsY: Double) -> (ra: Double, dec: Double) {
        let dx = fitsX - crpix1, dy = fitsY - crpix2
        let xi = (cd11 * dx + cd12 * dy) * .pi / 180
        let eta = (cd21 * dx + cd22 * dy) * .pi / 180
        let ra0 = crval1 * .pi / 180, dec0 = crval2 * .pi / 180
        let sd0 = Foundation.sin(dec0), cd0 = Foundation.cos(dec0)
        let denom = cd0 - eta * sd0
        let dra = Foundation.atan2(xi, denom)
        let dec = Foundation.atan2(sd0 + eta * cd0, (xi * xi + denom * denom).squareRoot())
        var ra = (ra0 + dra) * 180 / .pi
        ra = ra.truncatingRemainder(dividingBy: 360)
        if ra < 0 { ra += 360 }
        return (ra, dec * 180 / .pi)
    }

    /// World coordinates of a 0-based pixel position.
    public func world(x: Double, y: Double) -> (ra: Double, dec: Double) { world(fitsX: x + 1, fitsY: y + 1) }

    // MARK: world -> pixel

    /// Standard (tangent-plane) coordinates in degrees, or nil for a point 90
    /// degrees or more from the reference point, which TAN cannot show.
    public func standardCoordinates(ra: Double, dec: Double) -> (xi: Double, eta: Double)? {
        let ra0 = crval1 * .pi / 180, dec0 = crval2 * .pi / 180
        let a = ra * .pi / 180, d = dec * .pi / 180
        let da = a - ra0
        let sd = Foundation.sin(d), cdd = Foundation.cos(d)
        let sd0 = Foundation.sin(dec0), cd0 = Foundation.cos(dec0)
        let cosC = sd0 * sd + cd0 * cdd * Foundation.cos(da)
        guard cosC > 1e-12 else { return nil }
        let xi = cdd * Foundation.sin(da) / cosC
        let eta = (cd0 * sd - sd0 * cdd * Foundation.cos(da)) / cosC
        return (xi * 180 / .pi, eta * 180 / .pi)
    }

    /// FITS (1-based) pixel position of a sky position, or nil when it is not
    /// on the projection's near hemisphere or the CD matrix is singular.
    public func fitsPixel(ra: Double, dec: Double) -> (x: Double, y: Double)? {
        guard let s = standardCoordinates(ra: ra, dec: dec) else { return nil }
        let det = determinant
        guard det != 0, det.isFinite else { return nil }
        let dx = (cd22 * s.xi - cd12 * s.eta) / det
        let dy = (-cd21 * s.xi + cd11 * s.eta) / det
        return (dx + crpix1, dy + crpix2)
    }

    /// 0-based pixel position of a sky position (see `fitsPixel`).
    public func pixel(ra: Double, dec: Double) -> (x: Double, y: Double)? {
        guard let p = fitsPixel(ra: ra, dec: dec) else { return nil }
        return (p.x - 1, p.y - 1)
    }
}
