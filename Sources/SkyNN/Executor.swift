import CSkyKernels
#if canImport(Glibc)
import Glibc
#endif

/// Runs a quantized model with the C kernels. `init` is prepare: it plans the
/// arena, allocates it once, packs weights and builds the output stages.
/// `run` allocates nothing (see ExecutorAllocationTests for how that is proven).
public final class Executor: @unchecked Sendable {
    public let model: Model
    public let plan: ExecutionPlan
    /// The GEMM kernel the weights were packed for (SKY_GEMM_*).
    public private(set) var gemmKernel: Int32 = 0
    public var maxBatch: Int { plan.maxBatch }
    public var arenaBytes: Int { plan.arenaBytes }
    public var inputCount: Int { model.inputShape.elements }
    public var outputCount: Int { plan.shapes[plan.lastInt8].elements }

    private let arena: UnsafeMutableRawPointer
    private var stepList: [Step] = []
    private var concatParts: [ConcatPart] = []
    /// Plain copies of stepList/concatParts and the dispatch record, read by the pool's threads.
    private var steps: UnsafeMutableBufferPointer<Step> = .init(start: nil, count: 0)
    private var parts: UnsafeMutableBufferPointer<ConcatPart> = .init(start: nil, count: 0)
    private let job = UnsafeMutablePointer<Job>.allocate(capacity: 1)
    private var prepared: [UnsafeMutableRawPointer] = []
    private let pool: ThreadPool
    private let counters: StepCounters
    private let inputQuant: QuantParams
    private let outputQuant: QuantParams
    private let outputFunction: Op
    /// The last int8 node when it is a dense layer: read in float (Int8Reference.floatDense).
    private struct FloatOutput {
        var x: Int, k: Int, n: Int, zp: Int32, activation: Activation
        var weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, scales: UnsafePointer<Float>
    }
    private var floatOutput: FloatOutput?
    /// The step that run() leaves out: the last dense layer, which it computes in float
    /// from its input instead (-1: none). Its int8 tensor is then never written.
    var skippedStep: Int { floatOutput == nil ? -1 : plan.lastInt8 }

    /// - gemmKernel: force one SKY_GEMM_* kernel (tests, benchmarks); nil picks the best the CPU offers.
    public init(model: Model, maxBatch: Int = 1, threads: Int = 1, gemmKernel: Int32? = nil) throws {
        try model.validate()
        guard model.isQuantized else { throw ModelError.notQuantized(model.name) }
        self.model = model
        plan = try ExecutionPlan(model: model, maxBatch: maxBatch, threads: threads)
        pool = ThreadPool(threads: plan.threads)
        counters = StepCounters(steps: model.nodes.count)
        arena = UnsafeMutableRawPointer.allocate(byteCount: max(64, plan.arenaBytes), alignment: 64)
        inputQuant = model.nodes[0].quant!
        outputQuant = model.nodes[plan.lastInt8].quant!
        outputFunction = model.nodes.last!.op
        var chosen: Int32 = -1
        for i in 0..<model.nodes.count {
            stepList.append(try prepareStep(i, gemmKernel: gemmKernel, chosen: &chosen))
        }
        if case .dense(let n, let act) = model.nodes[plan.lastInt8].op {
            let node = model.nodes[plan.lastInt8], k = plan.shapes[node.inputs[0]].elements
            let w = alloc(n * k, Int8.self), b = alloc(n, Int32.self), sc = alloc(n, Float.self)
            for j in 0..<(n * k) { w[j] = node.weights!.int8![j] }
            let scales = Int8Reference.floatOutputScales(model, plan.lastInt8)
            for o in 0..<n { b[o] = node.weights!.bias![o]; sc[o] = scales[o] }
            floatOutput = FloatOutput(x: plan.tensorOffset[node.inputs[0]], k: k, n: n, zp: model.nodes[node.inputs[0]].quant!.zeroPoint,
                                      activation: act, weights: UnsafePointer(w), bias: UnsafePointer(b), scales: UnsafePointer(sc))
        }
        steps = .allocate(capacity: stepList.count)
        _ = steps.initialize(from: stepList)
        parts = .allocate(capacity: max(1, concatParts.count))
        _ = parts.initialize(from: concatParts)
        self.gemmKernel = chosen < 0 ? Int32(SKY_GEMM_PORTABLE) : chosen
    }

