import Foundation
import Testing
@testable import SkyTelemetry

@Suite("MQTT client against a real mosquitto")
struct MQTTClientTests {
    @Test func publishAndReceiveInOrder() throws {
        let broker = try LocalMosquitto()
        let inbox = Inbox()
        let sub = try MQTTClient(configuration: clientConfig(broker, "sub"))
        sub.setMessageHandler(inbox.handler)
        try sub.subscribe("test/+/data", qos: 1)
        sub.connect()
        #expect(sub.waitForConnection(timeout: 5))
        #expect(sub.waitForSubscriptions(timeout: 5))

        let pub = try MQTTClient(configuration: clientConfig(broker, "pub"))
        pub.connect()
        #expect(pub.waitForConnection(timeout: 5))
        let sent = (0..<50).map { "message \($0) " + String(repeating: "x", count: $0 * 37) }
        for s in sent { try pub.publish(topic: "test/a/data", payload: Array(s.utf8), qos: 1) }
        try pub.publish(topic: "test/other", payload: [1, 2, 3], qos: 1) // not subscribed
        #expect(pub.waitForPublishes(timeout: 5))
        #expect(inbox.wait(for: sent.count))
        #expect(inbox.payloads(on: "test/a/data") == sent)
        #expect(inbox.messages.allSatisfy { $0.topic == "test/a/data" })
        pub.disconnect()
        sub.disconnect()
        #expect(!sub.isConnected)
    }

    @Test func brokerDownGivesAClearErrorAndPublishDoesNotQueue() throws {
        let broker = try LocalMosquitto()
        broker.kill()
        let client = try MQTTClient(configuration: clientConfig(broker, "down"))
        #expect(throws: MQTTError.notConnected) { try client.publish(topic: "t", payload: [1]) }
        client.connect()
        #expect(!client.waitForConnection(timeout: 5, giveUpAfterFailedAttempts: 1))
        #expect(client.failedAttempts >= 1)
        #expect(client.lastError?.contains("refused") == true, "got \(client.lastError ?? "nil")")
        #expect(throws: MQTTError.notConnected) { try client.publish(topic: "t", payload: [1]) }
        client.disconnect()
        #expect(throws: MQTTError.stopped) { try client.publish(topic: "t", payload: [1]) }
    }

    @Test func lastWillIsDeliveredOnlyWhenTheConnectionDiesUncleanly() throws {
        let broker = try LocalMosquitto()
        let inbox = Inbox()
        let observer = try MQTTClient(configuration: clientConfig(broker, "observer"))
        observer.setMessageHandler(inbox.handler)
        try observer.subscribe("will/#")
        observer.connect()
        #expect(observer.waitForSubscriptions(timeout: 5))

        var politeConfig = clientConfig(broker, "polite")
        politeConfig.will = MQTTWill(topic: "will/polite", payload: Array("polite gone".utf8))
        let polite = try MQTTClient(configuration: politeConfig)
        polite.connect()
        #expect(polite.waitForConnection(timeout: 5))
        polite.disconnect()

        var crashConfig = clientConfig(broker, "crash")
        crashConfig.will = MQTTWill(topic: "will/crash", payload: Array("crash gone".utf8), qos: 1)
        let crashing = try MQTTClient(configuration: crashConfig)
        crashing.connect()
        #expect(crashing.waitForConnection(timeout: 5))
        crashing.dropConnectionUncleanly()

        #expect(inbox.wait(for: 1) { t, _ in t == "will/crash" })
        #expect(inbox.payloads(on: "will/crash") == ["crash gone"])
        // The polite client disconnected before the crash, so its will would have come first.
        #expect(inbox.payloads(on: "will/polite").isEmpty)
    }

