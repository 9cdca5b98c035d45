-- Score gains (/analytics/score-gains) over a window that holds many events summed every score row of the window
-- (703 ms p95 for a day of 167,000 events at 10 M events: docs/performance.md, twenty-first round). A lead's gain
-- over [start, now] is at most what its rows rose on the UTC days the window touches, so a ranking can walk those
-- days' biggest risers first and stop once no lead still unread can beat the gains it found
-- (store/analytics_gains.py).
--
-- `rises` is the sum of the positive deltas of a lead's score rows in a ruleset whose events occurred that UTC day;
-- a negative delta lowers a gain and is left out, so the sum stays an upper bound. Score gains read only each OU's
-- primary ruleset, so only primaries are kept (`score_gain_rulesets`, keyed by the ruleset's rowid: an integer
-- keeps the rows small), and only days from that row's `day` on: older days' rows are deleted as time goes by
-- (store/score_gain_days.py), and a window starting before it is ranked the other way. The worker's batches and the
-- decay passes write with the triggers suspended and add the same sums themselves; every other writer goes
-- through the triggers.
CREATE TABLE score_gain_days (
    ruleset INTEGER NOT NULL,  -- score_gain_rulesets.ruleset
    day     INTEGER NOT NULL,  -- floor(occurred_at / 86,400,000)
    lead_id TEXT NOT NULL,
    rises   INTEGER NOT NULL,
    PRIMARY KEY (ruleset, day, lead_id)
) WITHOUT ROWID;
CREATE INDEX score_gain_days_rank ON score_gain_days(ruleset, day, rises);

CREATE TABLE score_gain_rulesets (
    ruleset    INTEGER PRIMARY KEY,     -- rulesets.rowid
    ruleset_id TEXT NOT NULL UNIQUE,    -- rulesets.id
    unit_id    TEXT NOT NULL,
    day        INTEGER NOT NULL         -- the first day kept: every day from it on is exact
);

-- The primaries of today. Where score rows exist, yesterday and today are summed now (a day's window is ranked the
-- new way at once: 2.3 s at 10 M events over 60 days, 165,000 rows), and the days kept grow day by day from there.
-- Without score rows there is nothing to sum: the 32 days a window can reach are kept at once.
INSERT INTO score_gain_rulesets (ruleset, ruleset_id, unit_id, day)
    SELECT rowid, id, unit_id,
           unixepoch('now') / 86400 - CASE WHEN EXISTS (SELECT 1 FROM event_scores) THEN 1 ELSE 32 END
    FROM rulesets WHERE is_primary = 1;
INSERT INTO score_gain_days (ruleset, day, lead_id, rises)
    SELECT g.ruleset, e.occurred_at / 86400000 - (e.occurred_at < 0 AND e.occurred_at % 86400000 != 0), s.lead_id,
           SUM(s.delta)
    FROM score_gain_rulesets g CROSS JOIN events e INDEXED BY events_unit_time
        ON e.unit_id = g.unit_id AND e.occurred_at >= g.day * 86400000
    CROSS JOIN event_scores s ON s.event_seq = e.seq AND s.ruleset_id = g.ruleset_id AND s.delta > 0
    WHERE true
    GROUP BY 1, 2, 3;

-- A ruleset that becomes primary is summed from yesterday on, as above; one that stops being it, or is deleted,
-- loses its rows. A new ruleset has no score rows yet: the 32 days a window can reach are kept (not older ones: a
-- history imported into it would only write rows to delete).
CREATE TRIGGER score_gain_rulesets_primary AFTER UPDATE OF is_primary ON rulesets
    WHEN NEW.is_primary = 1 AND OLD.is_primary IS NOT 1 BEGIN
    DELETE FROM score_gain_days WHERE ruleset = NEW.rowid;
    INSERT OR REPLACE INTO score_gain_rulesets (ruleset, ruleset_id, unit_id, day)
        VALUES (NEW.rowid, NEW.id, NEW.unit_id, unixepoch('now') / 86400 - 1);
    INSERT INTO score_gain_days (ruleset, day, lead_id, rises)
        SELECT NEW.rowid, e.occurred_at / 86400000 - (e.occurred_at < 0 AND e.occurred_at % 86400000 != 0),
               s.lead_id, SUM(s.delta)
        FROM events e INDEXED BY events_unit_time
        CROSS JOIN event_scores s ON s.event_seq = e.seq AND s.ruleset_id = NEW.id AND s.delta > 0
        WHERE e.unit_id = NEW.unit_id AND e.occurred_at >= (unixepoch('now') / 86400 - 1) * 86400000
        GROUP BY 1, 2, 3;
