import GRDB

/// Tables of the hub's SQLite file. Records are keyed by (site, node, boot, seq) so a
/// replayed or duplicated record changes nothing (INSERT OR IGNORE).
enum HubStoreSchema {
    static func migrator() -> DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE records (
                    site TEXT NOT NULL, node TEXT NOT NULL, boot INTEGER NOT NULL, seq INTEGER NOT NULL,
                    kind TEXT NOT NULL, time REAL NOT NULL, received_at REAL NOT NULL, schema INTEGER NOT NULL,
                    payload TEXT NOT NULL,
                    PRIMARY KEY (site, node, boot, seq)
                ) WITHOUT ROWID;

                CREATE TABLE frames (
                    site TEXT NOT NULL, node TEXT NOT NULL, boot INTEGER NOT NULL, seq INTEGER NOT NULL,
                    time REAL NOT NULL, frame_index INTEGER NOT NULL, source TEXT NOT NULL, date_obs TEXT,
                    exptime REAL, width INTEGER NOT NULL, height INTEGER NOT NULL,
                    background REAL, noise REAL, saturated_fraction REAL, stars INTEGER NOT NULL,
                    deadline_seconds REAL, elapsed_seconds REAL, deadline_met INTEGER NOT NULL, slack_seconds REAL,
                    shed TEXT NOT NULL, flags TEXT NOT NULL,
                    PRIMARY KEY (site, node, boot, seq)
                ) WITHOUT ROWID;
                CREATE INDEX frames_by_time ON frames (site, node, time);

                -- Latest known state of every node: birth, death, last record.
                CREATE TABLE nodes (
                    site TEXT NOT NULL, node TEXT NOT NULL, boot INTEGER NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('alive', 'dead')), death_reason TEXT,
                    board TEXT, software TEXT, birth TEXT, last_birth REAL,
                    last_seen REAL NOT NULL,
                    PRIMARY KEY (site, node)
                );

                -- Every birth and death as received (they are not sequenced, so not in records).
                CREATE TABLE node_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    site TEXT NOT NULL, node TEXT NOT NULL, boot INTEGER NOT NULL, kind TEXT NOT NULL,
                    time REAL NOT NULL, received_at REAL NOT NULL, payload TEXT NOT NULL
                );

                -- Highest seq such that 1...up_to of that boot are all stored.
                CREATE TABLE acks (
                    site TEXT NOT NULL, node TEXT NOT NULL, boot INTEGER NOT NULL, up_to INTEGER NOT NULL,
                    PRIMARY KEY (site, node, boot)
                ) WITHOUT ROWID;

                CREATE TABLE rejected (
                    reason TEXT PRIMARY KEY, count INTEGER NOT NULL,
                    last_topic TEXT, last_error TEXT, last_at REAL
                );
                """)
        }
        // The frame-quality judgement sites publish since the full extractor runs there.
        // Older frames keep NULL, which the report's medians skip.
        m.registerMigration("v2-frame-quality") { db in
            try db.execute(sql: """
                ALTER TABLE frames ADD COLUMN score INTEGER;
                ALTER TABLE frames ADD COLUMN verdict TEXT;
                ALTER TABLE frames ADD COLUMN fwhm REAL;
                ALTER TABLE frames ADD COLUMN cloud_fraction REAL;
                ALTER TABLE frames ADD COLUMN trails INTEGER;
                """)
        }
        return m
    }
}
