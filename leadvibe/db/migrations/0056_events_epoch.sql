-- A worker keeps the recent events of a lead's grouping-filtered type in memory across its batches
-- (pipeline/filter_windows.py). Only its own batches insert the events those windows count, so what else can make
-- them stale is a delete of an event (a lead's deletion, an event type's, a wipe) or a change of the columns a
-- window reads (a merge moves events to another lead). Each raises this counter, which every worker batch reads
-- inside its transaction; a changed value empties the hold. One row, so a large delete rewrites one page; an
-- upsert, so the counter still moves if the row is ever gone (a missing row reads as 0).
CREATE TABLE events_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);

CREATE TRIGGER events_epoch_delete AFTER DELETE ON events BEGIN
    INSERT INTO events_epoch (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER events_epoch_move AFTER UPDATE OF unit_id, lead_id, type_key, occurred_at, scope, decay_id ON events
BEGIN
    INSERT INTO events_epoch (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1;
END;
