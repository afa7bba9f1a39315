/// Writes a record as `JSONEncoder` with sorted keys does, byte for byte, without Codable's
/// generic machinery (the largest cost of a site's publish after the system calls).
/// Text with control characters is left to `JSONEncoder` (nil); tests compare the bytes
/// of both on every record kind and on random values.
enum RecordFastEncoder {
    static func encode(_ r: TelemetryRecord) -> [UInt8]? {
        var w = Writer()
        w.out.reserveCapacity(r.frame == nil ? 320 : 1024)
        var fields: [(String, (inout Writer) -> Bool)] = [
            ("boot", { $0.uint(r.boot) }), ("kind", { $0.string(r.kind.rawValue) }),
            ("node", { $0.string(r.node) }), ("schema", { $0.int(r.schema) }), ("seq", { $0.uint(r.seq) }),
            ("site", { $0.string(r.site) }), ("time", { $0.double(r.time) }),
        ]
        if let b = r.birth { fields.append(("birth", { $0.birth(b) })) }
        if let d = r.death { fields.append(("death", { $0.object([("reason", { $0.string(d.reason) })]) })) }
        if let f = r.frame { fields.append(("frame", { $0.frame(f) })) }
        if let s = r.status { fields.append(("status", { $0.status(s) })) }
        return w.object(fields) ? w.out : nil
    }

    struct Writer {
        var out: [UInt8] = []

        mutating func raw(_ s: String) { out.append(contentsOf: s.utf8) }

        /// Keys sorted as `.sortedKeys` sorts them (all ours are ASCII letters).
        mutating func object(_ fields: [(String, (inout Writer) -> Bool)]) -> Bool {
            out.append(UInt8(ascii: "{"))
            for (n, (key, write)) in fields.sorted(by: { $0.0 < $1.0 }).enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                guard string(key) else { return false }
                out.append(UInt8(ascii: ":"))
                guard write(&self) else { return false }
            }
            out.append(UInt8(ascii: "}"))
            return true
        }

        mutating func string(_ s: String) -> Bool {
            out.append(UInt8(ascii: "\""))
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                    out.append(UInt8(ascii: "\\"))
                    out.append(b)
                case 0..<0x20:
                    return false
                default:
                    out.append(b)
                }
            }
            out.append(UInt8(ascii: "\""))
            return true
        }

        mutating func strings(_ items: [String]) -> Bool {
            out.append(UInt8(ascii: "["))
            for (n, s) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                guard string(s) else { return false }
            }
            out.append(UInt8(ascii: "]"))
            return true
        }

        mutating func uint(_ v: UInt64) -> Bool { raw(String(v)); return true }
        mutating func int(_ v: Int) -> Bool { raw(String(v)); return true }
        mutating func bool(_ v: Bool) -> Bool { raw(v ? "true" : "false"); return true }

        mutating func double(_ v: Double) -> Bool {
            if v.isNaN { raw("\"nan\""); return true }
            if v.isInfinite { raw(v > 0 ? "\"inf\"" : "\"-inf\""); return true }
            var text = v.description
            if text.hasSuffix(".0") { text.removeLast(2) }
            raw(text)
            return true
        }

        mutating func status(_ s: StatusReport) -> Bool {
            var f: [(String, (inout Writer) -> Bool)] = [
                ("captureErrors", { $0.uint(s.captureErrors) }), ("deadlineMisses", { $0.uint(s.deadlineMisses) }),
                ("framesCaptured", { $0.uint(s.framesCaptured) }), ("framesProcessed", { $0.uint(s.framesProcessed) }),
                ("outboxDepth", { $0.uint(s.outboxDepth) }), ("recordsAcknowledged", { $0.uint(s.recordsAcknowledged) }),
                ("recordsDropped", { $0.uint(s.recordsDropped) }), ("recordsPublished", { $0.uint(s.recordsPublished) }),
            ]
            if let e = s.lastError { f.append(("lastError", { $0.string(e) })) }
            if let e = s.exposure { f.append(("exposure", { $0.double(e) })) }
            if let c = s.cadence { f.append(("cadence", { $0.double(c) })) }
            return object(f)
        }

        mutating func birth(_ b: BirthReport) -> Bool {
            var f: [(String, (inout Writer) -> Bool)] = [
                ("board", { $0.string(b.board) }), ("software", { $0.string(b.software) }),
                ("capabilities", { $0.strings(b.capabilities) }), ("models", { $0.strings(b.models) }),
                ("frameWidth", { $0.int(b.frameWidth) }), ("frameHeight", { $0.int(b.frameHeight) }),
            ]
            if let e = b.exposure { f.append(("exposure", { $0.double(e) })) }
            if let c = b.cadence { f.append(("cadence", { $0.double(c) })) }
            return object(f)
        }

        mutating func frame(_ r: FrameReport) -> Bool {
            // A frame with the judgement's details (one per exposure, not the hot path) is left
            // to JSONEncoder rather than written a second way here.
            if r.quality != nil { return false }
            var f: [(String, (inout Writer) -> Bool)] = [
                ("frameIndex", { $0.uint(r.frameIndex) }), ("source", { $0.string(r.source) }),
                ("exptime", { $0.double(r.exptime) }), ("width", { $0.int(r.width) }), ("height", { $0.int(r.height) }),
                ("background", { $0.double(r.background) }), ("noise", { $0.double(r.noise) }),
                ("saturatedFraction", { $0.double(r.saturatedFraction) }), ("stars", { $0.int(r.stars) }),
                ("deadlineSeconds", { $0.double(r.deadlineSeconds) }), ("elapsedSeconds", { $0.double(r.elapsedSeconds) }),
                ("deadlineMet", { $0.bool(r.deadlineMet) }), ("slackSeconds", { $0.double(r.slackSeconds) }),
                ("shed", { $0.strings(r.shed) }), ("flags", { $0.strings(r.flags) }),
                ("stages", { w in
                    w.out.append(UInt8(ascii: "["))
                    for (n, s) in r.stages.enumerated() {
                        if n > 0 { w.out.append(UInt8(ascii: ",")) }
                        guard w.object([("stage", { $0.string(s.stage) }), ("ms", { $0.double(s.ms) })]) else { return false }
                    }
                    w.out.append(UInt8(ascii: "]"))
                    return true
                }),
            ]
            if let d = r.dateObs { f.append(("dateObs", { $0.string(d) })) }
            if let v = r.score { f.append(("score", { $0.int(v) })) }
            if let v = r.verdict { f.append(("verdict", { $0.string(v) })) }
            if let v = r.fwhm { f.append(("fwhm", { $0.double(v) })) }
            if let v = r.cloudFraction { f.append(("cloudFraction", { $0.double(v) })) }
            if let v = r.trails { f.append(("trails", { $0.int(v) })) }
            return object(f)
        }
    }
}
