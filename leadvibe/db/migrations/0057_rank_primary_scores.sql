-- Only the primary ruleset's scores are ranked. lead_scores_rank (unit, ruleset, score) ordered every ruleset's
-- scores, and each scored event moved one entry per ruleset whose score changed: two pages of the index dirtied per
-- ruleset (the old position and the new one, far apart once an OU holds many leads). At 500,000 leads with three
-- rulesets that was 4.1 of the 9.6 pages a scored event wrote (bench_worker.py --pages-by-tree,
-- docs/performance.md, nineteenth round). What walks the ranking (the lead list's score sort and score filters,
-- top leads) reads the primary ruleset's, apart from top leads asked for another ruleset, which now reads that
-- ruleset's rows by the table's key and keeps the best `limit`.
--
-- `ranked` is 1 on the rows of the OU's primary ruleset, kept so by triggers whoever writes: a new score row takes
-- it from its ruleset, and a ruleset that becomes primary (or stops being it) sets (or clears) it on its rows.
ALTER TABLE lead_scores ADD COLUMN ranked INTEGER NOT NULL DEFAULT 0;
UPDATE lead_scores SET ranked = 1
    WHERE ruleset_id IN (SELECT id FROM rulesets WHERE is_primary = 1) AND ranked = 0;
DROP INDEX IF EXISTS lead_scores_rank;
CREATE INDEX lead_scores_rank ON lead_scores(unit_id, ruleset_id, score) WHERE ranked = 1;

CREATE TRIGGER lead_scores_ranked_insert AFTER INSERT ON lead_scores
    WHEN NEW.ranked = 0 AND EXISTS (SELECT 1 FROM rulesets WHERE id = NEW.ruleset_id AND is_primary = 1) BEGIN
    UPDATE lead_scores SET ranked = 1
        WHERE unit_id = NEW.unit_id AND lead_id = NEW.lead_id AND ruleset_id = NEW.ruleset_id;
END;

CREATE TRIGGER rulesets_ranked_primary AFTER UPDATE OF is_primary ON rulesets
    WHEN OLD.is_primary IS NOT NEW.is_primary BEGIN
    UPDATE lead_scores SET ranked = (NEW.is_primary = 1)
        WHERE unit_id = NEW.unit_id AND ruleset_id = NEW.id AND ranked IS NOT (NEW.is_primary = 1);
END;

CREATE TRIGGER rulesets_ranked_insert AFTER INSERT ON rulesets WHEN NEW.is_primary = 1 BEGIN
    UPDATE lead_scores SET ranked = 1 WHERE unit_id = NEW.unit_id AND ruleset_id = NEW.id AND ranked = 0;
END;
