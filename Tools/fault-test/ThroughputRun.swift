import Foundation
import SkyCore
import SkyHub
import SkyTelemetry

/// `fault-test --throughput`: only the unpaced phase, repeated, with the CPU each part used
/// (sites, hub, broker, this harness), to see where the time per record goes.
extension Orchestrator {
    struct CPUTimes {
        var sites = 0.0, hub = 0.0, broker = 0.0, harness = 0.0
        static func - (a: CPUTimes, b: CPUTimes) -> CPUTimes {
            CPUTimes(sites: a.sites - b.sites, hub: a.hub - b.hub, broker: a.broker - b.broker, harness: a.harness - b.harness)
        }
    }

    /// Every mode: a work directory, a broker and a hub for `body`, cleaned up after (sites
    /// still running when `body` throws are killed too).
    func withBrokerAndHub(_ body: () throws -> Void) throws {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer {
            hub.map { stopProcess($0) }
            for p in siteProcs.compactMap({ $0 }) where p.isRunning { kill(p.processIdentifier, SIGKILL) }
            if !keep { try? FileManager.default.removeItem(at: work) } else { print("work directory kept: \(work.path)") }
        }
        broker = try LocalMosquitto(extraConfig: ["max_queued_messages \(brokerQueue)"])
        try startHub()
        try body()
    }

    func runThroughput(repeats: Int) throws -> Bool {
        var passed = false
        try withBrokerAndHub { passed = try measureThroughput(repeats: repeats) }
        return passed
    }

    private func measureThroughput(repeats: Int) throws -> Bool {
        print("fault-test --throughput: \(sites) sites x \(throughputRecords) records, \(repeats) repeats, window \(window), batching \(batching ? "on" : "off"), load average \(loadAverage())")
        var rows: [Row] = []
        var rates: [Double] = []
        print("run  records/s  records  lost dup  CPU us/record: sites   hub  broker harness  load")
        for r in 0..<repeats {
            let before = cpuTimes()
            let range = try phase(.none("throughput \(r + 1)"), count: throughputRecords, rate: 0, rows: &rows, quiet: true)
            let used = cpuTimes() - before
            let (rate, n) = throughput(in: range)
            rates.append(rate)
            let per = { (s: Double) in String(format: "%7.1f", s / Double(max(1, n)) * 1e6) }
            let row = rows.last!
            print(String(format: "%3d %10.0f %8d %5d %3d              ", r + 1, rate, n, row.lost, row.duplicated)
                  + per(used.sites) + per(used.hub) + per(used.broker) + per(used.harness) + "  " + loadAverage())
        }
        let sorted = rates.sorted()
        let lost = rows.reduce(0) { $0 + $1.lost }, dup = rows.reduce(0) { $0 + $1.duplicated }
        print(String(format: "throughput median of %d: %.0f records/s (min %.0f, max %.0f); lost=%d duplicated=%d",
                     rates.count, sorted[sorted.count / 2], sorted.first!, sorted.last!, lost, dup))
        let (capacity, _) = try storeCapacity()
        print(String(format: "hub store capacity (decode + SQLite, in-process): %.0f records/s; decoding alone %.1f us/record", capacity, decodeSeconds * 1e6))
        return lost == 0 && dup == 0
    }

    func cpuTimes() -> CPUTimes {
        var children = rusage(), me = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &children)
        getrusage(RUSAGE_SELF.rawValue, &me)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        // Reaped children are the sites (they exit at the end of each phase); hub and broker still run.
        return CPUTimes(sites: seconds(children.ru_utime) + seconds(children.ru_stime),
                        hub: hub.map { processCPU($0.processIdentifier) } ?? 0,
                        broker: broker.processID.map(processCPU) ?? 0,
                        harness: seconds(me.ru_utime) + seconds(me.ru_stime))
    }

    /// utime + stime of a running process, from /proc/<pid>/stat.
    func processCPU(_ pid: pid_t) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, utime 14 and stime 15 (1-based over the whole line).
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func loadAverage() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? "?"
    }
}
