import CSkyKernels

/// Where every activation and scratch buffer of a model lives in the arena,
/// for a batch size and a thread count. Computed from the graph alone, so
/// `skymodel inspect` can print it without preparing kernels.
public struct ExecutionPlan: Sendable {
    public let shapes: [TensorShape]
    public let maxBatch: Int
    public let threads: Int
    /// Arena offset of each node's output (aliasing nodes share their input's).
    public let tensorOffset: [Int]
    /// Arena offset of each node's scratch (0 bytes where none).
    public let scratchOffset: [Int]
    public let scratchPerThread: [Int]
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
        // Buffers: one per node output, except ops that reuse their input's bytes.
        var bufferOf = [Int](repeating: -1, count: n)
        var buffers: [BufferLifetime] = []
        for i in 0..<n {
            switch model.nodes[i].op {
            case .flatten, .sigmoid, .softmax: bufferOf[i] = bufferOf[model.nodes[i].inputs[0]]
            default:
                bufferOf[i] = buffers.count
                buffers.append(BufferLifetime(bytes: maxBatch * s[i].elements, first: i, last: i))
            }
            for inp in model.nodes[i].inputs { buffers[bufferOf[inp]].last = max(buffers[bufferOf[inp]].last, i) }
        }
        buffers[bufferOf[lastInt8]].last = n   // read back after the last step
        var scratchBuffer = [Int](repeating: -1, count: n)
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
                    tiles[i] = ExecutionPlan.tileRows(kp)
                    perThread[i] = ExecutionPlan.isDirect(c, x) ? 0 : tiles[i] * kp
                }
            case .dense:
                let k = x.elements, kp = Int(sky_gemm_s8_k_padded(Int32(k)))
                tiles[i] = min(ExecutionPlan.tileRows(kp), maxBatch)
                perThread[i] = k % 32 == 0 ? 0 : tiles[i] * kp
            default: break
            }
            if perThread[i] > 0 {
                scratchBuffer[i] = buffers.count
                buffers.append(BufferLifetime(bytes: perThread[i] * self.threads, first: i, last: i))
            }
        }
        let plan = ArenaPlanner.plan(buffers)
        arena = plan
        tensorOffset = bufferOf.map { plan.offsets[$0] }
        scratchOffset = scratchBuffer.map { $0 < 0 ? 0 : plan.offsets[$0] }
        scratchPerThread = perThread
        tileRows = tiles
    }

    static func isDepthwise(_ c: Conv2D, _ x: TensorShape) -> Bool { c.groups > 1 && c.groups == x.c && c.outChannels == c.groups }
    /// 1x1 stride-1 unpadded convolution whose input rows already are GEMM rows.
    static func isDirect(_ c: Conv2D, _ x: TensorShape) -> Bool {
        c.groups == 1 && c.kernelH == 1 && c.kernelW == 1 && c.strideH == 1 && c.strideW == 1 &&
            c.padTop + c.padLeft + c.padBottom + c.padRight == 0 && x.c % 32 == 0
    }
    /// About 16 KiB of im2col rows per tile: stays in L1 while the weights stream by.
    static func tileRows(_ kp: Int) -> Int { max(8, min(256, 16384 / kp)) / 2 * 2 }
}
