import ArgumentParser
struct Main: ParsableCommand { static let configuration = CommandConfiguration(commandName: "skydiag") }
Main.main()
