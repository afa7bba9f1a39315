import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SkyCore

/// The pool runs every index exactly once per call, on thread numbers in range, over
/// many back-to-back calls (workers awake or asleep between them), and stops.
@Suite struct ThreadPoolTests {
    final class Tally: @unchecked Sendable {
        let hits: UnsafeMutablePointer<Atomic<Int>>, count: Int, threads: Int
        let badThread = Atomic<Int>(0)
        init(_ count: Int, threads: Int = 1) {
            self.count = count
            self.threads = threads
            hits = .allocate(capacity: count)
            for i in 0..<count { (hits + i).initialize(to: Atomic(0)) }
        }
        deinit { hits.deinitialize(count: count); hits.deallocate() }
    }

    @Test(arguments: [2, 3])
    func everyIndexRunsOnceOverManyCalls(threads: Int) {
        let pool = ThreadPool(threads: threads)
        for round in 0..<3000 {
            let n = 1 + round % 17
            let tally = Tally(n, threads: threads)
            withExtendedLifetime(tally) {
                pool.parallelFor(n, context: Unmanaged.passUnretained(tally).toOpaque()) { context, index, thread in
                    let t = Unmanaged<Tally>.fromOpaque(context!).takeUnretainedValue()
                    t.hits[index].wrappingAdd(1, ordering: .relaxed)
                    if thread < 0 || thread >= t.threads { t.badThread.wrappingAdd(1, ordering: .relaxed) }
                }
                let wrong = (0..<n).filter { tally.hits[$0].load(ordering: .relaxed) != 1 }
                #expect(wrong.isEmpty, "round \(round): indices \(wrong) did not run exactly once")
                #expect(tally.badThread.load(ordering: .relaxed) == 0)
            }
            if round % 500 == 499 { usleep(2_000) }   // let the workers fall asleep now and then
        }
    }

    @Test func oneIndexRunsOnTheCallerAndLargerCallsComplete() {
        // Two threads, one index: the caller runs it alone (no dispatch), and a call with
        // more indices than the workers take still completes with every index done.
        let pool = ThreadPool(threads: 2)
        let tally = Tally(64)
        withExtendedLifetime(tally) {
            pool.parallelFor(1, context: Unmanaged.passUnretained(tally).toOpaque()) { context, index, thread in
                Unmanaged<Tally>.fromOpaque(context!).takeUnretainedValue().hits[index].wrappingAdd(1, ordering: .relaxed)
                #expect(thread == 0)
            }
            pool.parallelFor(64, context: Unmanaged.passUnretained(tally).toOpaque()) { context, index, _ in
                Unmanaged<Tally>.fromOpaque(context!).takeUnretainedValue().hits[index].wrappingAdd(1, ordering: .relaxed)
            }
            #expect(tally.hits[0].load(ordering: .relaxed) == 2)
            #expect((1..<64).allSatisfy { tally.hits[$0].load(ordering: .relaxed) == 1 })
        }
    }
}
