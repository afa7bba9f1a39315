import Foundation
import Yams

/// What a site computer offers, read from `Boards/<name>.yaml`.
public struct BoardProfile: Sendable, Equatable, Codable {
    public struct GPU: Sendable, Equatable, Codable {
        public var name: String
        public var computeCapability: String
        public var sharedMemory: Bool
    }

    /// How `skydiag board` recognizes the board it runs on.
    public struct Match: Sendable, Equatable, Codable {
        /// Substrings of /proc/device-tree/model (Jetson boards).
        public var deviceTreeModel: [String]?
        /// `uname -m`, for generic hosts.
        public var architecture: String?
    }

    public var name: String
    public var description: String
    public var architecture: String
    public var cores: Int
    public var memoryTotalMiB: Int
    /// Bytes skyedge may allocate in all: its memory plan must fit in this.
    public var memoryBudgetMiB: Int
    public var cpuFeatures: [String]
    public var gpu: GPU?
    public var match: Match

    public var memoryBudgetBytes: Int { memoryBudgetMiB << 20 }
}

public enum BoardProfileError: Error, CustomStringConvertible {
    case notFound(name: String, directory: String, available: [String])
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notFound(n, d, a):
            "no board profile '\(n)' in \(d) (available: \(a.isEmpty ? "none" : a.joined(separator: ", ")))"
        case let .invalid(p, r): "invalid board profile \(p): \(r)"
        }
    }
}

public enum BoardProfiles {
    /// `Boards/` beside the executable's package, or the directory given.
    public static func defaultDirectory() -> String {
        if let env = ProcessInfo.processInfo.environment["SKYEDGE_BOARDS"] { return env }
        // Installed layout: <prefix>/bin/skyedge with <prefix>/share/skyedge/Boards.
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<5 {
            for candidate in ["Boards", "share/skyedge/Boards"] {
                let p = dir.appendingPathComponent(candidate).path
                if FileManager.default.fileExists(atPath: p) { return p }
            }
            dir = dir.deletingLastPathComponent()
        }
        return "Boards"
    }

    public static func available(in directory: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    public static func load(_ name: String, from directory: String) throws -> BoardProfile {
        let path = (directory as NSString).appendingPathComponent("\(name).yaml")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BoardProfileError.notFound(name: name, directory: directory, available: available(in: directory))
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> BoardProfile {
        let profile: BoardProfile
        do { profile = try YAMLDecoder().decode(BoardProfile.self, from: text) } catch {
            throw BoardProfileError.invalid(path: path, reason: ConfigError.describe(error))
        }
        guard profile.cores >= 1, profile.memoryBudgetMiB >= 16, profile.memoryBudgetMiB <= profile.memoryTotalMiB else {
            throw BoardProfileError.invalid(path: path, reason: "cores must be >= 1 and 16 MiB <= memoryBudgetMiB <= memoryTotalMiB")
        }
        return profile
    }

    /// The profile matching this machine: a device-tree model match first, else the architecture.
    public static func detect(in directory: String, host: HostInfo = .current()) -> BoardProfile? {
        let profiles = available(in: directory).compactMap { try? load($0, from: directory) }
        if let model = host.deviceTreeModel {
            if let p = profiles.first(where: { ($0.match.deviceTreeModel ?? []).contains { model.contains($0) } }) { return p }
        }
        return profiles.first { $0.match.architecture == host.architecture }
    }
}