END;

CREATE TRIGGER score_gain_rulesets_not_primary AFTER UPDATE OF is_primary ON rulesets
    WHEN OLD.is_primary = 1 AND NEW.is_primary IS NOT 1 BEGIN
    DELETE FROM score_gain_days WHERE ruleset = OLD.rowid;
    DELETE FROM score_gain_rulesets WHERE ruleset = OLD.rowid;
END;

CREATE TRIGGER score_gain_rulesets_new AFTER INSERT ON rulesets WHEN NEW.is_primary = 1 BEGIN
    INSERT OR REPLACE INTO score_gain_rulesets (ruleset, ruleset_id, unit_id, day)
        VALUES (NEW.rowid, NEW.id, NEW.unit_id, unixepoch('now') / 86400 - 32);
END;

CREATE TRIGGER score_gain_rulesets_deleted AFTER DELETE ON rulesets BEGIN
    DELETE FROM score_gain_days WHERE ruleset = OLD.rowid;
    DELETE FROM score_gain_rulesets WHERE ruleset = OLD.rowid;
END;

-- The rows' triggers: every score row of a kept ruleset added, removed, changed or moved between leads, and every
-- event removed or moved in time, changes the sums of the days it touches. Subtracting may leave a row at 0; it
-- goes with its day.
CREATE TRIGGER score_gain_days_insert AFTER INSERT ON event_scores WHEN NEW.delta > 0 BEGIN
    INSERT INTO score_gain_days (ruleset, day, lead_id, rises)
        SELECT g.ruleset, e.occurred_at / 86400000 - (e.occurred_at < 0 AND e.occurred_at % 86400000 != 0),
               NEW.lead_id, NEW.delta
        FROM score_gain_rulesets g CROSS JOIN events e ON e.seq = NEW.event_seq
        WHERE g.ruleset_id = NEW.ruleset_id AND e.occurred_at >= g.day * 86400000
        ON CONFLICT (ruleset, day, lead_id) DO UPDATE SET rises = rises + excluded.rises;
END;

-- INSERT OR REPLACE deletes the row it replaces without firing delete triggers.
CREATE TRIGGER score_gain_days_replace BEFORE INSERT ON event_scores
    WHEN EXISTS (SELECT 1 FROM event_scores WHERE event_seq = NEW.event_seq AND ruleset_id = NEW.ruleset_id
                 AND delta > 0) BEGIN
    INSERT INTO score_gain_days (ruleset, day, lead_id, rises)
        SELECT g.ruleset, e.occurred_at / 86400000 - (e.occurred_at < 0 AND e.occurred_at % 86400000 != 0),
               s.lead_id, -s.delta
        FROM score_gain_rulesets g CROSS JOIN event_scores s ON s.event_seq = NEW.event_seq
            AND s.ruleset_id = g.ruleset_id
        CROSS JOIN events e ON e.seq = s.event_seq
        WHERE g.ruleset_id = NEW.ruleset_id AND e.occurred_at >= g.day * 86400000
        ON CONFLICT (ruleset, day, lead_id) DO UPDATE SET rises = rises + excluded.rises;
END;

