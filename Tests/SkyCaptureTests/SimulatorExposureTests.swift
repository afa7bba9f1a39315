import Foundation
import Testing
import SkyCore
import SkyImage
import SkySim
@testable import SkyCapture

/// `set-exposure` on the simulator: later frames are exposed longer or shorter (more or
/// less sky in them) and the simulated clock stays continuous.
@Test func simulatorExposureChangesTheFramesAndKeepsTheClockContinuous() throws {
    let source = try SimulatorSource(configuration: .init(
        scene: .demoField(1), camera: CameraModel(width: 96, height: 96, seed: 3),
        conditions: FrameConditions(exposure: 30), seed: 5, overhead: 2, pacing: .immediate))
    let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 96 * 96)
    defer { slot.deallocate() }
    try source.open()
    func median() -> Double { Double(Array(slot).sorted()[slot.count / 2]) }
    let f0 = try #require(try source.nextFrame(into: slot, timeout: 1))
    let sky30 = median()
    #expect(try source.setExposure(seconds: 120) == 120)
    let f1 = try #require(try source.nextFrame(into: slot, timeout: 1))
    let sky120 = median()
    let f2 = try #require(try source.nextFrame(into: slot, timeout: 1))
    #expect(f0.metadata.exptime == 30)
    #expect(f1.metadata.exptime == 120)
    #expect(sky120 > sky30, "four times the exposure collects more sky: \(sky120) vs \(sky30)")
    let t0 = try #require(f0.metadata.dateObsInstant).unixSeconds
    let t1 = try #require(f1.metadata.dateObsInstant).unixSeconds
    let t2 = try #require(f2.metadata.dateObsInstant).unixSeconds
    // Frame 1 starts when the 30 s frame 0 and its 2 s overhead end; frame 2 after 120 + 2 s.
    #expect(abs(t1 - t0 - 32) < 1e-3)
    #expect(abs(t2 - t1 - 122) < 1e-3)
    #expect(throws: CaptureError.self) { try source.setExposure(seconds: 0) }
    #expect(throws: CaptureError.self) { try source.setExposure(seconds: .nan) }
    #expect(source.configuration.conditions.exposure == 120, "a refused exposure changes nothing")
}
