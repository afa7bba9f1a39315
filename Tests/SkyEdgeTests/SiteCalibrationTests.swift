import Foundation
import SkyCapture
import SkyCore
import SkyImage
import SkySim
import Testing
@testable import SkyEdge

/// Masters built with the library from simulated bias, dark and flat frames of one camera,
/// written as `skydiag calibrate` writes them (EXPTIME, CALNOTE), for the site to load.
struct SimulatedMasters {
    static let size = 256
    /// Vignetting (a 30% loss in the corners), a dark current that matters, hot pixels, bad columns.
    static let camera: CameraModel = {
        var c = CameraModel(width: size, height: size, seed: 5)
        c.vignetting = 0.3
        c.dustDonutCount = 0
        c.darkCurrent = 3
        return c
    }()
    static let darkExposure = 60.0

    let directory: URL
    /// Median of the flat over its value at the frame centre: a calibrated sky reads this times the centre's sky.
    let flatMedianOverCentre: Double

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("skyedge-masters-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let sim = try SkySimulator(scene: SkyScene(seed: 1), camera: Self.camera)
        func stack(_ conditions: [FrameConditions]) throws -> OwnedImage<Float> {
            try Calibration.combine(try conditions.map { c in
                let raw = try sim.render(c).image
                let f = OwnedImage<Float>(width: raw.width, height: raw.height, fill: 0)
                for i in 0..<raw.storage.count { f.storage[i] = Float(raw.storage[i]) }
                return f
            }, method: .median)
        }
        let bias = try stack((1...5).map { FrameConditions.bias(seed: UInt64(10 + $0)) })
        let dark = try stack((1...5).map { FrameConditions.dark(exposure: Self.darkExposure, seed: UInt64(20 + $0)) })
        for i in 0..<dark.storage.count { dark.storage[i] -= bias.storage[i] }
        let flatRaw = try stack((1...5).map { FrameConditions.flat(meanADU: 20_000, seed: UInt64(30 + $0)) })
        let flat = Calibration.normalizedFlat(flatRaw, bias: bias)
        let mask = Calibration.badPixelMask(darkMinusBias: dark, normalizedFlat: flat)
        let maskImage = OwnedImage<Float>(width: mask.width, height: mask.height, fill: 0)
        for i in 0..<mask.storage.count where mask.storage[i] != 0 { maskImage.storage[i] = 1 }
        // The median of the central 8 x 8: a bad column may cross it.
        var centre: [Float] = []
        let c = Self.size / 2
        for y in (c - 4)..<(c + 4) { for x in (c - 4)..<(c + 4) { centre.append(flat[x, y]) } }
        flatMedianOverCentre = 1 / Double(centre.sorted()[32])

        func write(_ image: OwnedImage<Float>, _ name: String, exposure: Double, note: String) throws {
            let cards = [FITSCard("IMAGETYP", .string("MASTER"), comment: ""), FITSCard("EXPTIME", .double(exposure), comment: ""),
                         FITSCard("CALNOTE", .string(note), comment: "")]
            try image.withView { try FITSWriter.write(path: directory.appendingPathComponent(name).path, image: $0, extraCards: cards, overwrite: true) }
        }
        try write(bias, "bias.fits", exposure: 0, note: "")
        try write(dark, "dark.fits", exposure: Self.darkExposure, note: "bias-subtracted")
        try write(flat, "flat.fits", exposure: 2, note: "normalized to median 1")
        try write(maskImage, "badpix.fits", exposure: 0, note: "bad pixels")
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    var calibration: SiteConfig.Calibration {
        var c = SiteConfig.Calibration()
        c.bias = path("bias.fits"); c.dark = path("dark.fits"); c.flat = path("flat.fits"); c.badPixels = path("badpix.fits")
        return c
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    /// Light frames of the same camera: 30 s (half the dark's exposure), no cosmic rays.
    static func source(seed: UInt64 = 9) throws -> SimulatorSource {
        try quietSimulator(camera, field: 3, exposure: 30, seed: seed)
    }
}

@Suite(.serialized) struct SiteCalibrationTests {
    @Test func calibrationKeysParseAndNameTheirFilesNextToTheConfig() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skyedge-calcfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("site.yaml").path
        try """
            site: s1
            node: n1
            calibration:
              bias: masters/bias.fits
              dark: /srv/masters/dark.fits
              badPixels: masters/badpix.fits
              gain: 1.5
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let config = try SiteConfig.load(path: file)
        #expect(config.calibration.bias == dir.appendingPathComponent("masters/bias.fits").path)
        #expect(config.calibration.dark == "/srv/masters/dark.fits")
        #expect(config.calibration.flat == nil)
        #expect(config.calibration.badPixels == dir.appendingPathComponent("masters/badpix.fits").path)
        #expect(config.calibration.gain == 1.5)
        #expect(try SiteConfig.parse("site: s\nnode: n\n").calibration.isEmpty)

        func refusal(_ section: String) -> String {
            do { _ = try SiteConfig.parse("site: s\nnode: n\ncalibration: \(section)\n"); return "" } catch { return "\(error)" }
        }
        // A misspelt key would leave the site uncalibrated without a word.
        #expect(refusal("{ bad_pixels: mask.fits }").contains("calibration.bad_pixels"))
        #expect(refusal("{ gain: -1 }").contains("calibration.gain"))
        #expect(refusal("{ flat: '' }").contains("calibration.flat"))
    }

    /// Masters live in the arena: a reload cannot swap them.
    @Test func aReloadThatChangesTheMastersIsRefused() throws {
        var running = testConfig()
        running.calibration.flat = "/masters/flat.fits"
        var reloaded = running
        reloaded.calibration.flat = "/masters/flat-new.fits"
        reloaded.calibration.bias = "/masters/bias.fits"
        guard case let .refuse(reason) = ConfigReload.judge(running: running, reloaded: reloaded, board: try genericBoard()) else {
            Issue.record("a reload swapping masters was applied")
            return
        }
        #expect(reason.contains("calibration.bias") && reason.contains("calibration.flat") && reason.contains("memory plan"), "\(reason)")
    }

    @Test func aMissingCorruptOrMisSizedMasterStopsTheStart() throws {
        let masters = try SimulatedMasters()
        defer { masters.remove() }
        let size = SimulatedMasters.size
        func startError(_ change: (inout SiteConfig.Calibration) throws -> Void) rethrows -> String {
            var config = testConfig(width: size, height: size, maxFrames: 1)
            config.calibration = masters.calibration
            try change(&config.calibration)
            do {
                _ = try SiteRuntime(config: config, board: try genericBoard(), source: try SimulatedMasters.source(), sink: CollectingSink())
                return ""
            } catch { return "\(error)" }
        }
        #expect(try startError { _ in } == "", "the good masters load")

        let missing = masters.path("nothing-here.fits")
        let e1 = try startError { $0.flat = missing }
        #expect(e1.contains("calibration.flat") && e1.contains(missing), "\(e1)")

        let corrupt = masters.path("corrupt.fits")
        try Data("SIMPLE  =                    T / and nothing else".utf8).write(to: URL(fileURLWithPath: corrupt))
        let e2 = try startError { $0.bias = corrupt }
        #expect(e2.contains("calibration.bias") && e2.contains(corrupt), "\(e2)")

        let small = masters.path("small.fits")
        let image = OwnedImage<Float>(width: size - 56, height: size, fill: 1)
        try image.withView { try FITSWriter.write(path: small, image: $0, extraCards: [FITSCard("EXPTIME", .double(60))]) }
        let e3 = try startError { $0.dark = small }
        #expect(e3.contains("calibration.dark") && e3.contains("\(size - 56)x\(size)") && e3.contains("\(size)x\(size)"), "\(e3)")
        #expect(!e3.contains("\n"), "one line")

        // A dark without EXPTIME cannot be scaled to the frames' exposure.
        let noTime = masters.path("notime.fits")
        let flatOnes = OwnedImage<Float>(width: size, height: size, fill: 1)
        try flatOnes.withView { try FITSWriter.write(path: noTime, image: $0) }
        let e4 = try startError { $0.dark = noTime }
        #expect(e4.contains("calibration.dark") && e4.contains("EXPTIME"), "\(e4)")
    }

    /// `skyedge check` and `run` look at the masters before the broker hears of the node.
    @Test func skyedgeNamesAWrongSizedMasterInOneLine() throws {
        let masters = try SimulatedMasters()
        defer { masters.remove() }
        let config = masters.path("site.yaml")
        try """
            site: s1
            node: n1
            boardsDirectory: \(PackagePaths.boards)
            maxFrameWidth: 320
            maxFrameHeight: 256
            source: { width: 320, height: 256 }
            broker: { host: 127.0.0.1, port: 1 }
            calibration: { bias: bias.fits, flat: flat.fits }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        for command in ["check", "run"] {
            guard let r = try runTool("skyedge", [command, "--config", config]) else {
                Issue.record("skyedge is not built: run swift build --build-tests first")
                return
            }
            #expect(r.status == 1)
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(r.stderr)")
            #expect(r.stderr.hasPrefix("error: calibration.bias \(masters.path("bias.fits")): 256x256 but frames are 320x256"), "\(r.stderr)")
        }
    }

    @Test func theMemoryPlanHoldsTheMastersAndRefusesWhatDoesNotFit() throws {
        let masters = try SimulatedMasters()
        defer { masters.remove() }
        var board = try genericBoard()
        let plain = testConfig(width: 2048, height: 1536)
        var calibrated = plain
        calibrated.calibration = masters.calibration
        let without = MemoryPlan.make(config: plain, board: board)
        let with = MemoryPlan.make(config: calibrated, board: board)
        let px = 2048 * 1536
        for name in ["master bias", "master dark", "master flat"] {
            let e = try #require(with.entries.first { $0.name == name })
            #expect(e.inArena && e.bytes == 4 * px)
        }
        let mask = try #require(with.entries.first { $0.name == "bad-pixel mask" })
        #expect(mask.inArena && mask.bytes == px)
        #expect(with.arenaBytes - without.arenaBytes >= 13 * px)
        #expect(!without.entries.contains { $0.name.hasPrefix("master") })
        #expect(with.formatted().contains("master flat") && with.formatted().contains("flat.fits"))

        // A board with room for everything but the masters: the plan refuses, and the site with it.
        board.memoryBudgetMiB = (without.totalBytes + (1 << 20) - 1) >> 20
        #expect(MemoryPlan.make(config: plain, board: board).fits)
        #expect(!MemoryPlan.make(config: calibrated, board: board).fits)
        #expect(throws: MemoryPlanError.self) {
            _ = try SiteRuntime(config: calibrated, board: board, source: try SimulatedMasters.source(), sink: CollectingSink())
        }
    }

