/// Quickselect: reorders `buf` so that `buf[k]` is the k-th smallest element and
/// returns it. In place, no allocation; median-of-three pivots keep it linear
/// on the nearly constant data (flat sky) that defeats naive pivoting.
@inline(__always)
func selectKth<T: Comparable>(_ buf: UnsafeMutableBufferPointer<T>, _ k: Int) -> T {
    precondition(k >= 0 && k < buf.count)
    var lo = 0, hi = buf.count - 1
    while hi > lo {
        let mid = lo &+ (hi &- lo) / 2
        if buf[mid] < buf[lo] { buf.swapAt(mid, lo) }
        if buf[hi] < buf[lo] { buf.swapAt(hi, lo) }
        if buf[hi] < buf[mid] { buf.swapAt(hi, mid) }
        let pivot = buf[mid]
        var i = lo, j = hi
        while i <= j {
            while buf[i] < pivot { i &+= 1 }
            while pivot < buf[j] { j &-= 1 }
            if i <= j { buf.swapAt(i, j); i &+= 1; j &-= 1 }
        }
        if k <= j { hi = j } else if k >= i { lo = i } else { return buf[k] }
    }
    return buf[k]
}

/// Median (the mean of the middle two of an even count, in Double) by selection, NaN when empty;
/// reorders `v`. Selection leaves the smaller half before n / 2: its largest is the lower middle value.
func selectionMedian<T: BinaryFloatingPoint>(_ v: UnsafeMutableBufferPointer<T>) -> Double {
    guard !v.isEmpty else { return .nan }
    let n = v.count, upper = selectKth(v, n / 2)
    guard n % 2 == 0 else { return Double(upper) }
    var lower = v[0]
    for i in 1..<(n / 2) where v[i] > lower { lower = v[i] }
    return 0.5 * (Double(lower) + Double(upper))
}
