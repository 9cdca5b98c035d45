-- A lead's events were indexed twice: by arrival (events_unit_lead: unit, lead, seq, ...) and by type and time
-- (events_lead_type_time: unit, lead, type, time, ...), both covering the same columns. Every event a worker batch
-- stores lands in both, and where a lead's events span pages each of the two dirties a page of its own per lead
-- a batch touches: in a drain of 5,000 leads with ~120 events each, 2.6 pages written per event with both,
-- 1.5 with one (bench_worker.py, docs/performance.md, seventeenth round). events_lead_type_time stays: the filter
-- windows and per-type reads range over it and could not from an arrival-ordered index. What read a lead's events
-- in arrival order reads them from it too and sorts each lead's events alone (SQLite's "temp b-tree for last
-- term of order by": the index gives the lead order, the sort is per lead), which costs a whole-OU backtest
-- about a tenth and a rescore's replay a few percent.
DROP INDEX IF EXISTS events_unit_lead;
