import CFITSIO
import Foundation

/// cfitsio opens a `.fits.gz` by decompressing all of it into memory before a single
/// header keyword can be checked, so a small file that expands to gigabytes (a gzip
/// bomb, or a damaged camera output) would use memory far outside the site's plan.
/// This streams the file through zlib into one fixed buffer, counting bytes, and
/// stops as soon as the count passes the limit. The gzip trailer's ISIZE field is no
/// help: it is the size modulo 2^32 and describes only the last member.
enum GzipExpansionGuard {
    /// The first two bytes of every gzip member.
    static func isGzip(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let magic = (try? handle.read(upToCount: 2)) ?? Data()
        return magic.count == 2 && magic[magic.startIndex] == 0x1f && magic[magic.startIndex + 1] == 0x8b
    }

    /// Throws `.tooLarge` when the decompressed content exceeds `limit` bytes.
    /// Damaged compressed data is left for cfitsio to report, so errors read the
    /// same for every kind of bad file.
    static func check(path: String, limit: Int) throws(FITSError) {
        guard let gz = gzopen(path, "rb") else { return }
        defer { gzclose(gz) }
        let chunk = 1 << 16
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let n = gzread(gz, buffer, UInt32(chunk))
            if n <= 0 { return }
            total += Int(n)
            if total > limit {
                throw FITSError(.tooLarge, path: path,
                                "compressed file expands to more than \(limit) bytes, the limit for this reader; not opened")
            }
        }
    }
}
