import COpenBLAS
import CSkyKernels
import Foundation

/// Throughput and latency measurements for `skymodel bench` (release builds).
/// Every ratio compares figures measured in the same process, one after the other.
public enum Benchmark {
    public struct ConvShape: Sendable {
        public var name: String
        public var input: TensorShape
        public var outChannels: Int
        public var kernel: Int
        public var stride: Int
        public var macsPerItem: Int {
            let oh = (input.h + 2 * (kernel / 2) - kernel) / stride + 1, ow = (input.w + 2 * (kernel / 2) - kernel) / stride + 1
            return oh * ow * outChannels * kernel * kernel * input.c
        }
    }

    /// Every convolution of the three model families (ModelZoo), 3x3 padding 1, in model order.
    public static let convShapes: [ConvShape] = [
        ConvShape(name: "realbogus conv1 63x63x3->16", input: TensorShape(h: 63, w: 63, c: 3), outChannels: 16, kernel: 3, stride: 1),
        ConvShape(name: "realbogus conv2 63x63x16->16", input: TensorShape(h: 63, w: 63, c: 16), outChannels: 16, kernel: 3, stride: 1),
        ConvShape(name: "realbogus conv3 31x31x16->32", input: TensorShape(h: 31, w: 31, c: 16), outChannels: 32, kernel: 3, stride: 1),
        ConvShape(name: "realbogus conv4 31x31x32->32", input: TensorShape(h: 31, w: 31, c: 32), outChannels: 32, kernel: 3, stride: 1),
        ConvShape(name: "quality conv1 128x128x1->16", input: TensorShape(h: 128, w: 128, c: 1), outChannels: 16, kernel: 3, stride: 1),
        ConvShape(name: "quality conv2 64x64x16->32", input: TensorShape(h: 64, w: 64, c: 16), outChannels: 32, kernel: 3, stride: 1),
        ConvShape(name: "quality conv3 32x32x32->64", input: TensorShape(h: 32, w: 32, c: 32), outChannels: 64, kernel: 3, stride: 1),
        ConvShape(name: "quality conv4 16x16x64->128", input: TensorShape(h: 16, w: 16, c: 64), outChannels: 128, kernel: 3, stride: 1),
        ConvShape(name: "autoenc conv1 64x64x1->16 s2", input: TensorShape(h: 64, w: 64, c: 1), outChannels: 16, kernel: 3, stride: 2),
        ConvShape(name: "autoenc conv2 32x32x16->32 s2", input: TensorShape(h: 32, w: 32, c: 16), outChannels: 32, kernel: 3, stride: 2),
        ConvShape(name: "autoenc conv3 16x16x32->32", input: TensorShape(h: 16, w: 16, c: 32), outChannels: 32, kernel: 3, stride: 1),
        ConvShape(name: "autoenc conv4 32x32x32->16", input: TensorShape(h: 32, w: 32, c: 32), outChannels: 16, kernel: 3, stride: 1),
        ConvShape(name: "autoenc conv5 64x64x16->1", input: TensorShape(h: 64, w: 64, c: 16), outChannels: 1, kernel: 3, stride: 1),
    ]

    public struct ConvResult: Sendable, Codable {
        public var name: String
        public var macs: Int
        /// The faster of the two weight paths below.
        public var int8GMACs1t: Double
        public var sgemmGMACs1t: Double
        public var int8GMACsAll: Double
        public var sgemmGMACsAll: Double
        /// 8-bit weights: the exact int16 kernel (vpmaddwd).
        public var exactGMACs1t: Double
        public var exactGMACsAll: Double
        /// 7-bit weights: the u8 x s8 kernel (vpmaddubsw); equal to exact where the CPU has no AVX2.
        public var u8GMACs1t: Double
        public var u8GMACsAll: Double
    }

    public struct ModelResult: Sendable, Codable {
        public var name: String
        public var macsPerItem: Int
        public var arenaBytesBatch1: Int
        public var arenaBytesBatch64: Int
        /// Per call, median.
        public var latencyMsBatch1: Double
        public var latencyMsBatch64: Double
        public var latencyMsBatch1AllThreads: Double
        public var latencyMsBatch64AllThreads: Double
    }

    /// Deterministic inputs in [-1, 1) (content does not change int8 or sgemm timing).
    static func pattern(_ n: Int, salt: Int) -> [Float] {
        var out = [Float](repeating: 0, count: n)
        for j in 0..<n { let v: Int = ((j + salt * 13) &* 7919) % 255; out[j] = Float(v) / 128 - 1 }
        return out
    }

    /// The GEMM kernel the executor picks on this CPU.
    public static var bestKernelName: String {
        let names = ["portable", "avx2", "avx512vnni", "neon", "neon-dot"]
        let a = sky_gemm_s8_available()
        var best = 0
        for k in 0..<names.count where a & (UInt32(1) << UInt32(k)) != 0 { best = k }
        return names[best]
    }

