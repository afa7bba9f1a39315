import Foundation

/// What a `reload-config` may change in a running site, decided key by key.
///
/// Keys in `liveKeys` take effect at once. Keys that change the memory plan (frame size,
/// slots, scratch, send window, outbox size) would need a new arena: the reload is refused
/// and the site keeps its old config. Any other key (site, broker, source kind...) also
/// needs a restart and is refused the same way, so a reload never half-applies.
public enum ConfigReload {
    /// Dotted config keys a running site applies without restarting.
    public static let liveKeys: Set<String> = [
        "source.exposure", "source.cadence", "pipeline.detectSigma", "pipeline.minArea", "pipeline.saturation",
        "statusInterval", "logLevel", "commands.handler", "commands.handlerTimeout", "maxFrames",
    ]

    public enum Verdict: Equatable, Sendable {
        /// The keys that changed (all live); empty when the file says what runs already.
        case apply(changed: [String])
        case refuse(String)
    }

    /// Compares the running config with the one just read.
    public static func judge(running: SiteConfig, reloaded: SiteConfig, board: BoardProfile) -> Verdict {
        let changed = changedKeys(running, reloaded)
        let runningPlan = MemoryPlan.make(config: running, board: board)
        let planChanged = runningPlan != MemoryPlan.make(config: reloaded, board: board)
        let notLive = changed.filter { !liveKeys.contains($0) }
        if planChanged || !notLive.isEmpty {
            // Name what blocks it: the plan's keys first, since those are the ones to look at.
            let planKeys = notLive.filter { key in
                var probe = running
                probe.apply(key, from: reloaded)
                return runningPlan != MemoryPlan.make(config: probe, board: board)
            }
            let restartKeys = notLive.filter { !planKeys.contains($0) }
            var parts: [String] = []
            if !planKeys.isEmpty {
                parts.append("\(planKeys.joined(separator: ", ")) change the memory plan (frame size, arena, outbox)")
            } else if planChanged {
                parts.append("the memory plan changes")
            }
            if !restartKeys.isEmpty {
                parts.append("\(restartKeys.joined(separator: ", ")) cannot change while running")
            }
            return .refuse("reload refused: \(parts.joined(separator: "; ")); restart skyedge to apply; still running with the previous config")
        }
        return .apply(changed: changed)
    }

    /// Dotted keys whose values differ (a key present in one config only counts).
    static func changedKeys(_ a: SiteConfig, _ b: SiteConfig) -> [String] {
        let fa = flatten(a), fb = flatten(b)
        return Set(fa.keys).union(fb.keys).filter { fa[$0] != fb[$0] }.sorted()
    }

    private static func flatten(_ config: SiteConfig) -> [String: String] {
        guard let data = try? JSONEncoder().encode(config),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        var out: [String: String] = [:]
        func walk(_ value: Any, _ path: String) {
            if let map = value as? [String: Any] {
                for (k, v) in map { walk(v, path.isEmpty ? k : "\(path).\(k)") }
            } else {
                out[path] = "\(value)"
            }
        }
        walk(object, "")
        return out
    }
}

extension SiteConfig {
    /// Copies one dotted key's value from `other` (for naming the keys that change the plan;
    /// only keys that are not live get here).
    mutating func apply(_ key: String, from other: SiteConfig) {
        switch key {
        case "maxFrameWidth": maxFrameWidth = other.maxFrameWidth
        case "maxFrameHeight": maxFrameHeight = other.maxFrameHeight
        case "pipeline.slots": pipeline.slots = other.pipeline.slots
        case "pipeline.meshBox": pipeline.meshBox = other.pipeline.meshBox
        case "pipeline.maxStars": pipeline.maxStars = other.pipeline.maxStars
        case "outbox.maxBytes": outbox.maxBytes = other.outbox.maxBytes
        case "outbox.window": outbox.window = other.outbox.window
        case "source.width": source.width = other.source.width
        case "source.height": source.height = other.source.height
        case "calibration.bias": calibration.bias = other.calibration.bias
        case "calibration.dark": calibration.dark = other.calibration.dark
        case "calibration.flat": calibration.flat = other.calibration.flat
        case "calibration.badPixels": calibration.badPixels = other.calibration.badPixels
        default: break
        }
    }
}
