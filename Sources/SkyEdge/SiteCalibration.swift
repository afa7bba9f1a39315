import Foundation
import SkyImage

/// A master named in `calibration:` that cannot be used; the site refuses to start
/// rather than judge frames half-calibrated.
public struct CalibrationSetupError: Error, CustomStringConvertible {
    public var description: String
    init(_ key: String, _ path: String, _ reason: String) { description = "calibration.\(key) \(path): \(reason)" }
}

/// The config's masters, loaded once at start into their arena regions (MemoryPlan names them),
/// and what the pipeline needs beside them to calibrate a frame in place.
struct SiteCalibration {
    var masters: CalibrationMasters
    /// Configured electrons per ADU; nil: the frame's GAIN, else ADU.
    var gain: Double?
    /// Extremes of the masters that bound how far calibration can lift an unclipped pixel:
    /// the least bias, the least dark (noise can make it negative), the least positive flat.
    var biasMin = 0.0, darkMin = 0.0, flatMin = 1.0

    /// The calibrated value clipped pixels are given: above anything an unclipped pixel (raw
    /// below `raw`) can become, so a saturation test counts only those. A flat under 1 (a
    /// vignetted corner) divides a bright unclipped pixel up past (raw - bias) x gain.
    func saturationLevel(raw: Float, exposure: Double, gain: Double?) -> Float {
        let scale = masters.dark != nil && masters.darkExposure > 0 ? exposure / masters.darkExposure : 0
        let highest = (Double(raw) - biasMin - min(0, darkMin) * scale) / flatMin * (gain ?? 1)
        return Float(max(highest, 1) * 1.001)
    }

    /// Loads and checks every configured master; nil when the config has no `calibration`.
    static func load(config: SiteConfig, arena: Arena) throws(CalibrationSetupError) -> SiteCalibration? {
        let cal = config.calibration
        guard !cal.isEmpty else { return nil }
        let w = config.maxFrameWidth, h = config.maxFrameHeight
        var masters = CalibrationMasters(width: w, height: h)
        var biasMin = 0.0, darkMin = 0.0, flatMin = 1.0
        // The float frame is free until the first frame: the mask is read there, then narrowed to bytes.
        let floatFrame = arena.region("float frame").baseAddress!.bindMemory(to: Float.self, capacity: w * h)
        for (key, path) in cal.masters {
            let target = key == "badPixels" ? floatFrame
                : arena.region(MemoryPlan.masterRegion(key)).baseAddress!.bindMemory(to: Float.self, capacity: w * h)
            let header = try read(key, path, width: w, height: h, into: ImageView(base: target, width: w, height: h), config: cal)
            var nonFinite = 0
            for i in 0..<(w * h) where !target[i].isFinite { nonFinite += 1 }
            switch key {
            case "bias":
                guard nonFinite == 0 else { throw CalibrationSetupError(key, path, "\(nonFinite) pixels are NaN or infinite") }
                biasMin = Double((0..<(w * h)).lazy.map { target[$0] }.min() ?? 0)
                masters.bias = UnsafePointer(target)
            case "dark":
                guard nonFinite == 0 else { throw CalibrationSetupError(key, path, "\(nonFinite) pixels are NaN or infinite") }
                masters.dark = UnsafePointer(target)
                darkMin = Double((0..<(w * h)).lazy.map { target[$0] }.min() ?? 0)
                masters.darkExposure = header.exptime ?? 0
            case "flat":
                var positive = 0
                for i in 0..<(w * h) where target[i] > 0 { positive += 1 }
                guard positive * 2 > w * h else { throw CalibrationSetupError(key, path, "most pixels are not positive: not a normalized flat") }
                masters.flat = UnsafePointer(target)
                flatMin = Double((0..<(w * h)).lazy.compactMap { target[$0] > 0 ? target[$0] : nil }.min() ?? 1)
            default:
                let mask = arena.region(MemoryPlan.masterRegion(key)).baseAddress!.bindMemory(to: UInt8.self, capacity: w * h)
                var bad = 0
                for i in 0..<(w * h) {
                    // NaN in a mask counts as bad: better one pixel lost than a garbage one kept.
                    let isBad = !(target[i] == 0)
                    mask[i] = isBad ? 1 : 0
                    if isBad { bad += 1 }
                }
                guard bad * 2 < w * h else { throw CalibrationSetupError(key, path, "\(bad) of \(w * h) pixels are marked bad") }
                floatFrame.update(repeating: 0, count: w * h)
                masters.mask = UnsafePointer(mask)
            }
        }
        return SiteCalibration(masters: masters, gain: cal.gain, biasMin: biasMin, darkMin: darkMin, flatMin: flatMin)
    }

    private struct Header { var exptime: Double?; var note: String? }

    /// Checks every configured master's header without reading its pixels (before the site
    /// announces itself to the broker: `skyedge run` and `skyedge check`).
    static func check(config: SiteConfig) throws(CalibrationSetupError) {
        for (key, path) in config.calibration.masters {
            _ = try read(key, path, width: config.maxFrameWidth, height: config.maxFrameHeight, into: nil, config: config.calibration)
        }
    }

    /// Opens one master, which must be exactly the plan's frame size and complete, and reads
    /// it into `view` when one is given.
    private static func read(_ key: String, _ path: String, width: Int, height: Int, into view: ImageView<Float>?,
                             config cal: SiteConfig.Calibration) throws(CalibrationSetupError) -> Header {
        let header: Header
        do {
            let file = try FITSFile.open(path)
            defer { file.close() }
            let image = try file.image()
            guard image.width == width, image.height == height, image.planes == 1 else {
                throw CalibrationSetupError(key, path, "\(image.width)x\(image.height)\(image.planes > 1 ? "x\(image.planes)" : "") but frames are \(width)x\(height) (maxFrameWidth x maxFrameHeight)")
            }
            try file.checkComplete()
            if let view { try file.read(into: view) }
            header = Header(exptime: try file.metadata().exptime, note: try file.keyword("CALNOTE"))
        } catch let e as CalibrationSetupError {
            throw e
        } catch let e as FITSError {
            throw CalibrationSetupError(key, path, e.description)
        } catch {
            throw CalibrationSetupError(key, path, "\(error)")
        }
        if key == "dark" {
            guard let t = header.exptime, t > 0, t.isFinite else {
                throw CalibrationSetupError(key, path, "no positive EXPTIME to scale the dark by")
            }
            // Its own bias in the dark would be taken off twice, scaled by the exposure.
            if cal.bias != nil, header.note?.contains("not bias-subtracted") == true {
                throw CalibrationSetupError(key, path, "the dark is not bias-subtracted (CALNOTE) but a bias is configured; rebuild it with skydiag calibrate --bias")
            }
        }
        return header
    }

    /// Seconds the dark is scaled to, and whether the frame said so (a frame without EXPTIME
    /// gets the dark as it is, flagged).
    func exposure(of frame: FrameMetadata) -> (seconds: Double, known: Bool) {
        if let t = frame.exptime, t >= 0, t.isFinite { return (t, true) }
        return (masters.darkExposure, false)
    }

    /// Electrons per ADU for this frame: configured, else the header's, else none.
    func gain(of frame: FrameMetadata) -> Double? {
        gain ?? frame.gain.flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
    }
}

extension SiteConfig {
    /// Whether every configured calibration master opens as a complete FITS image of the
    /// plan's frame size (and a dark has its EXPTIME); the pixels are checked when the site loads them.
    public func checkCalibrationMasters() throws(CalibrationSetupError) {
        try SiteCalibration.check(config: self)
    }
}
