import Foundation
import SkyCore
import SkyImage

/// Renders frames of one scene through one camera. Holds what stays fixed
/// (the star catalogue, the camera's defects and flat field) and the scratch
/// memory a frame needs, so rendering into a caller's buffer allocates no
/// frame-sized memory after the first frame. One frame at a time: it may be
/// handed to another thread (hence `@unchecked Sendable`) but not shared by two at once.
public final class SkySimulator: @unchecked Sendable {
    public let scene: SkyScene
    public let camera: CameraModel
    /// The field's WCS with no pointing offset.
    public let fieldWCS: TanWCS
    /// The field's stars; fixed by `scene.seed` and the covered radius.
    public let catalog: [CatalogStar]
    public let catalogRadiusDegrees: Double
    public var hotPixels: [HotPixel] { defects.hotPixels }
    public var badColumns: [BadColumn] { defects.badColumns }
    public var dust: [DustDonut] { defects.dust }

    let defects: CameraDefects
    let flatModel: FlatFieldModel
    /// Catalogue index that each brightening transient acts on.
    let transientTargets: [Int?]
    private let electrons: UnsafeMutableBufferPointer<Float>
    private var flatMap: UnsafeMutableBufferPointer<Float>?
    private var flatMapMean = 1.0
    private let renderer = PointSourceRenderer()
    private var cachedProfile: (fwhm: Double, beta: Double, defocus: Defocus?, profile: RadialProfile)?

    public init(scene: SkyScene, camera: CameraModel) throws(SkySimError) {
        try scene.validate()
        try camera.validate()
        self.scene = scene
        self.camera = camera
        fieldWCS = TanWCS(centerRA: scene.centerRA, centerDec: scene.centerDec, pixelScaleArcsec: camera.pixelScaleArcsec,
                          rotationDegrees: camera.rotationDegrees, width: camera.width, height: camera.height)
        // Cover the frame's corners with 15% to spare for pointing offsets.
        let halfDiagonal = 0.5 * Double(camera.width * camera.width + camera.height * camera.height).squareRoot()
        catalogRadiusDegrees = scene.catalogRadiusDegrees ?? (halfDiagonal * 1.15 * camera.pixelScaleArcsec / 3600)
        let expectedStars = scene.starsPerSquareDegree * Double.pi * catalogRadiusDegrees * catalogRadiusDegrees
        guard expectedStars <= 2_000_000 else {
            throw .invalidConfiguration("the catalogue would hold \(Int(expectedStars)) stars (at most 2 million): lower starsPerSquareDegree or catalogRadiusDegrees")
        }
        catalog = StarCatalog.generate(scene: scene, radiusDegrees: catalogRadiusDegrees)
        defects = CameraDefects(camera: camera)
        flatModel = FlatFieldModel(camera: camera, dust: defects.dust)
        transientTargets = scene.transients.map { [catalog] t in
            t.kind == .brightening ? StarCatalog.nearest(to: t.ra, t.dec, in: catalog) : nil
        }
        electrons = .allocate(capacity: camera.width * camera.height)
    }

    deinit {
        electrons.deallocate()
        flatMap?.deallocate()
    }

    public var width: Int { camera.width }
    public var height: Int { camera.height }

    /// Electrons per second that a star of magnitude `m` delivers above the atmosphere.
    public func electronRate(magnitude m: Double) -> Double { pow(10, -0.4 * (m - camera.zeroPoint)) }

    /// Sky electrons per second per pixel for a surface brightness in mag/arcsec^2.
    public func skyRate(brightness: Double) -> Double {
        electronRate(magnitude: brightness) * camera.pixelScaleArcsec * camera.pixelScaleArcsec
    }

    /// The camera's true flat-field response at a pixel (vignetting, dust and pixel response), 1 at the centre.
    public func flatResponse(x: Int, y: Int) -> Double {
        guard x >= 0, y >= 0, x < width, y < height else { return 0 }
        return Double(ensureFlatMap()[y * width + x])
    }

    // MARK: rendering

    /// Renders a frame into a new image.
    public func render(_ conditions: FrameConditions) throws(SkySimError) -> (image: OwnedImage<UInt16>, frame: SimulatedFrame) {
        let image = OwnedImage<UInt16>(width: width, height: height, fill: 0)
        let frame = try render(conditions, into: image.storage)
        return (image, frame)
    }

