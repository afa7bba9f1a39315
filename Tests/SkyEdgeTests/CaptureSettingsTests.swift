import Foundation
import Testing
@testable import SkyEdge

@Test func captureSettingsKeepTheDeadlineRule() {
    #expect(CaptureSettings(exposure: 30, cadence: 60).problem() == nil)
    #expect(CaptureSettings(exposure: nil, cadence: nil).problem() == nil)
    #expect(CaptureSettings(exposure: -1, cadence: nil).problem()?.contains("outside") == true)
    #expect(CaptureSettings(exposure: 100_000, cadence: nil).problem()?.contains("outside") == true)
    #expect(CaptureSettings(exposure: .nan, cadence: nil).problem() != nil)
    #expect(CaptureSettings(exposure: 10, cadence: 0).problem()?.contains("cadence 0.0 s is outside") == true)
    #expect(CaptureSettings(exposure: 30, cadence: 10).problem()?.contains("shorter than the 30.0 s exposure") == true)
    // The pipeline needs 0.5 s per frame: a 0.2 s exposure gives frames a 0.2 s deadline.
    #expect(CaptureSettings(exposure: 0.2, cadence: nil).problem(processingSeconds: 0.5)?.contains("deadline") == true)
    #expect(CaptureSettings(exposure: 1, cadence: nil).problem(processingSeconds: 0.5) == nil)
    // Accelerated 60x, a 20 s exposure lasts 1/3 s of wall clock: too short for 0.5 s of work.
    #expect(CaptureSettings(exposure: 20, cadence: nil).problem(timeScale: 60, processingSeconds: 0.5) != nil)
    #expect(CaptureSettings(exposure: 40, cadence: nil).problem(timeScale: 60, processingSeconds: 0.5) == nil)
    // Exposure unknown (a camera at its driver's setting): the cadence alone is judged.
    #expect(CaptureSettings(exposure: nil, cadence: 0.1).problem(processingSeconds: 0.5)?.contains("faster") == true)
}

@Test func reloadAppliesLiveKeysAndRefusesPlanAndRestartKeys() throws {
    let board = try genericBoard()
    let running = testConfig(width: 512, height: 512)
    var live = running
    live.source.exposure = 10
    live.source.cadence = 15
    live.pipeline.detectSigma = 3
    live.statusInterval = 2
    live.logLevel = "warn"
    live.commands.handler = "/bin/true"
    #expect(ConfigReload.judge(running: running, reloaded: live, board: board) == .apply(changed: [
        "commands.handler", "logLevel", "pipeline.detectSigma", "source.cadence", "source.exposure", "statusInterval"]))
    #expect(ConfigReload.judge(running: running, reloaded: running, board: board) == .apply(changed: []))

    var bigger = live
    bigger.maxFrameWidth = 1024
    bigger.outbox.maxBytes = 2 << 30
    guard case let .refuse(reason) = ConfigReload.judge(running: running, reloaded: bigger, board: board) else {
        Issue.record("a reload that changes the frame size and outbox was applied")
        return
    }
    #expect(reason.contains("maxFrameWidth"))
    #expect(reason.contains("outbox.maxBytes"))
    #expect(reason.contains("memory plan"))
    #expect(reason.contains("still running with the previous config"))

    var moved = running
    moved.broker.port = 1884
    guard case let .refuse(why) = ConfigReload.judge(running: running, reloaded: moved, board: board) else {
        Issue.record("a reload that changes the broker was applied")
        return
    }
    #expect(why.contains("broker.port cannot change while running"))
}

@Test func cadenceAndLogLevelAreConfigKeys() throws {
    let c = try SiteConfig.parse("site: s\nnode: n\nlogLevel: warn\nsource: { exposure: 20, cadence: 45 }\n")
    #expect(c.source.cadence == 45)
    #expect(c.logLevel == "warn")
    #expect(throws: ConfigError.self) { try SiteConfig.parse("site: s\nnode: n\nsource: { exposure: 20, cadence: 5 }\n") }
    #expect(throws: ConfigError.self) { try SiteConfig.parse("site: s\nnode: n\nlogLevel: loud\n") }
}

@Test func cadencePacerDiscardsEarlyFramesOfAFreeRunningCamera() {
    var camera = CadencePacer(onRequest: false)
    let kept = [10.0, 10.4, 11.0].map { camera.keeps($0, interval: 1) }
    #expect(kept == [true, false, true])
    let unpaced = camera.keeps(11.1, interval: nil)
    #expect(unpaced, "no cadence: every frame")
    var simulator = CadencePacer(onRequest: true)
    let asked = [10.0, 10.1].map { simulator.keeps($0, interval: 1) }
    #expect(asked == [true, true], "on request: paced before asking, never discarded")
}
