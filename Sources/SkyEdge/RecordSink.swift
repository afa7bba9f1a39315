import SkyCore

/// Where the runtime sends what it produces: the MQTT publisher in production,
/// a collector in tests.
public protocol RecordSink: AnyObject, Sendable {
    func publish(frame: FrameReport)
    func publish(status: StatusReport)
    /// Counters for the heartbeat.
    var delivery: DeliveryCounters { get }
    /// Says goodbye (clean death record) and releases the connection.
    func shutdown()
    /// Exposure or cadence changed (a command or reload): later births carry the new values.
    func settingsChanged(exposure: Double?, cadence: Double?)
}

extension RecordSink {
    public func settingsChanged(exposure: Double?, cadence: Double?) {}
}

public struct DeliveryCounters: Sendable, Equatable {
    public var published: UInt64 = 0
    public var acknowledged: UInt64 = 0
    public var dropped: UInt64 = 0
    public var pending: UInt64 = 0
    public init(published: UInt64 = 0, acknowledged: UInt64 = 0, dropped: UInt64 = 0, pending: UInt64 = 0) {
        self.published = published; self.acknowledged = acknowledged; self.dropped = dropped; self.pending = pending
    }
}