    /// Renders a frame into `pixels` (row-major, `camera.width` pixels per row).
    public func render(_ conditions: FrameConditions, into pixels: UnsafeMutableBufferPointer<UInt16>) throws(SkySimError) -> SimulatedFrame {
        try conditions.validate()
        let w = width, h = height, n = w * h
        guard pixels.count >= n, let out = pixels.baseAddress else { throw .bufferTooSmall(needed: n, given: pixels.count) }
        let buf = electrons.baseAddress!
        buf.update(repeating: 0, count: n)

        let t = conditions.effectiveExposure
        let wcs = fieldWCS.shifted(dx: conditions.pointingOffset.dx, dy: conditions.pointingOffset.dy)
        let profile = psfProfile(conditions)
        let useFlat = conditions.flatFieldEnabled
        let flat = useFlat ? ensureFlatMap() : nil
        let smoothFlat: (Double, Double) -> Double = useFlat ? { [flatModel] x, y in flatModel.smoothResponse(x: x, y: y) } : { _, _ in 1 }
        let defectsOn: Bool
        switch conditions.kind {
        case let .flat(_, withDefects): defectsOn = withDefects && conditions.cameraDefectsEnabled
        default: defectsOn = conditions.cameraDefectsEnabled
        }

        var truth = FrameTruth(
            kind: conditions.kind, exposure: t, startTime: conditions.startTime, seed: conditions.seed, wcs: wcs,
            pointingOffset: conditions.pointingOffset, skyElectrons: 0, skyADU: 0, biasADU: camera.biasADU,
            gain: camera.gain, readNoise: camera.readNoise, darkElectrons: camera.darkCurrent * t,
            psf: PSFTruth(fwhmPixels: conditions.fwhmPixels, moffatBeta: conditions.moffatBeta,
                          effectiveFWHMPixels: profile.effectiveFWHM, defocus: conditions.defocus,
                          trackingDrift: conditions.trackingDrift),
            skyGradient: nil, stars: [], transients: [], movingObjects: [], trails: [], cosmicRays: [],
            hotPixels: defectsOn ? defects.hotPixels : [], badColumns: defectsOn ? defects.badColumns : [],
            dust: useFlat ? defects.dust : [], clouds: nil)

        var starPeaks: [(kind: Int, index: Int, pixel: Int)] = []
        switch conditions.kind {
        case .light:
            renderLight(conditions, wcs: wcs, profile: profile, smoothFlat: smoothFlat, into: buf,
                        truth: &truth, peaks: &starPeaks)
        case let .flat(meanADU, _):
            let level = meanADU * camera.gain / (useFlat ? flatMapMean : 1)
            buf.update(repeating: Float(level), count: n)
        case .bias, .dark:
            break
        }

        if let f = flat?.baseAddress {
            for i in 0..<n { buf[i] *= f[i] }
        }
        if truth.darkElectrons > 0 {
            let d = Float(truth.darkElectrons)
            for i in 0..<n { buf[i] += d }
        }
        resolveSaturation(&truth, peaks: starPeaks, buf: buf)

        if defectsOn && t > 0 {
            for p in defects.hotPixels { buf[p.y * w + p.x] += Float(p.darkRate * t) }
        }
        if conditions.cosmicRayRate > 0 && t > 0 {
            var rng = SeededRandom(seed: conditions.seed, stream: SeedMixer.label("cosmic-rays"))
            truth.cosmicRays = CosmicRays.make(rate: conditions.cosmicRayRate, exposure: t, width: w, height: h, rng: &rng)
            for hit in truth.cosmicRays {
                for p in hit.pixels { buf[p.y * w + p.x] += Float(p.electrons) }
            }
        }

        Readout.convert(electrons: buf, into: out, width: w, height: h, settings: .init(
            gain: camera.gain, readNoise: camera.readNoise, bias: camera.biasADU, fullWell: camera.fullWell,
            maxADU: camera.saturationADU, noise: conditions.noiseEnabled, seed: conditions.seed))
        if defectsOn { applyBadColumns(out, conditions: conditions) }

        return SimulatedFrame(metadata: metadata(conditions, wcs: wcs), truth: truth)
    }

