import ArgumentParser
struct Main: ParsableCommand { static let configuration = CommandConfiguration(commandName: "skyedge") }
Main.main()
