import Foundation
import SkyCore
import SkyHub
import SkyTelemetry
import Testing
@_exported import SkyTestSupport

/// Lines the hub logs.
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    var sink: @Sendable (String) -> Void { { [self] line in lock.withLock { items.append(line) } } }
    var lines: [String] { lock.withLock { items } }
}

/// The hub tests' client configuration: unique id, fast retries.
func config(_ broker: LocalMosquitto, _ id: String) -> MQTTClientConfiguration { clientConfig(broker, id) }

/// A hub store in `dir` and its ingest, subscribed to `broker` and ready.
func startHub(_ broker: LocalMosquitto, _ dir: TempDir) throws -> (HubStore, HubIngest) {
    let store = try HubStore(path: dir.path("hub.sqlite"))
    let ingest = try HubIngest(store: store, configuration: config(broker, "hub"))
    ingest.start()
    #expect(ingest.waitUntilReady(timeout: 5))
    return (store, ingest)
}

/// A frame whose measurements vary with `i` so every stored row differs.
func frame(_ i: Int, background: Double? = nil, stars: Int? = nil, met: Bool? = nil) -> FrameReport {
    FrameReport(frameIndex: UInt64(i), source: "sim", dateObs: "2026-11-25T21:39:\(String(format: "%02d", i % 60)).000",
                exptime: 30, width: 1024, height: 768,
                background: background ?? 1000 + Double(i) * 0.5, noise: 12 + Double(i % 7) * 0.25,
                saturatedFraction: Double(i % 5) * 1e-4, stars: stars ?? (100 + i % 37),
                deadlineSeconds: 30, elapsedSeconds: 2.5 + Double(i % 3), deadlineMet: met ?? (i % 10 != 0),
                slackSeconds: 27.5 - Double(i % 3), stages: [StageTiming(stage: "detect", ms: 120 + Double(i))],
                shed: i % 10 == 0 ? ["anomaly"] : [], flags: i % 13 == 0 ? ["saturated"] : [])
}

let testBirth = BirthReport(board: "jetson-orin-nano", software: "skyedge 0.1.0", capabilities: ["quality"],
                            models: ["quality-v1"], frameWidth: 1024, frameHeight: 768)

func encoded(_ r: TelemetryRecord) -> [UInt8] { (try? RecordCodec.encode(r)) ?? [] }

func frameRecord(_ a: NodeAddress, boot: UInt64, seq: UInt64, _ f: FrameReport, time: Double = 1_795_600_000) -> TelemetryRecord {
    TelemetryRecord(kind: .frame, address: a, boot: boot, seq: seq, time: time, frame: f)
}
