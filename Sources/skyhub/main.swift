import ArgumentParser
import Dispatch
import Foundation
import SkyHub

struct SkyHubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skyhub",
        abstract: "The SkyEdge hub: stores what every site reports and acknowledges it.",
        subcommands: [Run.self, Report.self])
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ingest telemetry until SIGINT or SIGTERM.")

    @Option(help: "Broker as HOST:PORT.") var broker: String?
    @Option(help: "SQLite file of the hub store.") var db: String?
    @Option(help: "YAML file with the same keys as these options; options override it.") var config: String?
    @Option(name: .customLong("client-id"), help: "MQTT client id (default skyhub).") var clientID: String?
    @Option(help: "Broker username.") var username: String?
    @Option(name: .customLong("password-file"), help: "File holding the broker password.") var passwordFile: String?
    @Option(name: .customLong("ca-file"), help: "CA certificate for TLS.") var caFile: String?
    @Option(name: .customLong("cert-file"), help: "Client certificate for TLS.") var certFile: String?
    @Option(name: .customLong("key-file"), help: "Client key for TLS.") var keyFile: String?

    func run() throws {
        do {
            let file = try config.map { try HubSettings.load(file: $0) } ?? HubSettings()
            let settings = file.overridden(by: HubSettings(
                broker: broker, db: db, clientID: clientID, username: username, passwordFile: passwordFile,
                caFile: caFile, certFile: certFile, keyFile: keyFile))
            guard let dbPath = settings.db else { throw HubSettings.Failure(description: "no database given (--db PATH or 'db:' in the config)") }
            let mqtt = try settings.mqttConfiguration()
            let store = try HubStore(path: dbPath)
            let ingest = try HubIngest(store: store, configuration: mqtt)

            let stop = DispatchSemaphore(value: 0)
            var sources: [DispatchSourceSignal] = []
            for sig in [SIGINT, SIGTERM] {
                signal(sig, SIG_IGN) // handled by the dispatch source instead
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { stop.signal() }
                source.resume()
                sources.append(source)
            }
            ingest.start()
            log("skyhub: ingesting from \(mqtt.broker) into \(dbPath)")
            stop.wait()
            log("skyhub: stopping")
            ingest.stop()
            let s = ingest.statistics
            log("skyhub: stored \(s.stored) records (\(s.duplicates) duplicates, \(s.rejected) refused), \(s.acknowledgementsSent) acks sent")
            sources.forEach { $0.cancel() }
        } catch let e as HubSettings.Failure {
            throw ValidationError(e.description)
        }
    }

    private func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Summarize the hub store per site and node.")

    @Option(help: "SQLite file of the hub store.") var db: String
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else { throw ValidationError("no hub store at \(db)") }
        let report = try HubReport.build(from: HubStore(path: db))
        print(json ? try report.json() : report.text(), terminator: json ? "\n" : "")
    }
}

SkyHubCommand.main()
