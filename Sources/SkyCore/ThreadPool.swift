#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of worker threads that run `parallelFor` bodies. Created once
/// (at prepare); dispatching work allocates nothing.
///
/// A call returns when all of its indices are done, not when every worker has woken:
/// a worker that wakes after the others took all the work finds none and does not hold
/// the caller up (on a shared machine a worker can wait a scheduler slice to run).
public final class ThreadPool: @unchecked Sendable {
    public let threads: Int
    // Heap-allocated so their addresses are stable (pthread objects must not move).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // All of these under `mutex`.
    private var generation = 0
    private var next = 0
    private var count = 0
    private var finished = 0
    private var stopping = false
    private var task: Task?
    private var context: UnsafeMutableRawPointer?
    private var workers: [pthread_t] = []

    /// `threads` counts the caller: 1 runs everything on the calling thread.
    public init(threads: Int) {
        self.threads = max(1, threads)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        for w in 1..<self.threads {
            var t = pthread_t()
            let box = Unmanaged.passRetained(WorkerStart(pool: self, index: w)).toOpaque()
            pthread_create(&t, nil, { arg in
                let start = Unmanaged<WorkerStart>.fromOpaque(arg!).takeRetainedValue()
                start.pool.workerLoop(start.index)
                return nil
            }, box)
            workers.append(t)
        }
    }

    deinit {
        pthread_mutex_lock(mutex)
        stopping = true   // a waiting worker leaves its wait on it
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for t in workers { pthread_join(t, nil) }
        pthread_cond_destroy(wake); pthread_cond_destroy(done); pthread_mutex_destroy(mutex)
        wake.deallocate(); done.deallocate(); mutex.deallocate()
    }

    /// One piece of work: task(context, index, thread).
    public typealias Task = @convention(c) (UnsafeMutableRawPointer?, Int, Int) -> Void

    /// Calls task(context, index, thread) for every index in 0..<count, spread over the
    /// threads; returns when all are done. A C function pointer and a context pointer,
    /// not a closure: handing a Swift closure to other threads costs a heap allocation
    /// (reabstraction), which eval must not make.
    public func parallelFor(_ count: Int, context: UnsafeMutableRawPointer?, _ task: Task) {
        if threads == 1 || count <= 1 {
            for i in 0..<count { task(context, i, 0) }
            return
        }
        pthread_mutex_lock(mutex)
        self.task = task
        self.context = context
        self.count = count
        next = 0
        finished = 0
        generation &+= 1
        pthread_cond_broadcast(wake)
        while next < count {
            let i = next
            next += 1
            pthread_mutex_unlock(mutex)
            task(context, i, 0)
            pthread_mutex_lock(mutex)
            finished += 1
        }
        while finished < count { pthread_cond_wait(done, mutex) }
        self.task = nil   // a worker that wakes late finds no task and claims nothing
        pthread_mutex_unlock(mutex)
    }

    private func workerLoop(_ index: Int) {
        pthread_mutex_lock(mutex)
        while true {
            if next < count, let t = task {
                // Claimed under the mutex together with the task it belongs to.
                let i = next, c = context
                next += 1
                pthread_mutex_unlock(mutex)
                t(c, i, index)
                pthread_mutex_lock(mutex)
                finished += 1
                if finished == count { pthread_cond_signal(done) }
                continue
            }
            if stopping { pthread_mutex_unlock(mutex); return }
            let seen = generation
            while generation == seen && !stopping { pthread_cond_wait(wake, mutex) }
        }
    }
}

private final class WorkerStart {
    /// Unowned: the pool joins its workers in deinit, so it outlives them.
    unowned(unsafe) let pool: ThreadPool
    let index: Int
    init(pool: ThreadPool, index: Int) { self.pool = pool; self.index = index }
}

/// Lets `forEach` hand a non-escaping closure to the workers by address.
private struct BodyBox {
    let body: (Int, Int) -> Void
}

extension ThreadPool {
    /// Calls body(index, thread) for every index in 0..<count, spread over the
    /// threads; `thread` is in 0..<threads, so per-thread scratch can be indexed by it.
    /// The closure is not copied to the heap: it is passed by address for the
    /// duration of the call.
    public func forEach(_ count: Int, _ body: (Int, Int) -> Void) {
        if threads == 1 || count <= 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        withoutActuallyEscaping(body) { escaping in
            var box = BodyBox(body: escaping)
            withUnsafeMutablePointer(to: &box) { p in
                parallelFor(count, context: UnsafeMutableRawPointer(p)) { context, index, thread in
                    context!.assumingMemoryBound(to: BodyBox.self).pointee.body(index, thread)
                }
            }
        }
    }
}

extension Optional where Wrapped == ThreadPool {
    /// `forEach` on the pool, or every index in order on the calling thread (thread 0) without one.
    public func forEach(_ count: Int, _ body: (Int, Int) -> Void) {
        if let pool = self { pool.forEach(count, body) } else { for i in 0..<count { body(i, 0) } }
    }
}
