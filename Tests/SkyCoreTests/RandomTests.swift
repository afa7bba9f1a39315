import Testing
import SkyCore

@Suite struct SeededRandomTests {
    @Test func sameSeedSameStreamDifferentSeedDifferentStream() {
        var a = SeededRandom(seed: 123), b = SeededRandom(seed: 123), c = SeededRandom(seed: 124)
        let sa = (0..<100).map { _ in a.next() }, sb = (0..<100).map { _ in b.next() }, sc = (0..<100).map { _ in c.next() }
        #expect(sa == sb)
        #expect(sa != sc)
    }

    @Test func deviatesHaveTheRightMoments() {
        var r = SeededRandom(seed: 9)
        let n = 200_000
        var s = 0.0, s2 = 0.0, idx = [Int](repeating: 0, count: 10)
        for _ in 0..<n { let g = r.gaussian(); s += g; s2 += g * g; idx[r.index(10)] += 1 }
        #expect(abs(s / Double(n)) < 0.01)
        #expect(abs(s2 / Double(n) - 1) < 0.015)
        #expect(idx.allSatisfy { abs(Double($0) / Double(n) - 0.1) < 0.005 })
        for mean in [0.7, 5.0, 29.0, 300.0] {
            var m = 0.0, v = 0.0
            let k = 50_000
            var xs = [Double](repeating: 0, count: k)
            for i in 0..<k { xs[i] = r.poisson(mean) }
            m = xs.reduce(0, +) / Double(k)
            v = xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(k - 1)
            #expect(abs(m - mean) < 0.03 * mean + 0.02)
            #expect(abs(v - mean) < 0.05 * mean + 0.03)
        }
    }
}
