import ArgumentParser
struct Main: ParsableCommand { static let configuration = CommandConfiguration(commandName: "skyhub") }
Main.main()
