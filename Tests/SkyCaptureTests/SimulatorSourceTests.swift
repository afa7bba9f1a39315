import Foundation
import Testing
import SkyCore
import SkyImage
import SkySim
@testable import SkyCapture

@Suite struct SimulatorSourceTests {
    func config(seed: UInt64 = 5, size: Int = 128, pacing: SimulatorSource.Pacing = .immediate) -> SimulatorSource.Configuration {
        SimulatorSource.Configuration(scene: .demoField(1), camera: CameraModel(width: size, height: size, seed: 3),
                                      conditions: FrameConditions(exposure: 30), seed: seed, overhead: 2, pacing: pacing)
    }

    func frames(_ source: SimulatorSource, count: Int) throws -> [[UInt16]] {
        let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 128 * 128)
        defer { slot.deallocate() }
        try source.open()
        var out: [[UInt16]] = []
        for _ in 0..<count {
            _ = try #require(try source.nextFrame(into: slot, timeout: 1))
            out.append(Array(slot))
        }
        return out
    }

    @Test func sameSeedReplaysTheSameFrames() throws {
        let a = try frames(SimulatorSource(configuration: config()), count: 3)
        let b = try frames(SimulatorSource(configuration: config()), count: 3)
        let c = try frames(SimulatorSource(configuration: config(seed: 6)), count: 3)
        #expect(a == b)
        #expect(a[0] != a[1])
        #expect(a[0] != c[0])
        // Seeking back replays a frame exactly.
        let s = try SimulatorSource(configuration: config())
        _ = try frames(s, count: 2)
        s.seek(toFrame: 1)
        #expect(try frames(s, count: 1)[0] == a[1])
    }

    @Test func dateObsAdvancesByExposurePlusOverheadAndStarsStay() throws {
        let s = try SimulatorSource(configuration: config())
        let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 128 * 128)
        defer { slot.deallocate() }
        try s.open()
        let f0 = try #require(try s.nextFrame(into: slot, timeout: 1))
        let stars0 = Set(try #require(s.lastFrame).truth.stars.map(\.catalogIndex))
        let f1 = try #require(try s.nextFrame(into: slot, timeout: 1))
        let stars1 = Set(try #require(s.lastFrame).truth.stars.map(\.catalogIndex))
        let t0 = try #require(f0.metadata.dateObsInstant), t1 = try #require(f1.metadata.dateObsInstant)
        #expect(abs(t1.unixSeconds - t0.unixSeconds - 32) < 1e-3)
        #expect(f0.metadata.exptime == 30 && f0.metadata.instrument == "SkySim" && f0.metadata.object == "FIELD-1")
        #expect(f0.origin == "sim:5/0" && f1.origin == "sim:5/1")
        #expect(stars0.intersection(stars1).count > stars0.count * 8 / 10)
        #expect(s.maxFrameSize?.width == 128 && s.nextIndex == 2)
    }

    @Test func acceleratedPacingWaitsForTheSimulatedExposure() throws {
        // 30 s exposure + 2 s overhead at 128x: one frame per 0.25 s of real time.
        let s = try SimulatorSource(configuration: config(pacing: .accelerated(128)))
        let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 128 * 128)
        defer { slot.deallocate() }
        try s.open()
        let start = MonotonicClock.seconds()
        _ = try #require(try s.nextFrame(into: slot, timeout: 2))
        _ = try #require(try s.nextFrame(into: slot, timeout: 2))
        #expect(MonotonicClock.seconds() - start >= 0.45)
        // A frame that is not due within the timeout is not delivered.
        let slow = try SimulatorSource(configuration: config(pacing: .realTime))
        try slow.open()
        #expect(try slow.nextFrame(into: slot, timeout: 0.05) == nil)
        #expect(slow.nextIndex == 0)
    }

    @Test func misuseGivesCaptureErrors() throws {
        let s = try SimulatorSource(configuration: config())
        let small = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 100)
        defer { small.deallocate() }
        #expect(throws: CaptureError.self) { try s.nextFrame(into: small, timeout: 0) }
        try s.open()
        #expect(throws: CaptureError.tooLarge(width: 128, height: 128, capacity: 100)) { try s.nextFrame(into: small, timeout: 0) }
        var bad = config()
        bad.camera.gain = 0
        #expect(throws: CaptureError.self) { try SimulatorSource(configuration: bad) }
        bad = config(); bad.pacing = .accelerated(0)
        #expect(throws: CaptureError.self) { try SimulatorSource(configuration: bad) }
        bad = config(); bad.adjust = { _, c in c.fwhmPixels = -3 }
        let broken = try SimulatorSource(configuration: bad)
        try broken.open()
        let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 128 * 128)
        defer { slot.deallocate() }
        #expect(throws: CaptureError.self) { try broken.nextFrame(into: slot, timeout: 0) }
    }

    @Test func adjustAndFrameLimitShapeTheSequence() throws {
        var cfg = config()
        cfg.frameLimit = 2
        cfg.adjust = { index, c in if index == 1 { c.defocus = Defocus(outerDiameterPixels: 12) } }
        let s = try SimulatorSource(configuration: cfg)
        let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 128 * 128)
        defer { slot.deallocate() }
        try s.open()
        _ = try s.nextFrame(into: slot, timeout: 1)
        #expect(s.lastFrame?.truth.psf.defocus == nil)
        _ = try s.nextFrame(into: slot, timeout: 1)
        #expect(s.lastFrame?.truth.psf.defocus == Defocus(outerDiameterPixels: 12))
        #expect(try s.nextFrame(into: slot, timeout: 0.01) == nil)
    }

    @Test func twoSitesOnTwoFieldsSeeDifferentSkies() throws {
        let a = try SimulatorSource(configuration: .init(scene: .demoField(1), camera: CameraModel(width: 128, height: 128, seed: 1), seed: 11))
        let b = try SimulatorSource(configuration: .init(scene: .demoField(2), camera: CameraModel(width: 128, height: 128, seed: 2), seed: 22))
        #expect(a.simulator.catalog != b.simulator.catalog)
        #expect(a.simulator.hotPixels != b.simulator.hotPixels)
        #expect(a.name != b.name)
    }
}
