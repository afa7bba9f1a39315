import ArgumentParser
import Foundation
import SkyEdge

struct BoardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "board",
        abstract: "Show this machine's CPU features, cores, memory, CUDA driver and matching board profile.")

    @Option(help: "Directory of board profiles (default: Boards/ of the installation).")
    var boards: String?

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let host = HostInfo.current()
        let dir = boards ?? BoardProfiles.defaultDirectory()
        let profile = BoardProfiles.detect(in: dir, host: host)
        if json {
            let object: [String: Any] = [
                "architecture": host.architecture,
                "cores": host.cores,
                "memory_bytes": host.memoryTotalBytes,
                "cpu_features": host.cpuFeatures,
                "device_tree_model": host.deviceTreeModel ?? NSNull(),
                "cuda_driver": host.cudaDriver ?? NSNull(),
                "board_profile": profile?.name ?? NSNull(),
                "profiles_directory": dir,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("architecture    \(host.architecture)")
        if let m = host.deviceTreeModel { print("model           \(m)") }
        print("cores           \(host.cores)")
        print("memory          \(String(format: "%.1f", Double(host.memoryTotalBytes) / 1_073_741_824)) GiB")
        print("cpu features    \(host.cpuFeatures.isEmpty ? "none detected" : host.cpuFeatures.joined(separator: " "))")
        print("cuda driver     \(host.cudaDriver.map { "present (\($0))" } ?? "absent: models run on the CPU")")
        if let p = profile {
            print("board profile   \(p.name): \(p.description), budget \(p.memoryBudgetMiB) MiB")
            let missing = p.cpuFeatures.filter { !host.cpuFeatures.contains($0) }
            if !missing.isEmpty { print("warning         profile expects \(missing.joined(separator: ", ")), which this CPU lacks") }
        } else {
            print("board profile   none matches (profiles in \(dir): \(BoardProfiles.available(in: dir).joined(separator: ", ")))")
        }
    }
}
