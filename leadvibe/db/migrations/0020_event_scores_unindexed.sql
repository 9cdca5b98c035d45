-- event_scores rows are written three times per event (one per ruleset) in arrival order, which appends to their
-- primary key; the (unit_id, ruleset_id, lead_id) index made each of them also a write at a random place, the
-- largest share of the pages a worker batch dirties. Every reader finds score rows through their events
-- (events_unit_lead, then the primary key), so the index goes.
DROP INDEX IF EXISTS event_scores_lead;
