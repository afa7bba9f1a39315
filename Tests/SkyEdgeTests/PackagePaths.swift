import Foundation

/// Paths relative to the package root, found from this file's location.
enum PackagePaths {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var boards: String { root.appendingPathComponent("Boards").path }
    static var sharedData: String { root.appendingPathComponent("../shared/data").standardized.path }
    static var hasSharedData: Bool { FileManager.default.fileExists(atPath: sharedData + "/README.md") }
}
