import Foundation
import SkyCore
import Synchronization

/// One line per event on stderr, UTC-stamped, for journald and a technician's terminal.
public enum Log {
    nonisolated(unsafe) public static var prefix = "skyedge"
    private static let lock = NSLock()
    private static let minimum = Mutex(LogLevel.info)

    /// Lines below `level` are not written (site config `logLevel`, reloadable).
    public static var level: LogLevel {
        get { minimum.withLock { $0 } }
        set { minimum.withLock { $0 = newValue } }
    }

    public static func info(_ message: @autoclosure () -> String) { if level <= .info { write("info", message()) } }
    public static func warn(_ message: @autoclosure () -> String) { if level <= .warn { write("warn", message()) } }
    public static func error(_ message: @autoclosure () -> String) { write("error", message()) }

    static func write(_ level: String, _ message: String) {
        let line = "\(UTCInstant.now().isoString)Z \(prefix) \(level): \(message)\n"
        lock.lock()
        FileHandle.standardError.write(Data(line.utf8))
        lock.unlock()
    }
}

public enum LogLevel: String, Sendable, Comparable, CaseIterable {
    case info, warn, error

    private var rank: Int { switch self { case .info: 0; case .warn: 1; case .error: 2 } }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }
}
