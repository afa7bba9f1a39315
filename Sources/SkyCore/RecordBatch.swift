/// Several records of one node in one MQTT message (`skyedge/v1/<site>/<node>/batch`), so a
/// backlog costs one PUBLISH/PUBACK and one broker delivery per batch instead of per record.
///
/// The envelope is `{"v":1,"records":[R1,R2,...]}` where each `Ri` is a record's own payload,
/// byte for byte as it would be sent alone (Docs/telemetry.md). Each record is validated on
/// its own: a bad one is refused and its neighbours still count. The whole batch is refused
/// when the envelope is broken, of another version, too large, or when a record speaks for
/// another node than the topic (a node may only speak for itself).
public enum RecordBatch {
    public static let version = 1
    /// Largest batch the hub accepts (sites send far smaller ones: `TelemetryPublisher`'s byte cap).
    /// A single record's limit: `skyhub provision` sets the broker's packet limit from it, so nothing larger arrives.
    public static let maxPayloadBytes = RecordCodec.maxPayloadBytes
    /// Most records in one batch the hub accepts.
    public static let maxRecords = 10_000

    private static let head = Array(#"{"v":1,"records":["#.utf8)
    private static let tail = Array("]}".utf8)

    /// Bytes of an envelope around payloads of `recordBytes` in total, `count` of them.
    public static func encodedSize(recordBytes: Int, count: Int) -> Int {
        head.count + tail.count + recordBytes + max(0, count - 1)
    }

    /// The envelope around already encoded record payloads (not re-encoded: the hub stores the same bytes).
    public static func encode<Payloads: Collection>(_ payloads: Payloads) -> [UInt8] where Payloads.Element == [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedSize(recordBytes: payloads.reduce(0) { $0 + $1.count }, count: payloads.count))
        out += head
        var first = true
        for p in payloads {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out += p
        }
        out += tail
        return out
    }

    /// One element of a batch: its bytes and the verdict on them.
    public struct Item: Sendable {
        public var payload: [UInt8]
        public var result: Result<TelemetryRecord, RecordDecodingError>
    }

    /// Decodes a batch that arrived on `topic`; throws when the whole batch is refused.
    public static func decode(_ bytes: [UInt8], topic: String) throws(RecordDecodingError) -> [Item] {
        guard let address = Topics.parseBatchTopic(topic) else { throw .topicMismatch("not a batch topic: \(topic)") }
        guard bytes.count <= maxPayloadBytes else { throw .tooLarge(bytes: bytes.count, limit: maxPayloadBytes) }
        let ranges = try split(bytes)
        var items: [Item] = []
        items.reserveCapacity(ranges.count)
        for range in ranges {
            let slice = bytes[range]
            let result: Result<TelemetryRecord, RecordDecodingError>
            do {
                let r = try RecordCodec.decode(slice)
                guard r.address == address else {
                    throw RecordDecodingError.topicMismatch("a record in the batch says \(r.site)/\(r.node), topic says \(address)")
                }
                result = r.kind.isSequenced
                    ? .success(r) : .failure(.invalidField("\(r.kind.rawValue) records are not sent in batches"))
            } catch let e as RecordDecodingError {
                if case .topicMismatch = e { throw e }
                result = .failure(e)
            } catch {
                result = .failure(.malformed("\(error)"))
            }
            items.append(Item(payload: Array(slice), result: result))
        }
        return items
    }

    /// The byte ranges of the records in an envelope, without decoding them.
    public static func split(_ b: [UInt8]) throws(RecordDecodingError) -> [Range<Int>] {
        var i = 0
        func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        func expect(_ c: Character) throws(RecordDecodingError) {
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: c.unicodeScalars.first!) else {
                throw .malformed("batch envelope: expected '\(c)' at byte \(i)")
            }
            i += 1
        }
        var versionSeen: Int?
        var records: [Range<Int>]?
        try expect("{")
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: "}") { throw .malformed("batch envelope without 'v' and 'records'") }
        while true {
            skipSpace()
            let keyRange = try scanValue(b, &i)
            guard b[keyRange.lowerBound] == UInt8(ascii: "\"") else { throw .malformed("batch envelope: key expected at byte \(keyRange.lowerBound)") }
            let key = b[(keyRange.lowerBound + 1)..<(keyRange.upperBound - 1)]
            try expect(":")
            skipSpace()
            if key.elementsEqual("v".utf8) {
                let v = try scanValue(b, &i)
                guard let n = Int(String(decoding: b[v], as: UTF8.self)) else { throw .malformed("batch envelope: 'v' is not an integer") }
                versionSeen = n
            } else if key.elementsEqual("records".utf8) {
                try expect("[")
                var found: [Range<Int>] = []
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "]") {
                    i += 1
                } else {
                    while true {
                        skipSpace()
                        found.append(try scanValue(b, &i))
                        guard found.count <= maxRecords else { throw .tooLarge(bytes: b.count, limit: maxPayloadBytes) }
                        skipSpace()
                        guard i < b.count else { throw .malformed("batch envelope: unterminated 'records'") }
                        if b[i] == UInt8(ascii: "]") { i += 1; break }
                        try expect(",")
                    }
                }
                records = found
            } else {
                _ = try scanValue(b, &i) // later versions may add keys; 'v' says whether we can read them
            }
            skipSpace()
            guard i < b.count else { throw .malformed("batch envelope: unterminated object") }
            if b[i] == UInt8(ascii: "}") { i += 1; break }
            try expect(",")
        }
        skipSpace()
        guard i == b.count else { throw .malformed("batch envelope: bytes after the end at \(i)") }
        guard let v = versionSeen else { throw .malformed("batch envelope without 'v'") }
        guard v == version else { throw .unsupportedSchema(v) }
        guard let records else { throw .malformed("batch envelope without 'records'") }
        return records
    }

    /// The extent of one JSON value starting at `i` (after spaces); moves `i` past it.
    /// Only finds where the value ends: what is inside is the record decoder's business.
    private static func scanValue(_ b: [UInt8], _ i: inout Int) throws(RecordDecodingError) -> Range<Int> {
        let start = i
        guard i < b.count else { throw .malformed("batch envelope: value expected at byte \(i)") }
        switch b[i] {
        case UInt8(ascii: "\""):
            i += 1
            while i < b.count, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
            guard i < b.count else { throw .malformed("batch envelope: unterminated string at byte \(start)") }
            i += 1
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var inString = false
            while i < b.count {
                let c = b[i]
                if inString {
                    if c == UInt8(ascii: "\\") { i += 1 } else if c == UInt8(ascii: "\"") { inString = false }
                } else if c == UInt8(ascii: "\"") {
                    inString = true
                } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                    depth += 1
                } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                    depth -= 1
                    if depth == 0 { i += 1; return start..<i }
                }
                i += 1
            }
            throw .malformed("batch envelope: unterminated value at byte \(start)")
        default:
            while i < b.count, !",]} \t\r\n".utf8.contains(b[i]) { i += 1 }
            guard i > start else { throw .malformed("batch envelope: value expected at byte \(start)") }
        }
        return start..<i
    }
}
