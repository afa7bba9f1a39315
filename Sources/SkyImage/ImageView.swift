/// A 2-D image over memory the caller owns (an arena slot, a mapped file, an
/// `OwnedImage`). Rows are contiguous; `rowStride` is in pixels and may exceed
/// `width` for a sub-image. A view never allocates and never frees.
public struct ImageView<Pixel: BitwiseCopyable>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Pixel>
    public let width: Int
    public let height: Int
    public let rowStride: Int

    public init(base: UnsafeMutablePointer<Pixel>, width: Int, height: Int, rowStride: Int? = nil) {
        precondition(width >= 0 && height >= 0)
        self.base = base
        self.width = width
        self.height = height
        self.rowStride = rowStride ?? width
        precondition(self.rowStride >= width)
    }

    public var pixelCount: Int { width * height }
    public var isContiguous: Bool { rowStride == width }

    @inline(__always)
    public subscript(x: Int, y: Int) -> Pixel {
        get { base[y &* rowStride &+ x] }
        nonmutating set { base[y &* rowStride &+ x] = newValue }
    }

    @inline(__always)
    public func row(_ y: Int) -> UnsafeMutableBufferPointer<Pixel> {
        UnsafeMutableBufferPointer(start: base + y &* rowStride, count: width)
    }

    /// The pixels as one buffer; only for contiguous views.
    public var pixels: UnsafeMutableBufferPointer<Pixel> {
        precondition(isContiguous, "pixels of a strided view")
        return UnsafeMutableBufferPointer(start: base, count: width * height)
    }

    /// A rectangle of this view sharing its memory, clipped to the image.
    public func subview(x: Int, y: Int, width w: Int, height h: Int) -> ImageView<Pixel> {
        let x0 = max(0, min(x, width)), y0 = max(0, min(y, height))
        let x1 = max(x0, min(x + w, width)), y1 = max(y0, min(y + h, height))
        return ImageView(base: base + y0 * rowStride + x0, width: x1 - x0, height: y1 - y0, rowStride: rowStride)
    }
}

/// Heap-owned pixels, for tools, tests and the simulator. The site runtime uses
/// arena slots instead (DESIGN.md section 3).
public final class OwnedImage<Pixel: BitwiseCopyable>: @unchecked Sendable {
    public let storage: UnsafeMutableBufferPointer<Pixel>
    public let width: Int
    public let height: Int

    public init(width: Int, height: Int, fill: Pixel) {
        precondition(width >= 0 && height >= 0)
        self.width = width
        self.height = height
        storage = .allocate(capacity: max(1, width * height))
        storage.initialize(repeating: fill)
    }

    /// Pixels from `pixel`, called once per pixel in storage order (row by row).
    public convenience init(width: Int, height: Int, pixel: () throws -> Pixel) rethrows {
        self.init(width: width, height: height, fill: try pixel())
        for i in 1..<max(1, width * height) { storage[i] = try pixel() }
    }

    deinit { storage.deallocate() }

    /// A view of the pixels. The view does not keep the image alive: hold the
    /// image (or use `withView`) for as long as the view is used.
    public var view: ImageView<Pixel> { ImageView(base: storage.baseAddress!, width: width, height: height) }

    /// Runs `body` with a view while guaranteeing the pixels outlive it.
    public func withView<R>(_ body: (ImageView<Pixel>) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(view) }
    }

    public subscript(x: Int, y: Int) -> Pixel {
        get { storage[y * width + x] }
        set { storage[y * width + x] = newValue }
    }
}