    public static func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

    /// Seconds `body` takes: CPU time of the calling thread for single-thread figures (the
    /// executor and OpenBLAS then run on this thread, and time the scheduler gives to other
    /// processes on a shared machine is not counted), wall time otherwise.
    static func seconds(threads: Int = 1, _ body: () -> Void) -> Double {
        if threads == 1 {
            var t0 = timespec(), t1 = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0)
            body()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1)
            return Double(t1.tv_sec - t0.tv_sec) + Double(t1.tv_nsec - t0.tv_nsec) * 1e-9
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }

    /// Median seconds of `repeats` timed runs after one warm-up.
    static func time(repeats: Int, threads: Int, _ body: () -> Void) -> Double {
        body()
        return median((0..<repeats).map { _ in seconds(threads: threads, body) })
    }

    /// GMAC/s of a peak loop (12 independent chains of `macsPerChain` MACs per iteration) on
    /// one core: the best of several runs, since the peak is what the core can do and other
    /// load only slows it. nil where the loop does not run (no AVX2).
    static func peakGMACs(macsPerChain: Double, _ loop: (UInt64) -> UInt64) -> Double? {
        guard loop(1) != 0 else { return nil }
        let iters: UInt64 = 20_000_000
        let t = (0..<7).map { _ in seconds { _ = loop(iters) } }.min()!
        return Double(iters) * 12 * macsPerChain / t / 1e9
    }

    /// AVX2 int8 peak per core: 12 independent vpmaddwd chains (16 MACs each; two issue per
    /// cycle on ports 0 and 1). nil without AVX2.
    public static func measuredPeakGMACs() -> Double? { peakGMACs(macsPerChain: 16) { sky_peak_madd_avx2($0) } }

    /// The ceiling of the instruction pair the AVX2 GEMM's inner loop runs (vpmaddwd, then
    /// vpaddd into the accumulator): 12 chains acc += madd(acc, x). nil without AVX2.
    public static func measuredSequencePeakGMACs() -> Double? { peakGMACs(macsPerChain: 16) { sky_peak_madd_add_avx2($0) } }

    /// The ceiling of the 7-bit path's sequence (vpmaddubsw, vpmaddwd by ones, vpaddd):
    /// 12 chains, 32 MACs each. nil without AVX2.
    public static func measuredU8SequencePeakGMACs() -> Double? { peakGMACs(macsPerChain: 32) { sky_peak_maddubs_add_avx2($0) } }

    /// AVX-512 VNNI's instruction per core: 12 independent vpdpbusd chains on ymm (32 MACs
    /// each), the kernel's own. nil without VNNI.
    public static func measuredVNNIPeakGMACs() -> Double? { peakGMACs(macsPerChain: 32) { sky_peak_dpbusd_avx512vnni($0) } }

    /// The same on zmm (64 MACs each): the core's int8 ceiling where it has VNNI. nil without VNNI.
    public static func measuredVNNIZmmPeakGMACs() -> Double? { peakGMACs(macsPerChain: 64) { sky_peak_dpbusd_zmm_avx512vnni($0) } }

    /// The int8 peak each conv's "% peak" is against, and what measured it.
    public struct Int8Peak: Sendable, Equatable {
        public var gmacs: Double
        public var method: String
    }

    /// The CPU's int8 peak from the peak loops that ran: where VNNI runs, the best of all of
    /// them (the zmm vpdpbusd loop on recent cores); otherwise the vpmaddwd loop, as before
    /// VNNI was measured, so AVX2-only machines print the same figures. nil without AVX2.
    public static func int8Peak(madd: Double?, sequence: Double?, u8Sequence: Double?, vnni: Double?, vnniZmm: Double?) -> Int8Peak? {
        let maddMethod = "measured: 12 independent 256-bit vpmaddwd chains x 16 MACs (AVX2)"
        guard vnni != nil || vnniZmm != nil else { return madd.map { Int8Peak(gmacs: $0, method: maddMethod) } }
        let loops: [(Double?, String)] = [
            (madd, maddMethod),
            (sequence, "measured: 12 chains of acc += vpmaddwd(acc, x) x 16 MACs (AVX2)"),
            (u8Sequence, "measured: 12 chains of acc += vpmaddwd(vpmaddubsw(acc, w), ones) x 32 MACs (AVX2)"),
            (vnni, "measured: 12 independent 256-bit vpdpbusd chains x 32 MACs (AVX-512 VNNI, ymm)"),
            (vnniZmm, "measured: 12 independent 512-bit vpdpbusd chains x 64 MACs (AVX-512 VNNI, zmm)"),
        ]
        return loops.compactMap { g, m in g.map { Int8Peak(gmacs: $0, method: m) } }.max { $0.gmacs < $1.gmacs }
    }

    static func convModel(_ s: ConvShape, weightBits: Int = 8) throws -> Model {
        var b = ModelBuilder(name: s.name, input: s.input, seed: 5)
        b.conv(s.outChannels, kernel: s.kernel, stride: s.stride, .relu)
        let float = b.model
        return try Quantizer.quantize(float, calibration: [pattern(s.input.elements, salt: 1)], weightBits: weightBits)
    }

    public static func conv(_ s: ConvShape, threadsAll: Int, repeats: Int) throws -> ConvResult {
        let model = try convModel(s), model7 = try convModel(s, weightBits: 7)
        let oshape = try model.shapes()[1]
        let batch = max(1, 40_000_000 / s.macsPerItem)
        let m = oshape.h * oshape.w * batch, n = s.outChannels, k = s.kernel * s.kernel * s.input.c
        let q0 = model.nodes[0].quant!
        let input = pattern(batch * s.input.elements, salt: 3).map { q0.quantize($0) }
        let a = [Float](repeating: 0.5, count: m * k), w = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        /// Both int8 paths and sgemm timed in turn, so all see the same machine load; medians of each.
        func trio(_ threads: Int) throws -> (exact: Double, u8: Double, sgemm: Double) {
            let ex = try Executor(model: model, maxBatch: batch, threads: threads)
            let ex7 = try Executor(model: model7, maxBatch: batch, threads: threads)
            openblas_set_num_threads(Int32(threads))
            var ti: [Double] = [], tu: [Double] = [], ts: [Double] = []
            try input.withUnsafeBufferPointer { i in
                for r in 0...repeats {
                    let a1 = seconds(threads: threads) { ex.runQuantized(input: i.baseAddress!, batch: batch) }
                    let a3 = seconds(threads: threads) { ex7.runQuantized(input: i.baseAddress!, batch: batch) }
                    let a2 = seconds(threads: threads) {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), w, Int32(n), 0, &c, Int32(n))
                    }
                    if r > 0 { ti.append(a1); tu.append(a3); ts.append(a2) }   // first round warms up
                }
                if ti.isEmpty { throw ModelError.badInput("repeats must be at least 1") }
            }
            let macs = Double(s.macsPerItem * batch)
            return (macs / median(ti) / 1e9, macs / median(tu) / 1e9, Double(m * n * k) / median(ts) / 1e9)
        }
        let one = try trio(1), all = try trio(threadsAll)
        return ConvResult(name: s.name, macs: s.macsPerItem, int8GMACs1t: max(one.exact, one.u8), sgemmGMACs1t: one.sgemm,
                          int8GMACsAll: max(all.exact, all.u8), sgemmGMACsAll: all.sgemm,
                          exactGMACs1t: one.exact, exactGMACsAll: all.exact, u8GMACs1t: one.u8, u8GMACsAll: all.u8)
    }

    public static func quantizeForTiming(_ float: Model) throws -> Model {
        try Quantizer.quantize(float, calibration: (0..<2).map { pattern(float.inputShape.elements, salt: $0) })
    }

    /// Median milliseconds per run() call of a quantized model.
    public static func latencyMs(_ q: Model, batch: Int, threads: Int, repeats: Int) throws -> Double {
        let ex = try Executor(model: q, maxBatch: batch, threads: threads)
        let input = pattern(batch * q.inputShape.elements, salt: 7)
        var out = [Float](repeating: 0, count: batch * ex.outputCount)
        return input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { o in
            time(repeats: max(1, repeats), threads: threads) { ex.run(input: i.baseAddress!, batch: batch, output: o.baseAddress!) } } } * 1e3
    }

    public static func model(_ float: Model, threadsAll: Int, repeats: Int, weightBits: Int = 8) throws -> ModelResult {
        let calib = (0..<2).map { j in pattern(float.inputShape.elements, salt: j) }
        let q = try Quantizer.quantize(float, calibration: calib, weightBits: weightBits)
        let s = try q.shapes()
        let macs = q.nodes.indices.reduce(0) { $0 + q.macs($1, s) }
        let input = pattern(64 * q.inputShape.elements, salt: 7)
        func latency(_ batch: Int, _ threads: Int) throws -> (Double, Int) {
            let ex = try Executor(model: q, maxBatch: batch, threads: threads)
            var out = [Float](repeating: 0, count: batch * ex.outputCount)
            let t = input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { o in
                time(repeats: batch == 1 ? repeats * 10 : repeats, threads: threads) { ex.run(input: i.baseAddress!, batch: batch, output: o.baseAddress!) } } }
            return (t * 1e3, ex.arenaBytes)
        }
        let (l1, a1) = try latency(1, 1), (l64, a64) = try latency(64, 1)
        return ModelResult(name: q.name, macsPerItem: macs, arenaBytesBatch1: a1, arenaBytesBatch64: a64,
                           latencyMsBatch1: l1, latencyMsBatch64: l64,
                           latencyMsBatch1AllThreads: try latency(1, threadsAll).0, latencyMsBatch64AllThreads: try latency(64, threadsAll).0)
    }
}
