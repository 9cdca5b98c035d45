-- What a rescore of one ruleset needs to know to leave alone the leads it cannot change.
--
-- A lead's rows in a ruleset are what a replay would write when every event's rule match is what the current
-- rules give and the rest of the scoring configuration (surge policy, session timeout, filters, floor, which
-- rulesets are active) is the one the rows were written under. Triggers record both kinds of change as they
-- happen, whichever code path makes them:
-- - scoring_epochs: a counter per OU, raised by any change to the configuration other than rules;
-- - rescore_pending: the (ruleset, event type) of every rule inserted, changed or deleted;
-- - rescore_basis: the epoch under which a ruleset's rows were last made whole by a replay of every live lead,
--   from then on kept whole by live scoring. A rescore under the same epoch replays only the leads with an event
--   of a pending type of the ruleset; any other epoch (or none) replays every lead.

CREATE TABLE scoring_epochs (
    unit_id TEXT PRIMARY KEY,
    epoch   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE rescore_basis (
    unit_id    TEXT NOT NULL,
    ruleset_id TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    PRIMARY KEY (unit_id, ruleset_id)
) WITHOUT ROWID;

CREATE TABLE rescore_pending (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a rescore forgets the changes up to the id it read
    unit_id    TEXT NOT NULL,
    ruleset_id TEXT NOT NULL,
    type_key   TEXT NOT NULL
);
CREATE INDEX rescore_pending_ruleset ON rescore_pending(unit_id, ruleset_id, id);

CREATE TRIGGER scoring_epoch_filter_insert AFTER INSERT ON inorganic_filters BEGIN
    INSERT INTO scoring_epochs (unit_id, epoch) VALUES (NEW.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
END;
CREATE TRIGGER scoring_epoch_filter_update AFTER UPDATE ON inorganic_filters BEGIN
    INSERT INTO scoring_epochs (unit_id, epoch) VALUES (NEW.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
    INSERT INTO scoring_epochs (unit_id, epoch) VALUES (OLD.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
END;
CREATE TRIGGER scoring_epoch_filter_delete AFTER DELETE ON inorganic_filters BEGIN
    INSERT INTO scoring_epochs (unit_id, epoch) VALUES (OLD.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
END;

CREATE TRIGGER scoring_epoch_surge_insert AFTER INSERT ON surge_policies BEGIN
    INSERT INTO scoring_epochs (unit_id, epoch) VALUES (NEW.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
END;
CREATE TRIGGER scoring_epoch_surge_update AFTER UPDATE ON surge_policies BEGIN
    INSERT INTO scoring_epochs (unit_id, epoch) VALUES (NEW.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
    INSERT INTO scoring_epochs (unit_id, epoch) VALUES (OLD.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
END;
CREATE TRIGGER scoring_epoch_surge_delete AFTER DELETE ON surge_policies BEGIN
    INSERT INTO scoring_epochs (unit_id, epoch) VALUES (OLD.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
END;

-- The session timeout is the idle reset of the standard policy when the OU has none saved.
CREATE TRIGGER scoring_epoch_session_timeout AFTER UPDATE OF session_timeout_minutes ON org_units
WHEN OLD.session_timeout_minutes IS NOT NEW.session_timeout_minutes BEGIN
    INSERT INTO scoring_epochs (unit_id, epoch) VALUES (NEW.id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
END;

-- The floor is an organization's setting: every OU of it changes.
CREATE TRIGGER scoring_epoch_floor AFTER UPDATE OF allow_negative_scores ON organizations
WHEN OLD.allow_negative_scores IS NOT NEW.allow_negative_scores BEGIN
    INSERT INTO scoring_epochs (unit_id, epoch) SELECT id, 1 FROM org_units WHERE org_id = NEW.id
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
END;

-- A ruleset switched on again has no rows for the events that arrived meanwhile; one switched off stops being
-- kept whole by live scoring.
CREATE TRIGGER scoring_epoch_ruleset_active AFTER UPDATE OF active ON rulesets
WHEN OLD.active IS NOT NEW.active BEGIN
    INSERT INTO scoring_epochs (unit_id, epoch) VALUES (NEW.unit_id, 1)
        ON CONFLICT (unit_id) DO UPDATE SET epoch = epoch + 1;
END;
CREATE TRIGGER rescore_basis_ruleset_delete AFTER DELETE ON rulesets BEGIN
    DELETE FROM rescore_basis WHERE unit_id = OLD.unit_id AND ruleset_id = OLD.id;
    DELETE FROM rescore_pending WHERE unit_id = OLD.unit_id AND ruleset_id = OLD.id;
END;

CREATE TRIGGER rescore_pending_rule_insert AFTER INSERT ON rules BEGIN
    INSERT INTO rescore_pending (unit_id, ruleset_id, type_key) VALUES (NEW.unit_id, NEW.ruleset_id, NEW.type_key);
END;
CREATE TRIGGER rescore_pending_rule_update AFTER UPDATE ON rules
WHEN OLD.type_key IS NOT NEW.type_key OR OLD.weight IS NOT NEW.weight OR OLD.active IS NOT NEW.active
  OR OLD.start_at IS NOT NEW.start_at OR OLD.end_at IS NOT NEW.end_at OR OLD.ruleset_id IS NOT NEW.ruleset_id
  OR OLD.unit_id IS NOT NEW.unit_id BEGIN
    INSERT INTO rescore_pending (unit_id, ruleset_id, type_key) VALUES (OLD.unit_id, OLD.ruleset_id, OLD.type_key);
    INSERT INTO rescore_pending (unit_id, ruleset_id, type_key) VALUES (NEW.unit_id, NEW.ruleset_id, NEW.type_key);
END;
CREATE TRIGGER rescore_pending_rule_delete AFTER DELETE ON rules BEGIN
    INSERT INTO rescore_pending (unit_id, ruleset_id, type_key) VALUES (OLD.unit_id, OLD.ruleset_id, OLD.type_key);
END;
