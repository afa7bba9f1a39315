/// Carves typed buffers, each on a 64-byte boundary, out of one raw region: the
/// extractor's scratch comes from one block (an arena region at a site) whose
/// size `bytes` can be computed before anything is allocated.
struct ScratchLayout {
    static let alignment = 64
    private(set) var bytes = 0
    private let base: UnsafeMutableRawPointer?

    /// Sizing only: `take` returns buffers over no memory (never to be used).
    init() { base = nil }
    init(_ region: UnsafeMutableRawBufferPointer) { base = region.baseAddress }

    mutating func take<T>(_ type: T.Type, _ count: Int) -> UnsafeMutableBufferPointer<T> {
        let offset = (bytes + Self.alignment - 1) / Self.alignment * Self.alignment
        bytes = offset + max(0, count) * MemoryLayout<T>.stride
        guard let base else { return UnsafeMutableBufferPointer(start: nil, count: 0) }
        return UnsafeMutableBufferPointer(start: (base + offset).bindMemory(to: T.self, capacity: count), count: count)
    }

    /// The memory to carve `bytes` from: `given` (an arena region, which must hold them) or a
    /// new allocation, returned as `owned` for the caller to deallocate.
    static func memory(_ given: UnsafeMutableRawBufferPointer?, bytes: Int, for what: String)
        -> (memory: UnsafeMutableRawBufferPointer, owned: UnsafeMutableRawBufferPointer?) {
        if let given {
            precondition(given.count >= bytes, "\(what) of \(given.count) bytes, needs \(bytes)")
            return (given, nil)
        }
        let region = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes), alignment: alignment)
        return (region, region)
    }
}

/// Buffers laid out by `carve` in memory of their own: sized by a first pass over no memory, then
/// carved from one allocation that lives as long as this object (the one-off forms of what a site
/// carves from its arena).
final class OwnedScratch<Buffers> {
    let buffers: Buffers
    private let region: UnsafeMutableRawBufferPointer

    init(_ carve: (inout ScratchLayout) -> Buffers) {
        var sizing = ScratchLayout()
        _ = carve(&sizing)
        region = .allocate(byteCount: max(1, sizing.bytes), alignment: ScratchLayout.alignment)
        var carver = ScratchLayout(region)
        buffers = carve(&carver)
    }

    deinit { region.deallocate() }
}
