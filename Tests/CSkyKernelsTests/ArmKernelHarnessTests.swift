import Foundation
import Testing

/// The int8 GEMM kernels compiled for AArch64 with Debian's cross compiler and run
/// under qemu-user: Cortex-A57 (NEON, no dot product, like the Jetson Nano) and
/// `max` (with dot product, like Orin). The harness (Tools/kernel-harness) compares
/// every kernel the emulated CPU offers with a plain reference on random shapes.
/// Skipped with a message where the cross tools are absent (Tools/setup.sh installs them).
/// The same harness also runs on the host: as built, and with VNNI's dot product emulated.
@Suite struct ArmKernelHarnessTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func tool(_ name: String) -> String? {
        for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") { return "\(dir)/\(name)" }
        return nil
    }
    static let crossTools = tool("aarch64-linux-gnu-gcc") != nil && tool("qemu-aarch64") != nil

    static func run(_ exe: String, _ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func build(compiler: String, output: String, defines: [String] = [], flags: [String] = []) throws -> (Int32, String) {
        let k = root.appendingPathComponent("Sources/CSkyKernels").path
        let sources = ["cpu_features.c", "gemm_s8.c", "gemm_s8_x86.c", "gemm_s8_avx2.c", "gemm_s8_avx2_u8.c", "gemm_s8_vnni.c", "gemm_s8_arm.c"].map { "\(k)/\($0)" }
        return try run(compiler, ["-O2", "-Wall", "-I", "\(k)/include", "-I", k] + flags + defines.map { "-D\($0)" } + [
                                  root.appendingPathComponent("Tools/kernel-harness/gemm_s8_harness.c").path] + sources + ["-lm", "-o", output])
    }

    @Test(.enabled(if: crossTools, "aarch64-linux-gnu-gcc / qemu-aarch64 missing: ARM kernels not tested (run Tools/setup.sh)"))
    func armKernelsAreBitExactUnderQemu() throws {
        let exe = FileManager.default.temporaryDirectory.appendingPathComponent("sky-harness-arm-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: exe) }
        let (rc, log) = try Self.build(compiler: Self.tool("aarch64-linux-gnu-gcc")!, output: exe)
        try #require(rc == 0, "cross build failed:\n\(log)")
        for (cpu, expected, absent) in [("cortex-a57", ["portable", "neon"], "neon-dot"), ("max", ["portable", "neon", "neon-dot"], nil)] {
            let (status, out) = try Self.run(Self.tool("qemu-aarch64")!, ["-cpu", cpu, "-L", "/usr/aarch64-linux-gnu", exe, "150"])
            print("qemu-aarch64 -cpu \(cpu):\n\(out)")
            #expect(status == 0, "\(cpu): \(out)")
            for k in expected { #expect(out.contains("\n\(k): 150 random shapes bit-exact"), "\(cpu): kernel \(k) not verified") }
            if let absent { #expect(!out.contains("\(absent):"), "\(cpu) has no dot product; \(absent) must not be offered") }
        }
    }

    static let hostHasAVX2: Bool = {
        #if arch(x86_64)
        (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.contains(" avx2") ?? false
        #else
        false
        #endif
    }()

    /// The AVX-512 VNNI kernel on a CPU without VNNI (this machine, CI): built with
    /// SKY_EMULATE_VNNI, vpdpbusd is done exactly in AVX2 and everything else of the kernel
    /// (packing, the tiles and direct/gathering convolution paths shared with the u8 kernel,
    /// the unsigned offset folded into the bias, the output stage) runs as on VNNI hardware,
    /// on any 8-bit weights; on a CPU with VNNI the plain host build runs the real instruction.
    /// The u8 kernel, on 7-bit weights, is checked in the same run.
    @Test(.enabled(if: tool("cc") != nil && hostHasAVX2, "no host C compiler or no AVX2"))
    func vnniKernelIsBitExactWithEmulatedDotProducts() throws {
        let exe = FileManager.default.temporaryDirectory.appendingPathComponent("sky-harness-vnni-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: exe) }
        let (rc, log) = try Self.build(compiler: Self.tool("cc")!, output: exe, defines: ["SKY_EMULATE_VNNI"])
        try #require(rc == 0, "host build failed:\n\(log)")
        let (status, out) = try Self.run(exe, ["150"])
        print(out)
        #expect(status == 0, "\(out)")
        for k in ["avx512vnni", "avx2-u8"] {
            #expect(out.contains("\n\(k): 150 random shapes bit-exact") && out.contains("\n\(k): 75 random convolutions bit-exact"), "\(k): \(out)")
        }
    }

    /// The VNNI kernel as the native build compiles it (zmm register blocks of 16 channels, 12
    /// rows or pixels), its AVX-512 intrinsics done in AVX2 by SIMDe's headers: the code that
    /// runs on AVX-512 hardware, where the test above runs the ymm blocks of the shared body.
    @Test(.enabled(if: tool("cc") != nil && hostHasAVX2 && FileManager.default.fileExists(atPath: "/usr/include/simde/x86/avx512.h"),
                   "no host C compiler, no AVX2, or no SIMDe headers (libsimde-dev; run Tools/setup.sh): the zmm blocks not tested"))
    func vnniZmmBlocksAreBitExactWithEmulatedAVX512() throws {
        let exe = FileManager.default.temporaryDirectory.appendingPathComponent("sky-harness-zmm-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: exe) }
        let (rc, log) = try Self.build(compiler: Self.tool("cc")!, output: exe, defines: ["SKY_EMULATE_AVX512"], flags: ["-mavx2", "-mfma", "-Wno-psabi"])
        try #require(rc == 0, "host build failed:\n\(log)")
        let (status, out) = try Self.run(exe, ["150"])
        print(out)
        #expect(status == 0, "\(out)")
        #expect(out.contains("\navx512vnni: 150 random shapes bit-exact") && out.contains("\navx512vnni: 75 random convolutions bit-exact"), "\(out)")
    }

    @Test(.enabled(if: tool("cc") != nil, "no host C compiler"))
    func harnessPassesOnTheHostToo() throws {
        let exe = FileManager.default.temporaryDirectory.appendingPathComponent("sky-harness-host-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: exe) }
        let (rc, log) = try Self.build(compiler: Self.tool("cc")!, output: exe)
        try #require(rc == 0, "host build failed:\n\(log)")
        let (status, out) = try Self.run(exe, ["100"])
        #expect(status == 0 && out.contains("portable: 100 random shapes bit-exact") && out.contains("portable: 50 random convolutions bit-exact"), "\(out)")
    }
}
