/// A read-only array of parameters that either owns its elements or views them
/// inside a memory-mapped model file (loading a model does not copy weights).
public struct ParamArray<Element: BitwiseCopyable>: @unchecked Sendable {
    private let owned: [Element]?
    private let mapped: UnsafeBufferPointer<Element>?
    /// Keeps the mapping alive while a view exists.
    private let owner: AnyObject?

    public init(_ elements: [Element]) { owned = elements; mapped = nil; owner = nil }

    init(mapped: UnsafeBufferPointer<Element>, owner: AnyObject) {
        owned = nil; self.mapped = mapped; self.owner = owner
    }

    public var count: Int { owned?.count ?? mapped!.count }
    public var isMapped: Bool { mapped != nil }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        if let owned { return try owned.withUnsafeBufferPointer(body) }
        return try body(mapped!)
    }

    public subscript(i: Int) -> Element { owned?[i] ?? mapped![i] }
    public var array: [Element] { owned ?? Array(mapped!) }
}
