import SkyCore
import SkyImage

/// One catalogue star as it landed in a frame.
public struct StarTruth: Sendable, Equatable {
    /// Index in `SkySimulator.catalog`.
    public var catalogIndex: Int
    public var ra: Double
    public var dec: Double
    /// Magnitude in this frame (a brightening transient changes it).
    public var magnitude: Double
    /// Mid-exposure position, 0-based pixels.
    public var position: PixelPoint
    /// Electrons the star put into the raw frame (after cloud and flat-field
    /// response, before noise and clipping), counting what fell off the edge.
    public var fluxElectrons: Double
    /// `fluxElectrons / gain`.
    public var fluxADU: Double
    /// Electrons above the atmosphere and before the flat field: what a
    /// flat-fielded frame measures in clear sky.
    public var catalogFluxElectrons: Double
    /// Cloud transmission at the star (1 in clear sky).
    public var transparency: Double
    /// Flat-field response at the star (1 without vignetting or dust).
    public var flatResponse: Double
    /// Expected electrons in the brightest pixel (star plus sky), before noise.
    public var peakElectrons: Double
    /// The brightest pixel clips at full well or at the converter's maximum.
    public var saturated: Bool
    /// Part of the flux is inside the frame.
    public var inFrame: Bool
}

public struct TransientTruth: Sendable, Equatable {
    public var kind: InjectedTransient.Kind
    public var ra: Double
    public var dec: Double
    public var position: PixelPoint
    /// Magnitude in this frame (for a brightening star, its brightened magnitude).
    public var magnitude: Double
    /// Electrons in the raw frame; for a brightening star, only the extra electrons.
    public var fluxElectrons: Double
    public var fluxADU: Double
    /// The brightened star, for `brightening`.
    public var catalogIndex: Int?
    public var inFrame: Bool
}

public struct MovingObjectTruth: Sendable, Equatable {
    public var name: String
    public var magnitude: Double
    /// Mid-exposure position.
    public var position: PixelPoint
    /// Where the trail starts and ends during the exposure (the object's own motion plus tracking drift).
    public var trail: LineSegment
    public var fluxElectrons: Double
    public var fluxADU: Double
    public var inFrame: Bool
}

public struct TrailTruth: Sendable, Equatable {
    public enum Kind: Sendable, Equatable, Codable { case satellite, aircraft }
    public var kind: Kind
    /// The whole path inside the frame.
    public var path: LineSegment
    /// The lit pieces: one for a satellite; for an aircraft, the dashes of both wing lights.
    public var segments: [LineSegment]
    /// FWHM of the line profile, pixels.
    public var widthPixels: Double
    /// Electrons per pixel of length along a lit piece, before the flat field.
    public var electronsPerPixelLength: Double
}

public struct CosmicRayTruth: Sendable, Equatable {
    public enum Kind: Sendable, Equatable, Codable { case single, cluster, streak }
    public var kind: Kind
    /// The pixel that got the most charge.
    public var x: Int
    public var y: Int
    /// Every pixel hit, with the electrons it got.
    public var pixels: [HitPixel]
    public var totalElectrons: Double
}

public struct HitPixel: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var electrons: Double
}

/// A pixel with a dark current far above the rest.
public struct HotPixel: Sendable, Equatable {
    public var x: Int
    public var y: Int
    /// Electrons per second.
    public var darkRate: Double
}

/// A column that does not read the light it gets.
public struct BadColumn: Sendable, Equatable {
    public enum Kind: Sendable, Equatable, Codable {
        /// Reads bias only.
        case dead
        /// Reads `offsetADU` above what it should.
        case hot
    }
    public var x: Int
    /// Affected rows (a charge trap spoils a column from one row on).
    public var rows: ClosedRange<Int>
    public var kind: Kind
    public var offsetADU: Double
}

/// A dust shadow on the flat field.
public struct DustDonut: Sendable, Equatable {
    public var center: PixelPoint
    public var outerRadius: Double
    public var innerRadius: Double
    /// Fraction of light lost in the ring.
    public var depth: Double
}

/// A summary of the cloud transparency map.
public struct CloudTruth: Sendable, Equatable {
    public var meanTransparency: Double
    public var minTransparency: Double
    /// Fraction of the frame with transparency below 0.9.
    public var cloudyFraction: Double
    /// Mean transparency per cell, row-major, `gridColumns` x `gridRows` cells over the frame.
    public var grid: [Double]
    public var gridColumns: Int
    public var gridRows: Int
}

public struct PSFTruth: Sendable, Equatable {
    /// Requested in-focus FWHM (pixels) and Moffat beta.
    public var fwhmPixels: Double
    public var moffatBeta: Double
    /// FWHM of the radial profile actually used (the donut's when defocused), pixels.
    public var effectiveFWHMPixels: Double
    public var defocus: Defocus?
    public var trackingDrift: PixelVector
}

/// Everything the simulator put into one frame.
public struct FrameTruth: Sendable {
    public var kind: FrameKind
    public var exposure: Double
    public var startTime: UTCInstant
    public var seed: UInt64
    /// The frame's true WCS (field WCS moved by the pointing offset).
    public var wcs: TanWCS
    public var pointingOffset: PixelVector
    /// Sky at the frame centre before flat field and clouds, electrons per pixel.
    public var skyElectrons: Double
    /// Sky at the frame centre in the raw frame, ADU above bias.
    public var skyADU: Double
    public var biasADU: Double
    public var gain: Double
    public var readNoise: Double
    public var darkElectrons: Double
    public var psf: PSFTruth
    public var skyGradient: SkyGradient?
    public var stars: [StarTruth]
    public var transients: [TransientTruth]
    public var movingObjects: [MovingObjectTruth]
    public var trails: [TrailTruth]
    public var cosmicRays: [CosmicRayTruth]
    public var hotPixels: [HotPixel]
    public var badColumns: [BadColumn]
    public var dust: [DustDonut]
    public var clouds: CloudTruth?
}

/// The metadata and ground truth of one rendered frame.
public struct SimulatedFrame: Sendable {
    public var metadata: FrameMetadata
    public var truth: FrameTruth
}
