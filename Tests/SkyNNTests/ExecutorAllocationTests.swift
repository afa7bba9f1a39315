import CAllocationCounter
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SkyNN

/// Proves `Executor.run` allocates nothing after prepare. Method: the test binary
/// interposes malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign
/// (Tests/CAllocationCounter; ELF lets the executable's definitions win over libc's for
/// every caller, the Swift runtime included) and counts calls made by the calling
/// thread between start and stop. A self-check proves the interposition is live.
/// Single-threaded run: the counter is per thread, because other tests run in
/// parallel in this process. (glibc's mallinfo2 in-use bytes are process-wide, so
/// they move with those other tests and cannot prove anything here; they are
/// printed for information only, and missed malloc/free pairs anyway.)
@Suite struct ExecutorAllocationTests {
    @Test func runAllocatesNothingAfterPrepare() throws {
        #expect(sky_allocations_supported() == 1, "interposed malloc must be the one in use")
        // threads 2: the calling thread's share of the work and the dispatch to the pool are counted.
        for (float, threads) in [(TestModels.allOps(), 1), (ModelZoo.autoencoder(), 1), (TestModels.allOps(), 2)] {
            let q = try TestModels.quantized(float)
            let batch = 4
            let ex = try Executor(model: q, maxBatch: batch, threads: threads)
            let input = TestModels.inputs(q, count: batch, seed: 8).flatMap { $0 }
            let output = UnsafeMutablePointer<Float>.allocate(capacity: batch * ex.outputCount)
            defer { output.deallocate() }
            input.withUnsafeBufferPointer { inp in
                ex.run(input: inp.baseAddress!, batch: batch, output: output)   // warm-up
                let before = Int64(sky_allocations_heap_in_use())
                sky_allocations_begin()
                for i in 0..<50 { ex.run(input: inp.baseAddress!, batch: 1 + i % batch, output: output) }
                let count = UInt64(sky_allocations_end())
                let after = Int64(sky_allocations_heap_in_use())
                #expect(count == 0, "\(q.name): \(count) allocations in 50 runs")
                print("ExecutorAllocationTests: \(q.name): \(count) allocations in 50 runs; process heap in use changed by \(after - before) bytes (other tests included)")
            }
        }
    }

    @Test func theCounterSeesSwiftAllocations() {
        sky_allocations_begin()
        let a = [Int](repeating: 1, count: 1000 + Int.random(in: 0..<2))
        let n = UInt64(sky_allocations_end())
        #expect(a.count >= 1000 && n >= 1)
    }
}

@Suite struct ThreadPoolTests {
    @Test func parallelForRunsEveryIndexOnceAndAllocatesNothing() {
        let pool = ThreadPool(threads: 3)
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 100)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: 100)
        let task: ThreadPool.Task = { ctx, i, _ in ctx!.assumingMemoryBound(to: Int.self)[i] += 1 }
        pool.parallelFor(100, context: UnsafeMutableRawPointer(hits), task)   // warm-up
        sky_allocations_begin()
        for _ in 0..<20 { pool.parallelFor(100, context: UnsafeMutableRawPointer(hits), task) }
        let count = UInt64(sky_allocations_end())
        #expect((0..<100).allSatisfy { hits[$0] == 21 })
        #expect(count == 0, "\(count) allocations in 20 dispatches")
    }
}
