-- Score gains (/analytics/score-gains) rank leads by the net change of their score over a window. Only a lead with
-- a row that raised its score can have gained, so the ranking starts from the leads with such rows, and two
-- partial indexes find the raising rows a DECAY-typed event can hold without walking every DECAY row of the
-- window (after a decay pass that is most of the window). Both hold next to nothing: inserting any other row costs
-- the writer one test of the index's WHERE, no trigger and no write.

-- A decay pass's score rows have weight = -decrease <= 0 and rise only when a negative score snaps up to 0
-- (before < 0); a scored event with a negative weight rises the same way, and lands here too (it does no harm).
CREATE INDEX event_scores_decay_raises ON event_scores(unit_id, ruleset_id, event_seq)
    WHERE delta > 0 AND before < 0 AND weight <= 0;

-- Events someone sent with the type "DECAY" (no decay_id: not a decay pass's): scored by rules like any other
-- event, so every one of them is a candidate. lower(type_key), not type_key: a partial index whose WHERE says
-- `type_key = 'decay'` makes SQLite compare every query's `type_key = ?` with it, bind the value and re-prepare the
-- statement whenever the value changes (the worker's filter-window count did, once per event type: 10-30 % of
-- the worker's CPU time, measured).
CREATE INDEX events_sent_as_decay ON events(unit_id, occurred_at) WHERE lower(type_key) = 'decay' AND decay_id IS NULL;
