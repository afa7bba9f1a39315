/// Natural cubic splines through mesh values, SExtractor's way: second
/// derivatives along y are computed once per column; for each image row the
/// columns are interpolated to that row, a spline along x is fitted through
/// those nodes, and evaluated at every pixel. Nodes sit at box centres; beyond
/// the outer nodes the end cubic is extended. The arithmetic (Float, the
/// scaled derivatives) follows SEP so that maps agree to float rounding.
///
/// Everything works in caller scratch so that a frame's maps cost no allocation.
enum MeshSpline {
    /// Scratch floats `secondDerivativesAlongY` needs for `rows` mesh rows.
    static func columnScratchCount(rows ny: Int) -> Int { 3 * ny }
    /// Scratch floats `evaluateRow` needs for `columns` mesh columns.
    static func rowScratchCount(columns nx: Int) -> Int { 3 * nx }

    /// Scaled second derivatives of each column of `mesh` along y, into `d2` (`nx * ny` values).
    static func secondDerivativesAlongY(_ mesh: UnsafeBufferPointer<Float>, columns nx: Int, rows ny: Int,
                                        into d2: UnsafeMutableBufferPointer<Float>, scratch: UnsafeMutableBufferPointer<Float>) {
        precondition(d2.count >= nx * ny && scratch.count >= columnScratchCount(rows: ny))
        for i in 0..<(nx * ny) { d2[i] = 0 }
        guard ny > 1 else { return }
        let column = scratch.baseAddress!, out = column + ny, u = out + ny
        for x in 0..<nx {
            for y in 0..<ny { column[y] = mesh[y * nx + x] }
            naturalSpline(column, count: ny, into: out, u: u)
            for y in 0..<ny { d2[y * nx + x] = out[y] }
        }
    }

    /// Tridiagonal solve for unit node spacing with zero end curvature. The
    /// back-substitution divides by 6 as it goes, as SExtractor does; the
    /// evaluation formula below expects exactly these values. `u`: n floats of scratch.
    static func naturalSpline(_ v: UnsafePointer<Float>, count n: Int, into d: UnsafeMutablePointer<Float>,
                              u: UnsafeMutablePointer<Float>) {
        for i in 0..<n { d[i] = 0; u[i] = 0 }
        guard n > 2 else { return }
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

    /// Evaluates row `y` of the map into `line`; `scratch` holds `rowScratchCount(columns:)` floats.
    static func evaluateRow(_ y: Int, mesh: UnsafeBufferPointer<Float>, d2: UnsafeBufferPointer<Float>,
                            columns nbx: Int, rows nby: Int, boxWidth: Int, boxHeight: Int, width: Int,
                            into line: UnsafeMutableBufferPointer<Float>, scratch: UnsafeMutableBufferPointer<Float>) {
        precondition(line.count >= width && scratch.count >= rowScratchCount(columns: nbx))
        // Nodes of this row: the column splines evaluated at y (row spacing in box units).
        let node = scratch.baseAddress!, dnode = node + nbx, u = dnode + nbx
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
            if nbx > 1 { naturalSpline(node, count: nbx, into: dnode, u: u) } else { dnode[0] = 0 }
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
