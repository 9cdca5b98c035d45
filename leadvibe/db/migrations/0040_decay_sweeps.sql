-- How far each decay rule has swept, so a scheduler tick reads only the leads that became due since the last
-- one instead of every inactive lead of the OU (a range of leads_unit_organic plus a probe per lead: seconds at a
-- million leads, every minute).
--
-- `swept_through`: every live lead whose last organic event is at or before it (and after 0) already has a DECAY
-- event of this rule later than that event. A pass only reads the leads after it; it depends on the rule's id
-- only, so changing a rule's period or switching it off and on keeps it true.
-- `claim`: the cutoff of a pass in progress. A pass sets it before it reads, and moves `swept_through` up to it
-- when it has decayed what it read, only if `claim` is still its cutoff.
-- The triggers keep the statement true whoever writes: any change that can leave a lead at or below
-- max(swept_through, claim) without a covering DECAY (a lead inserted or un-merged there, its last organic event
-- moved there, a DECAY event deleted) lowers `swept_through` below that lead and drops the claim.
CREATE TABLE decay_sweeps (
    unit_id       TEXT NOT NULL,
    decay_id      TEXT NOT NULL,
    swept_through INTEGER NOT NULL DEFAULT 0,
    claim         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_id, decay_id)
) WITHOUT ROWID;

CREATE TRIGGER decay_sweeps_lead_insert AFTER INSERT ON leads
    WHEN NEW.merged_into IS NULL AND NEW.last_organic_at > 0 BEGIN
    UPDATE decay_sweeps SET swept_through = min(swept_through, NEW.last_organic_at - 1), claim = 0
        WHERE unit_id = NEW.unit_id AND max(swept_through, claim) >= NEW.last_organic_at;
END;

CREATE TRIGGER decay_sweeps_lead_update AFTER UPDATE OF last_organic_at, merged_into ON leads
    WHEN NEW.merged_into IS NULL AND NEW.last_organic_at > 0
        AND (NEW.last_organic_at IS NOT OLD.last_organic_at OR OLD.merged_into IS NOT NULL) BEGIN
    UPDATE decay_sweeps SET swept_through = min(swept_through, NEW.last_organic_at - 1), claim = 0
        WHERE unit_id = NEW.unit_id AND max(swept_through, claim) >= NEW.last_organic_at;
END;

CREATE TRIGGER decay_sweeps_decay_delete AFTER DELETE ON events WHEN OLD.decay_id IS NOT NULL BEGIN
    UPDATE decay_sweeps SET swept_through = min(swept_through, (
            SELECT l.last_organic_at - 1 FROM leads l WHERE l.unit_id = OLD.unit_id AND l.id = OLD.lead_id)),
        claim = 0
        WHERE unit_id = OLD.unit_id AND decay_id = OLD.decay_id AND EXISTS (
            SELECT 1 FROM leads l WHERE l.unit_id = OLD.unit_id AND l.id = OLD.lead_id AND l.merged_into IS NULL
            AND l.last_organic_at > 0 AND l.last_organic_at <= max(swept_through, claim));
END;

CREATE TRIGGER decay_sweeps_rule_delete AFTER DELETE ON decay_rules BEGIN
    DELETE FROM decay_sweeps WHERE unit_id = OLD.unit_id AND decay_id = OLD.id;
END;
