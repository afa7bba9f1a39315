import ArgumentParser
import Foundation

/// Field technicians' tool: every subcommand prints what is wrong in one line
/// and exits non-zero, so it works in scripts and over a slow SSH link.
struct SkyDiag: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skydiag",
        abstract: "Check a SkyEdge site: FITS files, sources, frame quality, calibration, board, memory plan, camera, MQTT.",
        subcommands: [FitsCommand.self, SourcesCommand.self, QualityCommand.self, QualityTruthCommand.self, CalibrateCommand.self,
                      BoardCommand.self, MemoryCommand.self, CameraCommand.self, MQTTCommand.self, TailCommand.self])
}

do {
    var command = try SkyDiag.parseAsRoot()
    try command.run()
} catch let failure as DiagFailure {
    FileHandle.standardError.write(Data("error: \(failure.description)\n".utf8))
    exit(1)
} catch {
    SkyDiag.exit(withError: error)
}
