-- The inbox file: events acknowledged (202) and not yet scored, and the idempotency keys checked in the same
-- transaction. Only the server writes this file; the worker reads it and records how far it has scored in the
-- main database (`inbox_progress`), so an inbox commit never waits for a worker batch.

CREATE TABLE inbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id        TEXT NOT NULL,
    unit_id       TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    payload       BLOB NOT NULL,
    source        TEXT NOT NULL,
    skip_triggers INTEGER NOT NULL DEFAULT 0,
    received_at   INTEGER NOT NULL
);

-- A repeated event_id / Idempotency-Key within an OU answers the original event id.
CREATE TABLE idempotency_keys (
    unit_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (unit_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_time ON idempotency_keys(created_at);

-- Rows of the main database's `inbox` table (events parked there by an older version, a backup being restored,
-- or a tool writing with the server stopped) are moved here at start, renumbered after what the worker scored;
-- this marks the last one moved (its main-database `seq` and event id), so a start interrupted between the two
-- commits moves none twice; a mark whose row is not in the main database (another file) means nothing.
CREATE TABLE parked_moved (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    seq      INTEGER NOT NULL,
    event_id TEXT NOT NULL
);
INSERT INTO parked_moved VALUES (1, 0, '');
