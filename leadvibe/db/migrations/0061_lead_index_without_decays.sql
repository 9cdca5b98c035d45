-- A decay pass writes one DECAY event for each lead it decays, and in events_lead_type_time (unit, lead, type,
-- time, ...) each of those entries lands among its lead's own, on a leaf page of its own: at 1 M leads / 10 M
-- events the first pass wrote ~100,000 pages of that index, a third of its time (docs/performance.md,
-- twenty-third round). DECAY rows already have an index by lead, events_lead_decay (unit, lead, rule, time), whose
-- entries a pass appends in lead order. So events_lead_type_time now holds the other events only (rebuilt once,
-- at the upgrade's first start: ~18 s at 10 M events).
--
-- A query that reads a lead's events, DECAY rows included, reads the view lead_events: the two halves of events,
-- each by its own index (SQLite pushes the lead's terms into both arms and merges them in order). A query on
-- events that names a lead must say `decay_id IS NULL` (or read lead_events): without it the planner cannot use
-- events_lead_type_time and walks the OU's events by time.
DROP INDEX IF EXISTS events_lead_type_time;
CREATE INDEX events_lead_type_time ON events(unit_id, lead_id, type_key, occurred_at, scope, decay_id)
    WHERE decay_id IS NULL;
CREATE VIEW lead_events AS
    SELECT * FROM events WHERE decay_id IS NULL
    UNION ALL
    SELECT * FROM events WHERE decay_id IS NOT NULL;
