import CMosquitto
import Foundation

/// What went wrong talking to the broker. Messages never contain a password.
public enum MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The client has no session with the broker right now; nothing was queued.
    case notConnected
    /// The client was stopped with `disconnect()` or `dropConnectionUncleanly()`.
    case stopped
    case invalidConfiguration(String)
    case invalidTopic(String)
    case payloadTooLarge(Int)
    /// libmosquitto refused an operation; `code` is its MOSQ_ERR_* value.
    case library(operation: String, code: Int32, message: String)

    public var description: String {
        switch self {
        case .notConnected: "not connected to the broker"
        case .stopped: "the client has been stopped"
        case let .invalidConfiguration(m): "invalid MQTT configuration: \(m)"
        case let .invalidTopic(t): "invalid topic '\(t)'"
        case let .payloadTooLarge(n): "payload of \(n) bytes is too large for MQTT"
        case let .library(op, code, m): "\(op) failed (\(code)): \(m)"
        }
    }

    static func check(_ rc: Int32, _ operation: String, errno savedErrno: Int32 = 0) throws(MQTTError) {
        guard rc != MOSQ_ERR_SUCCESS.rawValue else { return }
        throw .library(operation: operation, code: rc, message: mosquittoMessage(rc, errno: savedErrno))
    }
}

/// libmosquitto's text for an error code; for MOSQ_ERR_ERRNO the system error, read
/// from `errno` captured right after the failing call (mosquitto_strerror would read a stale one).
func mosquittoMessage(_ rc: Int32, errno savedErrno: Int32) -> String {
    if rc == MOSQ_ERR_ERRNO.rawValue, savedErrno != 0 {
        return String(cString: strerror(savedErrno))
    }
    return String(cString: mosquitto_strerror(rc))
}
