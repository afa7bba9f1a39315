import CMosquitto
import Foundation
import SkyCore

/// libmosquitto must be initialised once per process, before the first client.
private let mosquittoLibrary: Int32 = mosquitto_lib_init()

enum StopRequest: Equatable {
    case clean(timeout: Double)
    case abort
}

/// The libmosquitto handle, its network thread and the state they share with callers.
/// libmosquitto callbacks find this object through the handle's userdata pointer
/// (unretained: the handle is destroyed in `deinit`, so it never outlives it).
final class MQTTSession: @unchecked Sendable {
    let config: MQTTClientConfiguration
    private let mosq: OpaquePointer

    // Everything below is guarded by `cond`. libmosquitto is never called with it held,
    // because its callbacks take it.
    private let cond = NSCondition()
    private var started = false
    private var stopRequest: StopRequest?
    private var loopExited = false
    private var loopThread: pthread_t?
    private var connected = false
    private var lastErrorText: String?
    private var consecutiveFailures = 0
    private var failedAttemptCount = 0
    private var sessions = 0
    /// `sessions` when the current socket was opened: unchanged at close means no CONNACK came.
    private var sessionsAtOpen = 0
    private var subscriptions: [(topic: String, qos: Int32)] = []
    private var pendingSubacks: [Int32: String] = [:]
    /// SUBACKs that arrived before `subscribe` recorded their id (another thread's race).
    private var earlySubacks: Set<Int32> = []
    private var inflightPublishes = 0
    private var messageHandler: MQTTClient.MessageHandler?
    private var connectionHandler: MQTTClient.ConnectionHandler?

    init(_ config: MQTTClientConfiguration) throws(MQTTError) {
        guard mosquittoLibrary == MOSQ_ERR_SUCCESS.rawValue else {
            throw .library(operation: "mosquitto_lib_init", code: mosquittoLibrary, message: mosquittoMessage(mosquittoLibrary, errno: 0))
        }
        guard !config.host.isEmpty else { throw .invalidConfiguration("empty broker host") }
        guard (1...65_535).contains(config.port) else { throw .invalidConfiguration("port \(config.port) not in 1...65535") }
        guard !config.clientID.isEmpty, config.clientID.utf8.count <= 65_535 else {
            throw .invalidConfiguration("client id must be 1 to 65535 bytes")
        }
        guard config.keepAlive == 0 || (5...65_535).contains(config.keepAlive) else {
            throw .invalidConfiguration("keepalive \(config.keepAlive) s (0, or 5 to 65535)")
        }
        guard config.maxInflight >= 1 else { throw .invalidConfiguration("maxInflight must be at least 1") }
        guard let handle = mosquitto_new(config.clientID, config.cleanSession, nil) else {
            let e = errno
            throw .library(operation: "mosquitto_new", code: MOSQ_ERR_ERRNO.rawValue, message: mosquittoMessage(MOSQ_ERR_ERRNO.rawValue, errno: e))
        }
        self.config = config
        self.mosq = handle
        // From here a throw runs deinit, which destroys the handle.
        try configureHandle()
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        installCallbacks()
    }

    deinit { mosquitto_destroy(mosq) }

