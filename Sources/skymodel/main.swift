import ArgumentParser
struct Main: ParsableCommand { static let configuration = CommandConfiguration(commandName: "skymodel") }
Main.main()
