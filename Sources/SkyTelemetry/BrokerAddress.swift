import Foundation

/// `HOST:PORT` as written on command lines and in config files. IPv6 hosts go in
/// brackets (`[::1]:1883`); without a port, 1883 is assumed.
public struct BrokerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public static let defaultPort = 1883

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Nil when the text is not `host`, `host:port` or `[v6]:port` with a port in 1...65535.
    public init?(parsing text: String) {
        let s = text.trimmingCharacters(in: .whitespaces)
        var host = Substring(s), portText: Substring?
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            host = s[s.index(after: s.startIndex)..<close]
            let rest = s[s.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { return nil }
                portText = rest.dropFirst()
            }
        } else if let colon = s.lastIndex(of: ":") {
            guard s.firstIndex(of: ":") == colon else { return nil } // bare IPv6 needs brackets
            host = s[..<colon]
            portText = s[s.index(after: colon)...]
        }
        guard !host.isEmpty else { return nil }
        var port = Self.defaultPort
        if let portText {
            guard let p = Int(portText), (1...65_535).contains(p) else { return nil }
            port = p
        }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
