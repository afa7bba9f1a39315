import SkyCapture
import SkyCore
import SkyImage

/// Why a configured clear-sky frame cannot be used.
public struct ClearSkySetupError: Error, CustomStringConvertible {
    public var description: String
    init(_ path: String, _ reason: String) { description = "quality.clearReference \(path): \(reason)" }
}

/// What a clear frame of the field shows, learnt once at start from `quality.clearReference`:
/// the frame is judged exactly as the site judges every frame (same calibration, extraction
/// and regions, in the arena's first frame slot before capture starts), and its stars and
/// noise per region become the reference each later frame's cloud is judged against.
enum SiteClearSky {
    static func learn(config: SiteConfig, arena: Arena, calibration: SiteCalibration?,
                      slot: UnsafeMutableBufferPointer<UInt16>) throws(ClearSkySetupError) -> ClearSkyReference? {
        guard let path = config.quality.clearReference else { return nil }
        let metadata: FrameMetadata
        do {
            let file = try FITSFile.open(path)
            defer { file.close() }
            metadata = try file.metadata()
            let w = metadata.width, h = metadata.height
            guard w <= config.maxFrameWidth, h <= config.maxFrameHeight else {
                throw ClearSkySetupError(path, "\(w)x\(h), beyond the \(config.maxFrameWidth)x\(config.maxFrameHeight) frames of the memory plan")
            }
            try file.read(into: ImageView(base: slot.baseAddress!, width: w, height: h))
        } catch let e as ClearSkySetupError {
            throw e
        } catch {
            throw ClearSkySetupError(path, "\(error)")
        }
        var pipeline = FramePipeline(config: config, arena: arena, calibration: calibration)
        let frame = CapturedFrame(metadata: metadata, origin: path, capturedAtMonotonic: MonotonicClock.seconds())
        // Enough time for the whole judgement: trails are not needed here.
        _ = pipeline.process(ImageView(base: slot.baseAddress!, width: metadata.width, height: metadata.height), frame: frame)
        guard let q = pipeline.lastQuality, q.stars > 0,
              let reference = ClearSkyReference(clear: q, layout: pipeline.quality.regionLayout, exposure: metadata.exptime ?? 1) else {
            throw ClearSkySetupError(path, "no stars found: a clear frame of the field must show them")
        }
        return reference
    }
}

extension SiteConfig {
    /// The configured clear frame's header: readable, and no larger than the planned frames.
    /// Run before the node says anything to the broker (its pixels are judged when the runtime starts).
    public func checkClearReference() throws(ClearSkySetupError) {
        guard let path = quality.clearReference else { return }
        do {
            let file = try FITSFile.open(path)
            defer { file.close() }
            let m = try file.metadata()
            guard m.width <= maxFrameWidth, m.height <= maxFrameHeight else {
                throw ClearSkySetupError(path, "\(m.width)x\(m.height), beyond the \(maxFrameWidth)x\(maxFrameHeight) frames of the memory plan")
            }
        } catch let e as ClearSkySetupError {
            throw e
        } catch {
            throw ClearSkySetupError(path, "\(error)")
        }
    }
}
