/// Natural cubic splines through mesh values, SExtractor's way: second
/// derivatives along y are computed once per column; for each image row the
/// columns are interpolated to that row, a spline along x is fitted through
/// those nodes, and evaluated at every pixel. Nodes sit at box centres; beyond
/// the outer nodes the end cubic is extended. The arithmetic (Float, the
/// scaled derivatives) follows SEP so that maps agree to float rounding.
enum MeshSpline {
    /// Scaled second derivatives of each column of `mesh` along y.
    static func secondDerivativesAlongY(_ mesh: [Float], columns nx: Int, rows ny: Int) -> [Float] {
        var d2 = [Float](repeating: 0, count: nx * ny)
        guard ny > 1 else { return d2 }
        var column = [Float](repeating: 0, count: ny)
        var out = [Float](repeating: 0, count: ny)
        for x in 0..<nx {
            for y in 0..<ny { column[y] = mesh[y * nx + x] }
            naturalSpline(column, into: &out)
            for y in 0..<ny { d2[y * nx + x] = out[y] }
        }
        return d2
    }

    /// Tridiagonal solve for unit node spacing with zero end curvature. The
    /// back-substitution divides by 6 as it goes, as SExtractor does; the
    /// evaluation formula below expects exactly these values.
    static func naturalSpline(_ v: [Float], into d: inout [Float]) {
        let n = v.count
        for i in 0..<n { d[i] = 0 }
        guard n > 2 else { return }
        var u = [Float](repeating: 0, count: n)
        for i in 1..<(n - 1) {
            let temp: Float = -1 / (d[i - 1] + 4)
            d[i] = temp
            u[i] = temp * (u[i - 1] - 6 * (v[i + 1] + v[i - 1] - 2 * v[i]))
        }
        d[n - 1] = 0
        var i = n - 2
        while i >= 1 {
            d[i] = (d[i] * d[i + 1] + u[i]) / 6
            i -= 1
        }
    }

    /// Evaluates row `y` of the map into `line`.
    static func evaluateRow(_ y: Int, mesh: UnsafeBufferPointer<Float>, d2: UnsafeBufferPointer<Float>,
                            columns nbx: Int, rows nby: Int, boxWidth: Int, boxHeight: Int, width: Int,
                            into line: UnsafeMutableBufferPointer<Float>) {
        precondition(line.count >= width)
        // Nodes of this row: the column splines evaluated at y (row spacing in box units).
        var node = [Float](repeating: 0, count: nbx)
        var dnode = [Float](repeating: 0, count: nbx)
        if nby > 1 {
            var dy = Float(Double(Float(y) / Float(boxHeight)) - 0.5)
            var yl = Int(dy)
            dy -= Float(yl)
            if yl < 0 { yl = 0; dy -= 1 } else if yl >= nby - 1 { yl = nby < 2 ? 0 : nby - 2; dy += 1 }
            let cdy = 1 - dy
            let dy3 = dy * dy * dy - dy, cdy3 = cdy * cdy * cdy - cdy
            let lo = nbx * yl, hi = lo + nbx
            for x in 0..<nbx {
                node[x] = cdy * mesh[lo + x] + dy * mesh[hi + x] + cdy3 * d2[lo + x] + dy3 * d2[hi + x]
            }
            if nbx > 1 { naturalSpline(node, into: &dnode) }
        } else {
            // One row of boxes: SEP uses the mesh as is, with zero curvature (linear in x).
            for x in 0..<nbx { node[x] = mesh[x]; dnode[x] = d2[x] }
        }
        guard nbx > 1 else {
            for x in 0..<width { line[x] = node[0] }
            return
        }
        // Along x: pixel p sits at (p + 0.5) / boxWidth - 0.5 in node units.
        let xstep = 1 / Float(boxWidth)
        let changepoint = boxWidth / 2
        var dx = (xstep - 1) / 2
        let dx0 = Float((boxWidth + 1) % 2) * xstep / 2
        var k = 0, i = 0, xbox = 0
        for p in 0..<width {
            if i == changepoint && xbox > 0 && xbox < nbx - 1 { k += 1; dx = dx0 }
            let cdx = 1 - dx
            line[p] = cdx * (node[k] + (cdx * cdx - 1) * dnode[k]) + dx * (node[k + 1] + (dx * dx - 1) * dnode[k + 1])
            if i == boxWidth { xbox += 1; i = 0 }
            i += 1
            dx += xstep
        }
    }
}
