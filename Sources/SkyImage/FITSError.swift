import CFITSIO

/// Why a FITS file could not be read or written: one line naming the file, what
/// went wrong, and (when cfitsio reported it) cfitsio's status code and text.
public struct FITSError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem it is, so callers can react without parsing text.
    public enum Kind: String, Sendable, Equatable {
        case notFound          // no such file
        case notFITS           // empty, text, or otherwise not a FITS file
        case truncated         // the header promises more data than the file holds
        case unsupported       // BITPIX or layout this reader does not handle
        case tooLarge          // axes beyond FITSFile's sanity limits
        case noImage           // no HDU with NAXIS >= 2 (or the chosen HDU is not one)
        case noSuchHDU         // HDU number or EXTNAME not in the file
        case sizeMismatch      // destination view and image differ in size
        case alreadyExists     // writing without overwrite to an existing path
        case io                // anything else cfitsio or the OS reported
    }

    public var kind: Kind
    public var path: String
    /// What went wrong, in words (no newlines).
    public var message: String
    /// The cfitsio status code, or 0 when the check that failed was this library's own.
    public var status: Int32

    public init(_ kind: Kind, path: String, _ message: String, status: Int32 = 0) {
        self.kind = kind
        self.path = path
        self.message = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        self.status = status
    }

    public var description: String {
        var line = "\(path): \(message)"
        if status != 0 { line += " (cfitsio status \(status): \(FITSError.statusText(status)))" }
        return line
    }

    /// cfitsio's short text for a status code, e.g. "tried to move past end of file".
    public static func statusText(_ status: Int32) -> String {
        var text = [CChar](repeating: 0, count: Int(FLEN_STATUS) + 1)
        ffgerr(status, &text)
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Builds an error from a cfitsio status, choosing the kind from the code, and
    /// clears cfitsio's message stack so messages do not pile up across calls.
    static func cfitsio(_ status: Int32, path: String, while doing: String) -> FITSError {
        ffcmsg()
        let kind: Kind
        switch status {
        case END_OF_FILE, READ_ERROR, NO_END: kind = .truncated
        case BAD_BITPIX: kind = .unsupported
        case BAD_NAXIS, BAD_NAXES: kind = .unsupported
        case NO_SIMPLE, UNKNOWN_REC: kind = .notFITS
        case FILE_NOT_OPENED: kind = .notFITS
        case BAD_HDU_NUM: kind = .noSuchHDU
        default: kind = .io
        }
        return FITSError(kind, path: path, doing, status: status)
    }
}
