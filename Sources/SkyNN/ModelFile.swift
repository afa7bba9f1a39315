import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The model file (version 2, or 1 where no node requantizes in float), little-endian, memory-mappable:
///
///     0   magic "SKYNNMDL"
///     8   u32 version, u32 section count, u64 file size, u64 reserved
///     32  section table: per section u32 kind, u32 reserved, u64 offset, u64 length, u64 FNV-1a 64 checksum
///         sections start on 64-byte boundaries
///     kind 1: graph, UTF-8 JSON (GraphRecord): nodes, shapes, quantization, blob references
///     kind 2: blobs, raw little-endian arrays, each 64-byte aligned inside the section
///
/// Weights are read in place from the mapping (ParamArray views), never copied at load.
/// Version 2 adds a node's `requantization` ("float"; absent means fixed point): a file
/// that has one is written as version 2, so a reader that predates it refuses the file
/// instead of running those layers with other arithmetic.
public enum ModelFile {
    public static let magic: [UInt8] = Array("SKYNNMDL".utf8)
    public static let version: UInt32 = 2
    /// Versions this build reads.
    public static let readableVersions: ClosedRange<UInt32> = 1...2
    static let headerBytes = 32, sectionEntryBytes = 32, alignment = 64
    static let graphKind: UInt32 = 1, blobKind: UInt32 = 2

    struct BlobRef: Codable, Equatable { var offset: Int; var count: Int }
    struct WeightRecord: Codable {
        var float: BlobRef?; var floatBias: BlobRef?; var int8: BlobRef?; var scales: BlobRef?; var bias: BlobRef?
        /// Batch norm only; absent in files written before it existed.
        var runningMean: BlobRef?; var runningVar: BlobRef?
    }
    struct NodeRecord: Codable {
        var name: String; var op: Op; var inputs: [Int]; var quant: QuantParams?; var weights: WeightRecord?
        /// Version 2: present only where not fixed point.
        var requantization: Requantization?
        /// Informative; recomputed and checked on load.
        var shape: TensorShape
    }
    struct GraphRecord: Codable {
        var format: String; var name: String; var inputShape: TensorShape; var nodes: [NodeRecord]
    }

    // MARK: writing

    public static func encode(_ model: Model) throws -> [UInt8] {
        try model.validate()
        let shapes = try model.shapes()
        var blobs: [UInt8] = []
        func put<T: BitwiseCopyable>(_ p: ParamArray<T>?) -> BlobRef? {
            guard let p else { return nil }
            while blobs.count % alignment != 0 { blobs.append(0) }
            let ref = BlobRef(offset: blobs.count, count: p.count)
            p.withUnsafeBufferPointer { blobs.append(contentsOf: UnsafeRawBufferPointer($0)) }
            return ref
        }
        var records: [NodeRecord] = []
        for (i, n) in model.nodes.enumerated() {
            let w = n.weights.map { WeightRecord(float: put($0.float), floatBias: put($0.floatBias), int8: put($0.int8),
                                                 scales: put($0.scales), bias: put($0.bias),
                                                 runningMean: put($0.runningMean), runningVar: put($0.runningVar)) }
            records.append(NodeRecord(name: n.name, op: n.op, inputs: n.inputs, quant: n.quant, weights: w,
                                      requantization: n.requantization == .fixedPoint ? nil : n.requantization, shape: shapes[i]))
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let graph = Array(try enc.encode(GraphRecord(format: "skynn-model", name: model.name, inputShape: model.inputShape, nodes: records)))
        let sections: [(UInt32, [UInt8])] = [(graphKind, graph), (blobKind, blobs)]
        var offset = align(headerBytes + sectionEntryBytes * sections.count)
        var table: [(UInt32, Int, Int, UInt64)] = []
        for (k, bytes) in sections {
            table.append((k, offset, bytes.count, fnv1a(bytes[...])))
            offset = align(offset + bytes.count)
        }
        var out: [UInt8] = magic
        let fileVersion: UInt32 = records.contains { $0.requantization != nil } ? version : 1
        appendLE(&out, fileVersion); appendLE(&out, UInt32(sections.count)); appendLE(&out, UInt64(offset)); appendLE(&out, UInt64(0))
        for (k, o, l, c) in table { appendLE(&out, k); appendLE(&out, UInt32(0)); appendLE(&out, UInt64(o)); appendLE(&out, UInt64(l)); appendLE(&out, c) }
        for (i, (_, bytes)) in sections.enumerated() {
            out.append(contentsOf: [UInt8](repeating: 0, count: table[i].1 - out.count))
            out.append(contentsOf: bytes)
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: offset - out.count))
        return out
    }

