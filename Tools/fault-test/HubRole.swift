import Dispatch
import Foundation
import SkyCore
import SkyHub
import SkyTelemetry

/// A hub process: HubIngest into SQLite; appends, per stored record, a line
/// `site index recordTime commitTime` to the samples file (latency and throughput).
enum HubRole {
    static func run(_ o: Options) throws {
        let store = try HubStore(path: try o.string("db"))
        var config = MQTTClientConfiguration(broker: try o.broker(), clientID: "fault-test-hub")
        config.cleanSession = false // the broker queues for the hub while it restarts
        config.reconnect = ReconnectPolicy(initialDelay: 0.1, maxDelay: 1)
        config.maxInflight = 1000
        let ingest = try HubIngest(store: store, configuration: config, log: { _ in })
        let samplesPath = try o.string("samples")
        if !FileManager.default.fileExists(atPath: samplesPath) {
            _ = FileManager.default.createFile(atPath: samplesPath, contents: nil)
        }
        guard let samples = FileHandle(forWritingAtPath: samplesPath) else { throw UsageError(description: "cannot write \(samplesPath)") }
        samples.seekToEndOfFile()
        ingest.setStoredHandler { records, committedAt in
            var text = ""
            for r in records {
                // Alerts, by seq (they carry no index): `site A<seq> recordTime commitTime`.
                if r.kind == .alert { text += "\(r.site) A\(r.seq) \(r.time) \(committedAt)\n"; continue }
                guard let index = r.status?.framesCaptured else { continue }
                text += "\(r.site) \(index) \(r.time) \(committedAt)\n"
            }
            samples.write(Data(text.utf8))
        }
        let stop = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.signal() }
            s.resume()
            sources.append(s)
        }
        ingest.start()
        print("hub ready")
        stop.wait()
        ingest.stop()
        withExtendedLifetime(sources) {}
    }
}
