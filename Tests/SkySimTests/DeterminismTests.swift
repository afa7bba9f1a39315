import Foundation
import Testing
import SkyCore
import SkyImage
@testable import SkySim

@Suite struct DeterminismTests {
    func bytes(_ img: OwnedImage<UInt16>) -> [UInt16] { Array(img.storage) }

    @Test func sameSeedGivesIdenticalFrames() throws {
        let scene = SkyScene(seed: 42)
        var conditions = FrameConditions(seed: 9, satelliteCount: 1, aircraftCount: 1)
        conditions.clouds = Clouds(coverage: 0.4)
        conditions.cosmicRayRate = 20
        let camera = CameraModel(width: 640, height: 512)
        let a = try SkySimulator(scene: scene, camera: camera).render(conditions)
        let simB = try SkySimulator(scene: scene, camera: camera)
        let b = try simB.render(conditions)
        #expect(bytes(a.image) == bytes(b.image))
        #expect(a.frame.truth.stars == b.frame.truth.stars)
        #expect(a.frame.truth.cosmicRays == b.frame.truth.cosmicRays)
        #expect(a.frame.truth.trails == b.frame.truth.trails)
        // Rendering again on a used simulator (warm caches, reused scratch) changes nothing.
        let c = try simB.render(conditions)
        #expect(bytes(a.image) == bytes(c.image))
    }

    @Test func differentNoiseSeedChangesPixelsButNotStars() throws {
        let sim = try SkySimulator(scene: SkyScene(seed: 42), camera: CameraModel(width: 256, height: 256))
        let a = try sim.render(FrameConditions(seed: 1))
        let b = try sim.render(FrameConditions(seed: 2))
        #expect(bytes(a.image) != bytes(b.image))
        #expect(a.frame.truth.stars.map(\.position) == b.frame.truth.stars.map(\.position))
        #expect(!a.frame.truth.stars.isEmpty)
    }

    @Test func differentFieldSeedGivesDifferentStars() throws {
        let camera = CameraModel(width: 256, height: 256)
        let a = try SkySimulator(scene: SkyScene(seed: 1), camera: camera)
        let b = try SkySimulator(scene: SkyScene(seed: 2), camera: camera)
        #expect(a.catalog != b.catalog)
        #expect(a.catalog == (try SkySimulator(scene: SkyScene(seed: 1), camera: camera)).catalog)
    }

    @Test func bufferRenderMatchesImageRender() throws {
        let sim = try SkySimulator(scene: SkyScene(seed: 5), camera: CameraModel(width: 128, height: 96))
        let viaImage = try sim.render(FrameConditions(seed: 3))
        let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 128 * 96 + 10)
        defer { slot.deallocate() }
        _ = try sim.render(FrameConditions(seed: 3), into: slot)
        #expect(Array(slot.prefix(128 * 96)) == bytes(viaImage.image))
        let small = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 100)
        defer { small.deallocate() }
        #expect(throws: SkySimError.bufferTooSmall(needed: 128 * 96, given: 100)) { try sim.render(FrameConditions(), into: small) }
    }

    @Test func badConfigurationIsAnErrorNotACrash() {
        #expect(throws: SkySimError.self) { try SkySimulator(scene: SkyScene(), camera: CameraModel(width: 0, height: 10)) }
        #expect(throws: SkySimError.self) { try SkySimulator(scene: SkyScene(centerDec: 95), camera: CameraModel()) }
        #expect(throws: SkySimError.self) {
            try SkySimulator(scene: SkyScene(), camera: CameraModel(width: 64, height: 64)).render(FrameConditions(fwhmPixels: -1))
        }
    }

    /// Not a timed assertion: prints how long a demo-sized frame takes, for the report.
    @Test func reportRenderTime() throws {
        let sim = try SkySimulator(scene: SkyScene(seed: 3), camera: CameraModel(width: 1024, height: 1024))
        let slot = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 1024 * 1024)
        defer { slot.deallocate() }
        _ = try sim.render(FrameConditions(seed: 1), into: slot)
        let t0 = MonotonicClock.seconds()
        let f = try sim.render(FrameConditions(seed: 2), into: slot)
        let dt = MonotonicClock.seconds() - t0
        print("SkySim 1024x1024 with \(f.truth.stars.count) stars rendered in \(String(format: "%.3f", dt)) s")
        #expect(f.truth.stars.count > 100)
        var busy = FrameConditions(seed: 3, skyGradient: SkyGradient(amplitude: 0.3, angleDegrees: 20), clouds: Clouds(),
                                   trackingDrift: PixelVector(dx: 4, dy: 1), cosmicRayRate: 5, satelliteCount: 2, aircraftCount: 1)
        busy.defocus = Defocus(outerDiameterPixels: 10)
        let t1 = MonotonicClock.seconds()
        _ = try sim.render(busy, into: slot)
        print("SkySim 1024x1024 with clouds, gradient, defocus, drift, trails rendered in \(String(format: "%.3f", MonotonicClock.seconds() - t1)) s")
    }
}
