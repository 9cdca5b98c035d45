-- The inbox moves to a file of its own (`inbox.db`, db/migrations/inbox/). The worker records here, in the same
-- transaction as the scores, the last inbox `seq` it has handled; the server deletes inbox rows at or below it.
-- The `inbox` and `idempotency_keys` tables stay in this file as a parking place: rows found there at start (an
-- older version's, a restored backup's) are moved into the inbox file.
CREATE TABLE inbox_progress (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO inbox_progress VALUES (1, 0);