    /// The published background is the sky in electrons, where the raw frames read bias plus
    /// vignetted sky in ADU; the vignetting gradient is gone from the background mesh.
    @Test func calibratedFramesPublishTheSkyInElectrons() throws {
        let masters = try SimulatedMasters()
        defer { masters.remove() }
        let size = SimulatedMasters.size
        let probe = try SimulatedMasters.source()
        let pixels = OwnedImage<UInt16>(width: size, height: size, fill: 0)
        try probe.open()
        let captured = try #require(try probe.nextFrame(into: pixels.storage, timeout: 1))
        let truth = try #require(probe.lastFrame?.truth)
        let camera = SimulatedMasters.camera
        #expect(captured.metadata.gain == camera.gain, "the simulator's GAIN is what the site converts with")
        let expectedSky = truth.skyElectrons * masters.flatMedianOverCentre
        // Shot noise of sky and dark current, and read noise, stay after the subtraction.
        let expectedNoise = (expectedSky + camera.darkCurrent * 30 + camera.readNoise * camera.readNoise).squareRoot()

        func run(calibrated: Bool) throws -> [FrameReport] {
            var config = testConfig(width: size, height: size, maxFrames: 3)
            if calibrated { config.calibration = masters.calibration }
            let sink = CollectingSink()
            try SiteRuntime(config: config, board: try genericBoard(), source: try SimulatedMasters.source(), sink: sink).run()
            return sink.frames
        }
        let raw = try run(calibrated: false)
        let reduced = try run(calibrated: true)
        #expect(raw.count == 3 && reduced.count == 3)
        for (r, c) in zip(raw, reduced) {
            print("calibration: raw bkg \(r.background) noise \(r.noise) flags \(r.flags); calibrated bkg \(c.background) vs \(expectedSky) e-, noise \(c.noise) vs \(expectedNoise), flags \(c.flags)")
            #expect(abs(c.background - expectedSky) < 0.03 * expectedSky, "calibrated background \(c.background) vs \(expectedSky) e-")
            #expect(abs(r.background - expectedSky) > 0.5 * expectedSky, "the raw frame reads bias and ADU")
            #expect(abs(c.noise - expectedNoise) < 0.15 * expectedNoise, "noise \(c.noise) vs \(expectedNoise) e-")
            #expect(c.stages.map(\.stage) == ["queue", "convert", "calibrate", "background", "detection", "measurement", "quality"])
            #expect(r.stages.map(\.stage) == ["queue", "convert", "background", "detection", "measurement", "quality"])
            #expect(!c.flags.contains("uncalibrated") && !c.flags.contains("dark_unscaled"))
            #expect(c.stars > 0)
            #expect(r.flags.contains("bad_columns") && !c.flags.contains("bad_columns"), "the mask takes the camera's bad columns out")
        }

        // The background mesh: flat after calibration, the vignetting's fall-off before.
        let config = testConfig(width: size, height: size)
        func meshSpread(calibrated: Bool) throws -> Double {
            var c = config
            if calibrated { c.calibration = masters.calibration }
            let arena = try Arena(plan: MemoryPlan.make(config: c, board: try genericBoard()))
            let loaded = try SiteCalibration.load(config: c, arena: arena)
            var pipeline = FramePipeline(config: c, arena: arena, calibration: loaded)
            _ = pixels.withView { pipeline.process($0, frame: captured) }
            let mesh = try #require(pipeline.extractor.background?.levelMesh).map(Double.init)
            let pedestal = calibrated ? 0 : camera.biasADU + camera.darkCurrent * 30 / camera.gain
            let sorted = mesh.sorted()
            return (sorted.last! - sorted.first!) / (sorted[sorted.count / 2] - pedestal)
        }
        let flatSpread = try meshSpread(calibrated: true), rawSpread = try meshSpread(calibrated: false)
        print("calibration: background mesh spread \(flatSpread) calibrated, \(rawSpread) raw")
        #expect(flatSpread < 0.02)
        #expect(rawSpread > 0.06)
    }

