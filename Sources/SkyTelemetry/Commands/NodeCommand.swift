import Foundation
import SkyCore

/// A command from the hub to one node, on `Topics.command(address)` (Docs/telemetry.md, "Commands").
public struct NodeCommand: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Send again this node's records of `boot` from seq `from` on.
        case resendFrom = "resend-from"
        case setExposure = "set-exposure"
        case setCadence = "set-cadence"
        case reloadConfig = "reload-config"
        /// Run the site's configured program with this command's JSON on standard input.
        case local
    }

    public var id: String
    /// Raw, so that an unknown kind can still be rejected by id.
    public var kind: String
    /// Unix seconds UTC after which the node must not act on it.
    public var expires: Double
    public var boot: UInt64?
    public var from: UInt64?
    /// Seconds, for `set-exposure` and `set-cadence`.
    public var seconds: Double?
    /// Free-form arguments for `local`.
    public var args: [String: String]?

    public init(id: String, kind: Kind, expires: Double, boot: UInt64? = nil, from: UInt64? = nil,
                seconds: Double? = nil, args: [String: String]? = nil) {
        self.id = id; self.kind = kind.rawValue; self.expires = expires; self.boot = boot; self.from = from
        self.seconds = seconds; self.args = args
    }

    public static let maxPayloadBytes = 64 * 1024

    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return Array(try e.encode(self))
    }

    public static func decode(_ payload: [UInt8]) throws -> NodeCommand {
        guard payload.count <= maxPayloadBytes else { throw RecordDecodingError.tooLarge(bytes: payload.count, limit: maxPayloadBytes) }
        do { return try JSONDecoder().decode(NodeCommand.self, from: Data(payload)) } catch {
            throw RecordDecodingError.malformed("command: \(error)")
        }
    }
}

/// A node's answer to a command, on `Topics.commandReply(address)`.
public struct CommandReply: Sendable, Equatable, Codable {
    public static let accepted = "accepted"
    public static let rejected = "rejected"

    public var id: String
    public var site: String
    public var node: String
    /// `accepted` (done, or started for long actions) or `rejected`.
    public var status: String
    public var reason: String?
    public var time: Double

    public init(id: String, site: String, node: String, status: String, reason: String?, time: Double) {
        self.id = id; self.site = site; self.node = node; self.status = status; self.reason = reason; self.time = time
    }

    public var isAccepted: Bool { status == Self.accepted }

    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return Array(try e.encode(self))
    }

    public static func decode(_ payload: [UInt8]) -> CommandReply? {
        guard payload.count <= 16 * 1024 else { return nil }
        return try? JSONDecoder().decode(CommandReply.self, from: Data(payload))
    }
}

extension Topics {
    /// Where a node answers commands: `skyedge/v1/<site>/<node>/reply` (not a record).
    public static func commandReply(_ a: NodeAddress) -> String { "\(edgeRoot)/\(a.site)/\(a.node)/reply" }
}

/// What a command handler decided.
public enum CommandOutcome: Sendable, Equatable {
    case accepted
    case rejected(String)
}
