import SkyCore
import SkyImage

/// Why FITS WCS keywords could not become a `TanWCS`.
public enum WCSConversionError: Error, Sendable, Equatable, CustomStringConvertible {
    case notTangentProjection(ctype1: String, ctype2: String)
    case singularMatrix
    case notFinite

    public var description: String {
        switch self {
        case let .notTangentProjection(a, b): "WCS is \(a)/\(b), not a TAN projection"
        case .singularMatrix: "WCS CD matrix is singular"
        case .notFinite: "WCS has a non-finite value"
        }
    }
}

extension TanWCS {
    /// The TAN projection of a frame's WCS keywords (`RA---TAN`/`DEC--TAN`;
    /// `-SIP` distortion terms, if named, are ignored).
    public init(keywords k: WCSKeywords) throws(WCSConversionError) {
        guard k.ctype1.uppercased().hasPrefix("RA---TAN"), k.ctype2.uppercased().hasPrefix("DEC--TAN") else {
            throw .notTangentProjection(ctype1: k.ctype1, ctype2: k.ctype2)
        }
        let all = [k.crval1, k.crval2, k.crpix1, k.crpix2, k.cd11, k.cd12, k.cd21, k.cd22]
        guard all.allSatisfy(\.isFinite) else { throw .notFinite }
        self.init(crval1: k.crval1, crval2: k.crval2, crpix1: k.crpix1, crpix2: k.crpix2,
                  cd11: k.cd11, cd12: k.cd12, cd21: k.cd21, cd22: k.cd22)
        guard determinant != 0 else { throw .singularMatrix }
    }

    /// The FITS keywords of this projection.
    public var keywords: WCSKeywords {
        WCSKeywords(ctype1: "RA---TAN", ctype2: "DEC--TAN", crval1: crval1, crval2: crval2, crpix1: crpix1, crpix2: crpix2,
                    cd11: cd11, cd12: cd12, cd21: cd21, cd22: cd22)
    }
}
