import ArgumentParser
struct Main: ParsableCommand { static let configuration = CommandConfiguration(commandName: "skydiag", subcommands: [MQTTCommand.self]) }
Main.main()
