import SkyCore

/// What kind of exposure to make.
public enum FrameKind: Sendable, Equatable, Codable {
    /// The sky.
    case light
    /// Zero-length exposure with the shutter closed: bias and read noise.
    case bias
    /// Shutter closed for `FrameConditions.exposure`: bias, dark current, hot pixels.
    case dark
    /// Uniform illumination through the optics, scaled so the frame mean (above
    /// bias) is near `meanADU`; `withDefects` keeps hot pixels and bad columns.
    case flat(meanADU: Double, withDefects: Bool)
}

/// Light from the Moon or a town: the sky rises linearly across the frame.
public struct SkyGradient: Sendable, Equatable, Codable {
    /// Fractional change of the sky from the frame centre to the frame edge along `angleDegrees`.
    public var amplitude: Double
    /// Direction in which the sky gets brighter, degrees from +x towards +y.
    public var angleDegrees: Double
    public init(amplitude: Double, angleDegrees: Double) { self.amplitude = amplitude; self.angleDegrees = angleDegrees }
}

/// Patchy cloud: a smooth random transparency field that drifts with time.
public struct Clouds: Sendable, Equatable, Codable {
    /// Fraction of the frame under cloud (0...1).
    public var coverage: Double
    /// Light lost under the thickest cloud (0 is none, 1 is opaque).
    public var opacity: Double
    /// Typical size of a cloud in pixels.
    public var scalePixels: Double
    /// How the clouds move, pixels per second.
    public var velocity: PixelVector
    /// Sky added under full cloud, as a fraction of the clear sky (clouds reflect town and moon light).
    public var skyBrightening: Double
    public var seed: UInt64

    public init(coverage: Double = 0.5, opacity: Double = 0.7, scalePixels: Double = 200,
                velocity: PixelVector = PixelVector(dx: 2, dy: 0.5), skyBrightening: Double = 0.5, seed: UInt64 = 11) {
        self.coverage = coverage; self.opacity = opacity; self.scalePixels = scalePixels
        self.velocity = velocity; self.skyBrightening = skyBrightening; self.seed = seed
    }
}

/// An out-of-focus telescope with a central obstruction: each star becomes a
/// ring (the pupil's image) blurred by the seeing.
public struct Defocus: Sendable, Equatable, Codable {
    /// Outer diameter of the ring in pixels.
    public var outerDiameterPixels: Double
    /// Central obstruction as a fraction of the outer diameter (0 gives a disc).
    public var obstruction: Double
    public init(outerDiameterPixels: Double, obstruction: Double = 0.4) {
        self.outerDiameterPixels = outerDiameterPixels; self.obstruction = obstruction
    }
}

/// Everything that changes from one exposure to the next. Features are off
/// when their value is nil, zero or false.
public struct FrameConditions: Sendable, Equatable {
    public var kind: FrameKind
    /// Seconds; ignored for bias frames.
    public var exposure: Double
    /// Start of the exposure (DATE-OBS).
    public var startTime: UTCInstant
    /// Seeds the noise, cosmic rays and trails of this frame.
    public var seed: UInt64
    /// Full width at half maximum of the in-focus PSF, pixels.
    public var fwhmPixels: Double
    /// Moffat beta (2.5 to 4.765 are typical; large beta tends to a Gaussian).
    public var moffatBeta: Double
    /// Sky surface brightness, magnitudes per square arcsecond (same band as the zero point).
    public var skyBrightness: Double
    public var skyGradient: SkyGradient?
    public var clouds: Clouds?
    public var defocus: Defocus?
    /// How far stars move on the sensor during the exposure (tracking error).
    public var trackingDrift: PixelVector
    /// Where the pointing landed relative to the field centre: every object moves by this.
    public var pointingOffset: PixelVector
    /// Cosmic-ray hits per megapixel per second of exposure.
    public var cosmicRayRate: Double
    /// Satellite trails crossing this frame.
    public var satelliteCount: Int
    /// Aircraft crossing this frame (blinking, double lines).
    public var aircraftCount: Int
    /// Show the scene's stars.
    public var starsEnabled: Bool
    /// Show the scene's injected transients (off for a reference image).
    public var transientsEnabled: Bool
    /// Show the scene's moving objects.
    public var movingObjectsEnabled: Bool
    /// Photon and read noise; off gives the expected value of each pixel (rounded).
    public var noiseEnabled: Bool
    /// Hot pixels and bad columns of the camera.
    public var cameraDefectsEnabled: Bool
    /// Vignetting, dust and pixel response of the camera.
    public var flatFieldEnabled: Bool

