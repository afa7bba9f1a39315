import Foundation
import SkyCore
import SkyHub
import SkyTelemetry

/// Runs a real mosquitto, a hub process and N site processes, injects one fault per phase,
/// and checks the hub's store after each: every index of every site exactly once.
final class Orchestrator {
    enum Fault: Equatable {
        case none(String)
        case brokerKill, siteKill, hubKill
        case linkCut(seconds: Double)

        var name: String {
            switch self {
            case let .none(n): n
            case .brokerKill: "broker kill -9 + restart"
            case .siteKill: "site kill -9 + restart"
            case .hubKill: "hub kill -9 + restart"
            case let .linkCut(s): "link cut \(Int(s)) s (broker stopped)"
            }
        }
    }

    struct Row {
        var fault: String
        var records: Int
        /// Records of the phase in the hub's store when the fault struck (proves it struck mid-stream).
        var storedAtFault: Int?
        var lost: Int
        var duplicated: Int
        var seconds: Double
    }

    let sites: Int
    let throughputRecords: Int
    let faultRecords: Int
    let cutSeconds: Double
    let keep: Bool
    /// mosquitto's queue for an offline persistent client (the hub while it restarts); it drops
    /// silently above this. 1000 is mosquitto's own default; the test broker's is unlimited.
    let brokerQueue: Int
    /// Records each site may have out unacknowledged; sites x window below the broker's queue
    /// means the broker never has to drop what is on its way to the hub.
    let window: Int
    /// False with `--no-batch`: sites send every record in its own message.
    let batching: Bool
    let work: URL
    let exe: String
    var broker: LocalMosquitto!
    var hub: Process?
    var siteProcs: [Process?] = []
    /// First record index of the next phase (the same for every site).
    var nextIndex: UInt64 = 0
    /// Seconds to decode one small record (set by `storeCapacity`).
    var decodeSeconds = 0.0

    init(_ o: Options) throws {
        sites = max(1, try o.int("sites", default: 4))
        throughputRecords = max(1, try o.int("records", default: 2500))
        faultRecords = max(10, try o.int("fault-records", default: 2500))
        cutSeconds = try o.double("cut-seconds", default: 120)
        keep = o.flag("keep")
        brokerQueue = try o.int("broker-queue", default: 1000)
        window = max(1, try o.int("window", default: 200))
        batching = !o.flag("no-batch")
        work = FileManager.default.temporaryDirectory.appendingPathComponent("fault-test-\(getpid())")
        exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        siteProcs = Array(repeating: nil, count: sites)
    }

    var db: String { work.appendingPathComponent("hub.sqlite").path }
    var samples: String { work.appendingPathComponent("samples.txt").path }
    func siteName(_ i: Int) -> String { "site\(i)" }

    /// The whole test; false when a record was lost or duplicated or a sequence is out of order.
    func run() throws -> Bool {
        var passed = false
        try withBrokerAndHub { passed = try runAllPhases() }
        return passed
    }

    private func runAllPhases() throws -> Bool {
        print("fault-test: \(sites) sites, broker \(broker.broker) (max_queued_messages \(brokerQueue)), window \(window) per site, batching \(batching ? "on" : "off"), work \(work.path)")

        var rows: [Row] = []
        let alertsBefore = readAlertSamples().count
        let latencyRange = try phase(.none("none (latency, paced 200/s per site)"), count: 500, rate: 200, rows: &rows, alertEvery: 20)
        let alertLatency = alertLatency(skipping: alertsBefore)
        let throughputRange = try phase(.none("none (throughput, unpaced)"), count: throughputRecords, rate: 0, rows: &rows)
        for fault in [Fault.brokerKill, .siteKill, .hubKill, .linkCut(seconds: cutSeconds)] {
            // A link cut lasts minutes: the sites go on producing through it (paced to end about a
            // second after the link is back), so their outboxes fill while nothing can be sent.
            var rate = 400.0
            if case let .linkCut(seconds) = fault { rate = min(rate, Double(faultRecords) / (seconds + 2)) }
            _ = try phase(fault, count: faultRecords, rate: rate, rows: &rows)
        }
        let orderOK = try checkSequences()

        print("")
        print(pad("fault", 40) + pad("records", 9) + pad("at fault", 10) + pad("lost", 6) + pad("dup", 6) + "s to all stored")
        for r in rows {
            print(pad(r.fault, 40) + pad("\(r.records)", 9) + pad(r.storedAtFault.map(String.init) ?? "-", 10)
                  + pad("\(r.lost)", 6) + pad("\(r.duplicated)", 6) + String(format: "%.1f", r.seconds))
        }
        print("(at fault: records of that phase already in the hub's store when the fault struck)")
        let (median, p99, latencyCount) = latency(in: latencyRange)
        let (rate, rateCount) = throughput(in: throughputRange)
        print("")
        print(String(format: "latency publish->stored (loopback, %d records paced): median %.1f ms, p99 %.1f ms", latencyCount, median, p99))
        print(String(format: "alert latency publish->stored (loopback, %d alerts of 3 candidates with stamps, %.0f KB each, among the paced records): median %.1f ms, p99 %.1f ms",
                     alertLatency.count, Double(SiteRole.alertBody(candidates: 3).count) / 1000, alertLatency.median, alertLatency.p99))
        print(String(format: "throughput into SQLite (%d records, %d sites unpaced): %.0f records/s", rateCount, sites, rate))
        let (capacity, capacityCount) = try storeCapacity()
        print(String(format: "hub store capacity (decode + SQLite insert in batches of 2000, in-process, no MQTT; %d records): %.0f records/s", capacityCount, capacity))
        print("per-boot sequences contiguous and in order: \(orderOK ? "yes" : "NO")")
        let faults = rows.filter { !$0.fault.hasPrefix("none") }.count
        let total = rows.reduce(0) { $0 + $1.records }
        let lost = rows.reduce(0) { $0 + $1.lost }, duplicated = rows.reduce(0) { $0 + $1.duplicated }
        if lost > 0 || duplicated > 0 || !orderOK { print("FAILED: records lost, duplicated or out of order (exit status 1)") }
        print("faults=\(faults) records=\(total) lost=\(lost) duplicated=\(duplicated)")
        return lost == 0 && duplicated == 0 && orderOK
    }