    // MARK: light frames

    private func renderLight(_ c: FrameConditions, wcs: TanWCS, profile: RadialProfile,
                             smoothFlat: (Double, Double) -> Double, into buf: UnsafeMutablePointer<Float>,
                             truth: inout FrameTruth, peaks: inout [(kind: Int, index: Int, pixel: Int)]) {
        let w = width, h = height
        let t = c.effectiveExposure
        let mid = c.startTime.adding(seconds: t / 2)
        let clouds = c.clouds.map { CloudField(clouds: $0, width: w, height: h, time: mid) }
        let cx = Double(w - 1) / 2, cy = Double(h - 1) / 2

        // Sky, with the moonlight gradient and the light clouds scatter back.
        let sky = skyRate(brightness: c.skyBrightness) * t
        truth.skyElectrons = sky
        truth.skyGradient = c.skyGradient
        let gx: Double, gy: Double
        if let g = c.skyGradient {
            let a = g.angleDegrees * .pi / 180
            let halfSize = max(cx, cy, 1)
            gx = g.amplitude * cos(a) / halfSize; gy = g.amplitude * sin(a) / halfSize
        } else { gx = 0; gy = 0 }
        let brightening = c.clouds?.skyBrightening ?? 0
        for y in 0..<h {
            let row = buf + y * w
            let rowBase = 1 + gy * (Double(y) - cy)
            if let cf = clouds {
                for x in 0..<w {
                    let fx = Double(x), fy = Double(y)
                    let g = max(0, rowBase + gx * (fx - cx))
                    row[x] = Float(sky * g * (cf.transparency(x: fx, y: fy) + brightening * cf.density(x: fx, y: fy)))
                }
            } else if gx != 0 {
                for x in 0..<w { row[x] = Float(sky * max(0, rowBase + gx * (Double(x) - cx))) }
            } else {
                row.update(repeating: Float(sky * max(0, rowBase)), count: w)
            }
        }
        let centreCloud = clouds.map { $0.transparency(x: cx, y: cy) + brightening * $0.density(x: cx, y: cy) } ?? 1
        truth.skyADU = sky * centreCloud * smoothFlat(cx, cy) / camera.gain
        truth.clouds = clouds?.summary(width: w, height: h)

        let drift = c.trackingDrift
        let margin = profile.maxRadius + drift.length + 2
        func place(_ ra: Double, _ dec: Double) -> PixelPoint? {
            guard let p = wcs.pixel(ra: ra, dec: dec) else { return nil }
            return PixelPoint(x: p.x, y: p.y)
        }
        func nearFrame(_ p: PixelPoint, margin: Double) -> Bool {
            p.x > -margin && p.y > -margin && p.x < Double(w) + margin && p.y < Double(h) + margin
        }
        func transparency(_ p: PixelPoint) -> Double { clouds?.transparency(x: p.x, y: p.y) ?? 1 }

        // Brightening transients that are live in this frame, by catalogue index.
        var brightenedBy: [Int: (delta: Double, transient: Int)] = [:]
        if c.transientsEnabled {
            for (k, tr) in scene.transients.enumerated() where tr.kind == .brightening && isLive(tr, c) {
                if let idx = transientTargets[k] { brightenedBy[idx] = (tr.magnitude, k) }
            }
        }

        if c.starsEnabled {
            truth.stars.reserveCapacity(catalog.count / 2)
            for (i, star) in catalog.enumerated() {
                guard let p = place(star.ra, star.dec), nearFrame(p, margin: margin) else { continue }
                let delta = brightenedBy[i]?.delta ?? 0
                let mag = star.magnitude + delta
                let catalogFlux = electronRate(magnitude: mag) * t
                let tr = transparency(p), fr = smoothFlat(p.x, p.y)
                let dep = renderer.deposit(into: buf, width: w, height: h, center: p, drift: drift,
                                           flux: catalogFlux * tr, profile: profile)
                guard dep.inFrame else { continue }
                let flux = catalogFlux * tr * fr
                truth.stars.append(StarTruth(catalogIndex: i, ra: star.ra, dec: star.dec, magnitude: mag, position: p,
                                             fluxElectrons: flux, fluxADU: flux / camera.gain,
                                             catalogFluxElectrons: catalogFlux, transparency: tr, flatResponse: fr,
                                             peakElectrons: 0, saturated: false, inFrame: true))
                peaks.append((0, truth.stars.count - 1, dep.peakIndex))
                if let b = brightenedBy[i] {
                    let extra = (catalogFlux - electronRate(magnitude: star.magnitude) * t) * tr * fr
                    truth.transients.append(TransientTruth(kind: .brightening, ra: star.ra, dec: star.dec, position: p,
                                                           magnitude: mag, fluxElectrons: extra,
                                                           fluxADU: extra / camera.gain, catalogIndex: i, inFrame: true))
                    _ = b
                }
            }
        }

        if c.transientsEnabled {
            for tr in scene.transients where tr.kind == .newSource && isLive(tr, c) {
                guard let p = place(tr.ra, tr.dec), nearFrame(p, margin: margin) else { continue }
                let catalogFlux = electronRate(magnitude: tr.magnitude) * t
                let tt = transparency(p), fr = smoothFlat(p.x, p.y)
                let dep = renderer.deposit(into: buf, width: w, height: h, center: p, drift: drift,
                                           flux: catalogFlux * tt, profile: profile)
                guard dep.inFrame else { continue }
                let flux = catalogFlux * tt * fr
                truth.transients.append(TransientTruth(kind: .newSource, ra: tr.ra, dec: tr.dec, position: p,
                                                       magnitude: tr.magnitude, fluxElectrons: flux,
                                                       fluxADU: flux / camera.gain, catalogIndex: nil, inFrame: true))
            }
        }

        if c.movingObjectsEnabled {
            for obj in scene.movingObjects {
                let a = obj.position(at: c.startTime), b = obj.position(at: c.startTime.adding(seconds: t))
                let m = obj.position(at: mid)
                guard let pa = place(a.ra, a.dec), let pb = place(b.ra, b.dec), let pm = place(m.ra, m.dec) else { continue }
                let motion = PixelVector(dx: pb.x - pa.x + drift.dx, dy: pb.y - pa.y + drift.dy)
                // Faster than a few frame widths per exposure is a streak for the trail code, not a trailed point.
                guard motion.length <= 2 * Double(w + h) else { continue }
                guard nearFrame(pm, margin: profile.maxRadius + motion.length + 2) else { continue }
                let catalogFlux = electronRate(magnitude: obj.magnitude) * t
                let tt = transparency(pm), fr = smoothFlat(pm.x, pm.y)
                let dep = renderer.deposit(into: buf, width: w, height: h, center: pm, drift: motion,
                                           flux: catalogFlux * tt, profile: profile)
                guard dep.inFrame else { continue }
                let flux = catalogFlux * tt * fr
                let trail = LineSegment(start: PixelPoint(x: pm.x - motion.dx / 2, y: pm.y - motion.dy / 2),
                                        end: PixelPoint(x: pm.x + motion.dx / 2, y: pm.y + motion.dy / 2))
                truth.movingObjects.append(MovingObjectTruth(name: obj.name, magnitude: obj.magnitude, position: pm,
                                                             trail: trail, fluxElectrons: flux,
                                                             fluxADU: flux / camera.gain, inFrame: true))
            }
        }

        if c.satelliteCount > 0 || c.aircraftCount > 0 {
            var rng = SeededRandom(seed: c.seed, stream: SeedMixer.label("trails"))
            let lineFWHM = max(profile.effectiveFWHM, 1)
            truth.trails = TrailRenderer.makeTrails(kind: .satellite, count: c.satelliteCount, width: w, height: h,
                                                    fwhm: lineFWHM, rng: &rng)
                + TrailRenderer.makeTrails(kind: .aircraft, count: c.aircraftCount, width: w, height: h,
                                           fwhm: lineFWHM, rng: &rng)
            for trail in truth.trails {
                for seg in trail.segments {
                    TrailRenderer.draw(seg, electronsPerPixelLength: trail.electronsPerPixelLength,
                                       fwhm: trail.widthPixels, into: buf, width: w, height: h)
                }
            }
        }
    }

