/// The telescope and sensor: geometry, photometric zero point, electronics and
/// the defects that stay the same from frame to frame (fixed by `seed`).
/// Setting a defect count or strength to zero switches that defect off.
public struct CameraModel: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixelScaleArcsec: Double
    /// Rotation of the CD matrix in degrees (CROTA2 convention).
    public var rotationDegrees: Double
    /// Magnitude that gives 1 electron per second (through the filter, above the atmosphere).
    public var zeroPoint: Double
    /// Electrons per ADU.
    public var gain: Double
    /// Read noise in electrons (rms).
    public var readNoise: Double
    public var biasADU: Double
    /// Dark current in electrons per second per pixel.
    public var darkCurrent: Double
    /// Electrons a pixel holds before it clips.
    public var fullWell: Double
    /// Highest ADU the converter writes (65535 for 16 bits).
    public var saturationADU: Double
    public var filter: String
    public var ccdTemperature: Double?
    /// Fixes the hot pixels, bad columns, dust and pixel response of this camera.
    public var seed: UInt64
    /// Fraction of pixels that are hot.
    public var hotPixelFraction: Double
    /// Dark current range of hot pixels, electrons per second.
    public var hotPixelRate: ClosedRange<Double>
    public var badColumnCount: Int
    /// Fractional light loss in the frame corners from vignetting (0 is none).
    public var vignetting: Double
    /// Out-of-focus dust shadows on the flat field.
    public var dustDonutCount: Int
    /// Pixel-to-pixel response non-uniformity, rms fraction.
    public var pixelResponseNonUniformity: Double

    public init(width: Int = 1024, height: Int = 1024, pixelScaleArcsec: Double = 1.5, rotationDegrees: Double = 0,
                zeroPoint: Double = 21.5, gain: Double = 1.2, readNoise: Double = 3.5, biasADU: Double = 500,
                darkCurrent: Double = 0.02, fullWell: Double = 60000, saturationADU: Double = 65535,
                filter: String = "L", ccdTemperature: Double? = -10, seed: UInt64 = 7,
                hotPixelFraction: Double = 2e-4, hotPixelRate: ClosedRange<Double> = 5...300,
                badColumnCount: Int = 2, vignetting: Double = 0.2, dustDonutCount: Int = 3,
                pixelResponseNonUniformity: Double = 0.005) {
        self.width = width; self.height = height; self.pixelScaleArcsec = pixelScaleArcsec
        self.rotationDegrees = rotationDegrees; self.zeroPoint = zeroPoint; self.gain = gain
        self.readNoise = readNoise; self.biasADU = biasADU; self.darkCurrent = darkCurrent
        self.fullWell = fullWell; self.saturationADU = saturationADU; self.filter = filter
        self.ccdTemperature = ccdTemperature; self.seed = seed; self.hotPixelFraction = hotPixelFraction
        self.hotPixelRate = hotPixelRate; self.badColumnCount = badColumnCount; self.vignetting = vignetting
        self.dustDonutCount = dustDonutCount; self.pixelResponseNonUniformity = pixelResponseNonUniformity
    }

    /// A perfect sensor: no hot pixels, bad columns, vignetting, dust or response variation.
    public func withoutDefects() -> CameraModel {
        var c = self
        c.hotPixelFraction = 0; c.badColumnCount = 0; c.vignetting = 0; c.dustDonutCount = 0
        c.pixelResponseNonUniformity = 0
        return c
    }

    func validate() throws(SkySimError) {
        guard (8...8192).contains(width), (8...8192).contains(height) else {
            throw .invalidConfiguration("frame size \(width)x\(height) outside 8...8192")
        }
        guard pixelScaleArcsec > 0, pixelScaleArcsec < 3600 else {
            throw .invalidConfiguration("pixelScaleArcsec \(pixelScaleArcsec) must be in (0, 3600)")
        }
        guard gain > 0, gain.isFinite else { throw .invalidConfiguration("gain \(gain) must be positive") }
        guard readNoise >= 0, darkCurrent >= 0 else {
            throw .invalidConfiguration("readNoise and darkCurrent must not be negative")
        }
        guard fullWell > 0, saturationADU > 0, saturationADU <= 65535 else {
            throw .invalidConfiguration("fullWell must be positive and saturationADU in (0, 65535]")
        }
        guard biasADU >= 0, biasADU < saturationADU else { throw .invalidConfiguration("biasADU \(biasADU) outside [0, saturationADU)") }
        guard (0...0.1).contains(hotPixelFraction) else { throw .invalidConfiguration("hotPixelFraction outside 0...0.1") }
        guard hotPixelRate.lowerBound >= 0 else { throw .invalidConfiguration("hotPixelRate must not be negative") }
        guard (0...width).contains(badColumnCount) else { throw .invalidConfiguration("badColumnCount outside 0...width") }
        guard (0..<1).contains(vignetting) else { throw .invalidConfiguration("vignetting outside [0, 1)") }
        guard (0...1000).contains(dustDonutCount) else { throw .invalidConfiguration("dustDonutCount outside 0...1000") }
        guard (0...0.2).contains(pixelResponseNonUniformity) else {
            throw .invalidConfiguration("pixelResponseNonUniformity outside 0...0.2")
        }
    }
}
