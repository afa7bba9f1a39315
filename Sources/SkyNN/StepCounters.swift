import CSkyKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Per-step tile counters that let every thread run a model's steps with one dispatch:
/// each claims the next tile of a step, counts the tiles it finished, and waits until all
/// of the step's tiles are done before the next step (its input). A thread that arrives
/// late finds the early steps claimed and done and joins where work is left, so no thread
/// waits for another to start, only for tiles in progress. Allocated at prepare; running
/// allocates nothing.
final class StepCounters: @unchecked Sendable {
    private let claimed: UnsafeMutablePointer<Atomic<Int>>
    private let done: UnsafeMutablePointer<Atomic<Int>>
    private let steps: Int

    init(steps: Int) {
        self.steps = max(1, steps)
        claimed = .allocate(capacity: self.steps)
        done = .allocate(capacity: self.steps)
        for i in 0..<self.steps { (claimed + i).initialize(to: Atomic(0)); (done + i).initialize(to: Atomic(0)) }
    }

    deinit {
        claimed.deinitialize(count: steps); done.deinitialize(count: steps)
        claimed.deallocate(); done.deallocate()
    }

    /// Before a run's dispatch (the pool's hand-over orders these stores before the workers' loads).
    func reset() {
        for i in 0..<steps { claimed[i].store(0, ordering: .relaxed); done[i].store(0, ordering: .relaxed) }
    }

    /// The next unclaimed tile of `step` (>= the step's count when none is left).
    @inline(__always) func claim(_ step: Int) -> Int { claimed[step].wrappingAdd(1, ordering: .relaxed).oldValue }

    /// `tiles` tiles of `step` are written (released to the threads that wait for them).
    @inline(__always) func finished(_ step: Int, _ tiles: Int) { done[step].wrappingAdd(tiles, ordering: .releasing) }

    /// Returns once all `count` tiles of `step` are done. Spins (a step's last tiles take
    /// microseconds), then yields the core, so a thread preempted in the middle of its tile
    /// gets to finish it.
    func wait(_ step: Int, count: Int) {
        var spins = 0
        while done[step].load(ordering: .acquiring) < count {
            spins += 1
            if spins < 2_000 { sky_spin_pause() } else { sched_yield() }
        }
    }
}
