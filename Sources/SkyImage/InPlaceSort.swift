/// Heapsort of `values` by `key`, in place: O(n log n) with no allocation
/// (the standard library's sort may allocate a merge buffer), for the hot paths
/// that must not allocate. Not stable.
func heapSort<T>(_ values: UnsafeMutableBufferPointer<T>, by less: (T, T) -> Bool) {
    let n = values.count
    guard n > 1 else { return }
    func siftDown(_ start: Int, _ end: Int) {
        var root = start
        while true {
            var child = 2 * root + 1
            if child >= end { return }
            if child + 1 < end && less(values[child], values[child + 1]) { child += 1 }
            if !less(values[root], values[child]) { return }
            values.swapAt(root, child)
            root = child
        }
    }
    var start = n / 2 - 1
    while start >= 0 { siftDown(start, n); start -= 1 }
    var end = n - 1
    while end > 0 {
        values.swapAt(0, end)
        siftDown(0, end)
        end -= 1
    }
}
