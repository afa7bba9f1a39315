import Foundation

/// A private `mosquitto` broker on a free loopback port, for tests, demos and drills.
///
/// It writes its config and log to a temporary directory, starts the broker and
/// waits until the port accepts connections. `stop()` (SIGTERM) and `kill()`
/// (SIGKILL) end it; `start()` brings it back on the same port. `deinit` kills it
/// and removes the directory.
public final class LocalMosquitto: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case cannotStart(String)

        public var description: String {
            switch self {
            case .notInstalled: "mosquitto not found (looked at /usr/sbin/mosquitto and on PATH)"
            case let .cannotStart(why): "cannot start mosquitto: \(why)"
            }
        }
    }

    public let host = "127.0.0.1"
    /// Fixed once the broker has started; restarts reuse it.
    public private(set) var port: Int
    public let executable: String
    public let directory: URL
    public var configFile: URL { directory.appendingPathComponent("mosquitto.conf") }
    public var logFile: URL { directory.appendingPathComponent("mosquitto.log") }
    public var broker: BrokerAddress { BrokerAddress(host: host, port: port) }

    private let lock = NSLock()
    private var pid: pid_t?

    /// The mosquitto binary, or nil when it is not installed.
    public static func findExecutable() -> String? {
        var candidates = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"]
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        candidates += path.split(separator: ":").map { "\($0)/mosquitto" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts a broker. `extraConfig` lines are appended to the generated config (e.g. TLS listeners).
    /// Without a `port`, a free one is chosen (and another tried if it is taken meanwhile).
    public init(port: Int? = nil, extraConfig: [String] = [], startTimeout: Double = 5) throws {
        guard let exe = Self.findExecutable() else { throw Failure.notInstalled }
        executable = exe
        self.port = try port ?? Self.freeLoopbackPort()
        self.extraConfig = extraConfig
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("skyedge-mosquitto-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var attempts = port == nil ? 5 : 1
        while true {
            do {
                try writeConfig()
                try start(timeout: startTimeout)
                return
            } catch let Failure.cannotStart(why) where why.contains("Address already in use") && attempts > 1 {
                attempts -= 1
                self.port = try Self.freeLoopbackPort()
            } catch {
                try? FileManager.default.removeItem(at: directory)
                throw error
            }
        }
    }

    private let extraConfig: [String]

    private func writeConfig() throws {
        var lines = [
            "listener \(port) \(host)",
            "allow_anonymous true",
            "persistence false",
            // No broker-side drop of queued QoS 1 messages: tests count every record.
            "max_queued_messages 0",
            "log_dest file \(logFile.path)",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if geteuid() == 0 { lines.append("user root") } // otherwise it switches to 'mosquitto' and cannot write the log
        lines += extraConfig
        try (lines.joined(separator: "\n") + "\n").write(to: configFile, atomically: true, encoding: .utf8)
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    public var isRunning: Bool { lock.withLock { pid != nil } }

    /// The broker's process id while it runs (for CPU accounting in benchmarks).
    public var processID: pid_t? { lock.withLock { pid } }

    /// Starts the broker (again) on the same port and waits until it accepts connections.
    public func start(timeout: Double = 5) throws {
        try lock.withLock {
            guard pid == nil else { return }
            pid = try spawn()
        }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if Self.acceptsConnections(host: host, port: port) { return }
            if let p = lock.withLock({ pid }) {
                var status: Int32 = 0
                if waitpid(p, &status, WNOHANG) == p {
                    lock.withLock { pid = nil }
                    throw Failure.cannotStart("exited at start (status \(status)); log: \(logTail())")
                }
            }
            usleep(20_000)
        }
        kill()
        throw Failure.cannotStart("port \(port) not accepting connections after \(timeout) s; log: \(logTail())")
    }

    /// SIGTERM: the broker closes connections cleanly (clients see them close; wills are sent).
    public func stop() { end(signal: SIGTERM) }

    /// SIGKILL: the broker vanishes as in a power cut.
    public func kill() { end(signal: SIGKILL) }

    private func end(signal: Int32) {
        lock.withLock {
            guard let p = pid else { return }
            _ = Foundation.kill(p, signal)
            var status: Int32 = 0
            // A SIGTERM'd broker exits within milliseconds; fall back to SIGKILL after 5 s.
            let deadline = Date(timeIntervalSinceNow: 5)
            while waitpid(p, &status, WNOHANG) == 0 {
                if Date() > deadline { _ = Foundation.kill(p, SIGKILL); _ = waitpid(p, &status, 0); break }
                usleep(5_000)
            }
            pid = nil
        }
    }

    public func logTail(maxBytes: Int = 2000) -> String {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return "(no log)" }
        return String(text.suffix(maxBytes))
    }

    private func spawn() throws -> pid_t {
        let args = [executable, "-c", configFile.path]
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The broker logs to its file; keep the test output clean.
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw Failure.cannotStart(String(cString: strerror(rc))) }
        return child
    }

    /// A loopback port nobody listens on, chosen below the kernel's ephemeral range
    /// (32768 and up on Linux) so that outgoing connections never take it before the broker does.
    public static func freeLoopbackPort() throws -> Int {
        for _ in 0..<200 {
            let candidate = Int.random(in: 20_000..<32_768)
            if canBind(port: candidate) { return candidate }
        }
        throw Failure.cannotStart("no free loopback port found in 20000-32767")
    }

    private static func canBind(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = loopback(port: port)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0 && !acceptsConnections(host: "127.0.0.1", port: port)
    }

    static func acceptsConnections(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = loopback(port: port)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return addr
    }
}
