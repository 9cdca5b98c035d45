-- Hourly totals for the windowed analytics (/analytics, /analytics/stats, /usage): a window of the last 24 hours
-- or of a month reads one row per hour (and per type) plus the rows of its unaligned edge (under an hour), instead
-- of every event of the window joined to its score rows. Hours, not days: a 24-hour window back from "now" never
-- aligns to days, and an edge of up to a day of rows would be the window itself.
--
-- hour = floor(ms / 3600000) in UTC (exact for negative instants too). Triggers keep the totals exact in the same
-- transaction as every change, whoever writes (worker, decay, rescore, backtest-apply, deletions, merge,
-- retention, sample data). Totals that fall to zero stay as zero rows: readers sum them.

-- Events per OU, hour of occurred_at and type (DECAY included: readers leave it out where they must).
CREATE TABLE analytics_event_hours (
    unit_id  TEXT NOT NULL,
    hour     INTEGER NOT NULL,
    type_key TEXT NOT NULL,
    events   INTEGER NOT NULL,
    PRIMARY KEY (unit_id, hour, type_key)
) WITHOUT ROWID;

-- Net score change per OU (the event's), ruleset and hour of the event's occurred_at.
CREATE TABLE analytics_score_hours (
    unit_id    TEXT NOT NULL,
    ruleset_id TEXT NOT NULL,
    hour       INTEGER NOT NULL,
    delta      INTEGER NOT NULL,
    PRIMARY KEY (unit_id, ruleset_id, hour)
) WITHOUT ROWID;

-- Live leads (merged_into IS NULL) per OU and hour of last_organic_at (leads without one are not counted).
CREATE TABLE analytics_active_hours (
    unit_id TEXT NOT NULL,
    hour    INTEGER NOT NULL,
    leads   INTEGER NOT NULL,
    PRIMARY KEY (unit_id, hour)
) WITHOUT ROWID;

INSERT INTO analytics_event_hours (unit_id, hour, type_key, events)
    SELECT unit_id, occurred_at / 3600000 - (occurred_at < 0 AND occurred_at % 3600000 != 0), type_key, count(*)
    FROM events GROUP BY 1, 2, 3;
INSERT INTO analytics_score_hours (unit_id, ruleset_id, hour, delta)
    SELECT e.unit_id, s.ruleset_id, e.occurred_at / 3600000 - (e.occurred_at < 0 AND e.occurred_at % 3600000 != 0),
           sum(s.delta)
    FROM event_scores s JOIN events e ON e.seq = s.event_seq GROUP BY 1, 2, 3;
INSERT INTO analytics_active_hours (unit_id, hour, leads)
    SELECT unit_id, last_organic_at / 3600000 - (last_organic_at < 0 AND last_organic_at % 3600000 != 0), count(*)
    FROM leads WHERE merged_into IS NULL AND last_organic_at IS NOT NULL GROUP BY 1, 2;

-- Events.
CREATE TRIGGER analytics_events_insert AFTER INSERT ON events BEGIN
    INSERT INTO analytics_event_hours (unit_id, hour, type_key, events)
        VALUES (NEW.unit_id, NEW.occurred_at / 3600000 - (NEW.occurred_at < 0 AND NEW.occurred_at % 3600000 != 0),
                NEW.type_key, 1)
        ON CONFLICT (unit_id, hour, type_key) DO UPDATE SET events = events + 1;
END;

-- BEFORE, so the event's score rows are still there: with foreign keys on, they go by cascade after the event,
-- when their own trigger can no longer find the event's hour (and so leaves them to this one).
CREATE TRIGGER analytics_events_delete BEFORE DELETE ON events BEGIN
    UPDATE analytics_event_hours SET events = events - 1
        WHERE unit_id = OLD.unit_id AND type_key = OLD.type_key
          AND hour = OLD.occurred_at / 3600000 - (OLD.occurred_at < 0 AND OLD.occurred_at % 3600000 != 0);
    INSERT INTO analytics_score_hours (unit_id, ruleset_id, hour, delta)
        SELECT OLD.unit_id, s.ruleset_id,
               OLD.occurred_at / 3600000 - (OLD.occurred_at < 0 AND OLD.occurred_at % 3600000 != 0), -s.delta
        FROM event_scores s WHERE s.event_seq = OLD.seq
        ON CONFLICT (unit_id, ruleset_id, hour) DO UPDATE SET delta = delta + excluded.delta;
END;

-- Nothing moves an event in time, type or OU today; should anything, its totals move with it.
CREATE TRIGGER analytics_events_move AFTER UPDATE OF unit_id, occurred_at, type_key ON events
    WHEN OLD.unit_id != NEW.unit_id OR OLD.occurred_at != NEW.occurred_at OR OLD.type_key != NEW.type_key BEGIN
    UPDATE analytics_event_hours SET events = events - 1
        WHERE unit_id = OLD.unit_id AND type_key = OLD.type_key
          AND hour = OLD.occurred_at / 3600000 - (OLD.occurred_at < 0 AND OLD.occurred_at % 3600000 != 0);
    INSERT INTO analytics_event_hours (unit_id, hour, type_key, events)
        VALUES (NEW.unit_id, NEW.occurred_at / 3600000 - (NEW.occurred_at < 0 AND NEW.occurred_at % 3600000 != 0),
                NEW.type_key, 1)
        ON CONFLICT (unit_id, hour, type_key) DO UPDATE SET events = events + 1;
    INSERT INTO analytics_score_hours (unit_id, ruleset_id, hour, delta)
        SELECT OLD.unit_id, s.ruleset_id,
               OLD.occurred_at / 3600000 - (OLD.occurred_at < 0 AND OLD.occurred_at % 3600000 != 0), -s.delta
        FROM event_scores s WHERE s.event_seq = OLD.seq
        UNION ALL
        SELECT NEW.unit_id, s.ruleset_id,
               NEW.occurred_at / 3600000 - (NEW.occurred_at < 0 AND NEW.occurred_at % 3600000 != 0), s.delta
        FROM event_scores s WHERE s.event_seq = NEW.seq
        ON CONFLICT (unit_id, ruleset_id, hour) DO UPDATE SET delta = delta + excluded.delta;
END;

-- Score rows. A REPLACE (the rescore writes changed rows with INSERT OR REPLACE) deletes the old row without
-- firing delete triggers, so the row being replaced is taken off before the insert; the WHEN is one probe of a
-- page the insert is about to touch anyway.
CREATE TRIGGER analytics_scores_replace BEFORE INSERT ON event_scores
    WHEN EXISTS (SELECT 1 FROM event_scores WHERE event_seq = NEW.event_seq AND ruleset_id = NEW.ruleset_id) BEGIN
    INSERT INTO analytics_score_hours (unit_id, ruleset_id, hour, delta)
        SELECT e.unit_id, s.ruleset_id,
               e.occurred_at / 3600000 - (e.occurred_at < 0 AND e.occurred_at % 3600000 != 0), -s.delta
        FROM event_scores s JOIN events e ON e.seq = s.event_seq
        WHERE s.event_seq = NEW.event_seq AND s.ruleset_id = NEW.ruleset_id
        ON CONFLICT (unit_id, ruleset_id, hour) DO UPDATE SET delta = delta + excluded.delta;
END;

CREATE TRIGGER analytics_scores_insert AFTER INSERT ON event_scores BEGIN
    INSERT INTO analytics_score_hours (unit_id, ruleset_id, hour, delta)
        SELECT e.unit_id, NEW.ruleset_id,
               e.occurred_at / 3600000 - (e.occurred_at < 0 AND e.occurred_at % 3600000 != 0), NEW.delta
        FROM events e WHERE e.seq = NEW.event_seq
        ON CONFLICT (unit_id, ruleset_id, hour) DO UPDATE SET delta = delta + excluded.delta;
END;

-- A score row deleted by itself (its event stays); one deleted with its event was counted off by the event's
-- trigger above (the event is gone by then, so this one finds nothing).
CREATE TRIGGER analytics_scores_delete AFTER DELETE ON event_scores BEGIN
    INSERT INTO analytics_score_hours (unit_id, ruleset_id, hour, delta)
        SELECT e.unit_id, OLD.ruleset_id,
               e.occurred_at / 3600000 - (e.occurred_at < 0 AND e.occurred_at % 3600000 != 0), -OLD.delta
        FROM events e WHERE e.seq = OLD.event_seq
        ON CONFLICT (unit_id, ruleset_id, hour) DO UPDATE SET delta = delta + excluded.delta;
END;

CREATE TRIGGER analytics_scores_update AFTER UPDATE OF event_seq, ruleset_id, delta ON event_scores
    WHEN OLD.event_seq != NEW.event_seq OR OLD.ruleset_id != NEW.ruleset_id OR OLD.delta != NEW.delta BEGIN
    INSERT INTO analytics_score_hours (unit_id, ruleset_id, hour, delta)
        SELECT e.unit_id, OLD.ruleset_id,
               e.occurred_at / 3600000 - (e.occurred_at < 0 AND e.occurred_at % 3600000 != 0), -OLD.delta
        FROM events e WHERE e.seq = OLD.event_seq
        UNION ALL
        SELECT e.unit_id, NEW.ruleset_id,
               e.occurred_at / 3600000 - (e.occurred_at < 0 AND e.occurred_at % 3600000 != 0), NEW.delta
        FROM events e WHERE e.seq = NEW.event_seq
        ON CONFLICT (unit_id, ruleset_id, hour) DO UPDATE SET delta = delta + excluded.delta;
END;

-- Leads: counted while live and with a last organic event, in the hour of it.
CREATE TRIGGER analytics_leads_insert AFTER INSERT ON leads
    WHEN NEW.merged_into IS NULL AND NEW.last_organic_at IS NOT NULL BEGIN
    INSERT INTO analytics_active_hours (unit_id, hour, leads)
        VALUES (NEW.unit_id,
                NEW.last_organic_at / 3600000 - (NEW.last_organic_at < 0 AND NEW.last_organic_at % 3600000 != 0), 1)
        ON CONFLICT (unit_id, hour) DO UPDATE SET leads = leads + 1;
END;

CREATE TRIGGER analytics_leads_delete AFTER DELETE ON leads
    WHEN OLD.merged_into IS NULL AND OLD.last_organic_at IS NOT NULL BEGIN
    UPDATE analytics_active_hours SET leads = leads - 1
        WHERE unit_id = OLD.unit_id
          AND hour = OLD.last_organic_at / 3600000 - (OLD.last_organic_at < 0 AND OLD.last_organic_at % 3600000 != 0);
END;

-- The worker sets last_organic_at on every batch; only a change of hour, liveness or OU moves a count.
CREATE TRIGGER analytics_leads_update AFTER UPDATE OF unit_id, merged_into, last_organic_at ON leads
    WHEN OLD.unit_id IS NOT NEW.unit_id OR (OLD.merged_into IS NULL) != (NEW.merged_into IS NULL)
      OR (OLD.last_organic_at / 3600000 - (OLD.last_organic_at < 0 AND OLD.last_organic_at % 3600000 != 0))
         IS NOT (NEW.last_organic_at / 3600000 - (NEW.last_organic_at < 0 AND NEW.last_organic_at % 3600000 != 0))
    BEGIN
    INSERT INTO analytics_active_hours (unit_id, hour, leads)
        SELECT OLD.unit_id,
               OLD.last_organic_at / 3600000 - (OLD.last_organic_at < 0 AND OLD.last_organic_at % 3600000 != 0), -1
        WHERE OLD.merged_into IS NULL AND OLD.last_organic_at IS NOT NULL
        UNION ALL
        SELECT NEW.unit_id,
               NEW.last_organic_at / 3600000 - (NEW.last_organic_at < 0 AND NEW.last_organic_at % 3600000 != 0), 1
        WHERE NEW.merged_into IS NULL AND NEW.last_organic_at IS NOT NULL
        ON CONFLICT (unit_id, hour) DO UPDATE SET leads = leads + excluded.leads;
END;
