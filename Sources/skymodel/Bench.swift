import ArgumentParser
import Foundation
import SkyNN

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "int8 conv throughput vs OpenBLAS sgemm, int8 peak, whole-model latency (build with -c release).")
    @Flag(help: "Print one JSON object instead of the table") var json = false
    @Option(help: "Threads for the all-threads columns (default: the board profile's cores)") var threads: Int?
    @Option(help: "Board profile name (default: detected)") var board: String?
    @Option(help: "Timed repeats per figure (median)") var repeats: Int = 5
    @Option(help: "Only the conv shapes and models whose name contains this text (e.g. \"autoenc conv1\", \"quality\")") var only: String?

    func run() throws {
        let threads = try self.threads ?? boardCores(board)
        let kernel = Benchmark.bestKernelName
        let peak = Benchmark.measuredPeakGMACs(), sequence = Benchmark.measuredSequencePeakGMACs()
        let u8Sequence = Benchmark.measuredU8SequencePeakGMACs()
        let vnni = Benchmark.measuredVNNIPeakGMACs(), vnniZmm = Benchmark.measuredVNNIZmmPeakGMACs()
        let cpuPeak = Benchmark.int8Peak(madd: peak, sequence: sequence, u8Sequence: u8Sequence, vnni: vnni, vnniZmm: vnniZmm)
        func chosen(_ name: String) -> Bool { only.map { name.localizedCaseInsensitiveContains($0) } ?? true }
        let shapes = Benchmark.convShapes.filter { chosen($0.name) }
        let zoo = [ModelZoo.realBogus(), ModelZoo.quality(), ModelZoo.autoencoder()].filter { chosen($0.name) }
        guard !shapes.isEmpty || !zoo.isEmpty else { throw ValidationError("no conv shape or model name contains \"\(only ?? "")\"") }
        var convs: [Benchmark.ConvResult] = []
        for s in shapes { convs.append(try Benchmark.conv(s, threadsAll: threads, repeats: repeats)) }
        // Whole models with 7-bit weights (the faster path here; exact either way), and the
        // 8-bit models' single-thread latency beside them.
        var models: [Benchmark.ModelResult] = [], eightBit: [(b1: Double, b64: Double)] = []
        for m in zoo {
            models.append(try Benchmark.model(m, threadsAll: threads, repeats: repeats, weightBits: 7))
            let q8 = try Benchmark.quantizeForTiming(m)
            eightBit.append((try Benchmark.latencyMs(q8, batch: 1, threads: 1, repeats: repeats * 10),
                             try Benchmark.latencyMs(q8, batch: 64, threads: 1, repeats: repeats)))
        }
        let top = convs.max { $0.int8GMACs1t < $1.int8GMACs1t }
        if json {
            var o: [String: Any] = [
                "kernel": kernel, "threads_all": threads,
                "int8_gmacs_1t": top?.int8GMACs1t ?? NSNull(), "sgemm_gmacs_1t": top?.sgemmGMACs1t ?? NSNull(), "best_conv_shape": top?.name ?? NSNull(),
                "int8_peak_gmacs_1t": cpuPeak?.gmacs ?? NSNull(),
                "int8_peak_method": cpuPeak?.method ?? "not measured (no AVX2)",
                "int8_madd_peak_gmacs_1t": peak ?? NSNull(),
                "int8_vnni_peak_gmacs_1t": vnni ?? NSNull(),
                "int8_vnni_peak_method": "measured: 12 independent 256-bit vpdpbusd chains x 32 MACs (the VNNI kernel's instruction)",
                "int8_vnni_zmm_peak_gmacs_1t": vnniZmm ?? NSNull(),
                "int8_vnni_zmm_peak_method": "measured: 12 independent 512-bit vpdpbusd chains x 64 MACs",
                "int8_sequence_peak_gmacs_1t": sequence ?? NSNull(),
                "int8_sequence_peak_method": "measured: 12 chains of acc += vpmaddwd(acc, x) (the GEMM inner loop's vpmaddwd + vpaddd pair)",
                "int8_u8_sequence_peak_gmacs_1t": u8Sequence ?? NSNull(),
                "int8_u8_sequence_peak_method": "measured: 12 chains of acc += vpmaddwd(vpmaddubsw(acc, w), ones) x 32 MACs (the 7-bit kernel's loop)",
                "int8_gmacs_1t_by_path": top.map { ["exact_8bit": $0.exactGMACs1t, "u8_7bit": $0.u8GMACs1t] } ?? NSNull(),
                "int8_figures_use": "the faster of the 8-bit exact and 7-bit u8 weight paths per shape; models: 7-bit weights",
            ]
            o["convs"] = convs.map { ["name": $0.name, "macs": $0.macs, "int8_gmacs_1t": $0.int8GMACs1t, "sgemm_gmacs_1t": $0.sgemmGMACs1t,
                                      "int8_gmacs_all": $0.int8GMACsAll, "sgemm_gmacs_all": $0.sgemmGMACsAll,
                                      "exact_8bit_gmacs_1t": $0.exactGMACs1t, "exact_8bit_gmacs_all": $0.exactGMACsAll,
                                      "u8_7bit_gmacs_1t": $0.u8GMACs1t, "u8_7bit_gmacs_all": $0.u8GMACsAll] as [String: Any] }
            for (m, e) in zip(models, eightBit) {
                o[m.name] = ["latency_ms": ["batch1": m.latencyMsBatch1, "batch64": m.latencyMsBatch64,
                                            "batch1_all_threads": m.latencyMsBatch1AllThreads, "batch64_all_threads": m.latencyMsBatch64AllThreads],
                             "latency_ms_per_item_batch64": m.latencyMsBatch64 / 64,
                             "latency_ms_8bit_weights": ["batch1": e.b1, "batch64": e.b64],
                             "macs_per_item": m.macsPerItem, "arena_bytes": ["batch1": m.arenaBytesBatch1, "batch64": m.arenaBytesBatch64]] as [String: Any]
            }
            let data = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("int8 kernel: \(kernel); all-threads columns use \(threads) threads; medians of \(repeats) runs")
        print("1-thread figures: CPU time of the calling thread (the work runs there; other load on the machine is not counted); all-threads figures: wall time")
        if let peak {
            print(String(format: "int8 peak (measured, 1 core): %.1f GMAC/s  [12 independent vpmaddwd ymm chains, 16 MACs each%@]", peak,
                         vnni == nil ? "; %peak is against this" : ""))
            if let sequence {
                print(String(format: "vpmaddwd + vpaddd sequence ceiling (measured, 1 core): %.1f GMAC/s  [what the exact AVX2 GEMM loop can reach: 8-bit weights]", sequence))
            }
            if let u8Sequence {
                print(String(format: "vpmaddubsw + vpmaddwd(ones) + vpaddd ceiling (measured, 1 core): %.1f GMAC/s  [the u8 kernel's loop: 7-bit weights]", u8Sequence))
            }
            if let vnni {
                print(String(format: "vpdpbusd ymm peak (measured, 1 core): %.1f GMAC/s  [12 independent chains, 32 MACs each: the VNNI kernel's instruction]", vnni))
            }
            if let vnniZmm {
                print(String(format: "vpdpbusd zmm peak (measured, 1 core): %.1f GMAC/s  [12 independent chains, 64 MACs each]", vnniZmm))
            }
            if vnni != nil, let cpuPeak {
                print(String(format: "int8 peak of this CPU (best of the loops above): %.1f GMAC/s  [%@; %%peak is against this]", cpuPeak.gmacs, cpuPeak.method))
            }
        } else {
            print("int8 peak: not measured (no AVX2)")
        }
        func pad(_ t: String, _ n: Int) -> String { t.count >= n ? t : t + String(repeating: " ", count: n - t.count) }
        if kernel == "avx512vnni" {
            print("int8 columns: 8b = 8-bit weights, 7b = 7-bit weights, both on the VNNI kernel; %peak against this CPU's int8 peak above")
        } else {
            print("int8 columns: 8b = 8-bit weights, exact int16 kernel; 7b = 7-bit weights, u8 kernel; %peak against the vpmaddwd peak above")
        }
        print(pad("conv shape", 32) + "   MMAC  8b 1t  7b 1t  sgemm 1t  8b/sg  7b/sg  %pk 8b  %pk 7b   8b all  7b all  sgemm all  best/sg")
        for c in convs {
            func pk(_ v: Double) -> String { cpuPeak.map { String(format: "%5.0f%%", 100 * v / $0.gmacs) } ?? "    -" }
            print(pad(c.name, 32) + String(format: " %6.1f  %5.1f  %5.1f  %8.1f  %5.2f  %5.2f  %@  %@  %7.1f  %6.1f  %9.1f  %7.2f", Double(c.macs) / 1e6,
                                           c.exactGMACs1t, c.u8GMACs1t, c.sgemmGMACs1t, c.exactGMACs1t / c.sgemmGMACs1t, c.u8GMACs1t / c.sgemmGMACs1t,
                                           pk(c.exactGMACs1t), pk(c.u8GMACs1t), c.exactGMACsAll, c.u8GMACsAll, c.sgemmGMACsAll,
                                           c.int8GMACsAll / c.sgemmGMACsAll))
        }
        print("(GMAC/s; int8 = sky_conv_s8 (implicit GEMM, requantized) through the executor; sgemm = cblas_sgemm on the same M x N x K, im2col not timed)")
        print("models: 7-bit weights; 8b columns: the same models with 8-bit weights")
        print(pad("model", 14) + "  MMAC/item  arena b1   arena b64   b1 ms (1t)  b64 ms (1t)  ms/item b64   b1 ms (all)  b64 ms (all)  8b b1 ms  8b b64 ms")
        for (m, e) in zip(models, eightBit) {
            print(pad(m.name, 14) + String(format: "  %9.2f  %8d  %10d  %10.3f  %11.2f  %11.3f  %11.3f  %12.2f  %8.3f  %9.2f", Double(m.macsPerItem) / 1e6,
                                           m.arenaBytesBatch1, m.arenaBytesBatch64, m.latencyMsBatch1, m.latencyMsBatch64,
                                           m.latencyMsBatch64 / 64, m.latencyMsBatch1AllThreads, m.latencyMsBatch64AllThreads, e.b1, e.b64))
        }
    }
}
