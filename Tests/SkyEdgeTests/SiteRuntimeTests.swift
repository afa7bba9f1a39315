import Foundation
import SkyCapture
import SkyCore
import SkyImage
import SkySim
import Testing
@testable import SkyEdge

@Test func theRuntimeMeasuresWhatTheSimulatorPutThere() throws {
    // A defect-free, unvignetted camera so the sky level is one number the report must find.
    var camera = CameraModel(width: 384, height: 384, seed: 5).withoutDefects()
    camera.vignetting = 0
    let source = try quietSimulator(camera, field: 3, exposure: 20, seed: 9)
    let probe = try SimulatorSource(configuration: source.configuration)
    let truthFrame = OwnedImage<UInt16>(width: 384, height: 384, fill: 0)
    try probe.open()
    _ = try probe.nextFrame(into: truthFrame.storage, timeout: 1)
    let truth = try #require(probe.lastFrame?.truth)

    let sink = CollectingSink()
    let runtime = try SiteRuntime(config: testConfig(maxFrames: 6), board: try genericBoard(), source: source, sink: sink)
    runtime.run()

    let frames = sink.frames
    #expect(frames.count == 6)
    #expect(frames.map(\.frameIndex) == [1, 2, 3, 4, 5, 6])
    let expectedLevel = truth.skyADU + truth.biasADU
    let expectedNoise = (truth.skyElectrons * truth.gain + truth.readNoise * truth.readNoise).squareRoot() / truth.gain
    // Clearly detectable: a peak 12 sigma above the sky keeps >= 5 pixels above 5 sigma for this PSF.
    let detectable = truth.stars.filter {
        $0.inFrame && ($0.peakElectrons - truth.skyElectrons) / truth.gain > 12 * expectedNoise
    }.count
    for f in frames {
        print("runtime frame: background \(f.background) noise \(f.noise) vs \(expectedNoise), stars \(f.stars), score \(f.score ?? -1)")
        #expect(abs(f.background - expectedLevel) < 0.01 * expectedLevel, "background \(f.background) vs \(expectedLevel)")
        // SEP's global rms: its clipped histogram estimate reads ~9% low on these integer pixels.
        #expect(abs(f.noise - expectedNoise) < 0.12 * expectedNoise, "noise \(f.noise) vs \(expectedNoise)")
        #expect(f.width == 384 && f.height == 384 && f.exptime == 20)
        #expect(f.stages.map(\.stage) == ["queue", "convert", "background", "detection", "measurement", "quality"])
        #expect(f.verdict != nil && f.score != nil && f.trails != nil)
        // The rest of the judgement travels in the record too.
        let details = try #require(f.quality)
        // A defect-free camera: no hot pixel, no bad column; a real sky mesh is never perfectly flat.
        #expect(details.trails.count == f.trails && details.hotPixels == 0 && details.badColumns.isEmpty && details.backgroundGradient > 0)
        #expect(details.ellipticity != nil && details.halfFluxRadius != nil, "stars were measured")
        #expect(f.deadlineSeconds == 20)
        #expect(f.deadlineMet == (f.slackSeconds >= 0))
        #expect(f.stars >= detectable, "found \(f.stars), \(detectable) clearly detectable")
        #expect(f.stars <= truth.stars.filter(\.inFrame).count + 3)
    }
    let last = try #require(sink.statuses.last)
    #expect(last.framesProcessed == 6 && last.framesCaptured >= 6)
    #expect(last.captureErrors == 0)
}

@Test func aMissingDirectoryIsRetriedUntilFramesArrive() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("skyedge-retry-\(UUID().uuidString)")
    let dir = root.appendingPathComponent("incoming").path
    defer { try? FileManager.default.removeItem(at: root) }
    let source = FITSDirectorySource(directory: dir, mode: .replay(loop: false), pollInterval: 0.05)
    let sink = CollectingSink()
    let runtime = try SiteRuntime(config: testConfig(maxFrames: 3), board: try genericBoard(), source: source, sink: sink)
    runtime.retryInitial = 0.05
    runtime.retryMax = 0.2
    let done = start(runtime)

    #expect(eventually { runtime.snapshot.captureErrors >= 2 }, "the missing directory is reported, not fatal")
    #expect(runtime.snapshot.lastError?.contains(dir) == true)

    // The camera software starts writing: two good frames around a corrupt one.
    try FileManager.default.createDirectory(atPath: dir + ".tmp", withIntermediateDirectories: true)
    let sim = try SkySimulator(scene: .demoField(4), camera: CameraModel(width: 256, height: 200, seed: 1))
    for (i, name) in ["a.fits", "c.fits", "d.fits"].enumerated() {
        var c = FrameConditions()
        c.seed = UInt64(i)
        let (image, frame) = try sim.render(c)
        try image.withView { try FITSWriter.write(path: dir + ".tmp/" + name, image: $0, metadata: frame.metadata) }
    }
    try Data("SIMPLE  =                    T / but nothing else".utf8).write(to: URL(fileURLWithPath: dir + ".tmp/b.fits"))
    try FileManager.default.moveItem(atPath: dir + ".tmp", toPath: dir)

    #expect(done.wait(timeout: .now() + 20) == .success, "three good frames end the run")
    let frames = sink.frames
    #expect(frames.count == 3)
    #expect(frames.map { URL(fileURLWithPath: $0.source).lastPathComponent } == ["a.fits", "c.fits", "d.fits"])
    #expect(frames.allSatisfy { $0.width == 256 && $0.height == 200 && $0.stars > 0 })
    #expect(runtime.snapshot.captureErrors >= 3, "the corrupt file counts as an error too")
}

