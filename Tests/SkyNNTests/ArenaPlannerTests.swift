import CSkyKernels
import SkyCore
import Testing
@testable import SkyNN

@Suite struct ArenaPlannerTests {
    @Test func buffersLiveAtTheSameTimeNeverShareBytes() {
        var r = SeededRandom(seed: 7)
        for _ in 0..<200 {
            let n = 1 + r.index(25)
            let buffers = (0..<n).map { _ -> BufferLifetime in
                let first = r.index(30)
                return BufferLifetime(bytes: 1 + r.index(5000), first: first, last: first + r.index(6))
            }
            let plan = ArenaPlanner.plan(buffers)
            for i in 0..<n {
                #expect(plan.offsets[i] % 64 == 0 && plan.offsets[i] + buffers[i].bytes <= plan.totalBytes)
                for j in 0..<i where buffers[i].overlapsInTime(buffers[j]) {
                    let disjoint = plan.offsets[i] + buffers[i].bytes <= plan.offsets[j] || plan.offsets[j] + buffers[j].bytes <= plan.offsets[i]
                    #expect(disjoint)
                }
            }
            #expect(plan.totalBytes >= ArenaPlanner.lowerBound(buffers))
            #expect(plan.totalBytes <= buffers.reduce(0) { $0 + ($1.bytes + 63) / 64 * 64 })
        }
    }

    @Test func aChainReusesMemory() throws {
        // A straight chain needs at most two neighbours live at once, far less than the sum.
        let plan = try ExecutionPlan(model: ModelZoo.quality(), maxBatch: 1)
        let s = plan.shapes
        let sum = s.reduce(0) { $0 + $1.elements }
        #expect(plan.arenaBytes < sum * 3 / 4)
        #expect(plan.arenaBytes >= s.indices.dropFirst().map { s[$0].elements + s[$0 - 1].elements }.max()!)
        let batched = try ExecutionPlan(model: ModelZoo.quality(), maxBatch: 64)
        #expect(batched.arenaBytes <= plan.arenaBytes * 64 + 64 * 1024, "batch 64 needs about 64 times the activations")
    }

    /// Convolution tiles end at output row ends where a row fits the planned size (63- and
    /// 31-wide outputs of the real/bogus net, whose 256- and 56-pixel sizes did not), and
    /// never hold more im2col rows than the size planned from kp.
    @Test func convolutionTilesHoldWholeOutputRows() throws {
        let model = ModelZoo.realBogus()
        let plan = try ExecutionPlan(model: model, maxBatch: 1)
        var checked = 0
        for (i, node) in model.nodes.enumerated() {
            guard case .conv2d(let c) = node.op else { continue }
            let x = plan.shapes[node.inputs[0]], ow = plan.shapes[i].w
            let planned = ExecutionPlan.tileRows(Int(sky_gemm_s8_k_padded(Int32(c.kernelH * c.kernelW * x.c))))
            #expect(plan.tileRows[i] <= planned)
            if ow <= planned { #expect(plan.tileRows[i] % ow == 0, "node \(i): \(plan.tileRows[i]) pixels, rows of \(ow)"); checked += 1 }
        }
        #expect(checked == 4)
    }

    /// Where the kernel needs no scratch, tiles are whole output rows of about 1024 pixels,
    /// as many per thread for one item, never smaller than planned.
    @Test func tilesWithoutScratchHoldAboutAThousandPixelsOfWholeRows() {
        func tile(_ h: Int, _ w: Int, threads: Int, planned: Int) -> Int {
            ExecutionPlan.tileRowsWithoutScratch(output: TensorShape(h: h, w: w, c: 16), threads: threads, planned: planned)
        }
        #expect(tile(63, 63, threads: 1, planned: 63) == 16 * 63)    // 4 tiles of 16, 16, 16 and 15 rows
        #expect(tile(63, 63, threads: 2, planned: 63) == 16 * 63)    // the same 4: two for each thread
        #expect(tile(63, 63, threads: 3, planned: 63) == 21 * 63)    // 3 of 21 rows
        #expect(tile(32, 32, threads: 2, planned: 256) == 16 * 32)   // half the item each
        #expect(tile(128, 128, threads: 2, planned: 256) == 8 * 128)
        #expect(tile(4, 16, threads: 8, planned: 16) == 16)          // fewer rows than threads: one row, as planned
        #expect(tile(64, 8, threads: 1, planned: 128) == 512)      // the whole item: 512 pixels
        #expect(tile(2, 3000, threads: 1, planned: 4000) == 4000)    // never below the planned tile
    }

    /// The executor gives those tiles to convolutions that the kernel runs from the image
    /// (every x86 path for these layers: 3x3, none the int16 kernel declines), and keeps the
    /// planned ones where it would use the scratch (portable, ARM).
    @Test func executorTilesFollowTheKernelsScratchUse() throws {
        let model = try TestModels.quantized(ModelZoo.realBogus())
        let ex = try Executor(model: model, maxBatch: 1, threads: 2)
        let plan = try ExecutionPlan(model: model, maxBatch: 1, threads: 2)
        var compared = 0
        for (i, node) in model.nodes.enumerated() {
            guard case .conv2d = node.op, let step = ex.stepTileRows(i) else { continue }
            compared += 1
            let scratchFree = sky_gemm_s8_available() & (1 << SKY_GEMM_AVX2) != 0
            let expected = scratchFree ? ExecutionPlan.tileRowsWithoutScratch(output: plan.shapes[i], threads: 2, planned: plan.tileRows[i])
                                       : plan.tileRows[i]
            #expect(step == expected, "node \(i)")
        }
        #expect(compared == 4, "the four convolutions of the real/bogus net")
    }
}