    public init(kind: FrameKind = .light, exposure: Double = 30,
                startTime: UTCInstant = UTCInstant(unixSeconds: 1_767_225_600), seed: UInt64 = 1,
                fwhmPixels: Double = 2.5, moffatBeta: Double = 3.0, skyBrightness: Double = 20.0,
                skyGradient: SkyGradient? = nil, clouds: Clouds? = nil, defocus: Defocus? = nil,
                trackingDrift: PixelVector = .zero, pointingOffset: PixelVector = .zero,
                cosmicRayRate: Double = 0.1, satelliteCount: Int = 0, aircraftCount: Int = 0,
                starsEnabled: Bool = true, transientsEnabled: Bool = true, movingObjectsEnabled: Bool = true,
                noiseEnabled: Bool = true, cameraDefectsEnabled: Bool = true, flatFieldEnabled: Bool = true) {
        self.kind = kind; self.exposure = exposure; self.startTime = startTime; self.seed = seed
        self.fwhmPixels = fwhmPixels; self.moffatBeta = moffatBeta; self.skyBrightness = skyBrightness
        self.skyGradient = skyGradient; self.clouds = clouds; self.defocus = defocus
        self.trackingDrift = trackingDrift; self.pointingOffset = pointingOffset
        self.cosmicRayRate = cosmicRayRate; self.satelliteCount = satelliteCount; self.aircraftCount = aircraftCount
        self.starsEnabled = starsEnabled; self.transientsEnabled = transientsEnabled
        self.movingObjectsEnabled = movingObjectsEnabled; self.noiseEnabled = noiseEnabled
        self.cameraDefectsEnabled = cameraDefectsEnabled; self.flatFieldEnabled = flatFieldEnabled
    }

    /// Seconds the shutter is open for this kind of frame.
    public var effectiveExposure: Double { kind == .bias ? 0 : exposure }

    func validate() throws(SkySimError) {
        guard startTime.unixSeconds.isFinite, abs(startTime.unixSeconds) < 1e11 else {
            throw .invalidConfiguration("startTime is not a usable instant")
        }
        guard exposure >= 0, exposure <= 86_400 else { throw .invalidConfiguration("exposure \(exposure) outside 0...86400 s") }
        guard fwhmPixels >= 0.5, fwhmPixels <= 100 else { throw .invalidConfiguration("fwhmPixels \(fwhmPixels) outside 0.5...100") }
        guard moffatBeta > 1.05, moffatBeta <= 50 else { throw .invalidConfiguration("moffatBeta \(moffatBeta) outside (1.05, 50]") }
        guard skyBrightness.isFinite, skyBrightness > 5, skyBrightness < 40 else {
            throw .invalidConfiguration("skyBrightness \(skyBrightness) mag/arcsec^2 outside (5, 40)")
        }
        guard cosmicRayRate >= 0, cosmicRayRate < 1000 else { throw .invalidConfiguration("cosmicRayRate outside 0...1000") }
        guard (0...100).contains(satelliteCount), (0...100).contains(aircraftCount) else {
            throw .invalidConfiguration("satelliteCount and aircraftCount must be in 0...100")
        }
        guard trackingDrift.length <= 500, pointingOffset.length <= 1e6 else {
            throw .invalidConfiguration("trackingDrift longer than 500 px or pointing offset beyond 1e6 px")
        }
        if let c = clouds {
            guard (0...1).contains(c.coverage), (0...1).contains(c.opacity), c.scalePixels >= 4, c.scalePixels < 1e7,
                  c.skyBrightening >= 0, c.skyBrightening <= 100, c.velocity.length <= 1000 else {
                throw .invalidConfiguration("clouds need coverage and opacity in 0...1, scalePixels >= 4, skyBrightening in 0...100, speed <= 1000 px/s")
            }
        }
        if let d = defocus {
            guard d.outerDiameterPixels >= 0, d.outerDiameterPixels <= 200, (0..<1).contains(d.obstruction) else {
                throw .invalidConfiguration("defocus needs outerDiameterPixels in 0...200 and obstruction in [0, 1)")
            }
        }
        if let g = skyGradient, !(g.amplitude >= 0 && g.amplitude <= 10 && g.angleDegrees.isFinite) {
            throw .invalidConfiguration("skyGradient amplitude outside 0...10")
        }
        if case let .flat(mean, _) = kind, !(mean > 0 && mean < 65535) {
            throw .invalidConfiguration("flat meanADU \(mean) outside (0, 65535)")
        }
    }
}
