-- One index orders the leads by activity. `last_event_at` and `last_organic_at` hold the same time, the lead's
-- latest scored event that is neither DECAY nor observe-scope (the worker and every recompute set both from it;
-- docs/leads.md), so leads_unit_activity and leads_unit_organic were twins, and each lead a worker batch touched
-- moved an entry in both: at 500,000 leads 0.78 of the 6.87 pages a scored event wrote went to each
-- (bench_worker.py --pages-by-tree, docs/performance.md, twentieth round). The recency sort and the `last_active`
-- filter now read leads_unit_organic.
--
-- Leads whose two columns differ were last recomputed by the event-type deletion's own copy of the recompute,
-- which counted DECAY and observe events as activity: recomputed here the way the worker keeps them.
-- Each lead's newest entry is found on its own range of events_lead_type_time (the planner, left to itself, walked
-- the OU's events by time for every lead).
UPDATE leads SET (last_event_at, last_event_type, last_organic_at) = (
        SELECT e.occurred_at, e.event_type, e.occurred_at FROM events e WHERE e.seq = (
            SELECT x.seq FROM events x INDEXED BY events_lead_type_time
            WHERE x.unit_id = leads.unit_id AND x.lead_id = leads.id AND x.scope <> 'observe' AND x.decay_id IS NULL
            ORDER BY x.occurred_at DESC, x.seq DESC LIMIT 1))
    WHERE merged_into IS NULL AND last_event_at IS NOT last_organic_at;
DROP INDEX IF EXISTS leads_unit_activity;
