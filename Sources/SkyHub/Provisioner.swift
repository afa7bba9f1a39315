import Foundation
import SkyCore

/// Generates what a deployment needs to run over TLS with per-site credentials
/// (`skyhub provision`, Docs/telemetry.md "Security"):
///
///     OUT/ca/ca.crt ca.key                       the certificate authority (keep ca.key offline)
///     OUT/broker/server.crt server.key ca.crt    the broker's TLS identity
///     OUT/broker/passwd                          mosquitto password file (hashed, mosquitto_passwd -U)
///     OUT/broker/acl                             who may publish and read what
///     OUT/broker/mosquitto.conf                  TLS listener using the above
///     OUT/hub/hub.yaml password client.crt client.key ca.crt
///     OUT/sites/<site>/site.yaml password client.crt client.key ca.crt
///
/// Keys and passwords are written 0600. Passwords are random, go to files only, and are
/// never printed, logged or put on a command line (the hashing reads them from a file).
public struct Provisioner {
    public struct Failure: Error, CustomStringConvertible { public var description: String }

    public var sites: [String]
    public var node = "cam1"
    public var out: URL
    /// Name the sites use to reach the broker; also in the server certificate.
    public var brokerHost = "localhost"
    public var port = 8883
    public var hubUser = "skyhub"
    public var requireClientCertificates = true
    public var days = 825

    public init(sites: [String], out: URL) { self.sites = sites; self.out = out }

