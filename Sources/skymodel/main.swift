import ArgumentParser
struct Main: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skymodel", abstract: "Train, quantize, inspect and evaluate SkyEdge models.")
}
Main.main()
