-- The inorganic-filter window (how many of a lead's earlier events of a type lie in the last N ms, and the first
-- of them) runs for every event of a filtered type. It ranges over this index, but `scope` and `decay_id` were
-- only in the table, so every event of the window cost a row fetch at a random place: with ~20 events of the
-- type in the window, 16 % of the worker's time in a drain (a py-spy profile of the server). With both columns in
-- the index the count reads the index alone. Same name and prefix, so every query that used it keeps its plan;
-- ingestion still writes one entry per event to it (a few bytes larger).
DROP INDEX IF EXISTS events_lead_type_time;
CREATE INDEX events_lead_type_time ON events(unit_id, lead_id, type_key, occurred_at, scope, decay_id);
