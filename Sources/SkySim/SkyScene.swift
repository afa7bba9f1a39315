import Foundation
import SkyCore

/// What is in one patch of sky, independent of the camera and of the night:
/// the same scene (same `seed`) always holds the same stars, so two frames of
/// one field, or two sites looking at it, see the same catalogue.
public struct SkyScene: Sendable, Equatable {
    /// Written as OBJECT in the frame metadata.
    public var name: String
    /// Fixes the star catalogue.
    public var seed: UInt64
    /// Field centre (degrees, ICRS).
    public var centerRA: Double
    public var centerDec: Double
    /// Star density down to `faintestMagnitude`, per square degree.
    public var starsPerSquareDegree: Double
    public var brightestMagnitude: Double
    public var faintestMagnitude: Double
    /// Slope of the cumulative counts, log10 N(<m) = slope * m + c (0.3 to 0.4 in real fields).
    public var countSlope: Double
    /// Radius of sky that the catalogue covers; nil covers the camera's frame
    /// with a margin for pointing offsets. Give it explicitly when cameras with
    /// different fields must share one catalogue.
    public var catalogRadiusDegrees: Double?
    /// New sources and brightening stars; shown when a frame enables transients.
    public var transients: [InjectedTransient]
    /// Asteroids and the like; shown when a frame enables moving objects.
    public var movingObjects: [MovingObject]

    public init(name: String = "SIMFIELD", seed: UInt64 = 1, centerRA: Double = 150.0, centerDec: Double = 20.0,
                starsPerSquareDegree: Double = 2000, brightestMagnitude: Double = 8, faintestMagnitude: Double = 19,
                countSlope: Double = 0.35, catalogRadiusDegrees: Double? = nil,
                transients: [InjectedTransient] = [], movingObjects: [MovingObject] = []) {
        self.name = name; self.seed = seed; self.centerRA = centerRA; self.centerDec = centerDec
        self.starsPerSquareDegree = starsPerSquareDegree
        self.brightestMagnitude = brightestMagnitude; self.faintestMagnitude = faintestMagnitude
        self.countSlope = countSlope; self.catalogRadiusDegrees = catalogRadiusDegrees
        self.transients = transients; self.movingObjects = movingObjects
    }

    func validate() throws(SkySimError) {
        guard centerDec >= -90, centerDec <= 90, centerRA.isFinite else {
            throw .invalidConfiguration("scene centre RA \(centerRA), Dec \(centerDec) is not on the sky")
        }
        guard starsPerSquareDegree >= 0, starsPerSquareDegree <= 5_000_000 else {
            throw .invalidConfiguration("starsPerSquareDegree \(starsPerSquareDegree) outside 0...5e6")
        }
        guard faintestMagnitude >= brightestMagnitude else {
            throw .invalidConfiguration("faintestMagnitude \(faintestMagnitude) is brighter than brightestMagnitude \(brightestMagnitude)")
        }
        guard countSlope > 0, countSlope < 2 else { throw .invalidConfiguration("countSlope \(countSlope) outside (0, 2)") }
        if let r = catalogRadiusDegrees, !(r > 0 && r < 30) {
            throw .invalidConfiguration("catalogRadiusDegrees \(r) outside (0, 30)")
        }
        guard brightestMagnitude.isFinite, faintestMagnitude.isFinite else {
            throw .invalidConfiguration("magnitude limits must be finite")
        }
        for t in transients where !(t.ra.isFinite && t.dec >= -90 && t.dec <= 90 && t.magnitude.isFinite && abs(t.magnitude) < 40) {
            throw .invalidConfiguration("transient at RA \(t.ra), Dec \(t.dec), magnitude \(t.magnitude) is not valid")
        }
        for m in movingObjects {
            guard m.ra.isFinite, m.dec >= -90, m.dec <= 90, m.magnitude.isFinite, abs(m.magnitude) < 40,
                  abs(m.raRateArcsecPerHour) <= 1e6, abs(m.decRateArcsecPerHour) <= 1e6 else {
                throw .invalidConfiguration("moving object \(m.name): position, magnitude or rate (at most 1e6 arcsec/h) not valid")
            }
        }
    }
}

/// A change in the sky that a reference image does not have.
public struct InjectedTransient: Sendable, Equatable {
    public enum Kind: Sendable, Equatable, Codable {
        /// A point source where the catalogue has none (a supernova, a nova).
        case newSource
        /// The catalogue star nearest the given position brightens.
        case brightening
    }

    public var kind: Kind
    public var ra: Double
    public var dec: Double
    /// For `newSource` its magnitude; for `brightening` the change in magnitude (negative is brighter).
    public var magnitude: Double
    /// Visible in frames that start at or after this instant; nil is always.
    public var startsAt: UTCInstant?

    public init(kind: Kind, ra: Double, dec: Double, magnitude: Double, startsAt: UTCInstant? = nil) {
        self.kind = kind; self.ra = ra; self.dec = dec; self.magnitude = magnitude; self.startsAt = startsAt
    }

    public static func newSource(ra: Double, dec: Double, magnitude: Double, startsAt: UTCInstant? = nil) -> Self {
        .init(kind: .newSource, ra: ra, dec: dec, magnitude: magnitude, startsAt: startsAt)
    }

    public static func brightening(ra: Double, dec: Double, by deltaMagnitude: Double, startsAt: UTCInstant? = nil) -> Self {
        .init(kind: .brightening, ra: ra, dec: dec, magnitude: -abs(deltaMagnitude), startsAt: startsAt)
    }
}

/// A solar-system object moving linearly across the field.
public struct MovingObject: Sendable, Equatable {
    public var name: String
    /// Position at `epoch` (degrees).
    public var ra: Double
    public var dec: Double
    public var epoch: UTCInstant
    /// On-sky rates in arcseconds per hour; the RA rate includes cos(Dec).
    public var raRateArcsecPerHour: Double
    public var decRateArcsecPerHour: Double
    public var magnitude: Double

    public init(name: String, ra: Double, dec: Double, epoch: UTCInstant,
                raRateArcsecPerHour: Double, decRateArcsecPerHour: Double, magnitude: Double) {
        self.name = name; self.ra = ra; self.dec = dec; self.epoch = epoch
        self.raRateArcsecPerHour = raRateArcsecPerHour; self.decRateArcsecPerHour = decRateArcsecPerHour
        self.magnitude = magnitude
    }

    /// Position at an instant (small-angle linear motion, fine over a night).
    public func position(at t: UTCInstant) -> (ra: Double, dec: Double) {
        let hours = (t.unixSeconds - epoch.unixSeconds) / 3600
        let dec = self.dec + decRateArcsecPerHour * hours / 3600
        let cosDec = max(1e-6, cos(self.dec * .pi / 180))
        var ra = self.ra + raRateArcsecPerHour * hours / 3600 / cosDec
        ra = ra.truncatingRemainder(dividingBy: 360)
        if ra < 0 { ra += 360 }
        return (ra, dec)
    }
}
