import ArgumentParser
struct Main: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "skydiag", subcommands: [FitsCommand.self])
}
Main.main()