    /// Writes everything; returns one line per file written (never a secret).
    @discardableResult
    public func run() throws -> [String] {
        for s in sites where !Identifier.isValid(s) || s == hubUser {
            throw Failure(description: "site name '\(s)' must be 1-64 letters, digits, '-' or '_' and not '\(hubUser)'")
        }
        guard Set(sites).count == sites.count, !sites.isEmpty else { throw Failure(description: "site names must be given and distinct") }
        var written: [String] = []
        let ca = out.appendingPathComponent("ca"), broker = out.appendingPathComponent("broker")
        for d in [ca, broker, out.appendingPathComponent("hub"), out.appendingPathComponent("sites")] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        }
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", path(ca, "ca.key"), "-out", path(ca, "ca.crt"), "-days", "\(days * 4)",
                     "-subj", "/CN=SkyEdge deployment CA"])
        chmod(path(ca, "ca.key"), 0o600)
        written += [path(ca, "ca.crt"), path(ca, "ca.key")]

        let san = isIPAddress(brokerHost) ? "IP:\(brokerHost)" : "DNS:\(brokerHost)"
        try issue(name: brokerHost, dir: broker, base: "server", extensions: "subjectAltName=\(san),IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        try copy(path(ca, "ca.crt"), to: path(broker, "ca.crt"))
        written += [path(broker, "server.crt"), path(broker, "server.key")]

        var plain = ""
        let hub = out.appendingPathComponent("hub")
        let hubPassword = Self.randomPassword()
        plain += "\(hubUser):\(hubPassword)\n"
        try writeSecret(hubPassword + "\n", to: path(hub, "password"))
        try issue(name: hubUser, dir: hub, base: "client", extensions: "extendedKeyUsage=clientAuth\n")
        try copy(path(ca, "ca.crt"), to: path(hub, "ca.crt"))
        try """
        broker: \(brokerHost):\(port)
        db: \(path(hub, "hub.sqlite"))
        client-id: skyhub
        username: \(hubUser)
        password-file: \(path(hub, "password"))
        ca-file: \(path(hub, "ca.crt"))
        cert-file: \(path(hub, "client.crt"))
        key-file: \(path(hub, "client.key"))

        """.write(toFile: path(hub, "hub.yaml"), atomically: true, encoding: .utf8)
        written.append(path(hub, "hub.yaml"))

        for site in sites {
            let dir = out.appendingPathComponent("sites").appendingPathComponent(site)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let password = Self.randomPassword()
            plain += "\(site):\(password)\n"
            try writeSecret(password + "\n", to: path(dir, "password"))
            try issue(name: site, dir: dir, base: "client", extensions: "extendedKeyUsage=clientAuth\n")
            try copy(path(ca, "ca.crt"), to: path(dir, "ca.crt"))
            try """
            site: \(site)
            node: \(node)
            broker:
              host: \(brokerHost)
              port: \(port)
              username: \(site)
              passwordFile: \(path(dir, "password"))
              caFile: \(path(dir, "ca.crt"))
              certFile: \(path(dir, "client.crt"))
              keyFile: \(path(dir, "client.key"))

            """.write(toFile: path(dir, "site.yaml"), atomically: true, encoding: .utf8)
            written.append(path(dir, "site.yaml"))
        }

        // mosquitto_passwd -U hashes a user:password file in place: no password on a command line.
        let passwd = path(broker, "passwd")
        try writeSecret(plain, to: passwd)
        try run("mosquitto_passwd", ["-U", passwd])
        written.append(passwd)

        try acl().write(toFile: path(broker, "acl"), atomically: true, encoding: .utf8)
        try mosquittoConf(broker).write(toFile: path(broker, "mosquitto.conf"), atomically: true, encoding: .utf8)
        written += [path(broker, "acl"), path(broker, "mosquitto.conf")]
        return written
    }

    /// A site may publish only under its own prefix and read only its commands, its acks and
    /// the hub's state; the hub reads every record and writes acks, commands and its state.
    public func acl() -> String {
        var text = """
        # Generated by skyhub provision. mosquitto ACL: anything not granted is denied.
        user \(hubUser)
        topic read skyedge/v1/+/+/+
        topic write skyedge/v1/+/+/cmd
        topic write skyhub/v1/ack/#
        topic readwrite skyhub/v1/state

        """
        // Each kind a node sends, named: `skyedge/v1/<site>/#` would also let a site write its
        // own nodes' `cmd` topic and so start their site-local handler.
        let kinds = RecordKind.allCases.map(\.rawValue) + ["batch", "reply"]
        for s in sites {
            text += "user \(s)\n" + kinds.map { "topic write skyedge/v1/\(s)/+/\($0)\n" }.joined()
            text += """
            topic read skyedge/v1/\(s)/+/cmd
            topic read skyhub/v1/ack/\(s)/#
            topic read skyhub/v1/state

            """
        }
        return text
    }

    func mosquittoConf(_ broker: URL) -> String {
        """
        # Generated by skyhub provision: TLS only, a password per client, the ACL.
        per_listener_settings false
        allow_anonymous false
        password_file \(path(broker, "passwd"))
        acl_file \(path(broker, "acl"))
        listener \(port)
        cafile \(path(broker, "ca.crt"))
        certfile \(path(broker, "server.crt"))
        keyfile \(path(broker, "server.key"))
        tls_version tlsv1.2
        require_certificate \(requireClientCertificates)
        # Room for every site's send window (outbox.window, default 1000) queued for the hub:
        # above this mosquitto drops silently (the nodes then resend, but only after a stall).
        max_queued_messages \((sites.count + 1) * 1000)
        # No message above a record's limit (RecordCodec.maxPayloadBytes) plus room for the
        # topic and headers: a client sending more is disconnected by the broker.
        max_packet_size \(RecordCodec.maxPayloadBytes + 4096)

        """
    }

    // MARK: helpers

    static func randomPassword() -> String {
        var g = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
        return String((0..<24).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &g)] })
    }

    private func issue(name: String, dir: URL, base: String, extensions: String) throws {
        let key = path(dir, "\(base).key"), csr = path(dir, "\(base).csr"), crt = path(dir, "\(base).crt")
        let ext = path(dir, "\(base).ext")
        let ca = out.appendingPathComponent("ca")
        try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", key, "-out", csr, "-subj", "/CN=\(name)"])
        chmod(key, 0o600)
        try extensions.write(toFile: ext, atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", csr, "-CA", path(ca, "ca.crt"), "-CAkey", path(ca, "ca.key"),
                     "-CAcreateserial", "-out", crt, "-days", "\(days)", "-sha256", "-extfile", ext])
        try? FileManager.default.removeItem(atPath: csr)
        try? FileManager.default.removeItem(atPath: ext)
    }

    private func openssl(_ args: [String]) throws { try run("openssl", args) }

    private func run(_ tool: String, _ args: [String]) throws {
        let candidates = ["/usr/bin/\(tool)", "/usr/local/bin/\(tool)", "/bin/\(tool)", "/usr/sbin/\(tool)"]
        guard let exe = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Failure(description: "\(tool) is not installed")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let errors = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = errors
        try p.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "\(tool) \(args.first ?? "") failed (\(p.terminationStatus)): \(text.prefix(300))")
        }
    }

    private func writeSecret(_ text: String, to file: String) throws {
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot write \(file)") }
        defer { close(fd) }
        fchmod(fd, 0o600)
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw Failure(description: "cannot write \(file)")
        }
    }

    private func copy(_ from: String, to: String) throws {
        try? FileManager.default.removeItem(atPath: to)
        try FileManager.default.copyItem(atPath: from, toPath: to)
    }

    private func path(_ dir: URL, _ name: String) -> String { dir.appendingPathComponent(name).path }

    private func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }
}
