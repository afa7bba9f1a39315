import Foundation
import SkyHub
import Testing

/// The hub acknowledges right after its commit, so the commit must survive a power cut:
/// WAL with synchronous FULL, not the NORMAL that GRDB picks for WAL.
@Test func hubStoreCommitsDurablyBeforeItAcknowledges() throws {
    let dir = try TempDir(prefix: "hub-durability")
    let store = try HubStore(path: dir.path("hub.sqlite"))
    #expect(try store.writerSynchronousLevel() == 2)
}
