import ArgumentParser
struct Main: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "skydiag", subcommands: [CameraCommand.self])
}
Main.main()
