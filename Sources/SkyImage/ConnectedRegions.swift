/// 8-connected regions of marked pixels, found by breadth-first flood fill in
/// caller-owned buffers, so finding them allocates nothing. Used by source
/// detection and by the trail finder.
///
/// `labels` (width x height) first holds -1 for pixels above the threshold and 0
/// below (`mark`); `label` then numbers the regions 1, 2, 3... in scan order. The
/// fill queue has a fixed capacity: a region that fits is handed over with its
/// pixel list (the queue itself); a larger one is still labelled, from a queue used
/// as a ring, but comes without a list. Only a fill front wider than the queue
/// cuts a region short (the rest is found again as more regions); `label` reports it.
enum ConnectedRegions {
    struct Region {
        var label: Int32
        /// The first pixel of the region in scan order (y * width + x).
        var seed: Int32
        var area: Int
        /// The region's pixel indices when it fitted in the queue, else nil.
        var pixels: UnsafeMutableBufferPointer<Int32>?
    }

    /// labels[i] = -1 where values[i] > threshold, else 0, for pixels [start, end).
    static func mark(above threshold: Float, in values: UnsafeMutableBufferPointer<Float>,
                     labels: UnsafeMutableBufferPointer<Int32>, from start: Int, to end: Int) {
        let v = values.baseAddress!, l = labels.baseAddress!
        for i in start..<end { l[i] = v[i] > threshold ? -1 : 0 }
    }

    /// Labels the marked pixels and calls `body` with every region of at least
    /// `minArea` pixels. Returns whether a region was cut short (fill front wider than the queue).
    @discardableResult
    static func label(width w: Int, height h: Int, labels: UnsafeMutableBufferPointer<Int32>,
                      queue: UnsafeMutableBufferPointer<Int32>, minArea: Int, _ body: (Region) -> Void) -> Bool {
        let n = w * h
        let capacity = queue.count
        precondition(capacity > 0 && labels.count >= n)
        let l = labels.baseAddress!, q = queue.baseAddress!
        var label: Int32 = 0
        var cut = false
        var start = 0
        while start < n {
            if l[start] != -1 { start &+= 1; continue }
            label &+= 1
            l[start] = label
            q[0] = Int32(start)
            var head = 0, tail = 1
            while head < tail {
                let p = Int(q[head % capacity])
                head &+= 1
                let px = p % w, py = p / w
                let y0 = py > 0 ? -1 : 0, y1 = py < h - 1 ? 1 : 0
                let x0 = px > 0 ? -1 : 0, x1 = px < w - 1 ? 1 : 0
                for dy in y0...y1 {
                    let row = p &+ dy &* w
                    for dx in x0...x1 where l[row &+ dx] == -1 {
                        if tail &- head >= capacity { cut = true; continue }
                        l[row &+ dx] = label
                        q[tail % capacity] = Int32(row &+ dx)
                        tail &+= 1
                    }
                }
            }
            if tail >= minArea {
                body(Region(label: label, seed: Int32(start), area: tail,
                            pixels: tail <= capacity ? UnsafeMutableBufferPointer(start: q, count: tail) : nil))
            }
            start &+= 1
        }
        return cut
    }
}
