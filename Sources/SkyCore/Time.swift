import Foundation

/// A UTC instant as seconds since the Unix epoch. Leap seconds are ignored, as
/// in FITS DATE-OBS and POSIX time; astronomy that needs TT/TDB adds its own offset.
public struct UTCInstant: Sendable, Hashable, Comparable, Codable {
    public var unixSeconds: Double

    public init(unixSeconds: Double) { self.unixSeconds = unixSeconds }

    public static func now() -> UTCInstant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UTCInstant(unixSeconds: Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9)
    }

    /// Modified Julian Date (MJD 40587.0 is 1970-01-01T00:00:00 UTC).
    public var mjd: Double { unixSeconds / 86_400.0 + 40_587.0 }

    public init(mjd: Double) { self.unixSeconds = (mjd - 40_587.0) * 86_400.0 }

    public static func < (a: UTCInstant, b: UTCInstant) -> Bool { a.unixSeconds < b.unixSeconds }

    public func adding(seconds: Double) -> UTCInstant { UTCInstant(unixSeconds: unixSeconds + seconds) }

    /// ISO 8601 with milliseconds, e.g. `2026-11-25T21:39:00.125`, as FITS DATE-OBS writes it.
    public var isoString: String {
        // Beyond +-10^12 s (about 30,000 years) time_t conversion would trap; such an instant is a bug upstream.
        guard unixSeconds.isFinite, abs(unixSeconds) < 1e12 else { return "invalid-time(\(unixSeconds))" }
        var whole = floor(unixSeconds)
        var millis = Int(((unixSeconds - whole) * 1000).rounded())
        if millis == 1000 { whole += 1; millis = 0 }
        var t = time_t(whole)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03d",
                      Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis)
    }

    /// Parses FITS DATE-OBS forms: `YYYY-MM-DD`, `YYYY-MM-DDThh:mm:ss[.fff]`, an optional
    /// trailing `Z`, and the old `DD/MM/YY` form. Returns nil for anything else.
    public init?(iso text: String) {
        let s = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "Z", with: "")
        if s.count == 8, s.dropFirst(2).first == "/" {
            let p = s.split(separator: "/").compactMap { Int($0) }
            guard p.count == 3 else { return nil }
            let year = p[2] < 50 ? 2000 + p[2] : 1900 + p[2]
            guard let v = UTCInstant.fromCivil(year, p[1], p[0], 0, 0, 0) else { return nil }
            self = v
            return
        }
        let dateTime = s.split(separator: "T", maxSplits: 1)
        guard let datePart = dateTime.first else { return nil }
        let d = datePart.split(separator: "-").compactMap { Int($0) }
        guard d.count == 3 else { return nil }
        var h = 0, m = 0, sec = 0.0
        if dateTime.count == 2 {
            let t = dateTime[1].split(separator: ":")
            guard t.count >= 2, let hh = Int(t[0]), let mm = Int(t[1]) else { return nil }
            h = hh; m = mm
            if t.count >= 3 { guard let ss = Double(t[2]) else { return nil }; sec = ss }
        }
        guard let v = UTCInstant.fromCivil(d[0], d[1], d[2], h, m, sec) else { return nil }
        self = v
    }

    static func fromCivil(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Double) -> UTCInstant? {
        guard (-9_999...99_999).contains(y), (1...12).contains(mo), (1...31).contains(d), (0...23).contains(h),
              (0...59).contains(mi), s >= 0, s < 61 else { return nil }
        // Days from civil (Howard Hinnant's algorithm): exact for the proleptic Gregorian calendar.
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (mo + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return UTCInstant(unixSeconds: Double(days) * 86_400 + Double(h * 3600 + mi * 60) + s)
    }
}

/// Monotonic clock for stage timing and deadlines (never jumps with NTP).
public enum MonotonicClock {
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    @inline(__always)
    public static func seconds() -> Double { Double(nanoseconds()) * 1e-9 }
}
