import Foundation
@_exported import SkyTestSupport
import SkyCapture
import SkyCore
import SkySim
@testable import SkyEdge

/// Keeps what the runtime produced, for tests that check the runtime itself
/// (the MQTT path has its own end-to-end test). Optionally forwards to a real sink.
final class CollectingSink: RecordSink, @unchecked Sendable {
    private let lock = NSLock()
    private var frameReports: [FrameReport] = []
    private var statusReports: [StatusReport] = []
    let forward: RecordSink?

    init(forwardingTo forward: RecordSink? = nil) { self.forward = forward }

    func publish(frame: FrameReport) {
        lock.withLock { frameReports.append(frame) }
        forward?.publish(frame: frame)
    }

    func publish(status: StatusReport) {
        lock.withLock { statusReports.append(status) }
        forward?.publish(status: status)
    }

    var delivery: DeliveryCounters { forward?.delivery ?? DeliveryCounters(published: UInt64(frames.count)) }
    func shutdown() { forward?.shutdown() }

    var frames: [FrameReport] { lock.withLock { frameReports } }
    var statuses: [StatusReport] { lock.withLock { statusReports } }
}

func testConfig(site: String = "testsite", width: Int = 384, height: Int = 384, maxFrames: Int? = nil) -> SiteConfig {
    var c = SiteConfig(site: site, node: "n1")
    c.maxFrameWidth = width
    c.maxFrameHeight = height
    c.maxFrames = maxFrames
    c.statusInterval = 0.5
    return c
}

func genericBoard() throws -> BoardProfile { try BoardProfiles.load("generic-x86_64", from: PackagePaths.boards) }

/// Runs `runtime` on a thread and returns a way to wait for it.
func start(_ runtime: SiteRuntime) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    Thread { runtime.run(); done.signal() }.start()
    return done
}


/// Frames of `camera` on demo field `field`: `exposure` seconds, no cosmic rays, no pointing
/// jitter, delivered at once (what tests that compare reports with the truth want).
func quietSimulator(_ camera: CameraModel, field: Int, exposure: Double, seed: UInt64) throws -> SimulatorSource {
    var conditions = FrameConditions()
    conditions.exposure = exposure
    conditions.cosmicRayRate = 0
    return try SimulatorSource(configuration: .init(scene: .demoField(field), camera: camera, conditions: conditions,
                                                    seed: seed, pacing: .immediate, pointingJitterPixels: 0))
}
