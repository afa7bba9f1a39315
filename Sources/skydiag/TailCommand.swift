import ArgumentParser
import Foundation
import SkyCore
import SkyTelemetry

/// `skydiag tail`: what sites are saying right now, decoded, one line per message.
struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Subscribe to site telemetry and print each message decoded (refused payloads say why).")

    @Option(help: "Broker as HOST:PORT.") var broker: String
    @Option(help: "Only this site.") var site: String?
    @Option(help: "Only this node.") var node: String?
    @Option(help: "Stop after this many messages.") var count: Int?
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @Flag(help: "Print each record as JSON instead of a summary line.") var json = false
    @Flag(help: "Also print the hub's acknowledgements and state.") var hub = false

    func validate() throws {
        guard BrokerAddress(parsing: broker) != nil else { throw ValidationError("broker '\(broker)' is not HOST:PORT") }
        for v in [site, node].compactMap({ $0 }) where !Identifier.isValid(v) {
            throw ValidationError("'\(v)' is not a site or node name")
        }
    }

    func run() throws {
        guard let address = BrokerAddress(parsing: broker) else { throw ExitCode(1) }
        let config = MQTTClientConfiguration(broker: address, clientID: "skydiag-tail-\(getpid())")
        let client = try MQTTClient(configuration: config)
        let seen = Counter()
        let done = DispatchSemaphore(value: 0)
        let limit = count
        let printJSON = json
        client.setMessageHandler { topic, payload in
            let n = seen.increment()
            // Messages can still arrive between reaching --count and disconnecting.
            if let limit, n > limit { return }
            // Unbuffered, so `skydiag tail | grep` shows lines as they come.
            FileHandle.standardOutput.write(Data((Self.describe(topic: topic, payload: payload, json: printJSON) + "\n").utf8))
            if let limit, n == limit { done.signal() }
        }
        client.connect()
        guard client.waitForConnection(timeout: 5, giveUpAfterFailedAttempts: 3) else {
            FileHandle.standardError.write(Data("error: cannot connect to \(address): \(client.lastError ?? "timed out")\n".utf8))
            throw ExitCode(1)
        }
        try client.subscribe("skyedge/v1/\(site ?? "+")/\(node ?? "+")/+")
        if hub {
            try client.subscribe(Topics.hubState)
            try client.subscribe("skyhub/v1/ack/\(site ?? "+")/\(node ?? "+")")
        }
        let signals = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        signal(SIGINT, SIG_IGN)
        signals.setEventHandler { done.signal() }
        signals.resume()
        _ = done.wait(timeout: seconds.map { .now() + $0 } ?? .distantFuture)
        client.disconnect()
    }

    static func describe(topic: String, payload: [UInt8], json: Bool) -> String {
        if topic == Topics.hubState || topic.hasPrefix("skyhub/") || topic.hasSuffix("/cmd") {
            return "\(topic) \(String(decoding: payload.prefix(300), as: UTF8.self))"
        }
        if Topics.parseBatchTopic(topic) != nil {
            // One line per record of the batch, as if each had come alone.
            let items: [RecordBatch.Item]
            do { items = try RecordBatch.decode(payload, topic: topic) } catch {
                return "\(topic) REFUSED batch (\(error.reason)): \(error)"
            }
            return items.map { item in
                switch item.result {
                case let .success(r): describe(record: r, payload: item.payload, json: json)
                case let .failure(e): "\(topic) REFUSED record in batch (\(e.reason)): \(e)"
                }
            }.joined(separator: "\n")
        }
        let record: TelemetryRecord
        do { record = try RecordCodec.decode(payload, topic: topic) } catch {
            return "\(topic) REFUSED (\(error.reason)): \(error)"
        }
        return describe(record: record, payload: payload, json: json)
    }

    static func describe(record: TelemetryRecord, payload: [UInt8], json: Bool) -> String {
        if json { return String(decoding: payload, as: UTF8.self) }
        let head = "\(UTCInstant(unixSeconds: record.time).isoString) \(record.site)/\(record.node) #\(record.seq) \(record.kind.rawValue)"
        switch record.kind {
        case .frame:
            guard let f = record.frame else { return head }
            return head + String(format: " %dx%d bkg %.1f noise %.2f stars %d %@ slack %.2f s", f.width, f.height,
                                 f.background, f.noise, f.stars, f.deadlineMet ? "met" : "MISSED", f.slackSeconds)
                + (f.flags.isEmpty ? "" : " [\(f.flags.joined(separator: ","))]")
        case .status:
            guard let s = record.status else { return head }
            return head + " captured \(s.framesCaptured) processed \(s.framesProcessed) published \(s.recordsPublished)"
                + " acked \(s.recordsAcknowledged) dropped \(s.recordsDropped) outbox \(s.outboxDepth)"
                + " misses \(s.deadlineMisses) capture-errors \(s.captureErrors)" + (s.lastError.map { " last error: \($0)" } ?? "")
        case .birth:
            guard let b = record.birth else { return head }
            return head + " board \(b.board) \(b.software) \(b.frameWidth)x\(b.frameHeight) [\(b.capabilities.joined(separator: ","))]"
        case .death:
            return head + " reason \(record.death?.reason ?? "?")"
        case .anomaly, .alert:
            return head
        }
    }
}

/// Messages counted across the network thread.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() -> Int { lock.withLock { n += 1; return n } }
}
