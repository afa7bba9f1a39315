import SkyCore

/// The FITS world-coordinate keywords a pipeline needs (TAN and friends).
/// Pixel coordinates follow FITS: CRPIX is 1-based.
public struct WCSKeywords: Sendable, Equatable {
    public var ctype1: String
    public var ctype2: String
    public var crval1: Double
    public var crval2: Double
    public var crpix1: Double
    public var crpix2: Double
    /// The CD matrix in degrees per pixel (from CDi_j, or CDELT with PCi_j / CROTA2).
    public var cd11: Double
    public var cd12: Double
    public var cd21: Double
    public var cd22: Double

    public init(ctype1: String, ctype2: String, crval1: Double, crval2: Double, crpix1: Double, crpix2: Double,
                cd11: Double, cd12: Double, cd21: Double, cd22: Double) {
        self.ctype1 = ctype1; self.ctype2 = ctype2; self.crval1 = crval1; self.crval2 = crval2
        self.crpix1 = crpix1; self.crpix2 = crpix2
        self.cd11 = cd11; self.cd12 = cd12; self.cd21 = cd21; self.cd22 = cd22
    }
}

/// What a frame says about itself: the header keywords the pipeline uses.
/// Every field is optional except the geometry, because real headers omit things.
public struct FrameMetadata: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// FITS BITPIX of the stored data (16 for cameras; 16 with BZERO 32768 is unsigned 16-bit).
    public var bitpix: Int
    public var bzero: Double
    public var bscale: Double
    /// EXPTIME, or EXPOSURE when EXPTIME is absent, in seconds.
    public var exptime: Double?
    /// DATE-OBS as written, and parsed when it could be.
    public var dateObs: String?
    public var dateObsInstant: UTCInstant?
    public var gain: Double?
    public var readNoise: Double?
    public var filter: String?
    public var instrument: String?
    public var ccdTemperature: Double?
    public var object: String?
    public var wcs: WCSKeywords?
    /// DATAMAX or SATURATE if given, in ADU.
    public var saturation: Double?

    public init(width: Int, height: Int, bitpix: Int = 16, bzero: Double = 0, bscale: Double = 1,
                exptime: Double? = nil, dateObs: String? = nil, gain: Double? = nil, readNoise: Double? = nil,
                filter: String? = nil, instrument: String? = nil, ccdTemperature: Double? = nil,
                object: String? = nil, wcs: WCSKeywords? = nil, saturation: Double? = nil) {
        self.width = width; self.height = height; self.bitpix = bitpix; self.bzero = bzero; self.bscale = bscale
        self.exptime = exptime; self.dateObs = dateObs
        self.dateObsInstant = dateObs.flatMap { UTCInstant(iso: $0) }
        self.gain = gain; self.readNoise = readNoise; self.filter = filter; self.instrument = instrument
        self.ccdTemperature = ccdTemperature; self.object = object; self.wcs = wcs; self.saturation = saturation
    }
}
