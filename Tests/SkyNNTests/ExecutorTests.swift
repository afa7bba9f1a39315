import CSkyKernels
import Testing
@testable import SkyNN

/// GEMM kernels this machine can run, as SKY_GEMM_* values.
func availableGemmKernels() -> [Int32] {
    let a = sky_gemm_s8_available()
    return (0...4).filter { a & (1 << $0) != 0 }.map(Int32.init)
}

@Suite struct ExecutorTests {
    @Test(arguments: availableGemmKernels())
    func executorMatchesTheInt8ReferenceBitForBit(kernel: Int32) throws {
        for float in [TestModels.allOps(), TestModels.smallRealBogus()] {
            let q = try TestModels.quantized(float)
            let batch = 3
            let ex = try Executor(model: q, maxBatch: 4, threads: 2, gemmKernel: kernel)
            #expect(ex.gemmKernel == kernel)
            let items = TestModels.inputs(float, count: batch, seed: 21)
            let out = ex.run(items.flatMap { $0 }, batch: batch)
            for (b, x) in items.enumerated() {
                let ref = try Int8Reference.run(q, input: x)
                for i in 1..<q.nodes.count where !q.nodes[i].op.isOutputFunction && q.nodes[i].op != .flatten {
                    // Buffers are reused once dead; only tensors alive at the end can be read back
                    // (and a last dense layer is computed in float only: skippedStep).
                    if i == ex.plan.lastInt8 && i != ex.skippedStep { #expect(ex.tensor(i, item: b) == ref.tensors[i], "\(q.name) node \(i)") }
                }
                let got = Array(out[(b * ex.outputCount)..<((b + 1) * ex.outputCount)])
                #expect(got == ref.output, "\(q.name) item \(b) kernel \(kernel)")
            }
        }
    }

    @Test func everyIntermediateTensorMatchesWhenRunNodeByNode() throws {
        // Truncated copies of allOps end at each node, so that node's tensor is the one read back.
        let q = try TestModels.quantized(TestModels.allOps())
        let x = TestModels.inputs(q, count: 1, seed: 2)[0]
        let ref = try Int8Reference.run(q, input: x)
        for end in 1..<(q.nodes.count - 1) {
            var m = q
            m.nodes = Array(q.nodes[0...end])
            let ex = try Executor(model: m)
            let out = ex.run(x, batch: 1)
            if ex.skippedStep == end {   // a last dense layer: computed in float from its input, not in int8
                #expect(out == (try Int8Reference.run(m, input: x)).output, "node \(end) \(q.nodes[end].op.kindName)")
            } else {
                #expect(ex.tensor(end) == ref.tensors[end], "node \(end) \(q.nodes[end].op.kindName)")
            }
        }
    }

    @Test func batchAndThreadsDoNotChangeResults() throws {
        let q = try TestModels.quantized(ModelZoo.realBogus())
        let items = TestModels.inputs(q, count: 9, seed: 4)
        let single = try Executor(model: q, maxBatch: 1, threads: 1)
        let many = try Executor(model: q, maxBatch: 9, threads: 3)
        let batched = many.run(items.flatMap { $0 }, batch: 9)
        for (b, x) in items.enumerated() { #expect(single.run(x, batch: 1) == [batched[b]]) }
        // Fewer items than threads: layer by layer, item-local tensors addressed by item.
        let wide = try Executor(model: q, maxBatch: 4, threads: 3)
        #expect(wide.run(items[0..<2].flatMap { $0 }, batch: 2) == Array(batched[0..<2]))
        // Every op, item by item on two threads vs layer by layer on one.
        let all = try TestModels.quantized(TestModels.allOps())
        let xs = TestModels.inputs(all, count: 5, seed: 6).flatMap { $0 }
        let a = try Executor(model: all, maxBatch: 5, threads: 2).run(xs, batch: 5)
        let b = try Executor(model: all, maxBatch: 5, threads: 1)
        let n = all.inputShape.elements
        var one: [Float] = []
        for i in 0..<5 { one += b.run(Array(xs[(i * n)..<((i + 1) * n)]), batch: 1) }
        #expect(a == one)
    }

    @Test func unquantizedModelsAndUnavailableKernelsAreRefused() {
        #expect(throws: ModelError.self) { try Executor(model: ModelZoo.realBogus()) }
        let missing = (0...4).map(Int32.init).first { sky_gemm_s8_available() & (1 << $0) == 0 }!
        #expect(throws: ModelError.self) { try Executor(model: try TestModels.quantized(ModelZoo.autoencoder()), gemmKernel: missing) }
    }
}
