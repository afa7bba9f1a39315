import CSkyKernels

/// Where every activation and scratch buffer of a model lives in the arena,
/// for a batch size and a thread count. Computed from the graph alone, so
/// `skymodel inspect` can print it without preparing kernels.
public struct ExecutionPlan: Sendable {
    public let shapes: [TensorShape]
    public let maxBatch: Int
    public let threads: Int
    /// Arena offset of each node's output (aliasing nodes share their input's). For an
    /// item-local tensor: the offset inside one slot of the local region.
    public let tensorOffset: [Int]
    /// Tensors used only before the first dense layer live in per-slot copies for one item
    /// (a slot is a thread when items run whole through the convolution stack, an item when
    /// the batch is smaller than the threads); the rest hold the whole batch.
    public let isLocal: [Bool]
    public let localBase: Int
    public let localStride: Int
    public let slots: Int
    /// Index of the first dense node (steps before it can run item by item).
    public let firstBatchStep: Int
    /// Arena offset of each node's scratch (0 bytes where none).
    public let scratchOffset: [Int]
    public let scratchPerThread: [Int]
    /// Bytes between one thread's scratch and the next.
    public let scratchStride: [Int]
    /// Output rows of one tile of conv/dense work (im2col block height).
    public let tileRows: [Int]
    public let arena: ArenaPlan
    /// Last node that produces int8 (the output function, if any, follows it).
    public let lastInt8: Int

    public var arenaBytes: Int { arena.totalBytes }

