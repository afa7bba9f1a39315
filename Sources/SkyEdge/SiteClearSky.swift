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
            try config.checkClearReferenceSize(path, w, h, exposure: metadata.exptime)
            try file.read(into: ImageView(base: slot.baseAddress!, width: w, height: h))
        } catch let e as ClearSkySetupError {
            throw e
        } catch {
            throw ClearSkySetupError(path, "\(error)")
        }
        var pipeline = FramePipeline(config: config, arena: arena, calibration: calibration)
        let frame = CapturedFrame(metadata: metadata, origin: path, capturedAtMonotonic: MonotonicClock.seconds())
        _ = pipeline.process(ImageView(base: slot.baseAddress!, width: metadata.width, height: metadata.height), frame: frame, trails: false)
        guard let q = pipeline.lastQuality, q.stars > 0,
              let reference = ClearSkyReference(clear: q, layout: pipeline.quality.regionLayout, exposure: metadata.exptime ?? 1) else {
            throw ClearSkySetupError(path, "no stars found: a clear frame of the field must show them")
        }
        return reference
    }
}

extension SiteConfig {
    /// A clear frame must fit the plan, be the masters' size when frames are calibrated (it is
    /// judged the way frames are, in the same units), and say its exposure (depth scales with it).
    func checkClearReferenceSize(_ path: String, _ w: Int, _ h: Int, exposure: Double?) throws(ClearSkySetupError) {
        guard w <= maxFrameWidth, h <= maxFrameHeight else {
            throw ClearSkySetupError(path, "\(w)x\(h), beyond the \(maxFrameWidth)x\(maxFrameHeight) frames of the memory plan")
        }
        if !calibration.masters.isEmpty, w != maxFrameWidth || h != maxFrameHeight {
            throw ClearSkySetupError(path, "\(w)x\(h), but the calibration masters are \(maxFrameWidth)x\(maxFrameHeight): the clear frame must be calibrated as the frames are")
        }
        guard let e = exposure, e > 0, e.isFinite else {
            throw ClearSkySetupError(path, "no positive EXPTIME: the depth of later frames is scaled by it")
        }
    }

    /// The configured clear frame's header: readable, and no larger than the planned frames.
    /// Run before the node says anything to the broker (its pixels are judged when the runtime starts).
    public func checkClearReference() throws(ClearSkySetupError) {
        guard let path = quality.clearReference else { return }
        do {
            let file = try FITSFile.open(path)
            defer { file.close() }
            let m = try file.metadata()
            try checkClearReferenceSize(path, m.width, m.height, exposure: m.exptime)
        } catch let e as ClearSkySetupError {
            throw e
        } catch {
            throw ClearSkySetupError(path, "\(error)")
        }
    }
}
