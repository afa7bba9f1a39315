/// 8-connected regions of pixels above a threshold, found by flood fill in
/// caller-owned buffers (each at least width x height entries), so finding them
/// allocates nothing. Used by source detection and by the trail finder.
enum ConnectedRegions {
    /// Calls `body` with the pixel indices (y * width + x) of every region of at
    /// least `minArea` pixels whose values exceed `threshold`. `labels` ends holding
    /// 0 below the threshold and 1, 2, 3... for the regions in scan order.
    static func forEach(above threshold: Float, in values: UnsafeMutableBufferPointer<Float>, width w: Int, height h: Int,
                        labels: UnsafeMutableBufferPointer<Int32>, stack: UnsafeMutableBufferPointer<Int32>,
                        pixels: UnsafeMutableBufferPointer<Int32>, minArea: Int,
                        _ body: (UnsafeMutableBufferPointer<Int32>) -> Void) {
        let n = w * h
        for i in 0..<n { labels[i] = values[i] > threshold ? -1 : 0 }   // -1: above, not yet visited
        var label: Int32 = 0
        for start in 0..<n where labels[start] == -1 {
            label &+= 1
            var count = 0, top = 0
            labels[start] = label
            stack[top] = Int32(start); top += 1
            while top > 0 {
                top -= 1
                let p = Int(stack[top])
                pixels[count] = Int32(p); count += 1
                let px = p % w, py = p / w
                for dy in -1...1 {
                    let ny = py + dy
                    guard ny >= 0, ny < h else { continue }
                    for dx in -1...1 {
                        let nx = px + dx
                        guard nx >= 0, nx < w else { continue }
                        let q = ny * w + nx
                        if labels[q] == -1 { labels[q] = label; stack[top] = Int32(q); top += 1 }
                    }
                }
            }
            if count >= minArea { body(UnsafeMutableBufferPointer(rebasing: pixels[0..<count])) }
        }
    }
}
