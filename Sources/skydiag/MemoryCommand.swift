import ArgumentParser
import Foundation
import SkyEdge

struct MemoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Print skyedge's memory plan for a board and frame size, and whether it fits.")

    @Option(help: "Board profile name (see Boards/).")
    var board: String

    @Option(help: "Largest frame, as WIDTHxHEIGHT.")
    var frame: String = "4096x4096"

    @Option(help: "Frame slots.")
    var slots: Int = 2

    @Option(help: "Site config to take the pipeline settings from.")
    var config: String?

    @Option(help: "Directory of board profiles.")
    var boards: String?

    func run() throws {
        let parts = frame.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts.allSatisfy({ (16...32_768).contains($0) }) else {
            throw ValidationError("--frame must be WIDTHxHEIGHT with sides of 16 to 32768 pixels, e.g. 4096x4096")
        }
        var cfg: SiteConfig
        do {
            cfg = try config.map { try SiteConfig.load(path: $0) } ?? SiteConfig(site: "plan", node: "plan")
        } catch {
            throw DiagFailure("\(error)")
        }
        cfg.maxFrameWidth = parts[0]
        cfg.maxFrameHeight = parts[1]
        cfg.pipeline.slots = slots
        let profile: BoardProfile
        do { profile = try BoardProfiles.load(board, from: boards ?? BoardProfiles.defaultDirectory()) } catch {
            throw DiagFailure("\(error)")
        }
        let plan = MemoryPlan.make(config: cfg, board: profile)
        print(plan.formatted())
        if !plan.fits { throw ExitCode(2) }
    }
}

/// A failure reported as one `error: ...` line and exit status 1.
struct DiagFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
