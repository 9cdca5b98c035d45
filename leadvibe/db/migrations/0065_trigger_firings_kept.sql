-- A pattern or surge trigger's firings for a lead, by event time (a JSON array, ascending, the latest 64): "at most
-- once per lead per window" is checked against the nearest firing on each side of an event. One time alone (the
-- last firing, kept in last_fired_ts) let a late burst's firing replace the present one's, which then fired again
-- within its window. Rows from before keep their one time: it is read as a list of one.
ALTER TABLE trigger_state ADD COLUMN fired_ts TEXT;
