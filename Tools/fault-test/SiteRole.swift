import Foundation
import SkyCore
import SkyTelemetry

/// A site process: publishes small status records with indices start..<start+count (the
/// index rides in `framesCaptured`) through the real publisher and durable outbox, then
/// waits until the hub acknowledged everything and exits 0.
///
/// With `--alert-every N`, every Nth record is also followed by an alert with stamps (three
/// candidates of three 63x63 float32 stamps, as real alerts carry) for the alert latency.
/// `--no-batch` sends every record in its own message (the comparison for batching).
///
/// Restarted after `kill -9`, it goes on after the highest index it issued: `issued.log`
/// (written right after each outbox append) and the records still in the outbox tell it.
enum SiteRole {
    static func run(_ o: Options) throws {
        let site = try o.string("site")
        let dir = URL(fileURLWithPath: try o.string("dir"))
        let start = UInt64(try o.int("start"))
        let end = start + UInt64(try o.int("count"))
        let rate = try o.double("rate", default: 0)
        let alertEvery = try o.int("alert-every", default: 0)
        let alertBody = alertEvery > 0 ? Self.alertBody(candidates: 3) : []
        var options = DurableOutbox.Options(maxBytes: 1 << 30, segmentBytes: 4 << 20,
                                            sync: DurableOutbox.SyncPolicy(rawValue: (try? o.string("sync")) ?? "on-rotate") ?? .onRotate)
        options.admission = .init()
        let outbox = try DurableOutbox(directory: dir.appendingPathComponent("outbox"), options: options)
        let boot = try outbox.claimBoot(proposed: UInt64(Date().timeIntervalSince1970))

        let issuedPath = dir.appendingPathComponent("issued.log").path
        var next = start
        if let data = FileManager.default.contents(atPath: issuedPath), data.count >= 8 {
            let last = data.count / 8 * 8
            next = max(next, data.subdata(in: (last - 8)..<last).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } + 1)
        }
        for r in try outbox.pending() {
            if let i = (try? RecordCodec.decode(r.payload))?.status?.framesCaptured { next = max(next, i + 1) }
        }
        let issuedFD = open(issuedPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard issuedFD >= 0 else { throw UsageError(description: "cannot open \(issuedPath)") }

        var config = MQTTClientConfiguration(broker: try o.broker(), clientID: "fault-test-\(site)")
        config.reconnect = ReconnectPolicy(initialDelay: 0.1, maxDelay: 1)
        config.maxInflight = 1000
        let birth = BirthReport(board: "fault-test", software: "fault-test", capabilities: [], models: [],
                                frameWidth: 1, frameHeight: 1)
        let publisher = try TelemetryPublisher(configuration: config, address: NodeAddress(site: site, node: "n1"),
                                               boot: boot, birth: birth, outbox: outbox, window: try o.int("window", default: 200), resendAfter: 3,
                                               batchBytes: o.flag("no-batch") ? 0 : 64 << 10)
        // Answers the hub's resend-from requests (holes left by a broker that dropped messages).
        let commands = CommandDispatcher(publisher: publisher, localProgram: nil)
        publisher.start()
        let t0 = MonotonicClock.seconds()
        var sent: UInt64 = 0
        while next < end {
            if rate > 0 {
                let due = t0 + Double(sent) / rate
                let wait = due - MonotonicClock.seconds()
                if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
            }
            do {
                try publisher.publish(status: StatusReport(framesCaptured: next))
            } catch {
                usleep(10_000) // outbox full: wait for acks
                continue
            }
            var v = next
            _ = withUnsafeBytes(of: &v) { write(issuedFD, $0.baseAddress, 8) }
            if alertEvery > 0, next % UInt64(alertEvery) == 0 { _ = try? publisher.publish(alertBody: alertBody) }
            next += 1
            sent += 1
        }
        while !publisher.waitUntilAcknowledged(timeout: 1) {}
        print("site \(site) done: boot \(boot), \(publisher.counters.published) published, \(publisher.counters.resent) resent")
        let resendRequests = commands.sentReplies.filter(\.isAccepted).count
        print("site \(site): \(resendRequests) resend requests from the hub accepted")
        publisher.shutdown(timeout: 1)
        close(issuedFD)
    }

    /// An alert's body the size of a real one: per candidate a position and three base64 stamps.
    static func alertBody(candidates: Int) -> [UInt8] {
        var rng = SeededRandom(seed: 3)
        let stamp = { () -> String in
            var bytes = [UInt8](repeating: 0, count: 63 * 63 * 4)
            for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
            return Data(bytes).base64EncodedString()
        }
        let list = (0..<candidates).map { c in
            #"{"ra":\#(10.5 + Double(c)),"dec":-20.25,"mag":18.5,"science":"\#(stamp())","reference":"\#(stamp())","difference":"\#(stamp())"}"#
        }
        return Array(#"{"stampSize":63,"stampType":"float32","candidates":[\#(list.joined(separator: ","))]}"#.utf8)
    }
}
