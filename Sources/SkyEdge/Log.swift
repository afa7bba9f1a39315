import Foundation
import SkyCore

/// One line per event on stderr, UTC-stamped, for journald and a technician's terminal.
public enum Log {
    nonisolated(unsafe) public static var prefix = "skyedge"
    private static let lock = NSLock()

    public static func info(_ message: @autoclosure () -> String) { write("info", message()) }
    public static func warn(_ message: @autoclosure () -> String) { write("warn", message()) }
    public static func error(_ message: @autoclosure () -> String) { write("error", message()) }

    static func write(_ level: String, _ message: String) {
        let line = "\(UTCInstant.now().isoString)Z \(prefix) \(level): \(message)\n"
        lock.lock()
        FileHandle.standardError.write(Data(line.utf8))
        lock.unlock()
    }
}