    private func isLive(_ t: InjectedTransient, _ c: FrameConditions) -> Bool {
        guard let s = t.startsAt else { return true }
        return c.startTime >= s
    }

    /// Peak electrons per star once sky, flat and dark are in: whether it clips.
    private func resolveSaturation(_ truth: inout FrameTruth, peaks: [(kind: Int, index: Int, pixel: Int)],
                                   buf: UnsafeMutablePointer<Float>) {
        let fullWell = camera.fullWell
        let adcLimitElectrons = (camera.saturationADU - camera.biasADU) * camera.gain
        for p in peaks where p.pixel >= 0 {
            let e = Double(buf[p.pixel])
            truth.stars[p.index].peakElectrons = e
            truth.stars[p.index].saturated = e >= fullWell || e >= adcLimitElectrons
        }
    }

    private func applyBadColumns(_ out: UnsafeMutablePointer<UInt16>, conditions: FrameConditions) {
        var rng = SeededRandom(seed: conditions.seed, stream: SeedMixer.label("bad-columns"))
        let rnADU = conditions.noiseEnabled ? camera.readNoise / camera.gain : 0
        let maxADU = camera.saturationADU
        for col in defects.badColumns {
            for y in col.rows {
                let i = y * width + col.x
                let v: Double
                switch col.kind {
                case .dead: v = camera.biasADU + rnADU * rng.gaussian()
                case .hot: v = Double(out[i]) + col.offsetADU
                }
                out[i] = UInt16(min(maxADU, max(0, v.rounded())))
            }
        }
    }

