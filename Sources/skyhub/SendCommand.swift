import ArgumentParser
import Foundation
import SkyCore
import SkyHub
import SkyTelemetry

struct SendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "command",
        abstract: "Send a command to a site's node and print its reply (exit 0 accepted, 1 rejected, 3 no reply).",
        discussion: """
            Kinds: set-exposure --seconds S, set-cadence --seconds S, reload-config, \
            resend-from --from SEQ [--boot B], local [--arg key=value ...].
            Example: skyhub command --broker 127.0.0.1:1883 --site lapalma --node cam1 --kind set-exposure --seconds 20
            """)

    @Option(help: "Broker as HOST:PORT.") var broker: String?
    @Option(help: "YAML file with skyhub run's keys (broker, username, password-file, TLS files); options override it.")
    var config: String?
    @Option(help: "Broker username.") var username: String?
    @Option(name: .customLong("password-file"), help: "File holding the broker password.") var passwordFile: String?
    @Option(name: .customLong("ca-file"), help: "CA certificate for TLS.") var caFile: String?
    @Option(name: .customLong("cert-file"), help: "Client certificate for TLS.") var certFile: String?
    @Option(name: .customLong("key-file"), help: "Client key for TLS.") var keyFile: String?

    @Option(help: "Site name.") var site: String
    @Option(help: "Node name.") var node: String
    @Option(help: "set-exposure, set-cadence, reload-config, resend-from or local.") var kind: String
    @Option(help: "Seconds, for set-exposure and set-cadence.") var seconds: Double?
    @Option(help: "First sequence number, for resend-from.") var from: UInt64?
    @Option(help: "Boot epoch, for resend-from (default: the node's current boot).") var boot: UInt64?
    @Option(name: .customLong("arg"), help: "key=value for a local command (repeatable).") var args: [String] = []
    @Option(help: "Seconds until the command expires.") var expiresIn: Double = 60
    @Option(help: "Command id (default: a fresh one).") var id: String?
    @Option(help: "Seconds to wait for the reply.") var wait: Double = 15

    func run() throws {
        guard let k = NodeCommand.Kind(rawValue: kind) else {
            throw ValidationError("unknown kind '\(kind)' (one of \(NodeCommand.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard Identifier.isValid(site), Identifier.isValid(node) else { throw ValidationError("site and node must be 1-64 letters, digits, '-' or '_'") }
        var pairs: [String: String] = [:]
        for a in args {
            guard let eq = a.firstIndex(of: "=") else { throw ValidationError("--arg must be key=value, not '\(a)'") }
            pairs[String(a[..<eq])] = String(a[a.index(after: eq)...])
        }
        let command = NodeCommand(id: id ?? "cli-\(UUID().uuidString.prefix(8).lowercased())", kind: k,
                                  expires: UTCInstant.now().unixSeconds + expiresIn, boot: boot, from: from,
                                  seconds: seconds, args: pairs.isEmpty ? nil : pairs)
        let mqtt: MQTTClientConfiguration
        do {
            let file = try config.map { try HubSettings.load(file: $0) } ?? HubSettings()
            var settings = file.overridden(by: HubSettings(broker: broker, username: username, passwordFile: passwordFile,
                                                           caFile: caFile, certFile: certFile, keyFile: keyFile))
            settings.clientID = "skyhub-command-\(UUID().uuidString.prefix(8).lowercased())"
            mqtt = try settings.mqttConfiguration()
        } catch let e as HubSettings.Failure {
            throw ValidationError(e.description)
        }
        let reply: CommandReply
        do {
            reply = try CommandSender.send(command, to: NodeAddress(site: site, node: node), configuration: mqtt, timeout: wait)
        } catch let e as CommandSender.Failure {
            FileHandle.standardError.write(Data("skyhub: \(e)\n".utf8))
            throw ExitCode(3)
        }
        print("\(site)/\(node) \(kind) \(command.id): \(reply.status)\(reply.reason.map { ": " + $0 } ?? "")")
        if !reply.isAccepted { throw ExitCode(1) }
    }
}
