import ArgumentParser
import Foundation
import SkyTelemetry

/// `skydiag mqtt`: can this site reach its broker, and how fast do messages go round?
struct MQTTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt",
        abstract: "Connect to the broker, send probes (QoS 1) to a private topic and time their round trips.")

    @Option(help: "Broker as HOST:PORT.") var broker: String
    @Option(help: "Seconds to wait for the connection, and for each probe.") var timeout: Double = 5
    @Option(help: "Number of probes.") var count: Int = 10

    func validate() throws {
        guard BrokerAddress(parsing: broker) != nil else { throw ValidationError("broker '\(broker)' is not HOST:PORT") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard (1...10_000).contains(count) else { throw ValidationError("--count must be 1 to 10000") }
    }

    func run() throws {
        guard let address = BrokerAddress(parsing: broker) else { throw ValidationError("broker '\(broker)' is not HOST:PORT") }
        let result: MQTTProbe.Result
        do {
            result = try MQTTProbe.run(broker: address, count: count, timeout: timeout)
        } catch {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        func ms(_ s: Double?) -> String { s.map { String(format: "%.2f ms", $0 * 1000) } ?? "-" }
        print("broker \(result.broker): connected in \(ms(result.connectSeconds))")
        print("probes: \(result.sent) sent, \(result.roundTrips.count) received, \(result.lost) lost")
        print("round trip: min \(ms(result.minimum)), median \(ms(result.median)), max \(ms(result.maximum))")
        if result.lost > 0 { throw ExitCode(1) }
    }
}
