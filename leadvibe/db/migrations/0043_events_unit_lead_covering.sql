-- A whole-OU backtest walks every event of the OU in (lead, arrival) order and needs only the type, the time and
-- whether the event is scored, observed or a DECAY. Through the old (unit_id, lead_id, seq) index each event was
-- a row fetch at a random place in the table (~80 % of a backtest's time, measured at 300,000 events); with those
-- columns in the index the walk reads the index alone (4-5x faster). It replaces the old index under the same
-- name: the same prefix serves every query that used it, and ingestion still writes one entry per event to it
-- (~25 bytes larger).
DROP INDEX IF EXISTS events_unit_lead;
CREATE INDEX events_unit_lead ON events(unit_id, lead_id, seq, type_key, occurred_at, scope, decay_id);
