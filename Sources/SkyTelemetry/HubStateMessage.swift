import Foundation

/// The hub's retained presence message on `Topics.hubState`: `online` while it runs,
/// `offline` when it stops or (as its last will) vanishes.
public struct HubStateMessage: Sendable, Codable, Equatable {
    public static let online = "online"
    public static let offline = "offline"

    public var state: String
    /// Unix seconds UTC: when the hub came online or went offline. For the last will, when
    /// the hub connected (the broker cannot timestamp it).
    public var time: Double

    public init(state: String, time: Double) {
        self.state = state
        self.time = time
    }

    public var isOnline: Bool { state == Self.online }

    public func encoded() -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? Array(e.encode(self))) ?? Array(#"{"state":"\#(state)"}"#.utf8)
    }

    public static func decode(_ bytes: [UInt8]) -> HubStateMessage? {
        guard bytes.count <= 4096 else { return nil }
        return try? JSONDecoder().decode(HubStateMessage.self, from: Data(bytes))
    }
}
