import ArgumentParser
import Foundation
import SkySim

/// `skydiag quality-truth [--json]`: the quality judgement on simulated frames
/// against the simulator's truth (seeing, defocus, tracking, star recovery,
/// trails, hot pixels, bad columns, sky brightness), one row per check.
struct QualityTruthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality-truth",
        abstract: "Check the quality judgement on simulated frames with known truth; exit 1 when a check fails.")

    @Flag(help: "Print one JSON object per line.")
    var json = false

    func run() throws {
        let rows = try SimulatedQualityChecks.all()
        for r in rows {
            if json {
                let object: [String: Any] = ["check": r.name, "truth": r.truth, "measured": r.measured, "target": r.target, "passed": r.passed]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("\(r.passed ? "pass" : "FAIL")  \(r.name): truth \(r.truth); measured \(r.measured); target \(r.target)")
            }
        }
        let failed = rows.filter { !$0.passed }.count
        if failed > 0 { throw DiagFailure("\(failed) of \(rows.count) simulated-truth checks failed") }
    }
}
