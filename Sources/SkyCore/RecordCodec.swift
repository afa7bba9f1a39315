import Foundation

/// Why a payload was refused. The hub counts refusals by `reason`.
public enum RecordDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooLarge(bytes: Int, limit: Int)
    case malformed(String)
    case unsupportedSchema(Int)
    case invalidField(String)
    case topicMismatch(String)

    /// A short stable name, used as a counter key.
    public var reason: String {
        switch self {
        case .tooLarge: "too_large"
        case .malformed: "malformed"
        case .unsupportedSchema: "unsupported_schema"
        case .invalidField: "invalid_field"
        case .topicMismatch: "topic_mismatch"
        }
    }

    public var description: String {
        switch self {
        case let .tooLarge(b, l): "payload of \(b) bytes exceeds the \(l)-byte limit"
        case let .malformed(m): "malformed payload: \(m)"
        case let .unsupportedSchema(v): "unsupported schema version \(v) (this build reads \(TelemetryRecord.schemaVersion))"
        case let .invalidField(m): "invalid field: \(m)"
        case let .topicMismatch(m): "topic does not match payload: \(m)"
        }
    }
}

private struct SchemaProbe: Decodable { var schema: Int }

/// JSON encoding of records (UTF-8, keys sorted so identical records give identical bytes).
public enum RecordCodec {
    /// Largest payload accepted: generous for an alert with three 63x63 float stamps per candidate.
    public static let maxPayloadBytes = 1 << 20

    public static func encode(_ record: TelemetryRecord) throws -> [UInt8] {
        if let bytes = RecordFastEncoder.encode(record) { return bytes }
        return try encodeWithFoundation(record)
    }

    /// The reference encoding (and the only one for text with control characters).
    static func encodeWithFoundation(_ record: TelemetryRecord) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array(try e.encode(record))
    }

    public static func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(RecordDecodingError) -> TelemetryRecord {
        guard bytes.count <= maxPayloadBytes else { throw .tooLarge(bytes: bytes.count, limit: maxPayloadBytes) }
        // Plain payloads (what sites send) skip Codable; anything else gets JSONDecoder's verdict.
        if let r = bytes.withContiguousStorageIfAvailable({ RecordFastDecoder.decode(UnsafeRawBufferPointer($0)) }) ?? nil {
            guard r.schema == TelemetryRecord.schemaVersion else { throw .unsupportedSchema(r.schema) }
            try validate(r)
            return r
        }
        return try decodeWithFoundation(bytes)
    }

    /// The reference decoding (and the only one for payloads the fast path leaves alone).
    static func decodeWithFoundation<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(RecordDecodingError) -> TelemetryRecord {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data = Data(bytes)
        let r: TelemetryRecord
        do { r = try d.decode(TelemetryRecord.self, from: data) } catch {
            // Only a payload that failed is probed for its version (one decode for the good ones),
            // so a future schema says so instead of "malformed".
            guard let v = try? d.decode(SchemaProbe.self, from: data) else {
                throw .malformed("not a JSON object with an integer 'schema'")
            }
            guard v.schema == TelemetryRecord.schemaVersion else { throw .unsupportedSchema(v.schema) }
            throw .malformed(Self.describe(error))
        }
        guard r.schema == TelemetryRecord.schemaVersion else { throw .unsupportedSchema(r.schema) }
        try validate(r)
        return r
    }

    /// Decodes and checks the payload against the topic it arrived on: a node may only speak for itself.
    public static func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes, topic: String) throws(RecordDecodingError) -> TelemetryRecord {
        guard let (addr, kind) = Topics.parseRecordTopic(topic) else { throw .topicMismatch("not a record topic: \(topic)") }
        let r = try decode(bytes)
        guard r.address == addr, r.kind == kind else {
            throw .topicMismatch("payload says \(r.site)/\(r.node)/\(r.kind.rawValue), topic says \(addr)/\(kind.rawValue)")
        }
        return r
    }

    static func validate(_ r: TelemetryRecord) throws(RecordDecodingError) {
        guard Identifier.isValid(r.site) else { throw .invalidField("site '\(r.site.prefix(70))'") }
        guard Identifier.isValid(r.node) else { throw .invalidField("node '\(r.node.prefix(70))'") }
        // 1970 to 2286: anything else is a broken clock or a forged payload.
        guard r.time.isFinite, r.time > 0, r.time < 1e10 else { throw .invalidField("time \(r.time) is not a plausible Unix time") }
        if r.kind.isSequenced {
            guard r.seq >= 1 else { throw .invalidField("sequenced record with seq 0") }
        }
        let bodies = [r.frame != nil, r.status != nil, r.birth != nil, r.death != nil].filter { $0 }.count
        let expected: Bool = switch r.kind {
        case .frame: r.frame != nil
        case .status: r.status != nil
        case .birth: r.birth != nil
        case .death: r.death != nil
        case .anomaly, .alert: true // bodies arrive with the models (issue 3/4); header-only for now
        }
        guard expected, bodies <= 1 else { throw .invalidField("body does not match kind '\(r.kind.rawValue)'") }
        if let f = r.frame {
            guard f.width > 0, f.height > 0, f.width <= 65_536, f.height <= 65_536 else {
                throw .invalidField("frame size \(f.width)x\(f.height)")
            }
            guard f.stars >= 0 else { throw .invalidField("negative star count") }
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(k, c): "missing key '\(k.stringValue)' at \(path(c))"
        case let DecodingError.typeMismatch(t, c): "expected \(t) at \(path(c))"
        case let DecodingError.valueNotFound(t, c): "missing \(t) at \(path(c))"
        case let DecodingError.dataCorrupted(c): "corrupt data at \(path(c)): \(c.debugDescription)"
        default: "\(error)"
        }
    }

    static func path(_ c: DecodingError.Context) -> String {
        c.codingPath.isEmpty ? "top level" : c.codingPath.map(\.stringValue).joined(separator: ".")
    }

    public static func encodeAck(_ a: Acknowledgement) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return Array(try e.encode(a))
    }

    public static func decodeAck<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(RecordDecodingError) -> Acknowledgement {
        guard bytes.count <= 4096 else { throw .tooLarge(bytes: bytes.count, limit: 4096) }
        do { return try JSONDecoder().decode(Acknowledgement.self, from: Data(bytes)) } catch {
            throw .malformed(describe(error))
        }
    }
}
