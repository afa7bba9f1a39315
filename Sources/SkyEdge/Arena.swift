import Foundation

/// The one allocation a site makes at start, carved into the plan's arena entries in order.
public final class Arena: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let size: Int
    private var regions: [String: UnsafeMutableRawBufferPointer] = [:]

    public init(plan: MemoryPlan) throws {
        guard plan.fits else { throw MemoryPlanError(plan: plan) }
        size = max(plan.arenaBytes, MemoryPlan.alignment)
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, MemoryPlan.alignment, size) == 0, let p else { throw MemoryPlanError(plan: plan) }
        // Touch every page now: an over-committed board fails here, at start, not mid-night.
        memset(p, 0, size)
        base = p
        var offset = 0
        for e in plan.entries where e.inArena {
            regions[e.name] = UnsafeMutableRawBufferPointer(start: p + offset, count: e.bytes)
            offset += MemoryPlan.aligned(e.bytes)
        }
    }

    deinit { free(base) }

    public func region(_ name: String) -> UnsafeMutableRawBufferPointer {
        guard let r = regions[name] else { preconditionFailure("no arena region '\(name)' in the plan") }
        return r
    }
}
