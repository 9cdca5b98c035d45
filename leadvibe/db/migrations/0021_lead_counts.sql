-- Maintained counts for the lead list's `total`: a count(*) over an index range is linear in the OU (~200-300 ms
-- at a million leads), these are one row each. Triggers keep them exact in the same transaction as every change,
-- whoever writes (worker, merge, deletion, rescore, ruleset deletion). lead_scores only holds live leads' rows.
CREATE TABLE lead_counts (
    unit_id TEXT PRIMARY KEY,
    live    INTEGER NOT NULL DEFAULT 0      -- leads with merged_into IS NULL
) WITHOUT ROWID;

CREATE TABLE ruleset_lead_counts (
    unit_id    TEXT NOT NULL,
    ruleset_id TEXT NOT NULL,
    scored     INTEGER NOT NULL DEFAULT 0,  -- lead_scores rows of the ruleset
    PRIMARY KEY (unit_id, ruleset_id)
) WITHOUT ROWID;

INSERT INTO lead_counts (unit_id, live)
    SELECT unit_id, count(*) FROM leads WHERE merged_into IS NULL GROUP BY unit_id;
INSERT INTO ruleset_lead_counts (unit_id, ruleset_id, scored)
    SELECT unit_id, ruleset_id, count(*) FROM lead_scores GROUP BY unit_id, ruleset_id;

CREATE TRIGGER leads_counted_insert AFTER INSERT ON leads WHEN NEW.merged_into IS NULL BEGIN
    INSERT INTO lead_counts (unit_id, live) VALUES (NEW.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET live = live + 1;
END;

CREATE TRIGGER leads_counted_delete AFTER DELETE ON leads WHEN OLD.merged_into IS NULL BEGIN
    UPDATE lead_counts SET live = live - 1 WHERE unit_id = OLD.unit_id;
END;

CREATE TRIGGER leads_counted_merge AFTER UPDATE OF merged_into ON leads
    WHEN (OLD.merged_into IS NULL) != (NEW.merged_into IS NULL) BEGIN
    INSERT INTO lead_counts (unit_id, live) VALUES (NEW.unit_id, CASE WHEN NEW.merged_into IS NULL THEN 1 ELSE -1 END)
        ON CONFLICT (unit_id) DO UPDATE SET live = live + excluded.live;
END;

CREATE TRIGGER lead_scores_counted_insert AFTER INSERT ON lead_scores BEGIN
    INSERT INTO ruleset_lead_counts (unit_id, ruleset_id, scored) VALUES (NEW.unit_id, NEW.ruleset_id, 1)
        ON CONFLICT (unit_id, ruleset_id) DO UPDATE SET scored = scored + 1;
END;

CREATE TRIGGER lead_scores_counted_delete AFTER DELETE ON lead_scores BEGIN
    UPDATE ruleset_lead_counts SET scored = scored - 1 WHERE unit_id = OLD.unit_id AND ruleset_id = OLD.ruleset_id;
END;

CREATE TRIGGER rulesets_counts_delete AFTER DELETE ON rulesets BEGIN
    DELETE FROM ruleset_lead_counts WHERE unit_id = OLD.unit_id AND ruleset_id = OLD.id;
END;
