import CSkyKernels
import Foundation

/// What this machine is, read from the OS and the CPU at run time.
public struct HostInfo: Sendable {
    public var architecture: String
    public var cores: Int
    public var memoryTotalBytes: Int
    public var cpuFeatures: [String]
    /// /proc/device-tree/model on ARM boards (e.g. "NVIDIA Jetson Nano Developer Kit").
    public var deviceTreeModel: String?
    /// Path of a loadable CUDA driver library, when one is present.
    public var cudaDriver: String?

    public static func current() -> HostInfo {
        var u = utsname()
        uname(&u)
        let arch = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let model = (try? String(contentsOfFile: "/proc/device-tree/model", encoding: .utf8))?
            .trimmingCharacters(in: CharacterSet(charactersIn: "\0").union(.whitespacesAndNewlines))
        return HostInfo(architecture: arch,
                        cores: ProcessInfo.processInfo.activeProcessorCount,
                        memoryTotalBytes: Int(ProcessInfo.processInfo.physicalMemory),
                        cpuFeatures: featureNames(sky_cpu_features()),
                        deviceTreeModel: model,
                        cudaDriver: findCUDADriver())
    }

    public static func featureNames(_ bits: UInt32) -> [String] {
        let names: [(UInt32, String)] = [
            (UInt32(SKY_CPU_SSE41), "sse4.1"), (UInt32(SKY_CPU_AVX2), "avx2"), (UInt32(SKY_CPU_FMA), "fma"),
            (UInt32(SKY_CPU_AVX512F), "avx512f"), (UInt32(SKY_CPU_AVX512BW), "avx512bw"),
            (UInt32(SKY_CPU_AVX512VNNI), "avx512vnni"), (UInt32(SKY_CPU_AVXVNNI), "avxvnni"),
            (UInt32(SKY_CPU_NEON), "neon"), (UInt32(SKY_CPU_NEON_DOT), "neon-dot"),
        ]
        return names.filter { bits & $0.0 != 0 }.map(\.1)
    }

    /// The CUDA driver is loaded dynamically (DESIGN.md section 5): report whether dlopen finds it.
    static func findCUDADriver() -> String? {
        for name in ["libcuda.so.1", "libcuda.so"] {
            if let h = dlopen(name, RTLD_LAZY) {
                dlclose(h)
                return name
            }
        }
        return nil
    }
}