    deinit {
        for p in prepared { p.deallocate() }
        steps.deallocate(); parts.deallocate(); job.deallocate()
        arena.deallocate()
    }

    private func alloc<T>(_ count: Int, _: T.Type) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, count * MemoryLayout<T>.stride), alignment: 64)
        prepared.append(p)
        return p.bindMemory(to: T.self, capacity: count)
    }

    /// The stage's per-channel arrays in memory the executor owns: multipliers, shifts and,
    /// where the layer requantizes in float, its scales.
    private struct StageArrays {
        var m: UnsafeMutablePointer<Int32>, s: UnsafeMutablePointer<Int32>, f: UnsafeMutablePointer<Float>?
    }

    private func requant(_ stage: OutputStage, _ count: Int) -> StageArrays {
        let m = alloc(count, Int32.self), s = alloc(count, Int32.self)
        for j in 0..<count { m[j] = stage.multipliers[j].mantissa; s[j] = stage.multipliers[j].shift }
        let f = stage.floatScales.map { scales in
            let f = alloc(count, Float.self)
            for j in 0..<count { f[j] = scales[j] }
            return f
        }
        return StageArrays(m: m, s: s, f: f)
    }

    /// The C output stage for channels [first, ...) of the stage's arrays.
    private func outputStage(_ stage: OutputStage, _ a: StageArrays, from first: Int = 0) -> sky_requant_s8 {
        stage.cStage(multiplier: a.m + first, shift: a.s + first, floatScale: a.f.map { UnsafePointer($0 + first) })
    }

    private func prepareStep(_ i: Int, gemmKernel: Int32?, chosen: inout Int32) throws -> Step {
        let node = model.nodes[i], s = plan.shapes
        var st = Step(kind: .none, xs: s[node.inputs.first ?? 0], ys: s[i])
        st.y = plan.tensorOffset[i]; st.yLocal = plan.isLocal[i]
        guard i > 0 else { return st }
        st.x = plan.tensorOffset[node.inputs[0]]; st.xLocal = plan.isLocal[node.inputs[0]]
        st.zp = model.nodes[node.inputs[0]].quant?.zeroPoint ?? 0
        st.tileRows = plan.tileRows[i]
        st.scratch = plan.scratchOffset[i]; st.scratchPerThread = plan.scratchStride[i]
        func packed(_ r: Int32) throws {
            guard r >= 0 else { throw ModelError.badInput("GEMM kernel \(gemmKernel ?? -1) is not available on this CPU") }
            chosen = r
        }
        func pack(_ w: UnsafePointer<Int8>, _ b: UnsafePointer<Int32>, n: Int, k: Int, into: UnsafeMutableRawPointer) throws {
            try packed(gemmKernel.map { sky_gemm_s8_pack_for($0, w, b, st.zp, Int32(n), Int32(k), into) }
                ?? sky_gemm_s8_pack(w, b, st.zp, Int32(n), Int32(k), into))
        }
        /// A convolution's weights, with what the direct paths need of its kernel size.
        func packConv(_ w: UnsafePointer<Int8>, _ b: UnsafePointer<Int32>, n: Int, _ c: Conv2D, cg: Int, into: UnsafeMutableRawPointer) throws {
            let (kh, kw) = (Int32(c.kernelH), Int32(c.kernelW))
            try packed(gemmKernel.map { sky_conv_s8_pack_for($0, w, b, st.zp, Int32(n), kh, kw, Int32(cg), into) }
                ?? sky_conv_s8_pack(w, b, st.zp, Int32(n), kh, kw, Int32(cg), into))
        }
        switch node.op {
        case .input, .flatten, .sigmoid, .softmax:
            st.kind = .none
        case .batchNorm:
            throw ModelError.notQuantized("batch norm \(node.name) must be folded before int8")
        case .conv2d(let c):
            st.conv = c
            let stage = OutputStage(activation: c.activation, input: model.nodes[node.inputs[0]].quant!,
                                    weightScales: node.weights!.scales!.array, output: node.quant!, requantization: node.requantization)
            let arrays = requant(stage, c.outChannels)
            let w = node.weights!.int8!, b = node.weights!.bias!
            if ExecutionPlan.isDepthwise(c, st.xs) {
                st.kind = .depthwise
                let kk = c.kernelH * c.kernelW
                let dw = alloc(kk * c.outChannels, Int8.self), bias = alloc(c.outChannels, Int32.self)
                for ch in 0..<c.outChannels {
                    bias[ch] = b[ch]
                    for t in 0..<kk { dw[t * c.outChannels + ch] = w[ch * kk + t] }   // OHW1 -> HWC
                }
                st.dwWeights = UnsafePointer(dw); st.dwBias = UnsafePointer(bias)
                let rq = alloc(1, sky_requant_s8.self)
                rq[0] = outputStage(stage, arrays)
                st.rq = UnsafePointer(rq)
            } else {
                st.kind = .conv
                let icg = st.xs.c / c.groups, ocg = c.outChannels / c.groups, k = c.kernelH * c.kernelW * icg
                st.kp = Int(sky_gemm_s8_k_padded(Int32(k)))
                st.direct = ExecutionPlan.isDirect(c, st.xs)
                st.packedStride = (sky_conv_s8_packed_size(Int32(ocg), Int32(c.kernelH), Int32(c.kernelW), Int32(icg)) + 63) / 64 * 64
                let packed = alloc(st.packedStride * c.groups, UInt8.self)
                let rq = alloc(c.groups, sky_requant_s8.self)
                try w.withUnsafeBufferPointer { wp in try b.withUnsafeBufferPointer { bp in
                    for g in 0..<c.groups {
                        try packConv(wp.baseAddress! + g * ocg * k, bp.baseAddress! + g * ocg, n: ocg, c, cg: icg,
                                     into: UnsafeMutableRawPointer(packed + g * st.packedStride))
                        rq[g] = outputStage(stage, arrays, from: g * ocg)
                    }
                } }
                st.packed = UnsafeRawPointer(packed); st.rq = UnsafePointer(rq)
                if !st.direct && (0..<c.groups).allSatisfy({ sky_conv_s8_uses_scratch(packed + $0 * st.packedStride, rq + $0) == 0 }) {
                    st.tileRows = ExecutionPlan.tileRowsWithoutScratch(output: st.ys, threads: plan.threads, planned: st.tileRows)
                }
            }
        case .dense(let n, let act):
            st.kind = .dense
            let stage = OutputStage(activation: act, input: model.nodes[node.inputs[0]].quant!,
                                    weightScales: node.weights!.scales!.array, output: node.quant!, requantization: node.requantization)
            let arrays = requant(stage, n)
            let k = st.xs.elements
            st.kp = Int(sky_gemm_s8_k_padded(Int32(k)))
            st.direct = ExecutionPlan.isPaddedRow(k)
            // Channel slices, each packed on its own: a batch too small to give every thread
            // rows splits the layer by channels instead (each thread reads its share of the
            // weights); larger batches run all slices per row tile.
            let sliceWidth = plan.threads > 1 ? (n + 16 * plan.threads - 1) / (16 * plan.threads) * 16 : n
            st.slices = (n + sliceWidth - 1) / sliceWidth; st.sliceWidth = sliceWidth
            st.packedStride = (sky_gemm_s8_packed_size(Int32(sliceWidth), Int32(k)) + 63) / 64 * 64
            let packed = alloc(st.packedStride * st.slices, UInt8.self)
            let rq = alloc(st.slices, sky_requant_s8.self)
            try node.weights!.int8!.withUnsafeBufferPointer { wp in try node.weights!.bias!.withUnsafeBufferPointer { bp in
                for sl in 0..<st.slices {
                    let first = sl * sliceWidth, width = min(sliceWidth, n - first)
                    try pack(wp.baseAddress! + first * k, bp.baseAddress! + first, n: width, k: k,
                             into: UnsafeMutableRawPointer(packed + sl * st.packedStride))
                    rq[sl] = outputStage(stage, arrays, from: first)
                }
            } }
            st.packed = UnsafeRawPointer(packed); st.rq = UnsafePointer(rq)
        case .maxPool(let p):
            // Bands of output rows, so that one item's pooling can use every thread.
            st.kind = .maxPool; st.pool = p; st.parts = min(plan.threads, st.ys.h)
        case .avgPool(let p): st.kind = .avgPool; st.pool = p
        case .globalAvgPool: st.kind = .globalAvgPool
        case .add(let act):
            st.kind = .add
            st.x2 = plan.tensorOffset[node.inputs[1]]; st.x2Local = plan.isLocal[node.inputs[1]]
            st.add = Int8Kernels.AddParams(model.nodes[node.inputs[0]].quant!, model.nodes[node.inputs[1]].quant!, node.quant!, activation: act)
        case .concat:
            st.kind = .concat
            st.concatFirst = concatParts.count
            for inp in node.inputs {
                concatParts.append(ConcatPart(x: plan.tensorOffset[inp], local: plan.isLocal[inp], shape: s[inp], from: model.nodes[inp].quant!))
            }
            st.concatCount = node.inputs.count
            st.to = node.quant!
        case .upsampleNearest(let f): st.kind = .upsample; st.factor = f
        }
        return st
    }

    /// Runs `batch` items: input holds batch x inputCount floats (HWC per item),
    /// output receives batch x outputCount floats. Allocates nothing.
    public func run(input: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>) {
        precondition(batch >= 1 && batch <= plan.maxBatch, "batch \(batch) outside 1...\(plan.maxBatch)")
        let x0 = (arena + plan.tensorOffset[0]).assumingMemoryBound(to: Int8.self)
        sky_quantize_f32_s8(input, batch * inputCount, inputQuant.scale, inputQuant.zeroPoint, x0)
        runSteps(batch)
        let y = UnsafePointer((arena + plan.tensorOffset[plan.lastInt8]).assumingMemoryBound(to: Int8.self))
        let oq = outputQuant, n = outputCount
        if let f = floatOutput {
            // Dense inputs hold the whole batch, item after item.
            let x = UnsafePointer((arena + f.x).assumingMemoryBound(to: Int8.self))
            for b in 0..<batch {
                Int8Reference.floatDense(x + b * f.k, count: f.k, inputZeroPoint: f.zp, outFeatures: f.n, weights: f.weights,
                                         bias: f.bias, scales: f.scales, activation: f.activation, output + b * n)
            }
        } else {
            for j in 0..<(batch * n) { output[j] = oq.dequantize(y[j]) }
        }
        switch outputFunction {
        case .sigmoid: for j in 0..<(batch * n) { output[j] = sigmoid(output[j]) }
        case .softmax:
            for b in 0..<batch { softmaxInPlace(output + b * n, n) }
        default: break
        }
    }

    /// Runs on input already quantized with the input tensor's parameters; the int8
    /// result stays in the arena (`tensor`), except a last dense layer's (`skippedStep`):
    /// it is read in float by run() and never computed. For benchmarks of the int8 path.
    public func runQuantized(input: UnsafePointer<Int8>, batch: Int) {
        precondition(batch >= 1 && batch <= plan.maxBatch, "batch \(batch) outside 1...\(plan.maxBatch)")
        (arena + plan.tensorOffset[0]).copyMemory(from: input, byteCount: batch * inputCount)
        runSteps(batch)
    }

    private func runSteps(_ batch: Int) {
        var from = 1
        if batch > 1 && batch >= pool.threads {
            // Item-major: each thread takes whole items through the steps before the first
            // dense layer, in its own slot of the local tensors, so an item's activations stay
            // in cache from layer to layer; dense layers then run over the whole batch.
            job.pointee = Job(executor: Unmanaged.passUnretained(self), step: 0, batch: batch, itemMajor: true)
            pool.parallelFor(batch, context: UnsafeMutableRawPointer(job)) { context, item, thread in
                let j = context!.assumingMemoryBound(to: Job.self).pointee
                j.executor.takeUnretainedValue().runItem(item, j.batch, thread)
            }
            from = plan.firstBatchStep
        }
        // The remaining steps layer by layer, their tiles spread over the threads with one
        // dispatch (StepCounters): a dispatch per step would wake the pool's threads once per
        // layer and wait for each to wake, which cost more than a small layer's work.
        counters.reset()
        job.pointee = Job(executor: Unmanaged.passUnretained(self), step: from, batch: batch, itemMajor: false)
        pool.parallelFor(pool.threads, context: UnsafeMutableRawPointer(job)) { context, _, thread in
            let j = context!.assumingMemoryBound(to: Job.self).pointee
            j.executor.takeUnretainedValue().runLayers(from: j.step, j.batch, thread)
        }
    }

    /// Steps [from, end) on one of the threads: claims tiles until a step has none left,
    /// waits for the step's other tiles, moves on.
    fileprivate func runLayers(from: Int, _ batch: Int, _ thread: Int) {
        for i in from..<steps.count where i != skippedStep {
            let count = workItems(steps[i], batch)
            if count == 0 { continue }
            var mine = 0
            while true {
                let t = counters.claim(i)
                if t >= count { break }
                work(i, batch, t, thread, itemMajor: false)
                mine += 1
            }
            if mine > 0 { counters.finished(i, mine) }
            counters.wait(i, count: count)
        }
    }

    fileprivate func runItem(_ item: Int, _ batch: Int, _ thread: Int) {
        for i in 1..<plan.firstBatchStep {
            let st = steps[i]
            switch st.kind {
            case .none: continue
            case .conv, .depthwise, .maxPool:
                let tiles = tilesPerItem(st)
                for t in 0..<tiles { work(i, batch, item * tiles + t, thread, itemMajor: true) }
            default: work(i, batch, item, thread, itemMajor: true)
            }
        }
    }

    public func run(_ input: [Float], batch: Int) -> [Float] {
        precondition(input.count == batch * inputCount, "input needs \(batch * inputCount) values")
        var out = [Float](repeating: 0, count: batch * outputCount)
        input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { o in run(input: i.baseAddress!, batch: batch, output: o.baseAddress!) } }
        return out
    }

    /// The int8 output of a node for item `item` after the last run (tests compare it with the reference).
    /// (Item-local tensors are readable only after a run with fewer items than threads, or batch 1.)
    public func tensor(_ node: Int, item: Int = 0) -> [Int8] {
        let n = plan.shapes[node].elements
        let off = plan.isLocal[node] ? plan.localBase + item * plan.localStride + plan.tensorOffset[node] : plan.tensorOffset[node] + item * n
        let p = (arena + off).assumingMemoryBound(to: Int8.self)
        return Array(UnsafeBufferPointer(start: p, count: n))
    }

    /// Output pixels per call of a convolution node (tests check the tiling).
    func stepTileRows(_ node: Int) -> Int? { steps[node].kind == .conv ? steps[node].tileRows : nil }

    /// Independent pieces of one step: output tiles (conv), row tiles (dense) or items.
    private func workItems(_ st: Step, _ batch: Int) -> Int {
        switch st.kind {
        case .none: return 0
        case .conv, .depthwise, .maxPool: return batch * tilesPerItem(st)
        case .dense:
            let rowTiles = (batch + st.tileRows - 1) / st.tileRows
            return rowTiles * (splitsChannels(st, rowTiles) ? st.slices : 1)
        default: return batch
        }
    }

    @inline(__always) private func tilesPerItem(_ st: Step) -> Int {
        st.kind == .maxPool ? st.parts : (st.ys.h * st.ys.w + st.tileRows - 1) / st.tileRows
    }

    /// Whether a dense step's work items are (row tile, channel slice) pairs: when its row
    /// tiles are fewer than the threads.
    @inline(__always) private func splitsChannels(_ st: Step, _ rowTiles: Int) -> Bool { st.slices > 1 && rowTiles < pool.threads }

    /// Work item `t` of step `i`, on pool thread `thread` (which owns scratch slice `thread`).
    fileprivate func work(_ i: Int, _ batch: Int, _ t: Int, _ thread: Int, itemMajor: Bool) {
        let st = steps[i]
        let base = arena
        let xs = st.xs, ys = st.ys
        let localBase = plan.localBase, localStride = plan.localStride
        /// Address of a tensor's slice for `item`: by slot (the thread when item-major, else the item) if local.
        @inline(__always) func at(_ offset: Int, _ local: Bool, _ elements: Int, _ item: Int) -> UnsafeMutablePointer<Int8> {
            let p = local ? base + localBase + (itemMajor ? thread : item) * localStride + offset : base + offset + item * elements
            return p.assumingMemoryBound(to: Int8.self)
        }
        @inline(__always) func x(_ item: Int) -> UnsafeMutablePointer<Int8> { at(st.x, st.xLocal, xs.elements, item) }
        @inline(__always) func y(_ item: Int) -> UnsafeMutablePointer<Int8> { at(st.y, st.yLocal, ys.elements, item) }
        switch st.kind {
        case .none: return
        case .conv:
            let c = st.conv, rowsPerItem = ys.h * ys.w, tiles = tilesPerItem(st)
            let icg = xs.c / c.groups, ocg = c.outChannels / c.groups
            let item = t / tiles, row0 = (t % tiles) * st.tileRows
            let rows = min(st.tileRows, rowsPerItem - row0)
            let out = y(item) + row0 * ys.c
            for g in 0..<c.groups {
                if st.direct {
                    sky_gemm_s8(x(item) + row0 * xs.c, xs.c, Int32(rows), st.packed! + g * st.packedStride, st.rq! + g, out + g * ocg, ys.c)
                } else {
                    let scratch = (base + st.scratch + thread * st.scratchPerThread).assumingMemoryBound(to: Int8.self)
                    sky_conv_s8(x(item), Int32(xs.h), Int32(xs.w), Int32(xs.c), Int32(c.kernelH), Int32(c.kernelW),
                                Int32(c.strideH), Int32(c.strideW), Int32(c.padTop), Int32(c.padLeft), Int32(ys.w),
                                Int32(row0), Int32(rows), Int32(g * icg), Int32(icg), Int8(truncatingIfNeeded: st.zp),
                                st.packed! + g * st.packedStride, st.rq! + g, out + g * ocg, ys.c, scratch, st.kp)
                }
            }
        case .depthwise:
            let c = st.conv, rowsPerItem = ys.h * ys.w, tiles = tilesPerItem(st)
            let item = t / tiles, row0 = (t % tiles) * st.tileRows
            let rows = min(st.tileRows, rowsPerItem - row0)
            let acc = (base + st.scratch + thread * st.scratchPerThread).assumingMemoryBound(to: Int32.self)
            sky_depthwise_s8(x(item), Int32(xs.h), Int32(xs.w), Int32(xs.c), Int32(c.kernelH), Int32(c.kernelW),
                             Int32(c.strideH), Int32(c.strideW), Int32(c.padTop), Int32(c.padLeft), Int32(ys.w),
                             Int32(row0), Int32(rows), st.zp, st.dwWeights, st.dwBias, st.rq, y(item) + row0 * ys.c, acc)
        case .dense:
            let k = xs.elements
            let split = splitsChannels(st, (batch + st.tileRows - 1) / st.tileRows)
            let tile = split ? t / st.slices : t
            let row0 = tile * st.tileRows, rows = min(st.tileRows, batch - row0)
            var a = UnsafePointer(x(row0)), lda = k
            if !st.direct {
                let scratch = (base + st.scratch + thread * st.scratchPerThread).assumingMemoryBound(to: Int8.self)
                // The batch of flattened items as a 1 x batch image of k channels, 1x1 kernel.
                sky_im2col_s8(x(0), 1, Int32(batch), Int32(k), 1, 1, 1, 1, 0, 0, Int32(batch), Int32(row0), Int32(rows),
                              0, Int32(k), 0, scratch, st.kp)
                a = UnsafePointer(scratch); lda = st.kp
            }
            for sl in (split ? t % st.slices : 0)..<(split ? t % st.slices + 1 : st.slices) {
                sky_gemm_s8(a, lda, Int32(rows), st.packed! + sl * st.packedStride, st.rq! + sl, y(row0) + sl * st.sliceWidth, ys.c)
            }
        case .maxPool:
            let item = t / st.parts, part = t % st.parts
            let r0 = part * ys.h / st.parts, r1 = (part + 1) * ys.h / st.parts
            sky_maxpool_s8(x(item) + r0 * st.pool.stride * xs.w * xs.c, Int32(xs.w), Int32(xs.c), Int32(st.pool.size), Int32(st.pool.stride),
                           Int32(r1 - r0), Int32(ys.w), y(item) + r0 * ys.w * ys.c)
        case .avgPool: Int8Kernels.avgPool(x(t), xs, st.pool, y(t), ys)
        case .globalAvgPool: Int8Kernels.globalAvgPool(x(t), xs, y(t))
        case .add:
            Int8Kernels.add(x(t), at(st.x2, st.x2Local, xs.elements, t), count: xs.elements, st.add!, y(t))
        case .concat:
            var off = 0
            for j in st.concatFirst..<(st.concatFirst + st.concatCount) {
                let p = parts[j]
                let src = at(p.x, p.local, p.shape.elements, t)
                Int8Kernels.concatPart(src, pixels: ys.h * ys.w, channels: p.shape.c, from: p.from, into: y(t),
                                       outChannels: ys.c, offset: off, to: st.to)
                off += p.shape.c
            }
        case .upsample: sky_upsample_nearest_s8(x(t), Int32(xs.h), Int32(xs.w), Int32(xs.c), Int32(st.factor), y(t))
        }
    }
}