-- A score row deleted before its event (the event still there); deleted with it, the event's trigger below did it.
CREATE TRIGGER score_gain_days_delete AFTER DELETE ON event_scores WHEN OLD.delta > 0 BEGIN
    INSERT INTO score_gain_days (ruleset, day, lead_id, rises)
        SELECT g.ruleset, e.occurred_at / 86400000 - (e.occurred_at < 0 AND e.occurred_at % 86400000 != 0),
               OLD.lead_id, -OLD.delta
        FROM score_gain_rulesets g CROSS JOIN events e ON e.seq = OLD.event_seq
        WHERE g.ruleset_id = OLD.ruleset_id AND e.occurred_at >= g.day * 86400000
        ON CONFLICT (ruleset, day, lead_id) DO UPDATE SET rises = rises + excluded.rises;
END;

CREATE TRIGGER score_gain_days_update AFTER UPDATE OF event_seq, ruleset_id, lead_id, delta ON event_scores
    WHEN (OLD.delta > 0 OR NEW.delta > 0) AND (OLD.event_seq != NEW.event_seq OR OLD.ruleset_id != NEW.ruleset_id
          OR OLD.lead_id != NEW.lead_id OR OLD.delta != NEW.delta) BEGIN
    INSERT INTO score_gain_days (ruleset, day, lead_id, rises)
        SELECT g.ruleset, e.occurred_at / 86400000 - (e.occurred_at < 0 AND e.occurred_at % 86400000 != 0),
               OLD.lead_id, -OLD.delta
        FROM score_gain_rulesets g CROSS JOIN events e ON e.seq = OLD.event_seq
        WHERE g.ruleset_id = OLD.ruleset_id AND OLD.delta > 0 AND e.occurred_at >= g.day * 86400000
        UNION ALL
        SELECT g.ruleset, e.occurred_at / 86400000 - (e.occurred_at < 0 AND e.occurred_at % 86400000 != 0),
               NEW.lead_id, NEW.delta
        FROM score_gain_rulesets g CROSS JOIN events e ON e.seq = NEW.event_seq
        WHERE g.ruleset_id = NEW.ruleset_id AND NEW.delta > 0 AND e.occurred_at >= g.day * 86400000
        ON CONFLICT (ruleset, day, lead_id) DO UPDATE SET rises = rises + excluded.rises;
END;

CREATE TRIGGER score_gain_days_event_delete BEFORE DELETE ON events BEGIN
    INSERT INTO score_gain_days (ruleset, day, lead_id, rises)
        SELECT g.ruleset, OLD.occurred_at / 86400000 - (OLD.occurred_at < 0 AND OLD.occurred_at % 86400000 != 0),
               s.lead_id, -s.delta
        FROM event_scores s CROSS JOIN score_gain_rulesets g ON g.ruleset_id = s.ruleset_id
        WHERE s.event_seq = OLD.seq AND s.delta > 0 AND OLD.occurred_at >= g.day * 86400000
        ON CONFLICT (ruleset, day, lead_id) DO UPDATE SET rises = rises + excluded.rises;
END;

CREATE TRIGGER score_gain_days_event_move AFTER UPDATE OF occurred_at ON events
    WHEN OLD.occurred_at != NEW.occurred_at BEGIN
    INSERT INTO score_gain_days (ruleset, day, lead_id, rises)
        SELECT g.ruleset, OLD.occurred_at / 86400000 - (OLD.occurred_at < 0 AND OLD.occurred_at % 86400000 != 0),
               s.lead_id, -s.delta
        FROM event_scores s CROSS JOIN score_gain_rulesets g ON g.ruleset_id = s.ruleset_id
        WHERE s.event_seq = OLD.seq AND s.delta > 0 AND OLD.occurred_at >= g.day * 86400000
        UNION ALL
        SELECT g.ruleset, NEW.occurred_at / 86400000 - (NEW.occurred_at < 0 AND NEW.occurred_at % 86400000 != 0),
               s.lead_id, s.delta
        FROM event_scores s CROSS JOIN score_gain_rulesets g ON g.ruleset_id = s.ruleset_id
        WHERE s.event_seq = NEW.seq AND s.delta > 0 AND NEW.occurred_at >= g.day * 86400000
        ON CONFLICT (ruleset, day, lead_id) DO UPDATE SET rises = rises + excluded.rises;
END;