    public init(model: Model, maxBatch: Int = 1, threads: Int = 1) throws {
        let s = try model.shapes()
        guard maxBatch >= 1 else { throw ModelError.badInput("batch must be at least 1") }
        shapes = s; self.maxBatch = maxBatch; self.threads = max(1, threads)
        let n = model.nodes.count
        lastInt8 = model.nodes[n - 1].op.isOutputFunction ? model.nodes[n - 1].inputs[0] : n - 1
        let firstBatch = model.nodes.firstIndex { if case .dense = $0.op { return true }; return false } ?? n
        firstBatchStep = firstBatch
        let slotCount = max(1, threads)
        slots = slotCount
        // Buffers: one per node output, except ops that reuse their input's bytes.
        var bufferOf = [Int](repeating: -1, count: n)
        var buffers: [BufferLifetime] = []
        for i in 0..<n {
            switch model.nodes[i].op {
            case .flatten, .sigmoid, .softmax: bufferOf[i] = bufferOf[model.nodes[i].inputs[0]]
            default:
                bufferOf[i] = buffers.count
                buffers.append(BufferLifetime(bytes: s[i].elements, first: i, last: i))
            }
            for inp in model.nodes[i].inputs { buffers[bufferOf[inp]].last = max(buffers[bufferOf[inp]].last, i) }
        }
        buffers[bufferOf[lastInt8]].last = n   // read back after the last step
        // Scratch sizes (one thread's share) and tile heights.
        var perThread = [Int](repeating: 0, count: n), tiles = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let node = model.nodes[i]
            guard !node.inputs.isEmpty else { continue }
            let x = s[node.inputs[0]]
            switch node.op {
            case .conv2d(let c):
                if ExecutionPlan.isDepthwise(c, x) {
                    tiles[i] = 64; perThread[i] = 4 * x.c
                } else {
                    let kp = Int(sky_gemm_s8_k_padded(Int32(c.kernelH * c.kernelW * x.c / c.groups)))
                    tiles[i] = ExecutionPlan.tileRows(kp, outputWidth: s[i].w)
                    perThread[i] = ExecutionPlan.isDirect(c, x) ? 0 : tiles[i] * kp
                }
            case .dense:
                let k = x.elements, kp = Int(sky_gemm_s8_k_padded(Int32(k)))
                tiles[i] = min(ExecutionPlan.tileRows(kp), maxBatch)
                perThread[i] = ExecutionPlan.isPaddedRow(k) ? 0 : tiles[i] * kp
            default: break
            }
        }
        // Local plan (one item, one thread): tensors used only before the first dense layer,
        // and the scratch of those steps. Each slot holds one copy.
        let input = bufferOf[0]
        let localBuffer = buffers.indices.map { b in b != input && buffers[b].last < firstBatch }
        var local = buffers.indices.map { localBuffer[$0] ? buffers[$0] : BufferLifetime(bytes: 0, first: 0, last: -1) }
        var localScratch = [Int](repeating: -1, count: n), mainScratch = [Int](repeating: -1, count: n)
        for i in 0..<n where perThread[i] > 0 && i < firstBatch {
            localScratch[i] = local.count
            local.append(BufferLifetime(bytes: perThread[i], first: i, last: i))
        }
        let localPlan = ArenaPlanner.plan(local)
        let stride = (localPlan.totalBytes + 63) / 64 * 64
        // Main plan: batch-sized tensors, the slots, the scratch of the batch-wide steps.
        // Tensors written before the first dense layer and read after it are live from the
        // start: with items running whole through the first steps, any step may write them.
        var main = buffers.indices.map { b -> BufferLifetime in
            if localBuffer[b] { return BufferLifetime(bytes: 0, first: 0, last: -1) }
            var x = buffers[b]
            x.bytes *= maxBatch
            if x.first < firstBatch { x.first = 0 }
            return x
        }
        let localRegion = main.count
        main.append(BufferLifetime(bytes: stride * slotCount, first: 0, last: n))
        for i in 0..<n where perThread[i] > 0 && i >= firstBatch {
            mainScratch[i] = main.count
            main.append(BufferLifetime(bytes: perThread[i] * self.threads, first: i, last: i))
        }
        let plan = ArenaPlanner.plan(main)
        arena = plan
        isLocal = bufferOf.map { localBuffer[$0] }
        localBase = plan.offsets[localRegion]; localStride = stride
        tensorOffset = bufferOf.map { localBuffer[$0] ? localPlan.offsets[$0] : plan.offsets[$0] }
        // Scratch of a thread: local steps at localBase + thread * stride + offset, others at offset + thread * perThread.
        scratchOffset = (0..<n).map { i in
            localScratch[i] >= 0 ? plan.offsets[localRegion] + localPlan.offsets[localScratch[i]] : (mainScratch[i] >= 0 ? plan.offsets[mainScratch[i]] : 0)
        }
        scratchStride = (0..<n).map { i in localScratch[i] >= 0 ? stride : perThread[i] }
        scratchPerThread = perThread
        tileRows = tiles
    }

    static func isDepthwise(_ c: Conv2D, _ x: TensorShape) -> Bool { c.groups > 1 && c.groups == x.c && c.outChannels == c.groups }
    /// 1x1 stride-1 unpadded convolution whose input rows already are GEMM rows.
    static func isDirect(_ c: Conv2D, _ x: TensorShape) -> Bool {
        c.groups == 1 && c.kernelH == 1 && c.kernelW == 1 && c.strideH == 1 && c.strideW == 1 &&
            c.padTop + c.padLeft + c.padBottom + c.padRight == 0 && isPaddedRow(x.c)
    }
    /// A row of k int8 values the GEMM can read in place: k is already a multiple of the
    /// kernels' K alignment (SKY_GEMM_KALIGN), so no padded copy is needed.
    static func isPaddedRow(_ k: Int) -> Bool { Int(sky_gemm_s8_k_padded(Int32(k))) == k }
    /// About 16 KiB of im2col rows per tile: stays in L1 while the weights stream by.
    static func tileRows(_ kp: Int) -> Int { max(8, min(256, 16384 / kp)) / 2 * 2 }
    /// A convolution's tile, in whole output rows where one fits: the direct paths run along
    /// output rows, and a tile that ends inside one leaves short pixel blocks at both ends
    /// of it (a 31-wide output in 56-pixel tiles ran blocks of 12, 12, 7, 12, 12 and 1 pixels
    /// on VNNI). Any tile size works (an item's last tile is a remainder anyway).
    static func tileRows(_ kp: Int, outputWidth ow: Int) -> Int {
        let rows = tileRows(kp)
        return ow <= rows ? rows / ow * ow : rows
    }
    /// A convolution's tile where the kernel reads the image itself and no scratch
    /// (sky_conv_s8_uses_scratch): whole output rows, about 1024 pixels, since each call sets
    /// up its output stage and copies the input rows it reads once (a same-process A/B on
    /// AVX2: 3-13% over the scratch-sized tiles of one output row, more where the MACs are
    /// faster); about as many tiles per thread for one item (the thread count times a whole
    /// number of tiles, where the item's rows allow), so that one item spreads over the
    /// threads; never fewer pixels than planned.
    static func tileRowsWithoutScratch(output ys: TensorShape, threads: Int, planned: Int) -> Int {
        let target = max(1, (1024 + ys.w - 1) / ys.w), t = max(1, threads)
        let perThread = max(1, Int((Double(ys.h) / Double(t * target)).rounded()))
        let rows = max(1, (ys.h + t * perThread - 1) / (t * perThread))
        return max(planned, rows * ys.w)
    }
}
