import Foundation
import SkyTelemetry
@_exported import SkyTestSupport

/// Connection events seen by a client's handler.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [MQTTConnectionEvent] = []
    var handler: MQTTClient.ConnectionHandler { { [self] e in lock.withLock { items.append(e) } } }
    var events: [MQTTConnectionEvent] { lock.withLock { items } }
}

