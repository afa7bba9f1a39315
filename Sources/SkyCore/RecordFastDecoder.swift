/// A direct decoder for the records sites actually send, for the hub's ingest rate:
/// `JSONDecoder` spends most of its time in Codable's generic machinery (about 30 us for a
/// small status record, the largest cost of the hub's ingest).
///
/// It is a fast path, not a second definition of the format: it accepts only plain,
/// unsurprising payloads (known keys, each once; strings without escapes; integers as digits)
/// and returns nil for anything else, which `RecordCodec.decode` then hands to
/// `JSONDecoder`, whose verdict (value or error) stands. A result it does return equals
/// `JSONDecoder`'s (tested on the payload corpus and on every kind of record).
enum RecordFastDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer) -> TelemetryRecord? {
        var p = Parser(bytes: bytes)
        guard let value = p.value(depth: 0) else { return nil }
        p.skipSpace()
        guard p.i == p.end, case let .object(fields) = value else { return nil }
        return record(fields)
    }

    // MARK: values

    indirect enum Value {
        case object([(String, Value)])
        case array([Value])
        case string(String)
        /// The number's text (JSON grammar checked).
        case number(String, isInteger: Bool)
        case bool(Bool)
        case null
    }

    struct Parser {
        let bytes: UnsafeRawBufferPointer
        var i = 0
        let end: Int
        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes; end = bytes.count }

        mutating func skipSpace() {
            while i < end {
                let c = bytes[i]
                guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
                i += 1
            }
        }

        mutating func value(depth: Int) -> Value? {
            guard depth < 8 else { return nil }
            skipSpace()
            guard i < end else { return nil }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var fields: [(String, Value)] = []
                skipSpace()
                if i < end, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(fields) }
                while true {
                    skipSpace()
                    // A repeated key leaves one copy unread, which `Fields.allUsed` refuses.
                    guard let key = string() else { return nil }
                    skipSpace()
                    guard i < end, bytes[i] == UInt8(ascii: ":") else { return nil }
                    i += 1
                    guard let v = value(depth: depth + 1) else { return nil }
                    fields.append((key, v))
                    skipSpace()
                    guard i < end else { return nil }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard bytes[i] == UInt8(ascii: "}") else { return nil }
                    i += 1
                    return .object(fields)
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [Value] = []
                skipSpace()
                if i < end, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    guard let v = value(depth: depth + 1) else { return nil }
                    items.append(v)
                    skipSpace()
                    guard i < end else { return nil }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard bytes[i] == UInt8(ascii: "]") else { return nil }
                    i += 1
                    return .array(items)
                }
            case UInt8(ascii: "\""):
                return string().map(Value.string)
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            default: return number()
            }
        }

        /// A string without escapes or control characters, valid UTF-8; nil otherwise.
        mutating func string() -> String? {
            guard i < end, bytes[i] == UInt8(ascii: "\"") else { return nil }
            let start = i + 1
            var j = start
            var ascii = true
            while j < end {
                let c = bytes[j]
                if c == UInt8(ascii: "\"") { break }
                if c == UInt8(ascii: "\\") || c < 0x20 { return nil }
                if c >= 0x80 { ascii = false }
                j += 1
            }
            guard j < end else { return nil }
            i = j + 1
            let text = UnsafeRawBufferPointer(rebasing: bytes[start..<j])
            // ASCII is valid UTF-8 as it stands: only other text needs checking.
            return ascii ? String(decoding: text, as: UTF8.self) : String(validating: text, as: UTF8.self)
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let n = word.utf8CodeUnitCount
            guard end - i >= n else { return false }
            for k in 0..<n where bytes[i + k] != word.utf8Start[k] { return false }
            i += n
            return true
        }

        /// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        mutating func number() -> Value? {
            let start = i
            func digit(_ k: Int) -> Bool { k < end && bytes[k] >= 0x30 && bytes[k] <= 0x39 }
            if i < end, bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digit(i) else { return nil }
            if bytes[i] == 0x30 { i += 1 } else { while digit(i) { i += 1 } }
            var isInteger = true
            if i < end, bytes[i] == UInt8(ascii: ".") {
                isInteger = false
                i += 1
                guard digit(i) else { return nil }
                while digit(i) { i += 1 }
            }
            if i < end, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                isInteger = false
                i += 1
                if i < end, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                guard digit(i) else { return nil }
                while digit(i) { i += 1 }
            }
            return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self),
                           isInteger: isInteger)
        }
    }

    // MARK: mapping (the synthesized Codable's keys, nothing else)

    struct Fields {
        var items: [(String, Value)]
        var used = 0
        init(_ items: [(String, Value)]) { self.items = items }

        mutating func take(_ key: String) -> Value? {
            guard let v = items.first(where: { $0.0 == key })?.1 else { return nil }
            used += 1
            return v
        }
        /// Absent or null: nil, as decodeIfPresent.
        mutating func optional(_ key: String) -> Value?? {
            guard let v = take(key) else { return .some(nil) }
            if case .null = v { return .some(nil) }
            return .some(v)
        }
        var allUsed: Bool { used == items.count }
    }

    static func uint(_ v: Value?) -> UInt64? {
        guard case let .number(text, true)? = v, !text.hasPrefix("-") else { return nil }
        return UInt64(text)
    }

    static func int(_ v: Value?) -> Int? {
        guard case let .number(text, true)? = v else { return nil }
        return Int(text)
    }

    static func double(_ v: Value?) -> Double? {
        switch v {
        case let .number(text, _)?:
            guard let d = Double(text), d.isFinite else { return nil }
            return d
        case let .string(s)?:
            switch s {
            case "nan": return .nan
            case "inf": return .infinity
            case "-inf": return -.infinity
            default: return nil
            }
        default: return nil
        }
    }

    static func string(_ v: Value?) -> String? {
        guard case let .string(s)? = v else { return nil }
        return s
    }

    static func bool(_ v: Value?) -> Bool? {
        guard case let .bool(b)? = v else { return nil }
        return b
    }

    static func strings(_ v: Value?) -> [String]? {
        guard case let .array(items)? = v else { return nil }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let s = string(item) else { return nil }
            out.append(s)
        }
        return out
    }

    /// An optional field: absent/null is `.some(nil)`; present but not convertible is nil (give up).
    static func optional<T>(_ f: inout Fields, _ key: String, _ convert: (Value?) -> T?) -> T?? {
        guard let v = f.optional(key) else { return nil }
        guard let present = v else { return .some(nil) }
        guard let t = convert(present) else { return nil }
        return .some(t)
    }

    static func record(_ items: [(String, Value)]) -> TelemetryRecord? {
        var f = Fields(items)
        guard let schema = int(f.take("schema")), let kindText = string(f.take("kind")),
              let kind = RecordKind(rawValue: kindText), let site = string(f.take("site")),
              let node = string(f.take("node")), let boot = uint(f.take("boot")), let seq = uint(f.take("seq")),
              let time = double(f.take("time")) else { return nil }
        var r = TelemetryRecord(kind: kind, address: NodeAddress(site: site, node: node), boot: boot, seq: seq, time: time)
        r.schema = schema
        guard let frame = optional(&f, "frame", { v -> FrameReport? in
                  guard case let .object(o)? = v else { return nil }
                  return frameReport(o)
              }),
              let status = optional(&f, "status", { v -> StatusReport? in
                  guard case let .object(o)? = v else { return nil }
                  return statusReport(o)
              }),
              let birth = optional(&f, "birth", { v -> BirthReport? in
                  guard case let .object(o)? = v else { return nil }
                  return birthReport(o)
              }),
              let death = optional(&f, "death", { v -> DeathReport? in
                  guard case let .object(o)? = v else { return nil }
                  var d = Fields(o)
                  guard let reason = string(d.take("reason")), d.allUsed else { return nil }
                  return DeathReport(reason: reason)
              }),
              f.allUsed else { return nil }
        r.frame = frame; r.status = status; r.birth = birth; r.death = death
        return r
    }

    static func statusReport(_ items: [(String, Value)]) -> StatusReport? {
        var f = Fields(items)
        guard let captured = uint(f.take("framesCaptured")), let processed = uint(f.take("framesProcessed")),
              let published = uint(f.take("recordsPublished")), let acknowledged = uint(f.take("recordsAcknowledged")),
              let dropped = uint(f.take("recordsDropped")), let depth = uint(f.take("outboxDepth")),
              let misses = uint(f.take("deadlineMisses")), let errors = uint(f.take("captureErrors")),
              let lastError = optional(&f, "lastError", string), let exposure = optional(&f, "exposure", double),
              let cadence = optional(&f, "cadence", double), f.allUsed else { return nil }
        return StatusReport(framesCaptured: captured, framesProcessed: processed, recordsPublished: published,
                            recordsAcknowledged: acknowledged, recordsDropped: dropped, outboxDepth: depth,
                            deadlineMisses: misses, captureErrors: errors, lastError: lastError,
                            exposure: exposure, cadence: cadence)
    }

    static func birthReport(_ items: [(String, Value)]) -> BirthReport? {
        var f = Fields(items)
        guard let board = string(f.take("board")), let software = string(f.take("software")),
              let capabilities = strings(f.take("capabilities")), let models = strings(f.take("models")),
              let width = int(f.take("frameWidth")), let height = int(f.take("frameHeight")),
              let exposure = optional(&f, "exposure", double), let cadence = optional(&f, "cadence", double),
              f.allUsed else { return nil }
        return BirthReport(board: board, software: software, capabilities: capabilities, models: models,
                           frameWidth: width, frameHeight: height, exposure: exposure, cadence: cadence)
    }

    static func frameReport(_ items: [(String, Value)]) -> FrameReport? {
        var f = Fields(items)
        guard let index = uint(f.take("frameIndex")), let source = string(f.take("source")),
              let dateObs = optional(&f, "dateObs", string), let exptime = double(f.take("exptime")),
              let width = int(f.take("width")), let height = int(f.take("height")),
              let background = double(f.take("background")), let noise = double(f.take("noise")),
              let saturated = double(f.take("saturatedFraction")), let stars = int(f.take("stars")),
              let deadline = double(f.take("deadlineSeconds")), let elapsed = double(f.take("elapsedSeconds")),
              let met = bool(f.take("deadlineMet")), let slack = double(f.take("slackSeconds")),
              case let .array(stageItems)? = f.take("stages"), let shed = strings(f.take("shed")),
              let flags = strings(f.take("flags")),
              let score = optional(&f, "score", int), let verdict = optional(&f, "verdict", string),
              let fwhm = optional(&f, "fwhm", double), let cloudFraction = optional(&f, "cloudFraction", double),
              let trails = optional(&f, "trails", int), f.allUsed else { return nil }
        var stages: [StageTiming] = []
        stages.reserveCapacity(stageItems.count)
        for item in stageItems {
            guard case let .object(o) = item else { return nil }
            var s = Fields(o)
            guard let name = string(s.take("stage")), let ms = double(s.take("ms")), s.allUsed else { return nil }
            stages.append(StageTiming(stage: name, ms: ms))
        }
        return FrameReport(frameIndex: index, source: source, dateObs: dateObs, exptime: exptime, width: width,
                           height: height, background: background, noise: noise, saturatedFraction: saturated,
                           stars: stars, deadlineSeconds: deadline, elapsedSeconds: elapsed, deadlineMet: met,
                           slackSeconds: slack, stages: stages, shed: shed, flags: flags,
                           score: score, verdict: verdict, fwhm: fwhm, cloudFraction: cloudFraction, trails: trails)
    }
}
