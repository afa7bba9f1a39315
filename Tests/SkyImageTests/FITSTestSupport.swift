import Foundation

/// Where things are for tests: the package root (from this file's path) and the
/// shared real data beside it.
enum TestPaths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let data: URL = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
    static var dataAvailable: Bool { FileManager.default.fileExists(atPath: data.appendingPathComponent("README.md").path) }
    static func dataFile(_ relative: String) -> String { data.appendingPathComponent(relative).path }
}

/// A fresh temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("skyimage-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Hand-made FITS bytes, for files no writer would produce.
enum RawFITS {
    /// Header cards padded to 80 characters, END, padded with blanks to 2880 bytes.
    static func header(_ cards: [String]) -> Data {
        var text = ""
        for card in cards + ["END"] { text += card.padding(toLength: 80, withPad: " ", startingAt: 0) }
        let blocks = (text.utf8.count + 2879) / 2880
        text = text.padding(toLength: blocks * 2880, withPad: " ", startingAt: 0)
        return Data(text.utf8)
    }

    /// A `KEY     = value` card: numbers right-justified to column 30, strings from column 11.
    static func card(_ key: String, _ value: String) -> String {
        key.padding(toLength: 8, withPad: " ", startingAt: 0) + "= " + (value.hasPrefix("'") ? value : value.leftPadded(to: 20))
    }

    /// Zero bytes padded to whole 2880-byte blocks.
    static func data(bytes: Int) -> Data { Data(count: (bytes + 2879) / 2880 * 2880) }

    /// A primary image header with the given BITPIX and axes.
    static func imageHeader(bitpix: Int, axes: [Int], extra: [String] = []) -> Data {
        var cards = [card("SIMPLE", "T"), card("BITPIX", "\(bitpix)"), card("NAXIS", "\(axes.count)")]
        for (i, n) in axes.enumerated() { cards.append(card("NAXIS\(i + 1)", "\(n)")) }
        return header(cards + extra)
    }
}

extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
