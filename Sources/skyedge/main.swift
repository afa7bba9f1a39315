import ArgumentParser
import Foundation
import SkyCapture
import SkyEdge

struct SkyEdgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skyedge",
        abstract: "The SkyEdge site runtime: capture frames, judge them, report to the hub.",
        subcommands: [Run.self, Plan.self, Check.self])
}

struct ConfigOptions: ParsableArguments {
    @Option(help: "Site configuration (YAML).")
    var config: String

    @Option(help: "Board profile name; overrides the config (default: the config's, or auto-detect).")
    var board: String?

    @Option(help: "Directory of board profiles.")
    var boards: String?

    func load() throws -> (SiteConfig, BoardProfile) {
        var cfg = try SiteConfig.load(path: config)
        if let board { cfg.board = board }
        let dir = boards ?? cfg.boardsDirectory ?? BoardProfiles.defaultDirectory()
        if cfg.board == "auto" {
            guard let p = BoardProfiles.detect(in: dir) else {
                throw RuntimeFailure("no board profile in \(dir) matches this machine; set 'board:' in the config")
            }
            return (cfg, p)
        }
        return (cfg, try BoardProfiles.load(cfg.board, from: dir))
    }
}

struct RuntimeFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension SkyEdgeCommand {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the site until stopped (SIGINT/SIGTERM).")

        @OptionGroup var options: ConfigOptions

        @Option(help: "Broker as HOST:PORT; overrides the config.")
        var broker: String?

        @Option(help: "Stop after this many frames.")
        var maxFrames: Int?

        /// The config file with this command line's overrides, at start and for `reload-config`.
        func loadConfig() throws -> (SiteConfig, BoardProfile) {
            var (cfg, board) = try options.load()
            if let maxFrames { cfg.maxFrames = maxFrames }
            if let broker {
                let parts = broker.split(separator: ":")
                guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--broker must be HOST:PORT") }
                cfg.broker.host = String(parts[0])
                cfg.broker.port = port
            }
            return (cfg, board)
        }

        func run() throws {
            let (cfg, board) = try loadConfig()
            if let level = LogLevel(rawValue: cfg.logLevel) { Log.level = level }
            Log.prefix = "skyedge[\(cfg.address)]"
            // Everything that can refuse to start comes before the broker hears of this node,
            // so a refused start is not reported as a birth followed by a lost node.
            let plan = MemoryPlan.make(config: cfg, board: board)
            guard plan.fits else { throw MemoryPlanError(plan: plan) }
            try cfg.checkCalibrationMasters()
            try cfg.checkClearReference()
            let source: FrameSource
            do { source = try SourceFactory.make(cfg) } catch { throw RuntimeFailure("\(error)") }
            let sink = try MQTTRecordSink(config: cfg, board: board)
            let runtime: SiteRuntime
            do { runtime = try SiteRuntime(config: cfg, board: board, source: source, sink: sink) } catch {
                sink.shutdown()
                throw error
            }
            let reader = self
            runtime.enableCommands(sink.commands, reload: { try reader.loadConfig().0 })
            let signals = SignalHandlers { runtime.stop() }
            runtime.run()
            sink.shutdown()
            withExtendedLifetime(signals) {}
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the memory plan this config needs on its board.")
        @OptionGroup var options: ConfigOptions

        func run() throws {
            let (cfg, board) = try options.load()
            let plan = MemoryPlan.make(config: cfg, board: board)
            print(plan.formatted())
            if !plan.fits { throw ExitCode(2) }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate the config and board profile, then exit.")
        @OptionGroup var options: ConfigOptions

        func run() throws {
            let (cfg, board) = try options.load()
            try cfg.checkCalibrationMasters()
            try cfg.checkClearReference()
            print("config ok: \(cfg.address), board \(board.name), source \(cfg.source.kind.rawValue)")
        }
    }
}

do {
    var command = try SkyEdgeCommand.parseAsRoot()
    try command.run()
} catch let error as ConfigError {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8)); exit(1)
} catch let error as BoardProfileError {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8)); exit(1)
} catch let error as MemoryPlanError {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8)); exit(2)
} catch let error as CalibrationSetupError {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8)); exit(1)
} catch let error as ClearSkySetupError {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8)); exit(1)
} catch let error as RuntimeFailure {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8)); exit(1)
} catch {
    SkyEdgeCommand.exit(withError: error)
}