    private func configureHandle() throws(MQTTError) {
        // Our own thread runs the loop; other threads publish and subscribe.
        try MQTTError.check(mosquitto_threaded_set(mosq, true), "mosquitto_threaded_set")
        try MQTTError.check(mosquitto_max_inflight_messages_set(mosq, UInt32(config.maxInflight)), "mosquitto_max_inflight_messages_set")
        if let user = config.username {
            try MQTTError.check(mosquitto_username_pw_set(mosq, user, config.password), "setting the username and password")
        }
        if let will = config.will {
            guard mosquitto_pub_topic_check(will.topic) == MOSQ_ERR_SUCCESS.rawValue else { throw .invalidTopic(will.topic) }
            guard (0...2).contains(will.qos) else { throw .invalidConfiguration("will QoS \(will.qos)") }
            guard will.payload.count <= 65_535 else { throw .payloadTooLarge(will.payload.count) }
            let rc = will.payload.withUnsafeBytes { buf in
                mosquitto_will_set(mosq, will.topic, Int32(buf.count), buf.baseAddress, Int32(will.qos), will.retain)
            }
            try MQTTError.check(rc, "mosquitto_will_set")
        }
        if let tls = config.tls {
            guard tls.caFile != nil || tls.caPath != nil else { throw .invalidConfiguration("TLS needs a CA file or CA directory") }
            guard (tls.certFile == nil) == (tls.keyFile == nil) else {
                throw .invalidConfiguration("TLS client certificate and key go together")
            }
            let rc = mosquitto_tls_set(mosq, tls.caFile, tls.caPath, tls.certFile, tls.keyFile, nil)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                throw .invalidConfiguration("TLS files (ca=\(tls.caFile ?? tls.caPath ?? "-"), cert=\(tls.certFile ?? "-"), key=\(tls.keyFile ?? "-")): \(mosquittoMessage(rc, errno: 0))")
            }
            if tls.insecureSkipHostnameCheck {
                try MQTTError.check(mosquitto_tls_insecure_set(mosq, true), "mosquitto_tls_insecure_set")
            }
        }
    }

    private func installCallbacks() {
        mosquitto_connect_callback_set(mosq) { _, obj, rc in
            guard let obj else { return }
            Unmanaged<MQTTSession>.fromOpaque(obj).takeUnretainedValue().didConnect(rc)
        }
        mosquitto_disconnect_callback_set(mosq) { _, obj, rc in
            guard let obj else { return }
            Unmanaged<MQTTSession>.fromOpaque(obj).takeUnretainedValue().didDisconnect(rc)
        }
        mosquitto_publish_callback_set(mosq) { _, obj, _ in
            guard let obj else { return }
            Unmanaged<MQTTSession>.fromOpaque(obj).takeUnretainedValue().didPublish()
        }
        mosquitto_subscribe_callback_set(mosq) { _, obj, mid, count, granted in
            guard let obj else { return }
            let refused = (0..<Int(max(0, count))).contains { granted?[$0] == 0x80 }
            Unmanaged<MQTTSession>.fromOpaque(obj).takeUnretainedValue().didSubscribe(mid, refused: refused)
        }
        mosquitto_message_callback_set(mosq) { _, obj, message in
            guard let obj, let m = message?.pointee, let topicPointer = m.topic else { return }
            let topic = String(cString: topicPointer)
            let payload: [UInt8] = if let p = m.payload, m.payloadlen > 0 {
                Array(UnsafeRawBufferPointer(start: p, count: Int(m.payloadlen)))
            } else {
                []
            }
            Unmanaged<MQTTSession>.fromOpaque(obj).takeUnretainedValue().didReceive(topic, payload)
        }
    }

    // MARK: callers

    func setMessageHandler(_ h: @escaping MQTTClient.MessageHandler) { cond.withLock { messageHandler = h } }
    func setConnectionHandler(_ h: @escaping MQTTClient.ConnectionHandler) { cond.withLock { connectionHandler = h } }

    var isConnected: Bool { cond.withLock { connected } }
    var lastError: String? { cond.withLock { lastErrorText } }
    var connectionCount: Int { cond.withLock { sessions } }
    var failedAttempts: Int { cond.withLock { failedAttemptCount } }

    func start() {
        let go: Bool = cond.withLock {
            guard !started, stopRequest == nil else { return false }
            started = true
            return true
        }
        guard go else { return }
        let thread = Thread { [self] in run() }
        thread.name = "mqtt \(config.clientID)"
        thread.start()
    }

    func stop(_ request: StopRequest) {
        cond.lock()
        defer { cond.unlock() }
        if stopRequest == nil { stopRequest = request }
        cond.broadcast()
        guard started else { loopExited = true; return }
        // A handler that drops the last reference to the client runs on the network
        // thread: it must not wait for itself.
        if let t = loopThread, pthread_equal(t, pthread_self()) != 0 { return }
        let limit: Double = if case let .clean(timeout) = request { timeout + 1 } else { 2 }
        let deadline = Date(timeIntervalSinceNow: limit)
        while !loopExited {
            if !cond.wait(until: deadline) { break }
        }
    }

    func subscribe(_ topic: String, qos: Int) throws(MQTTError) {
        guard mosquitto_sub_topic_check(topic) == MOSQ_ERR_SUCCESS.rawValue else { throw .invalidTopic(topic) }
        guard (0...2).contains(qos) else { throw .invalidConfiguration("QoS \(qos)") }
        let isConnected: Bool = cond.withLock {
            if !subscriptions.contains(where: { $0.topic == topic }) { subscriptions.append((topic, Int32(qos))) }
            return connected
        }
        guard isConnected else { return } // sent on connect
        var mid: Int32 = 0
        let rc = mosquitto_subscribe(mosq, &mid, topic, Int32(qos))
        if rc == MOSQ_ERR_NO_CONN.rawValue { return } // the reconnect will send it
        try MQTTError.check(rc, "subscribe to \(topic)")
        cond.withLock {
            if earlySubacks.remove(mid) == nil { pendingSubacks[mid] = topic }
        }
    }

    func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) throws(MQTTError) -> Int32 {
        guard (0...2).contains(qos) else { throw .invalidConfiguration("QoS \(qos)") }
        guard payload.count <= 268_435_455 else { throw .payloadTooLarge(payload.count) } // MQTT's limit
        guard mosquitto_pub_topic_check(topic) == MOSQ_ERR_SUCCESS.rawValue else { throw .invalidTopic(topic) }
        cond.lock()
        if stopRequest != nil { cond.unlock(); throw .stopped }
        guard connected else { cond.unlock(); throw .notConnected }
        if qos > 0 { inflightPublishes += 1 }
        cond.unlock()
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes { buf in
            mosquitto_publish(mosq, &mid, topic, Int32(buf.count), buf.baseAddress, Int32(qos), retain)
        }
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            cond.withLock {
                if qos > 0 { inflightPublishes = max(0, inflightPublishes - 1) }
                cond.broadcast()
            }
            if rc == MOSQ_ERR_NO_CONN.rawValue { throw .notConnected }
            try MQTTError.check(rc, "publish to \(topic)")
        }
        return mid
    }

    func waitForConnection(timeout: Double, giveUpAfter: Int?) -> Bool {
        wait(timeout: timeout) {
            connected || stopRequest != nil || (giveUpAfter.map { failedAttemptCount >= $0 } ?? false)
        }
        return isConnected
    }

    func waitForSubscriptions(timeout: Double) -> Bool {
        wait(timeout: timeout) { connected && pendingSubacks.isEmpty }
    }

    func waitForPublishes(timeout: Double) -> Bool {
        wait(timeout: timeout) { inflightPublishes == 0 }
    }

    /// Waits until `done` (evaluated with the lock held) is true or the timeout passes.
    @discardableResult
    private func wait(timeout: Double, until done: () -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: max(0, timeout))
        cond.lock()
        defer { cond.unlock() }
        while !done() {
            if !cond.wait(until: deadline) { return done() }
        }
        return true
    }

    // MARK: network thread

    private func run() {
        cond.withLock { loopThread = pthread_self() }
        var socketOpen = false
        var everOpened = false
        var stopDeadline: Double?
        while true {
            let request = cond.withLock { stopRequest }
            if request == .abort {
                // shutdown(2), not close(2): the descriptor stays libmosquitto's to close.
                let fd = mosquitto_socket(mosq)
                if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
                break
            }
            if case let .clean(timeout) = request {
                if stopDeadline == nil {
                    stopDeadline = MonotonicClock.seconds() + timeout
                    if socketOpen { _ = mosquitto_disconnect(mosq) }
                }
                // Keep looping until DISCONNECT (and anything queued before it) is written.
                guard socketOpen, mosquitto_socket(mosq) >= 0, MonotonicClock.seconds() < stopDeadline ?? 0 else { break }
                if mosquitto_loop(mosq, 50, 1) != MOSQ_ERR_SUCCESS.rawValue { socketOpen = false }
                continue
            }
            if !socketOpen {
                let rc = everOpened ? mosquitto_reconnect(mosq)
                                    : mosquitto_connect(mosq, config.host, Int32(config.port), Int32(config.keepAlive))
                let e = errno
                if rc == MOSQ_ERR_SUCCESS.rawValue {
                    socketOpen = true
                    everOpened = true
                    cond.withLock { sessionsAtOpen = sessions }
                } else {
                    attemptFailed(mosquittoMessage(rc, errno: e))
                    waitBeforeRetry()
                    continue
                }
            }
            let rc = mosquitto_loop(mosq, 100, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                let e = errno
                socketOpen = false
                connectionEnded(mosquittoMessage(rc, errno: e))
                waitBeforeRetry()
            }
        }
        let (wasConnected, handler, request) = cond.withLock {
            let was = connected
            connected = false
            loopExited = true
            cond.broadcast()
            return (was, connectionHandler, stopRequest)
        }
        if wasConnected { handler?(.disconnected(reason: request == .abort ? "dropped" : "disconnected")) }
    }

    private func attemptFailed(_ reason: String) {
        cond.withLock {
            lastErrorText = reason
            failedAttemptCount += 1
            cond.broadcast()
        }
    }

    /// The loop reported an error: the library has closed the socket. If the disconnect
    /// callback has not already reported the end of the session, report it here.
    private func connectionEnded(_ reason: String) {
        let (wasConnected, handler) = cond.withLock {
            let was = connected
            if was {
                connected = false
                lastErrorText = "connection lost: \(reason)"
                pendingSubacks.removeAll()
                earlySubacks.removeAll()
            } else if sessionsAtOpen == sessions {
                // Closed before CONNACK: a failed attempt (didConnect kept the refusal text).
                failedAttemptCount += 1
                if lastErrorText == nil { lastErrorText = "connection closed before CONNACK: \(reason)" }
            }
            cond.broadcast()
            return (was, connectionHandler)
        }
        if wasConnected { handler?(.disconnected(reason: reason)) }
    }

    private func waitBeforeRetry() {
        let delay: Double = cond.withLock {
            defer { consecutiveFailures += 1 }
            return config.reconnect.delay(afterFailures: consecutiveFailures)
        }
        wait(timeout: delay) { stopRequest != nil }
    }

    // MARK: libmosquitto callbacks (network thread)

    private func didConnect(_ rc: Int32) {
        guard rc == 0 else {
            cond.withLock {
                lastErrorText = "broker refused the connection: \(String(cString: mosquitto_connack_string(rc)))"
                cond.broadcast()
            }
            return
        }
        let subs = cond.withLock { subscriptions }
        // Subscribe before announcing the session so `waitForSubscriptions` sees the pending ids.
        var sent: [Int32: String] = [:]
        for s in subs {
            var mid: Int32 = 0
            if mosquitto_subscribe(mosq, &mid, s.topic, s.qos) == MOSQ_ERR_SUCCESS.rawValue { sent[mid] = s.topic }
        }
        let handler = cond.withLock {
            pendingSubacks = sent
            earlySubacks.removeAll()
            connected = true
            sessions += 1
            consecutiveFailures = 0
            lastErrorText = nil
            cond.broadcast()
            return connectionHandler
        }
        handler?(.connected)
    }

    private func didDisconnect(_ rc: Int32) {
        let reason = rc == 0 ? "disconnected" : String(cString: mosquitto_strerror(rc))
        let (wasConnected, handler) = cond.withLock {
            let was = connected
            connected = false
            pendingSubacks.removeAll()
            earlySubacks.removeAll()
            if rc != 0, was { lastErrorText = "connection lost: \(reason)" }
            cond.broadcast()
            return (was, connectionHandler)
        }
        if wasConnected { handler?(.disconnected(reason: reason)) }
    }

    private func didPublish() {
        cond.withLock {
            inflightPublishes = max(0, inflightPublishes - 1)
            cond.broadcast()
        }
    }

    private func didSubscribe(_ mid: Int32, refused: Bool) {
        cond.withLock {
            let topic = pendingSubacks.removeValue(forKey: mid)
            if topic == nil { earlySubacks.insert(mid) }
            if refused { lastErrorText = "broker refused the subscription to \(topic ?? "a topic")" }
            cond.broadcast()
        }
    }

    private func didReceive(_ topic: String, _ payload: [UInt8]) {
        let handler = cond.withLock { messageHandler }
        handler?(topic, payload)
    }
}