    @Test func reconnectsAfterBrokerRestartAndRestoresSubscriptions() throws {
        let broker = try LocalMosquitto()
        let inbox = Inbox()
        let events = EventLog()
        let sub = try MQTTClient(configuration: clientConfig(broker, "resub"))
        sub.setMessageHandler(inbox.handler)
        sub.setConnectionHandler(events.handler)
        try sub.subscribe("restart/topic")
        sub.connect()
        #expect(sub.waitForSubscriptions(timeout: 5))

        broker.kill()
        #expect(eventually { !sub.isConnected })
        usleep(300_000) // let a few attempts fail against the dead port
        #expect(sub.failedAttempts >= 1)
        try broker.start()
        #expect(sub.waitForConnection(timeout: 10))
        #expect(sub.connectionCount == 2)
        #expect(sub.waitForSubscriptions(timeout: 5))

        let pub = try MQTTClient(configuration: clientConfig(broker, "pub2"))
        pub.connect()
        #expect(pub.waitForConnection(timeout: 5))
        try pub.publish(topic: "restart/topic", payload: Array("after restart".utf8))
        #expect(inbox.wait(for: 1))
        #expect(inbox.payloads(on: "restart/topic") == ["after restart"])
        let log = events.events
        #expect(log.first == .connected)
        #expect(log.filter { $0 == .connected }.count == 2)
        #expect(log.contains { if case .disconnected = $0 { true } else { false } })
        pub.disconnect()
        sub.disconnect()
    }

    @Test func configurationDescriptionNeverShowsThePassword() throws {
        var c = MQTTClientConfiguration(host: "broker.example", port: 8883, clientID: "site-a")
        c.username = "site-a"
        c.password = "hunter2-secret"
        #expect(!c.description.contains("hunter2"))
        #expect(c.description.contains("password=set"))
    }

    @Test func tlsOptionsReachLibmosquitto() throws {
        var c = MQTTClientConfiguration(host: "127.0.0.1", port: 8883, clientID: "tls")
        c.tls = MQTTTLSOptions(caFile: "/nonexistent/ca.pem")
        // mosquitto_tls_set checks that the CA file can be read.
        #expect(throws: MQTTError.self) { try MQTTClient(configuration: c) }
        c.tls = MQTTTLSOptions(caFile: "/nonexistent/ca.pem", certFile: "/x.pem")
        #expect(throws: MQTTError.invalidConfiguration("TLS client certificate and key go together")) {
            try MQTTClient(configuration: c)
        }
    }
}

@Suite struct ReconnectPolicyTests {
    @Test func backoffGrowsIsCappedAndIsJittered() {
        let p = ReconnectPolicy(initialDelay: 0.5, maxDelay: 30, multiplier: 2, jitter: 0.5)
        // Upper edge (no jitter drawn) doubles per failure up to the cap.
        #expect(p.delay(afterFailures: 0, unitRandom: 0) == 0.5)
        #expect(p.delay(afterFailures: 3, unitRandom: 0) == 4)
        #expect(p.delay(afterFailures: 10, unitRandom: 0) == 30)
        #expect(p.delay(afterFailures: 10_000, unitRandom: 0) == 30)
        // Lower edge is (1 - jitter) of it.
        #expect(p.delay(afterFailures: 3, unitRandom: 1) == 2)
        let samples = (0..<200).map { _ in p.delay(afterFailures: 4) }
        #expect(samples.allSatisfy { $0 >= 4 && $0 <= 8 })
        #expect(Set(samples).count > 100, "jitter must spread retries")
    }
}

@Suite struct BrokerAddressTests {
    @Test func parsesHostPortForms() {
        #expect(BrokerAddress(parsing: "127.0.0.1:1884") == BrokerAddress(host: "127.0.0.1", port: 1884))
        #expect(BrokerAddress(parsing: "hub.example") == BrokerAddress(host: "hub.example", port: 1883))
        #expect(BrokerAddress(parsing: "[::1]:8883") == BrokerAddress(host: "::1", port: 8883))
        #expect(BrokerAddress(parsing: "[::1]:8883")?.description == "[::1]:8883")
        for bad in ["", ":1883", "host:0", "host:70000", "host:x", "::1:1883", "[::1"] {
            #expect(BrokerAddress(parsing: bad) == nil, "\(bad)")
        }
    }
}