    public static func write(_ model: Model, to path: String) throws {
        let bytes = try encode(model)
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)) else {
            throw ModelFileError.io(path: path, reason: "cannot write")
        }
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: tmp, toPath: path)
    }

    // MARK: reading

    /// Maps the file and decodes the graph; weights stay in the mapping.
    public static func load(_ path: String) throws -> Model {
        let file = try MappedFile(path: path)
        return try decode(UnsafeRawBufferPointer(start: file.base, count: file.count), owner: file, path: path)
    }

    /// Decodes bytes kept alive by `owner` (a mapping, or an array box in tests).
    static func decode(_ bytes: UnsafeRawBufferPointer, owner: AnyObject, path: String) throws -> Model {
        func bad(_ r: String) -> ModelFileError { .corrupt(path: path, reason: r) }
        guard bytes.count >= headerBytes else { throw ModelFileError.truncated(path: path, size: bytes.count, needed: headerBytes) }
        guard Array(bytes[0..<8]) == magic else { throw ModelFileError.notAModel(path: path) }
        let version: UInt32 = readLE(bytes, 8)
        guard ModelFile.readableVersions.contains(version) else { throw ModelFileError.unsupportedVersion(path: path, version: version) }
        let count = Int(readLE(bytes, 12) as UInt32)
        let size = readLE(bytes, 16) as UInt64
        guard count >= 2, count <= 64 else { throw bad("section count \(count)") }
        guard UInt64(bytes.count) >= size else { throw ModelFileError.truncated(path: path, size: bytes.count, needed: Int(clamping: size)) }
        let tableEnd = headerBytes + sectionEntryBytes * count
        guard bytes.count >= tableEnd else { throw ModelFileError.truncated(path: path, size: bytes.count, needed: tableEnd) }
        var sections: [UInt32: UnsafeRawBufferPointer] = [:]
        for s in 0..<count {
            let e = headerBytes + s * sectionEntryBytes
            let kind: UInt32 = readLE(bytes, e)
            let off = readLE(bytes, e + 8) as UInt64, len = readLE(bytes, e + 16) as UInt64, sum = readLE(bytes, e + 24) as UInt64
            guard off % UInt64(alignment) == 0, off >= UInt64(tableEnd), len <= UInt64(bytes.count), off <= UInt64(bytes.count) - len else {
                throw ModelFileError.truncated(path: path, size: bytes.count, needed: Int(clamping: off &+ len))
            }
            let sec = UnsafeRawBufferPointer(rebasing: bytes[Int(off)..<Int(off + len)])
            guard fnv1a(sec) == sum else { throw bad("section \(s) (kind \(kind)) checksum mismatch") }
            sections[kind] = sec
        }
        guard let graphBytes = sections[graphKind], let blobs = sections[blobKind] else { throw bad("graph or blob section missing") }
        let g: GraphRecord
        do { g = try JSONDecoder().decode(GraphRecord.self, from: Data(graphBytes)) } catch { throw bad("graph: \(error)") }
        guard g.format == "skynn-model" else { throw bad("graph format \(g.format)") }
        func view<T: BitwiseCopyable>(_ r: BlobRef?, _: T.Type) throws -> ParamArray<T>? {
            guard let r else { return nil }
            let stride = MemoryLayout<T>.stride
            guard r.offset >= 0, r.count >= 0, r.offset % alignment == 0, r.offset <= blobs.count,
                  r.count <= (blobs.count - r.offset) / stride else {
                throw bad("blob \(r.offset)+\(r.count) outside the blob section of \(blobs.count) bytes")
            }
            let p = (blobs.baseAddress! + r.offset).assumingMemoryBound(to: T.self)
            return ParamArray(mapped: UnsafeBufferPointer(start: p, count: r.count), owner: owner)
        }
        var nodes: [Node] = []
        for r in g.nodes {
            var w: LayerWeights?
            if let wr = r.weights {
                w = LayerWeights(float: try view(wr.float, Float.self), floatBias: try view(wr.floatBias, Float.self),
                                 int8: try view(wr.int8, Int8.self), scales: try view(wr.scales, Float.self), bias: try view(wr.bias, Int32.self),
                                 runningMean: try view(wr.runningMean, Float.self), runningVar: try view(wr.runningVar, Float.self))
            }
            if r.requantization != nil && version < 2 { throw bad("node \(r.name): requantization needs model file version 2") }
            nodes.append(Node(name: r.name, op: r.op, inputs: r.inputs, quant: r.quant, weights: w, requantization: r.requantization ?? .fixedPoint))
        }
        let model = Model(name: g.name, inputShape: g.inputShape, nodes: nodes)
        do { try model.validate() } catch { throw bad("\(error)") }
        let shapes = try model.shapes()
        for (i, r) in g.nodes.enumerated() where r.shape != shapes[i] { throw bad("node \(i) shape \(r.shape) disagrees with the graph (\(shapes[i]))") }
        return model
    }

    static func align(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}

public enum ModelFileError: Error, Equatable, CustomStringConvertible {
    case io(path: String, reason: String)
    case notAModel(path: String)
    case unsupportedVersion(path: String, version: UInt32)
    case truncated(path: String, size: Int, needed: Int)
    case corrupt(path: String, reason: String)

    public var description: String {
        switch self {
        case let .io(p, r): return "\(p): \(r)"
        case let .notAModel(p): return "\(p): not a SkyNN model file (bad magic)"
        case let .unsupportedVersion(p, v): return "\(p): model file version \(v) is not supported (this build reads versions \(ModelFile.readableVersions.lowerBound) to \(ModelFile.readableVersions.upperBound))"
        case let .truncated(p, s, n): return "\(p): truncated model file (\(s) bytes, needs at least \(n))"
        case let .corrupt(p, r): return "\(p): corrupt model file: \(r)"
        }
    }
}

/// A read-only private mapping of a whole file, unmapped when the last view goes.
final class MappedFile: @unchecked Sendable {
    let base: UnsafeRawPointer?
    let count: Int

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ModelFileError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ModelFileError.io(path: path, reason: String(cString: strerror(errno))) }
        count = Int(st.st_size)
        if count == 0 { base = nil; return }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw ModelFileError.io(path: path, reason: "mmap: " + String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(p)
    }
    deinit { if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) } }
}

func fnv1a<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
    withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
}

func readLE<T: FixedWidthInteger>(_ b: UnsafeRawBufferPointer, _ at: Int) -> T {
    var v: T = 0
    withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[at..<(at + MemoryLayout<T>.size)])) }
    return T(littleEndian: v)
}
