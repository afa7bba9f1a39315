import Foundation

/// When to try again after a failed or lost connection: exponential backoff with jitter.
///
/// libmosquitto's own `mosquitto_reconnect_delay_set` has no jitter, so after a broker
/// restart every site would retry in lock-step; the client therefore runs its own loop
/// and waits `delay(afterFailures:)` between attempts.
public struct ReconnectPolicy: Sendable, Equatable {
    /// Wait after the first failure, seconds.
    public var initialDelay: Double
    /// Upper bound of any wait, seconds.
    public var maxDelay: Double
    public var multiplier: Double
    /// Fraction of each wait that is random: the wait is uniform in [d·(1−jitter), d].
    public var jitter: Double

    public init(initialDelay: Double = 0.5, maxDelay: Double = 30, multiplier: Double = 2, jitter: Double = 0.5) {
        self.initialDelay = max(0, initialDelay)
        self.maxDelay = max(self.initialDelay, maxDelay)
        self.multiplier = max(1, multiplier)
        self.jitter = min(1, max(0, jitter))
    }

    /// The wait after `failures` consecutive failed attempts (0 for the first retry),
    /// given `unitRandom` in [0, 1).
    public func delay(afterFailures failures: Int, unitRandom: Double) -> Double {
        let exponent = Double(min(max(0, failures), 64))
        let nominal = min(maxDelay, initialDelay * pow(multiplier, exponent))
        let u = min(max(unitRandom, 0), 1)
        return nominal * (1 - jitter * u)
    }

    public func delay(afterFailures failures: Int) -> Double {
        delay(afterFailures: failures, unitRandom: Double.random(in: 0..<1))
    }
}