struct Job {
    var executor: Unmanaged<Executor>
    var step: Int
    var batch: Int
    var itemMajor: Bool
}

struct Step {
    enum Kind { case none, conv, depthwise, dense, maxPool, avgPool, globalAvgPool, add, concat, upsample }
    var kind: Kind
    var xs: TensorShape
    var ys: TensorShape
    var x = 0, x2 = 0, y = 0
    /// Item-local tensors (ExecutionPlan.isLocal) are addressed by slot, the others by item.
    var xLocal = false, x2Local = false, yLocal = false
    var zp: Int32 = 0
    var conv = Conv2D(outChannels: 1, kernel: 1)
    var pool = Pool(size: 1)
    var factor = 1
    var kp = 0
    var direct = false
    var tileRows = 0
    var scratch = 0
    var scratchPerThread = 0
    var packed: UnsafeRawPointer?
    var packedStride = 0
    /// Dense: channel slices of sliceWidth channels, each packed (packedStride apart) with its own stage.
    var slices = 1, sliceWidth = 0
    /// Max pooling: bands of output rows per item.
    var parts = 1
    var rq: UnsafePointer<sky_requant_s8>?
    var dwWeights: UnsafePointer<Int8>?
    var dwBias: UnsafePointer<Int32>?
    var add: Int8Kernels.AddParams?
    var concatFirst = 0, concatCount = 0
    var to = QuantParams(scale: 1, zeroPoint: 0)
}

struct ConcatPart {
    var x: Int
    var local: Bool
    var shape: TensorShape
    var from: QuantParams
}

@inline(__always)
func softmaxInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    var m = -Float.infinity
    for j in 0..<n { m = max(m, p[j]) }
    var sum: Float = 0
    for j in 0..<n { p[j] = expf(p[j] - m); sum += p[j] }
    for j in 0..<n { p[j] /= sum }
}
