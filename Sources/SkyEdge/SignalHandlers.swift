import Dispatch
import Foundation

/// Turns SIGINT and SIGTERM into one call of `onStop` (systemd stops services with SIGTERM).
public final class SignalHandlers: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    public init(onStop: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                Log.info("signal \(sig): stopping")
                onStop()
            }
            s.resume()
            sources.append(s)
        }
    }

    deinit { sources.forEach { $0.cancel() } }
}