    // MARK: helpers

    private func psfProfile(_ c: FrameConditions) -> RadialProfile {
        if let p = cachedProfile, p.fwhm == c.fwhmPixels, p.beta == c.moffatBeta, p.defocus == c.defocus { return p.profile }
        let profile: RadialProfile
        if let d = c.defocus, d.outerDiameterPixels > 0 {
            profile = .donut(outerDiameter: d.outerDiameterPixels, obstruction: d.obstruction, blurFWHM: c.fwhmPixels)
        } else {
            profile = .moffat(fwhm: c.fwhmPixels, beta: c.moffatBeta)
        }
        cachedProfile = (c.fwhmPixels, c.moffatBeta, c.defocus, profile)
        return profile
    }

    private func ensureFlatMap() -> UnsafeMutableBufferPointer<Float> {
        if let m = flatMap { return m }
        let n = width * height
        let m = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        flatModel.fill(m.baseAddress!)
        var sum = 0.0
        for v in m { sum += Double(v) }
        flatMapMean = sum / Double(n)
        flatMap = m
        return m
    }

    private func metadata(_ c: FrameConditions, wcs: TanWCS) -> FrameMetadata {
        let object: String
        switch c.kind {
        case .light: object = scene.name
        case .bias: object = "BIAS"
        case .dark: object = "DARK"
        case .flat: object = "FLAT"
        }
        let t = c.effectiveExposure
        return FrameMetadata(width: width, height: height, bitpix: 16, bzero: 32768, bscale: 1,
                             exptime: t, dateObs: c.startTime.isoString, gain: camera.gain,
                             readNoise: camera.readNoise, filter: camera.filter, instrument: "SkySim",
                             ccdTemperature: camera.ccdTemperature, object: object,
                             wcs: c.kind == .light ? wcs.keywords : nil,
                             saturation: min(camera.saturationADU, camera.biasADU + camera.fullWell / camera.gain))
    }
}

extension FrameConditions {
    public static func bias(seed: UInt64, startTime: UTCInstant = UTCInstant(unixSeconds: 1_767_225_600)) -> FrameConditions {
        FrameConditions(kind: .bias, exposure: 0, startTime: startTime, seed: seed, cosmicRayRate: 0)
    }

    public static func dark(exposure: Double, seed: UInt64, startTime: UTCInstant = UTCInstant(unixSeconds: 1_767_225_600)) -> FrameConditions {
        FrameConditions(kind: .dark, exposure: exposure, startTime: startTime, seed: seed)
    }

    public static func flat(meanADU: Double = 25000, withDefects: Bool = true, exposure: Double = 2, seed: UInt64,
                            startTime: UTCInstant = UTCInstant(unixSeconds: 1_767_225_600)) -> FrameConditions {
        FrameConditions(kind: .flat(meanADU: meanADU, withDefects: withDefects), exposure: exposure, startTime: startTime,
                        seed: seed, cosmicRayRate: 0)
    }
}
