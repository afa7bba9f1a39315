/// How one record is laid out in an outbox segment file (all integers little-endian):
///
///     magic "SKYO" (4) | body length (4) | CRC-32 of body (4) | body
///     body = boot (8) | seq (8) | topic length (2) | topic (UTF-8) | payload
///
/// A reader accepts a frame only if the magic, a plausible length, the whole body and the
/// CRC are all there; anything else at the end of a file is a torn append and is cut off.
enum OutboxFrame {
    static let magic: UInt32 = 0x4F59_4B53 // "SKYO" read as little-endian
    static let headerBytes = 12
    /// Larger than any record the publisher accepts (1 MiB payload + topic).
    static let maxBodyBytes = 2 << 20

    static func encode(_ r: PendingRecord) -> [UInt8] {
        let topic = Array(r.topic.utf8)
        var body: [UInt8] = []
        body.reserveCapacity(18 + topic.count + r.payload.count)
        appendLE(&body, r.boot)
        appendLE(&body, r.seq)
        appendLE(&body, UInt16(truncatingIfNeeded: topic.count))
        body += topic
        body += r.payload
        var frame: [UInt8] = []
        frame.reserveCapacity(headerBytes + body.count)
        appendLE(&frame, magic)
        appendLE(&frame, UInt32(body.count))
        appendLE(&frame, CRC32.checksum(body))
        frame += body
        return frame
    }

    enum Scan: Equatable {
        /// A whole, valid frame of `length` bytes (header included).
        case record(boot: UInt64, seq: UInt64, length: Int)
        /// Nothing valid here: the file must end at this offset.
        case invalid
        case end
    }

    /// Examines the frame starting at `offset` in `bytes`.
    static func scan(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Scan {
        let left = bytes.count - offset
        if left == 0 { return .end }
        guard left >= headerBytes, readLE(bytes, offset, UInt32.self) == magic else { return .invalid }
        let length = Int(readLE(bytes, offset + 4, UInt32.self))
        guard length >= 18, length <= maxBodyBytes, left - headerBytes >= length else { return .invalid }
        let body = UnsafeRawBufferPointer(rebasing: bytes[(offset + headerBytes)..<(offset + headerBytes + length)])
        guard CRC32.checksum(body) == readLE(bytes, offset + 8, UInt32.self) else { return .invalid }
        let topicLength = Int(readLE(body, 16, UInt16.self))
        guard 18 + topicLength <= length else { return .invalid }
        return .record(boot: readLE(body, 0, UInt64.self), seq: readLE(body, 8, UInt64.self), length: headerBytes + length)
    }

    /// Decodes a frame already validated by `scan` (or re-validates it: bytes read back later).
    static func decode(_ frame: [UInt8]) -> PendingRecord? {
        frame.withUnsafeBytes { b -> PendingRecord? in
            guard case let .record(boot, seq, length) = scan(b, at: 0), length == b.count else { return nil }
            let topicLength = Int(readLE(b, headerBytes + 16, UInt16.self))
            let topicStart = headerBytes + 18
            let topic = String(decoding: b[topicStart..<(topicStart + topicLength)], as: UTF8.self)
            let payload = Array(b[(topicStart + topicLength)...])
            return PendingRecord(boot: boot, seq: seq, topic: topic, payload: payload)
        }
    }

    static func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    static func readLE<T: FixedWidthInteger>(_ b: UnsafeRawBufferPointer, _ offset: Int, _: T.Type) -> T {
        var v = T.zero
        withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[offset..<(offset + MemoryLayout<T>.size)])) }
        return T(littleEndian: v)
    }
}
