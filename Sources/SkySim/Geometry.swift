/// A position in 0-based pixel coordinates: the centre of the first pixel is (0, 0).
public struct PixelPoint: Sendable, Equatable, Codable {
    public var x: Double
    public var y: Double
    public init(x: Double, y: Double) { self.x = x; self.y = y }
}

/// A displacement in pixels (a drift during an exposure, a pointing offset).
public struct PixelVector: Sendable, Equatable, Codable {
    public var dx: Double
    public var dy: Double
    public init(dx: Double, dy: Double) { self.dx = dx; self.dy = dy }
    public static let zero = PixelVector(dx: 0, dy: 0)
    public var length: Double { (dx * dx + dy * dy).squareRoot() }
}

/// A straight piece of line between two pixel positions.
public struct LineSegment: Sendable, Equatable, Codable {
    public var start: PixelPoint
    public var end: PixelPoint
    public init(start: PixelPoint, end: PixelPoint) { self.start = start; self.end = end }
    public var length: Double {
        let dx = end.x - start.x, dy = end.y - start.y
        return (dx * dx + dy * dy).squareRoot()
    }

    /// Distance from a point to the nearest point of the segment.
    public func distance(to p: PixelPoint) -> Double {
        let vx = end.x - start.x, vy = end.y - start.y
        let len2 = vx * vx + vy * vy
        var t = len2 > 0 ? ((p.x - start.x) * vx + (p.y - start.y) * vy) / len2 : 0
        t = min(1, max(0, t))
        let qx = start.x + t * vx - p.x, qy = start.y + t * vy - p.y
        return (qx * qx + qy * qy).squareRoot()
    }
}
