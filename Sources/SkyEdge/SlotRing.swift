import Foundation

/// Hands frame slots between the capture thread and the pipeline: capture takes
/// a free slot, fills it and marks it ready; the pipeline takes ready slots in
/// order and frees them. Fixed size, no allocation after init.
final class SlotRing<Info>: @unchecked Sendable {
    private let condition = NSCondition()
    private var free: [Int]
    private var ready: [(slot: Int, info: Info)] = []
    private var closed = false

    init(slots: Int) {
        free = Array((0..<slots).reversed())
        free.reserveCapacity(slots)
        ready.reserveCapacity(slots)
    }

    /// A free slot, or nil once closed. Waits at most `timeout` seconds.
    func takeFree(timeout: Double) -> Int? {
        condition.lock(); defer { condition.unlock() }
        let until = Date(timeIntervalSinceNow: timeout)
        while free.isEmpty && !closed { if !condition.wait(until: until) { return nil } }
        return closed ? nil : free.removeLast()
    }

    func giveBack(_ slot: Int) {
        condition.lock(); free.append(slot); condition.broadcast(); condition.unlock()
    }

    func markReady(_ slot: Int, _ info: Info) {
        condition.lock(); ready.append((slot, info)); condition.broadcast(); condition.unlock()
    }

    /// The oldest ready slot; nil on timeout or once closed and drained.
    func takeReady(timeout: Double) -> (slot: Int, info: Info)? {
        condition.lock(); defer { condition.unlock() }
        let until = Date(timeIntervalSinceNow: timeout)
        while ready.isEmpty {
            if closed || !condition.wait(until: until) { return nil }
        }
        return ready.removeFirst()
    }

    func close() { condition.lock(); closed = true; condition.broadcast(); condition.unlock() }
}