@Test func theRuntimeStopsPromptlyWhenAskedWhileTheSourceIsDown() throws {
    let source = FITSDirectorySource(directory: "/nonexistent/skyedge/test", mode: .watch)
    let runtime = try SiteRuntime(config: testConfig(), board: try genericBoard(), source: source, sink: CollectingSink())
    runtime.retryInitial = 5
    let done = start(runtime)
    #expect(eventually { runtime.snapshot.captureErrors >= 1 })
    runtime.stop()
    #expect(done.wait(timeout: .now() + 3) == .success)
}

/// Counts the frames whose capture began before the previous frame's report was out.
private func framesCapturedDuringProcessing(slots: Int) throws -> Int {
    // The simulator renders frame k inside nextFrame, and `adjust` runs at that moment.
    // The runtime frees a slot only after the report of the frame in it is published, so
    // with one slot capture of k starts after k-1's report; with two it starts while k-1
    // is still in the pipeline.
    final class Observed: @unchecked Sendable {
        let lock = NSLock()
        var reportsWhenCapturing: [Int: Int] = [:]
        weak var sink: CollectingSink?
    }
    let observed = Observed()
    let sink = CollectingSink()
    observed.sink = sink
    let source = try SimulatorSource(configuration: .init(
        scene: .demoField(1), camera: CameraModel(width: 256, height: 256, seed: 2), seed: 3, pacing: .immediate,
        adjust: { k, _ in
            let n = observed.sink?.frames.count ?? 0
            observed.lock.withLock { observed.reportsWhenCapturing[k] = n }
        }))
    var config = testConfig(maxFrames: 12)
    config.pipeline.slots = slots
    let runtime = try SiteRuntime(config: config, board: try genericBoard(), source: source, sink: sink)
    runtime.run()
    #expect(sink.frames.count == 12)
    return observed.lock.withLock { observed.reportsWhenCapturing.filter { k, n in k >= 1 && k < 12 && n < k }.count }
}

@Test func captureOverlapsProcessingWithTwoSlotsAndNotWithOne() throws {
    #expect(try framesCapturedDuringProcessing(slots: 1) == 0, "one slot: strictly one frame after another")
    let overlapped = try framesCapturedDuringProcessing(slots: 2)
    #expect(overlapped >= 6, "two slots: \(overlapped) of 11 frames captured while the previous one was processed")
}

@Test func framesBeyondThePlansShapeAreSkippedNotFatal() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skyedge-shape-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    // 300x100 has fewer pixels than the 256x256 plan allows, but is wider than 256.
    let wide = OwnedImage<UInt16>(width: 300, height: 100, fill: 1000)
    try wide.withView { try FITSWriter.write(path: dir.appendingPathComponent("a-wide.fits").path, image: $0) }
    // A header claiming an absurd saturation level (some software writes FLT_MAX) must not trap.
    let sim = try SkySimulator(scene: .demoField(2), camera: CameraModel(width: 200, height: 160, seed: 4))
    let (image, frame) = try sim.render(FrameConditions())
    var metadata = frame.metadata
    metadata.saturation = 3.4028235e38
    try image.withView { try FITSWriter.write(path: dir.appendingPathComponent("b-good.fits").path, image: $0, metadata: metadata) }

    var config = testConfig(width: 256, height: 256, maxFrames: 1)
    config.maxFrameWidth = 256
    let sink = CollectingSink()
    let source = FITSDirectorySource(directory: dir.path, mode: .replay(loop: false))
    let runtime = try SiteRuntime(config: config, board: try genericBoard(), source: source, sink: sink)
    runtime.run()
    #expect(sink.frames.map { URL(fileURLWithPath: $0.source).lastPathComponent } == ["b-good.fits"])
    #expect(runtime.snapshot.captureErrors == 1)
    #expect(runtime.snapshot.lastError?.contains("300x100") == true)
}