    /// A frame the masters do not fit is judged raw and says so; one without EXPTIME gets the dark as it is.
    @Test func framesTheMastersCannotServeAreFlagged() throws {
        let masters = try SimulatedMasters()
        defer { masters.remove() }
        let size = SimulatedMasters.size
        var config = testConfig(width: size, height: size)
        config.calibration = masters.calibration
        let arena = try Arena(plan: MemoryPlan.make(config: config, board: try genericBoard()))
        var pipeline = FramePipeline(config: config, arena: arena, calibration: try SiteCalibration.load(config: config, arena: arena))
        let source = try SimulatedMasters.source()
        let pixels = OwnedImage<UInt16>(width: size, height: size, fill: 0)
        try source.open()
        var frame = try #require(try source.nextFrame(into: pixels.storage, timeout: 1))

        // A region of interest: the top 200 rows, as a camera would send them.
        var roi = frame
        roi.metadata.height = 200
        let cut = pixels.withView { pipeline.process(ImageView(base: $0.base, width: size, height: 200), frame: roi) }
        #expect(cut.flags.contains("uncalibrated"))
        #expect(cut.background > Double(SimulatedMasters.camera.biasADU), "judged in raw ADU, bias and all")

        frame.metadata.exptime = nil
        let untimed = pixels.withView { pipeline.process($0, frame: frame) }
        #expect(untimed.flags.contains("dark_unscaled") && !untimed.flags.contains("uncalibrated"))
        #expect(untimed.background < Double(SimulatedMasters.camera.biasADU) / 2, "still calibrated")
    }
}

