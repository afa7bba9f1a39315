import Foundation
import SkyTelemetry

struct UsageError: Error, CustomStringConvertible { var description: String }

/// `--name value` pairs and `--flag`s.
struct Options {
    private var values: [String: String] = [:]
    private var flags: Set<String> = []

    init(_ args: [String]) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            guard a.hasPrefix("--") else { throw UsageError(description: "unexpected argument '\(a)'") }
            let name = String(a.dropFirst(2))
            if i + 1 < args.count, !args[i + 1].hasPrefix("--") {
                values[name] = args[i + 1]
                i += 2
            } else {
                flags.insert(name)
                i += 1
            }
        }
    }

    func string(_ name: String) throws -> String {
        guard let v = values[name] else { throw UsageError(description: "--\(name) is required") }
        return v
    }

    func int(_ name: String, default d: Int? = nil) throws -> Int {
        guard let text = values[name] else {
            if let d { return d }
            throw UsageError(description: "--\(name) is required")
        }
        guard let v = Int(text) else { throw UsageError(description: "--\(name) must be an integer") }
        return v
    }

    func double(_ name: String, default d: Double) throws -> Double {
        guard let text = values[name] else { return d }
        guard let v = Double(text) else { throw UsageError(description: "--\(name) must be a number") }
        return v
    }

    func flag(_ name: String) -> Bool { flags.contains(name) }

    func broker() throws -> BrokerAddress {
        let text = try string("broker")
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw UsageError(description: "--broker must be HOST:PORT") }
        return BrokerAddress(host: String(parts[0]), port: port)
    }
}
