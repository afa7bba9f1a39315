import Foundation

extension Orchestrator {
    /// `fault-test --latency [--repeats N]`: only the paced phase (200 records/s per site,
    /// an alert with stamps after every 20th), repeated, so the tail of the latency can be
    /// seen over more samples than one full run gives.
    func runLatency(repeats: Int) throws -> Bool {
        var passed = false
        try withBrokerAndHub { passed = try measureLatency(repeats: repeats) }
        return passed
    }

    private func measureLatency(repeats: Int) throws -> Bool {
        print("fault-test --latency: \(sites) sites x 500 paced records (200/s each, an alert after every 20th), \(repeats) repeats, load average \(loadAverage())")
        print("run  records p50 ms  p99 ms   alerts p50 ms  p99 ms  lost dup  load")
        var rows: [Row] = []
        for r in 0..<repeats {
            let alertsBefore = readAlertSamples().count
            let range = try phase(.none("latency \(r + 1)"), count: 500, rate: 200, rows: &rows, quiet: true, alertEvery: 20)
            let (median, p99, _) = latency(in: range)
            let alerts = alertLatency(skipping: alertsBefore)
            let row = rows.last!
            print(String(format: "%3d  %14.1f %7.1f %15.1f %7.1f %5d %3d  ", r + 1, median, p99, alerts.median, alerts.p99,
                         row.lost, row.duplicated) + loadAverage())
        }
        let lost = rows.reduce(0) { $0 + $1.lost }, duplicated = rows.reduce(0) { $0 + $1.duplicated }
        print("lost=\(lost) duplicated=\(duplicated)")
        return lost == 0 && duplicated == 0
    }
}