/// No unclipped pixel reaches the calibrated saturation level, however a flat well under 1
/// (a vignetted corner) or a negative dark lifts it; clipped ones sit exactly on it.
@Test func onlyClippedPixelsReachTheCalibratedSaturationLevel() throws {
    let w = 64, h = 16
    var rng = SeededRandom(seed: 12, stream: 3)
    func image(_ f: () -> Float) -> OwnedImage<Float> { OwnedImage(width: w, height: h, pixel: f) }
    let bias = image { 480 + Float(rng.uniform() * 40) }, dark = image { -5 + Float(rng.uniform() * 35) }
    let flat = image { 0.3 + Float(rng.uniform() * 0.9) }
    let cal = SiteCalibration(masters: CalibrationMasters(width: w, height: h, bias: UnsafePointer(bias.storage.baseAddress!),
                                                          dark: UnsafePointer(dark.storage.baseAddress!), darkExposure: 60,
                                                          flat: UnsafePointer(flat.storage.baseAddress!)),
                              gain: 2, biasMin: Double(bias.storage.min()!), darkMin: Double(dark.storage.min()!),
                              flatMin: Double(flat.storage.min()!))
    let level = cal.saturationLevel(raw: 65_535, exposure: 30, gain: 2)
    // Every pixel just under the clip, and a few clipped.
    let frame = image { 65_534 }
    for i in stride(from: 0, to: w * h, by: 97) { frame.storage[i] = 65_535 }
    try withExtendedLifetime((bias, dark, flat)) {
        try Calibration.applyInPlace(frame.view, masters: cal.masters, exposure: 30, gain: 2, saturation: (65_535, level))
    }
    for i in 0..<(w * h) {
        if i % 97 == 0 { #expect(frame.storage[i] == level) } else { #expect(frame.storage[i] < level, "pixel \(i): \(frame.storage[i]) vs \(level)") }
    }
    #expect(frame.storage.contains { $0 > (65_535 - 500) * 2 }, "the test does lift some pixels past the old (raw - mean bias) x gain level")
}
