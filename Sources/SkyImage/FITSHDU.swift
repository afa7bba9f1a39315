/// Which HDU of a FITS file to use.
///
/// HDU numbers are 1-based as in cfitsio and `fitsinfo`/`fitsheader`: the primary
/// HDU is 1, the first extension 2. (astropy's `hdul[0]` is HDU 1 here.)
public enum FITSHDUSelector: Sendable, Equatable, CustomStringConvertible {
    /// The first HDU holding an image with NAXIS >= 2, skipping an empty primary
    /// (as in tile-compressed `.fz` files).
    case firstImage
    /// HDU number, 1-based (primary = 1).
    case index(Int)
    /// The HDU whose EXTNAME matches, ignoring case and trailing blanks.
    case named(String)

    public var description: String {
        switch self {
        case .firstImage: "first image HDU"
        case let .index(n): "HDU \(n)"
        case let .named(name): "HDU '\(name)'"
        }
    }
}

/// An image HDU as the file describes it, before any pixel is read.
public struct FITSImageHDU: Sendable, Equatable {
    /// HDU number, 1-based (primary = 1).
    public var index: Int
    public var extname: String?
    /// NAXIS1, NAXIS2, ... (always at least two, each > 0).
    public var axes: [Int]
    /// BITPIX of the stored pixels (ZBITPIX for a tile-compressed image): 8, 16, 32, 64, -32, -64.
    public var bitpix: Int
    /// Physical value = bzero + bscale * stored value.
    public var bzero: Double
    public var bscale: Double
    /// Tile-compressed (`.fz`), decompressed by cfitsio while reading.
    public var isCompressed: Bool

    public var width: Int { axes[0] }
    public var height: Int { axes[1] }
    /// Number of 2-D planes (NAXIS3 x NAXIS4 ...). Readers deliver the first plane only.
    public var planes: Int { axes.dropFirst(2).reduce(1, *) }
    /// Unsigned 16-bit as cameras store it: BITPIX 16, BZERO 32768, BSCALE 1.
    public var isUnsigned16: Bool { bitpix == 16 && bzero == 32768 && bscale == 1 }
}
