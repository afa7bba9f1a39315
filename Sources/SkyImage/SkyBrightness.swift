import Foundation

/// Sky surface brightness from the background level, for comparing sites and
/// nights (a moonlit or light-polluted sky is a bright one, in mag/arcsec²).
public enum SkyBrightness {
    /// `zeroPoint - 2.5 log10(sky / (exposure * pixelScale²))`, where sky is the background
    /// above the pedestal in ADU and the zero point is the magnitude that gives 1 ADU per second.
    /// Nil when the sky is not above the pedestal or an input is not a positive finite number:
    /// a logarithm of nothing is no brightness.
    public static func magnitudesPerSquareArcsecond(background: Double, pedestal: Double, exposure: Double,
                                                     zeroPoint: Double, pixelScale: Double) -> Double? {
        let sky = background - pedestal
        guard sky > 0, sky.isFinite, exposure > 0, exposure.isFinite, pixelScale > 0, pixelScale.isFinite,
              zeroPoint.isFinite else { return nil }
        return zeroPoint - 2.5 * log10(sky / (exposure * pixelScale * pixelScale))
    }
}
