import Foundation
import Testing
@testable import SkyEdge

@Test func outboxAndCommandKeysParseValidateAndDefaultNextToTheConfig() throws {
    let parsed = try SiteConfig.parse("""
    site: a
    node: b
    outbox: { directory: /data/outbox, maxBytes: 2097152, sync: on-rotate, window: 50 }
    commands: { handler: /usr/local/bin/hook, handlerTimeout: 5 }
    broker: { caFile: /etc/ca.crt, certFile: /etc/c.crt, keyFile: /etc/c.key }
    """)
    #expect(parsed.outbox.directory == "/data/outbox" && parsed.outbox.maxBytes == 2_097_152)
    #expect(parsed.outbox.sync == "on-rotate" && parsed.outbox.window == 50)
    #expect(parsed.commands.handler == "/usr/local/bin/hook" && parsed.commands.handlerTimeout == 5)
    #expect(parsed.broker.certFile == "/etc/c.crt" && parsed.broker.keyFile == "/etc/c.key")

    let defaults = try SiteConfig.parse("site: a\nnode: b\n")
    #expect(defaults.outbox.directory == nil && defaults.outbox.maxBytes == 1 << 30 && defaults.outbox.sync == "every-record")

    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try "site: lapalma\nnode: cam2\n".write(to: dir.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
    let loaded = try SiteConfig.load(path: dir.appendingPathComponent("site.yaml").path)
    #expect(loaded.outbox.directory == dir.appendingPathComponent("outbox-lapalma-cam2").path)

    for (text, needle) in [("outbox: { maxBytes: 1000 }", "outbox.maxBytes"), ("outbox: { sync: sometimes }", "outbox.sync"),
                           ("outbox: { window: 0 }", "outbox.window"), ("commands: { handlerTimeout: 0 }", "commands.handlerTimeout")] {
        #expect(throws: ConfigError.self) { try SiteConfig.parse("site: a\nnode: b\n" + text) }
        do { _ = try SiteConfig.parse("site: a\nnode: b\n" + text) } catch { #expect("\(error)".contains(needle), "\(error)") }
    }
}