    // MARK: phases

    /// Streams `count` records per site; injects `fault` one second in; waits; verifies.
    func phase(_ fault: Fault, count: Int, rate: Double, rows: inout [Row], quiet: Bool = false, alertEvery: Int = 0) throws -> Range<UInt64> {
        let start = nextIndex
        let storedBefore = try HubStore(path: db).recordCount()
        var storedAtFault: Int?
        for i in 0..<sites { siteProcs[i] = try launchSite(i, start: start, count: count, rate: rate, alertEvery: alertEvery) }
        let t0 = MonotonicClock.seconds()
        var faultEnd = t0
        var injects = true
        if case .none = fault { injects = false }
        if injects {
            // Strike while the sites are still producing: 40 % into the phase.
            usleep(useconds_t(min(1.0, 0.4 * Double(count) / rate) * 1_000_000))
            storedAtFault = try HubStore(path: db).recordCount() - storedBefore
            switch fault {
            case .brokerKill:
                broker.kill(); usleep(1_000_000); try broker.start()
            case .siteKill:
                if let p = siteProcs[0] { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
                usleep(300_000)
                siteProcs[0] = try launchSite(0, start: start, count: count, rate: rate, alertEvery: alertEvery)
            case .hubKill:
                if let h = hub { kill(h.processIdentifier, SIGKILL); h.waitUntilExit() }
                usleep(1_000_000)
                try startHub()
            case let .linkCut(seconds):
                broker.stop(); usleep(useconds_t(seconds * 1_000_000)); try broker.start()
            case .none: break
            }
            faultEnd = MonotonicClock.seconds()
        }
        let deadline = Date(timeIntervalSinceNow: 180)
        for p in siteProcs.compactMap({ $0 }) {
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { print("fault-test: a site did not finish in time"); kill(p.processIdentifier, SIGKILL) }
        }
        let elapsed = MonotonicClock.seconds() - faultEnd
        let end = start + UInt64(count)
        nextIndex = end
        let (lost, dup) = try verify(start..<end)
        rows.append(Row(fault: fault.name, records: count * sites, storedAtFault: storedAtFault, lost: lost, duplicated: dup, seconds: elapsed))
        if !quiet { print("phase '\(fault.name)': \(count * sites) records, \(storedAtFault.map { "\($0) stored when the fault struck, " } ?? "")lost \(lost), duplicated \(dup), all stored \(String(format: "%.1f", elapsed)) s after the fault ended") }
        return start..<end
    }

    private func verify(_ range: Range<UInt64>) throws -> (lost: Int, duplicated: Int) {
        let store = try HubStore(path: db)
        var lost = 0, dup = 0
        for i in 0..<sites {
            let indices = try store.records(site: siteName(i), node: "n1").compactMap { $0.status?.framesCaptured }
                .filter { range.contains($0) }
            let distinct = Set(indices)
            dup += indices.count - distinct.count
            lost += range.count - distinct.count
        }
        return (lost, dup)
    }

    /// Per (site, boot): seqs 1...n, and indices increasing with seq.
    private func checkSequences() throws -> Bool {
        let store = try HubStore(path: db)
        for i in 0..<sites {
            let records = try store.records(site: siteName(i), node: "n1")
            for (_, group) in Dictionary(grouping: records, by: \.boot) {
                let sorted = group.sorted { $0.seq < $1.seq }
                guard sorted.map(\.seq) == Array(1...UInt64(sorted.count)) else { return false }
                let idx = sorted.compactMap { $0.status?.framesCaptured }
                guard zip(idx, idx.dropFirst()).allSatisfy({ $0 < $1 }) else { return false }
            }
        }
        return true
    }

    // MARK: measurements

    private func readSamples() -> [(site: String, index: UInt64, made: Double, stored: Double)] {
        guard let text = try? String(contentsOfFile: samples, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 4, let i = UInt64(f[1]), let m = Double(f[2]), let s = Double(f[3]) else { return nil }
            return (String(f[0]), i, m, s)
        }
    }

    /// Alert samples (`site A<seq> made stored`), in file order.
    func readAlertSamples() -> [(key: String, made: Double, stored: Double)] {
        guard let text = try? String(contentsOfFile: samples, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 4, f[1].hasPrefix("A"), let m = Double(f[2]), let s = Double(f[3]) else { return nil }
            return ("\(f[0])/\(f[1])", m, s)
        }
    }

    /// Median and p99 of stored - made over the first storage of each alert after the first `skip` samples, ms.
    func alertLatency(skipping skip: Int) -> (median: Double, p99: Double, count: Int) {
        var first: [String: Double] = [:]
        for s in readAlertSamples().dropFirst(skip) { first[s.key] = min(first[s.key] ?? .infinity, (s.stored - s.made) * 1000) }
        let v = first.values.sorted()
        guard !v.isEmpty else { return (.nan, .nan, 0) }
        return (v[v.count / 2], v[min(v.count - 1, Int(Double(v.count) * 0.99))], v.count)
    }

    /// First storage of each record of the range: median and p99 of stored - made, in ms.
    func latency(in range: Range<UInt64>) -> (Double, Double, Int) {
        var first: [String: Double] = [:]
        for s in readSamples() where range.contains(s.index) {
            let key = "\(s.site)/\(s.index)"
            let ms = (s.stored - s.made) * 1000
            first[key] = min(first[key] ?? .infinity, ms)
        }
        let v = first.values.sorted()
        guard !v.isEmpty else { return (.nan, .nan, 0) }
        return (v[v.count / 2], v[min(v.count - 1, Int(Double(v.count) * 0.99))], v.count)
    }

    /// Records of the range / (last commit - first commit).
    func throughput(in range: Range<UInt64>) -> (Double, Int) {
        var firstStore: [String: Double] = [:]
        for s in readSamples() where range.contains(s.index) {
            let key = "\(s.site)/\(s.index)"
            firstStore[key] = min(firstStore[key] ?? .infinity, s.stored)
        }
        guard let lo = firstStore.values.min(), let hi = firstStore.values.max(), hi > lo else { return (.nan, 0) }
        return (Double(firstStore.count) / (hi - lo), firstStore.count)
    }

    /// What the hub's store side alone sustains: the same small records, decoded and stored
    /// the way HubIngest does it, without the broker and the sites in the way.
    func storeCapacity(count: Int = 40_000) throws -> (Double, Int) {
        let store = try HubStore(path: work.appendingPathComponent("capacity.sqlite").path)
        let node = NodeAddress(site: "capacity", node: "n1")
        let topic = Topics.record(node, .status)
        let payloads = try (1...count).map {
            try RecordCodec.encode(TelemetryRecord(kind: .status, address: node, boot: 1, seq: UInt64($0), time: 1_795_600_000,
                                                   status: StatusReport(framesCaptured: UInt64($0))))
        }
        // Decoding alone, to split the capacity into JSON and SQLite.
        let d0 = MonotonicClock.seconds()
        for p in payloads { _ = try HubIngest.validate(p, topic: topic) }
        decodeSeconds = (MonotonicClock.seconds() - d0) / Double(count)
        let t0 = MonotonicClock.seconds()
        var i = 0
        while i < count {
            let batch = payloads[i..<min(count, i + 2000)].map { p in
                IncomingRecord(record: try! HubIngest.validate(p, topic: topic), payload: p, receivedAt: 0)
            }
            _ = try store.ingest(batch)
            i += 2000
        }
        return (Double(count) / (MonotonicClock.seconds() - t0), count)
    }

    // MARK: processes

    func startHub() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["hub", "--broker", "\(broker.broker)", "--db", db, "--samples", samples]
        p.standardOutput = try logFile("hub.log")
        p.standardError = try logFile("hub.log")
        try p.run()
        hub = p
        usleep(500_000)
    }

    private func launchSite(_ i: Int, start: UInt64, count: Int, rate: Double, alertEvery: Int = 0) throws -> Process {
        let dir = work.appendingPathComponent(siteName(i))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["site", "--broker", "\(broker.broker)", "--site", siteName(i), "--dir", dir.path,
                       "--start", "\(start)", "--count", "\(count)", "--rate", "\(rate)", "--window", "\(window)"]
            + (alertEvery > 0 ? ["--alert-every", "\(alertEvery)"] : []) + (batching ? [] : ["--no-batch"])
        let log = try logFile("\(siteName(i)).log")
        p.standardOutput = log
        p.standardError = log
        try p.run()
        return p
    }

    private func logFile(_ name: String) throws -> FileHandle {
        let path = work.appendingPathComponent(name).path
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw UsageError(description: "cannot write \(path)") }
        h.seekToEndOfFile()
        return h
    }

    func stopProcess(_ p: Process) {
        guard p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date(timeIntervalSinceNow: 5)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
}
