import ArgumentParser
import Dispatch
import Foundation
import SkyHub

struct SkyHubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skyhub",
        abstract: "The SkyEdge hub: stores what every site reports and acknowledges it.",
        subcommands: [Run.self, Report.self, Provision.self, SendCommand.self])
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

struct Provision: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a CA, broker and client certificates, per-site passwords, the mosquitto password file, ACL and config, and site configs.")

    @Option(help: "Number of sites (named site1, site2, ...).") var sites: Int?
    @Option(help: "Comma-separated site names instead of --sites.") var names: String?
    @Option(help: "Output directory.") var out: String
    @Option(help: "Broker host name the sites connect to (in the server certificate).") var host = "localhost"
    @Option(help: "Broker TLS port.") var port = 8883
    @Option(help: "Node name in the site configs.") var node = "cam1"
    @Flag(name: .customLong("no-client-certificates"), help: "Do not require client certificates (password only).")
    var noClientCertificates = false

    func run() throws {
        let list: [String]
        if let names { list = names.split(separator: ",").map(String.init) } else if let sites, sites >= 1, sites <= 10_000 {
            list = (1...sites).map { "site\($0)" }
        } else {
            throw ValidationError("give --sites N (1...10000) or --names a,b,c")
        }
        var p = Provisioner(sites: list, out: URL(fileURLWithPath: out))
        p.brokerHost = host
        p.port = port
        p.node = node
        p.requireClientCertificates = !noClientCertificates
        do {
            let files = try p.run()
            print("provisioned \(list.count) sites in \(out) (\(files.count) files; passwords only in the 0600 'password' files)")
            print("broker: mosquitto -c \(out)/broker/mosquitto.conf")
        } catch let e as Provisioner.Failure {
            throw ValidationError(e.description)
        }
    }
}

SkyHubCommand.main()
