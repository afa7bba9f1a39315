import Foundation
import SkyCore
import SkyTelemetry
import Testing
@testable import SkyHub

/// `skyhub provision` output run by a real mosquitto: TLS with client certificates, a
/// password per site, and an ACL that keeps each site to its own topics.
@Suite(.enabled(if: LocalMosquitto.findExecutable() != nil
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/mosquitto_passwd"),
                "needs mosquitto, openssl and mosquitto_passwd"))
struct ProvisionTests {
    /// `skyhub provision` for sites alpha and beta into `dir`, and a mosquitto running its
    /// broker config (plus what running as root in a test needs, and a log file). Returns the
    /// broker process and the files provisioning wrote.
    static func provisionAndStartBroker(_ dir: TempDir, port: Int) throws -> (Process, [String]) {
        var p = Provisioner(sites: ["alpha", "beta"], out: dir.url)
        p.brokerHost = "127.0.0.1"
        p.port = port
        let written = try p.run()
        let conf = dir.path("test-mosquitto.conf")
        var text = try String(contentsOfFile: dir.path("broker/mosquitto.conf"), encoding: .utf8)
        if geteuid() == 0 { text += "user root\n" }
        text += "log_dest file \(dir.path("mosquitto.log"))\n"
        try text.write(toFile: conf, atomically: true, encoding: .utf8)
        let broker = Process()
        broker.executableURL = URL(fileURLWithPath: try #require(LocalMosquitto.findExecutable()))
        broker.arguments = ["-c", conf]
        broker.standardOutput = FileHandle.nullDevice
        broker.standardError = FileHandle.nullDevice
        try broker.run()
        return (broker, written)
    }

    static func stop(_ broker: Process) {
        kill(broker.processIdentifier, SIGKILL)
        _ = eventually { !broker.isRunning }
    }

    @Test func provisionedBrokerRefusesWrongPasswordsForeignPrefixesAndPlainTCP() throws {
        let dir = try TempDir()
        let port = try LocalMosquitto.freeLoopbackPort()
        let (broker, written) = try Self.provisionAndStartBroker(dir, port: port)
        defer { Self.stop(broker) }

        let site = { (name: String) in dir.url.appendingPathComponent("sites/\(name)") }
        func password(_ file: URL) throws -> String {
            try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func client(_ user: String, _ pass: String?, home: URL, tls: Bool = true) -> MQTTClientConfiguration {
            var c = MQTTClientConfiguration(host: "127.0.0.1", port: port, clientID: "\(user)-\(UInt32.random(in: 0...UInt32.max))",
                                            username: user, password: pass)
            if tls {
                c.tls = MQTTTLSOptions(caFile: home.appendingPathComponent("ca.crt").path,
                                       certFile: home.appendingPathComponent("client.crt").path,
                                       keyFile: home.appendingPathComponent("client.key").path)
            }
            c.reconnect = ReconnectPolicy(initialDelay: 0.05, maxDelay: 0.2)
            return c
        }

        // The hub, over TLS with its own credentials, sees every record.
        let hubHome = dir.url.appendingPathComponent("hub")
        let inbox = Inbox()
        let hub = try MQTTClient(configuration: client("skyhub", try password(hubHome.appendingPathComponent("password")), home: hubHome))
        hub.setMessageHandler(inbox.handler)
        try hub.subscribe(Topics.allRecords)
        hub.connect()
        #expect(hub.waitForConnection(timeout: 10), "TLS connection works: \(hub.lastError ?? "")")
        #expect(hub.waitForSubscriptions(timeout: 5))

        // alpha connects over TLS and publishes under its own prefix: delivered.
        let alphaPass = try password(site("alpha").appendingPathComponent("password"))
        let alpha = try MQTTClient(configuration: client("alpha", alphaPass, home: site("alpha")))
        let alphaInbox = Inbox()
        alpha.setMessageHandler(alphaInbox.handler)
        try alpha.subscribe("skyedge/v1/beta/cam1/cmd") // another site's commands: not granted
        try alpha.subscribe("skyedge/v1/alpha/cam1/cmd")
        alpha.connect()
        #expect(alpha.waitForConnection(timeout: 5))
        #expect(alpha.waitForSubscriptions(timeout: 5))
        try alpha.publish(topic: "skyedge/v1/alpha/cam1/status", payload: Array("own".utf8))
        try alpha.publish(topic: "skyedge/v1/beta/cam1/status", payload: Array("forged".utf8))
        // Batches (several records in one message) travel under the same prefix rules.
        try alpha.publish(topic: Topics.batch(NodeAddress(site: "alpha", node: "cam1")), payload: Array("own batch".utf8))
        try alpha.publish(topic: Topics.batch(NodeAddress(site: "beta", node: "cam1")), payload: Array("forged".utf8))
        #expect(alpha.waitForPublishes(timeout: 5))
        #expect(inbox.wait { $0.contains { $0.topic == "skyedge/v1/alpha/cam1/status" } })
        #expect(inbox.wait { $0.contains { $0.topic == "skyedge/v1/alpha/cam1/batch" } }, "a site may send batches under its own prefix")
        try hub.publish(topic: "skyedge/v1/beta/cam1/cmd", payload: Array("for beta".utf8))
        try hub.publish(topic: "skyedge/v1/alpha/cam1/cmd", payload: Array("for alpha".utf8))
        #expect(alphaInbox.wait { $0.contains { $0.topic == "skyedge/v1/alpha/cam1/cmd" } })
        usleep(300_000)
        #expect(!inbox.messages.contains { $0.topic.hasPrefix("skyedge/v1/beta/") && $0.payload == Array("forged".utf8) },
                "publishing under another site's prefix is not delivered")
        #expect(alphaInbox.messages.map(\.topic) == ["skyedge/v1/alpha/cam1/cmd"], "a site reads only its own commands")

        // Wrong password, beta's password for alpha, no password: refused.
        for (user, pass) in [("alpha", "wrong-password"), ("alpha", try password(site("beta").appendingPathComponent("password"))),
                             ("alpha", nil)] as [(String, String?)] {
            let c = try MQTTClient(configuration: client(user, pass, home: site("alpha")))
            c.connect()
            #expect(!c.waitForConnection(timeout: 5, giveUpAfterFailedAttempts: 1))
            #expect(c.lastError?.contains("not authori") == true || c.lastError?.contains("refused") == true, "\(c.lastError ?? "")")
            c.disconnect(timeout: 0.2)
        }
        // Plain TCP to the TLS listener: no session.
        let plain = try MQTTClient(configuration: client("alpha", alphaPass, home: site("alpha"), tls: false))
        plain.connect()
        #expect(!plain.waitForConnection(timeout: 3, giveUpAfterFailedAttempts: 1))
        plain.disconnect(timeout: 0.2)

        // Nothing but the 0600 password files holds a password in clear.
        let passwords = try ["alpha", "beta"].map { try password(site($0).appendingPathComponent("password")) }
            + [try password(hubHome.appendingPathComponent("password"))]
        for file in written {
            let content = try String(contentsOfFile: file, encoding: .isoLatin1)
            for pw in passwords { #expect(!content.contains(pw), "\(file) holds a password") }
        }
        let log = (try? String(contentsOfFile: dir.path("mosquitto.log"), encoding: .utf8)) ?? ""
        for pw in passwords { #expect(!log.contains(pw)) }
        var info = stat()
        stat(site("alpha").appendingPathComponent("password").path, &info)
        #expect(info.st_mode & 0o777 == 0o600)
        alpha.disconnect()
        hub.disconnect()
    }

    /// The real site publisher and hub ingest through the provisioned broker (TLS, passwords,
    /// ACL): records stored and acknowledged, the retained hub state read by the site; what the
    /// ACL must stop stays stopped: a site writing a command to its own other node, another
    /// site reading its acknowledgements, and a message above the packet limit.
    @Test func theRealSiteAndHubWorkThroughTheProvisionedBroker() throws {
        let dir = try TempDir()
        let port = try LocalMosquitto.freeLoopbackPort()
        let (broker, _) = try Self.provisionAndStartBroker(dir, port: port)
        defer { Self.stop(broker) }
        func home(_ name: String) -> URL { name == "skyhub" ? dir.url.appendingPathComponent("hub") : dir.url.appendingPathComponent("sites/\(name)") }
        func client(_ user: String) throws -> MQTTClientConfiguration {
            let h = home(user)
            let pass = try String(contentsOf: h.appendingPathComponent("password"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            var c = MQTTClientConfiguration(host: "127.0.0.1", port: port, clientID: "\(user)-\(UInt32.random(in: 0...UInt32.max))",
                                            username: user, password: pass)
            c.tls = MQTTTLSOptions(caFile: h.appendingPathComponent("ca.crt").path, certFile: h.appendingPathComponent("client.crt").path,
                                   keyFile: h.appendingPathComponent("client.key").path)
            c.reconnect = ReconnectPolicy(initialDelay: 0.05, maxDelay: 0.2)
            return c
        }
        // The broker takes a moment to open its listener.
        let probe = try MQTTClient(configuration: try client("beta"))
        probe.connect()
        #expect(probe.waitForConnection(timeout: 10))
        probe.disconnect(timeout: 0.5)

        let store = try HubStore(path: dir.path("hub.sqlite"))
        let ingest = try HubIngest(store: store, configuration: try client("skyhub"), log: { _ in })
        ingest.start()
        #expect(ingest.waitUntilReady(timeout: 10))

        // beta listens for alpha's acks (not granted) and for its own (granted: the control).
        let betaInbox = Inbox()
        let beta = try MQTTClient(configuration: try client("beta"))
        beta.setMessageHandler(betaInbox.handler)
        try beta.subscribe("skyhub/v1/ack/alpha/#")
        try beta.subscribe("skyhub/v1/ack/beta/#")
        beta.connect()
        #expect(beta.waitForSubscriptions(timeout: 10))

        let cam1 = NodeAddress(site: "alpha", node: "cam1")
        let publisher = try TelemetryPublisher(configuration: try client("alpha"), address: cam1, boot: 3, birth: testBirth)
        publisher.start()
        #expect(publisher.waitForConnection(timeout: 10))
        for i in 1...20 { try publisher.publish(status: StatusReport(framesCaptured: UInt64(i))) }
        #expect(publisher.waitUntilAcknowledged(timeout: 20), "acks reach the site through the ACL")
        #expect(try store.acknowledgedUpTo(site: "alpha", node: "cam1", boot: 3) == 20)
        #expect(try store.records(site: "alpha", node: "cam1").map(\.seq) == Array(1...20))
        #expect(try store.nodes().contains { $0.site == "alpha" && $0.node == "cam1" && $0.state == "alive" && $0.lastBirth != nil }, "birth stored")

        // A second alpha node listens to its commands: the hub's arrive, alpha's own do not.
        let cam2Inbox = Inbox()
        let cam2 = try MQTTClient(configuration: try client("alpha"))
        cam2.setMessageHandler(cam2Inbox.handler)
        try cam2.subscribe(Topics.command(NodeAddress(site: "alpha", node: "cam2")))
        cam2.connect()
        #expect(cam2.waitForSubscriptions(timeout: 10))
        let forged = try MQTTClient(configuration: try client("alpha"))
        forged.connect()
        #expect(forged.waitForConnection(timeout: 10))
        try forged.publish(topic: Topics.command(NodeAddress(site: "alpha", node: "cam2")), payload: Array("from alpha".utf8))
        #expect(forged.waitForPublishes(timeout: 5))
        #expect(ingest.send(NodeCommand(id: "c1", kind: .reloadConfig, expires: UTCInstant.now().unixSeconds + 60),
                            to: NodeAddress(site: "alpha", node: "cam2")))
        #expect(cam2Inbox.wait { $0.count >= 1 })
        usleep(300_000)
        #expect(cam2Inbox.messages.count == 1 && cam2Inbox.messages.allSatisfy { $0.payload != Array("from alpha".utf8) },
                "a site cannot command its own nodes")

        // Over the packet limit: the broker drops the client, the hub never sees the message.
        let big = try MQTTClient(configuration: try client("alpha"))
        big.connect()
        #expect(big.waitForConnection(timeout: 10))
        let received = ingest.statistics.received
        try big.publish(topic: Topics.record(NodeAddress(site: "alpha", node: "cam3"), .status),
                        payload: [UInt8](repeating: 0x20, count: RecordCodec.maxPayloadBytes + 8192), qos: 0)
        usleep(500_000)
        #expect(ingest.statistics.received == received, "oversized message not delivered")

        // alpha's 20 records were acknowledged; beta saw none of those acks.
        #expect(!betaInbox.messages.contains { $0.topic.hasPrefix("skyhub/v1/ack/alpha") }, "another site's acks are not readable")
        for c in [beta, cam2, forged, big] { c.disconnect(timeout: 0.5) }
        publisher.shutdown()
        ingest.stop()
    }
}
