/// Lays buffers with known lifetimes into one arena: greedy by size (largest
/// first), each at the lowest aligned offset that does not overlap a placed
/// buffer whose lifetime intersects its own (TFLite's greedy-by-size planner).
public struct ArenaPlan: Sendable, Equatable {
    public var offsets: [Int]
    public var totalBytes: Int
}

public struct BufferLifetime: Sendable, Equatable {
    public var bytes: Int
    /// First and last step (inclusive) during which the buffer is live.
    public var first: Int
    public var last: Int
    public init(bytes: Int, first: Int, last: Int) { self.bytes = bytes; self.first = first; self.last = last }
    func overlapsInTime(_ o: BufferLifetime) -> Bool { first <= o.last && o.first <= last }
}

public enum ArenaPlanner {
    public static func plan(_ buffers: [BufferLifetime], alignment: Int = 64) -> ArenaPlan {
        let order = buffers.indices.sorted { (buffers[$0].bytes, $1) > (buffers[$1].bytes, $0) }
        var offsets = [Int](repeating: 0, count: buffers.count)
        var placed: [Int] = []
        var total = 0
        for i in order {
            let b = buffers[i]
            let size = (b.bytes + alignment - 1) / alignment * alignment
            let conflicts = placed.filter { buffers[$0].overlapsInTime(b) }.sorted { offsets[$0] < offsets[$1] }
            var offset = 0
            for j in conflicts {
                let end = offsets[j] + (buffers[j].bytes + alignment - 1) / alignment * alignment
                if offsets[j] >= offset + size { break }
                offset = max(offset, end)
            }
            offsets[i] = offset
            placed.append(i)
            total = max(total, offset + size)
        }
        return ArenaPlan(offsets: offsets, totalBytes: total)
    }

    /// The most bytes live at one step: no plan can need less.
    public static func lowerBound(_ buffers: [BufferLifetime], alignment: Int = 64) -> Int {
        guard let end = buffers.map(\.last).max() else { return 0 }
        return (0...end).map { t in
            buffers.filter { $0.first <= t && t <= $0.last }.reduce(0) { $0 + ($1.bytes + alignment - 1) / alignment * alignment }
        }.max() ?? 0
    }
}
