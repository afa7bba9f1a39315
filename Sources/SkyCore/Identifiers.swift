/// Site and node names appear in MQTT topics, file names and SQL keys, so they
/// are restricted to a safe alphabet: letters, digits, `-` and `_`, 1 to 64 characters.
public enum Identifier {
    public static func isValid(_ s: String) -> Bool {
        guard (1...64).contains(s.utf8.count) else { return false }
        return s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
        }
    }
}

/// Where a record comes from: one process (`node`) at one observatory (`site`),
/// in one run of that process (`boot`, its start time in Unix seconds).
public struct NodeAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    public var site: String
    public var node: String

    public init(site: String, node: String) {
        self.site = site
        self.node = node
    }

    public var description: String { "\(site)/\(node)" }
}
