/// First-look source count: 8-connected groups of pixels above
/// `level + k * sigma` of the background mesh, at least `minArea` pixels large.
/// Uses a visited bit per pixel and an explicit fill stack, both from the
/// caller's scratch, so counting allocates nothing. The full detector with
/// measurement and deblending is separate (issue 4); this one only counts.
public struct StarCounter {
    public var thresholdSigma: Float
    public var minArea: Int
    /// At most this many groups are counted; beyond it the count is truncated.
    public let capacity: Int
    let visited: UnsafeMutableBufferPointer<UInt64>
    let stack: UnsafeMutableBufferPointer<Int32>

    public struct Result: Sendable, Equatable {
        public var count: Int
        /// More groups than `capacity`, or a group larger than the fill stack.
        public var truncated: Bool
    }

    public static func scratchBytes(maxPixels: Int, stackCapacity: Int) -> Int {
        (maxPixels + 63) / 64 * 8 + stackCapacity * 4
    }

    public init(maxPixels: Int, stackCapacity: Int, capacity: Int, thresholdSigma: Float = 5, minArea: Int = 5,
                scratch: UnsafeMutableRawBufferPointer) {
        precondition(maxPixels < Int(Int32.max))
        precondition(scratch.count >= Self.scratchBytes(maxPixels: maxPixels, stackCapacity: stackCapacity))
        let words = (maxPixels + 63) / 64
        let base = scratch.baseAddress!
        visited = UnsafeMutableBufferPointer(start: base.bindMemory(to: UInt64.self, capacity: words), count: words)
        stack = UnsafeMutableBufferPointer(start: (base + words * 8).bindMemory(to: Int32.self, capacity: stackCapacity),
                                           count: stackCapacity)
        self.capacity = capacity
        self.thresholdSigma = thresholdSigma
        self.minArea = minArea
    }

    public func count(_ image: ImageView<UInt16>, background: BackgroundMesh) -> Result {
        let w = image.width, h = image.height
        let words = (w * h + 63) / 64
        precondition(words <= visited.count, "frame larger than the counter was planned for")
        for i in 0..<words { visited[i] = 0 }
        var found = 0
        var truncated = false
        for y in 0..<h {
            let row = image.row(y)
            for x in 0..<w {
                let i = y &* w &+ x
                if isVisited(i) { continue }
                let t = background.level(x: x, y: y) + thresholdSigma * background.sigma(x: x, y: y)
                guard Float(row[x]) > t else { continue }
                let (area, overflow) = fill(image, from: x, y, background: background)
                if overflow { truncated = true }
                if area >= minArea {
                    if found == capacity { return Result(count: found, truncated: true) }
                    found &+= 1
                }
            }
        }
        return Result(count: found, truncated: truncated)
    }

    @inline(__always) func isVisited(_ i: Int) -> Bool { visited[i >> 6] & (1 << UInt64(i & 63)) != 0 }
    @inline(__always) func markVisited(_ i: Int) { visited[i >> 6] |= (1 << UInt64(i & 63)) }

    /// Flood-fills the group containing (x, y); returns its area and whether the stack overflowed
    /// (the rest of such a group is found again later as more groups, hence `truncated`).
    private func fill(_ image: ImageView<UInt16>, from x0: Int, _ y0: Int, background: BackgroundMesh) -> (Int, Bool) {
        let w = image.width, h = image.height
        var top = 0
        var area = 0
        var overflow = false
        markVisited(y0 * w + x0)
        stack[0] = Int32(y0 * w + x0)
        top = 1
        while top > 0 {
            top &-= 1
            let p = Int(stack[top])
            area &+= 1
            let px = p % w, py = p / w
            for dy in -1...1 {
                let ny = py &+ dy
                if ny < 0 || ny >= h { continue }
                for dx in -1...1 {
                    let nx = px &+ dx
                    if nx < 0 || nx >= w || (dx == 0 && dy == 0) { continue }
                    let q = ny &* w &+ nx
                    if isVisited(q) { continue }
                    let t = background.level(x: nx, y: ny) + thresholdSigma * background.sigma(x: nx, y: ny)
                    guard Float(image[nx, ny]) > t else { continue }
                    if top == stack.count { overflow = true; continue }
                    markVisited(q)
                    stack[top] = Int32(q)
                    top &+= 1
                }
            }
        }
        return (area, overflow)
    }
}
