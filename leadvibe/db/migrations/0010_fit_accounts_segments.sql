-- Profile (fit) scoring, accounts (ABM), segments, and the lead property index segments are evaluated on.
-- Times are INTEGER milliseconds since the Unix epoch (UTC). `source = 'seed'` marks sample data (/admin/wipe).

-- The lead's profile score (primary enabled profile ruleset over its metadata), kept by every metadata write
-- and by the chunked re-score after a rule change; lead lists filter and sort on it.
ALTER TABLE leads ADD COLUMN profile_score INTEGER NOT NULL DEFAULT 0;
CREATE INDEX leads_unit_profile ON leads(unit_id, profile_score) WHERE merged_into IS NULL;
-- Account members (list, detail, unlink, merges).
CREATE INDEX leads_unit_account ON leads(unit_id, account_id) WHERE account_id IS NOT NULL;

-- Field mappings: metadata[source_field] of incoming events (and of lead metadata writes) copied into a profile
-- property (the lead's metadata) or an account property (its account's metadata).
CREATE TABLE field_mappings (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    unit_id         TEXT NOT NULL,
    target          TEXT NOT NULL CHECK (target IN ('profile', 'account')),
    source_field    TEXT NOT NULL,
    property        TEXT NOT NULL,
    update_behavior TEXT NOT NULL DEFAULT 'always_latest'
                    CHECK (update_behavior IN ('always_latest', 'set_once', 'append')),
    source          TEXT NOT NULL DEFAULT 'api',
    created_by      TEXT,
    updated_by      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (unit_id, target, source_field, property)
);

-- Profile and account rulesets share one shape; at most one primary per OU and target.
CREATE TABLE fit_rulesets (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL,
    unit_id    TEXT NOT NULL,
    target     TEXT NOT NULL CHECK (target IN ('profile', 'account')),
    name       TEXT NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    is_primary INTEGER NOT NULL DEFAULT 0,
    source     TEXT NOT NULL DEFAULT 'api',
    created_by TEXT,
    updated_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX fit_rulesets_unit ON fit_rulesets(unit_id, target);
CREATE UNIQUE INDEX fit_rulesets_one_primary ON fit_rulesets(unit_id, target) WHERE is_primary = 1;

CREATE TABLE fit_rules (
    id               TEXT PRIMARY KEY,
    ruleset_id       TEXT NOT NULL REFERENCES fit_rulesets(id) ON DELETE CASCADE,
    org_id           TEXT NOT NULL,
    unit_id          TEXT NOT NULL,
    property         TEXT NOT NULL,
    condition        TEXT NOT NULL,
    comparison_value TEXT NOT NULL DEFAULT '',
    weight           INTEGER NOT NULL,
    ui_order         INTEGER NOT NULL DEFAULT 0,
    source           TEXT NOT NULL DEFAULT 'api',
    created_by       TEXT,
    updated_by       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX fit_rules_ruleset ON fit_rules(ruleset_id);

-- Accounts: created on first sight (a lead's account_id, or its email's registrable domain). `score` is the
-- account score (primary enabled account ruleset over `metadata`).
CREATE TABLE accounts (
    rowid      INTEGER PRIMARY KEY,
    unit_id    TEXT NOT NULL,
    id         TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    domain     TEXT,
    name       TEXT NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}',
    score      INTEGER NOT NULL DEFAULT 0,
    source     TEXT NOT NULL DEFAULT 'api',
    created_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (unit_id, id)
);
CREATE UNIQUE INDEX accounts_unit_domain ON accounts(unit_id, domain) WHERE domain IS NOT NULL;
CREATE INDEX accounts_unit_score ON accounts(unit_id, score);
CREATE INDEX accounts_unit_created ON accounts(unit_id, created_at);

CREATE TABLE segments (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    unit_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    active      INTEGER NOT NULL DEFAULT 1,
    -- 1 while `segment_members` holds exactly this segment's members (see below); 0 while it is rebuilt after a
    -- rule change, or when the segment cannot be kept there (event rules): counts then evaluate the rules by SQL.
    members_ready INTEGER NOT NULL DEFAULT 0,
    source      TEXT NOT NULL DEFAULT 'api',
    created_by  TEXT,
    updated_by  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX segments_unit ON segments(unit_id);

CREATE TABLE segment_rules (
    id          TEXT PRIMARY KEY,
    segment_id  TEXT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL,
    unit_id     TEXT NOT NULL,
    rule_name   TEXT NOT NULL DEFAULT '',
    rule_type   TEXT NOT NULL CHECK (rule_type IN ('lead_metadata', 'event_metadata')),
    field_name  TEXT NOT NULL,
    operator    TEXT NOT NULL,
    value       TEXT,
    event_type  TEXT,                      -- event_metadata: as sent (NULL = any type)
    type_key    TEXT,                      -- its normalized key
    logic_group INTEGER NOT NULL DEFAULT 0,
    logic_op    TEXT NOT NULL DEFAULT 'AND' CHECK (logic_op IN ('AND', 'OR')),
    order_index INTEGER NOT NULL DEFAULT 0,
    active      INTEGER NOT NULL DEFAULT 1,
    source      TEXT NOT NULL DEFAULT 'api',
    created_by  TEXT,
    updated_by  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX segment_rules_segment ON segment_rules(segment_id);

-- The lead property index: one row per (property path, value atom, lead) of every live lead's metadata, written
-- with the metadata in the same transaction, so segment rules on lead metadata are index range scans instead of
-- decoding every lead's JSON. Paths and atoms follow engine/conditions.py (`property_atoms`): a list contributes
-- each element, a number its exact value (`is_num`, `num`) beside its folded text. Property names are interned
-- per OU (`property_keys`), which also answers GET /profile/properties.
CREATE TABLE property_keys (
    id        INTEGER PRIMARY KEY,
    unit_id   TEXT NOT NULL,
    name      TEXT NOT NULL,
    top_level INTEGER NOT NULL,            -- 0: a dotted path into a nested object
    UNIQUE (unit_id, name)
);

CREATE TABLE lead_props (
    key_id     INTEGER NOT NULL,
    is_num     INTEGER NOT NULL,
    num        REAL NOT NULL,              -- 0 when is_num = 0
    fold       TEXT NOT NULL,              -- trimmed, case-folded text form
    lead_rowid INTEGER NOT NULL,
    PRIMARY KEY (key_id, is_num, num, fold, lead_rowid)
) WITHOUT ROWID;
-- A lead's rows: probes of one rule on one candidate lead, and rewriting or dropping a lead's rows.
CREATE INDEX lead_props_lead ON lead_props(lead_rowid, key_id);

-- Members of segments whose rules only test lead metadata (and that an empty lead cannot satisfy), kept in the same
-- transaction as every metadata write and lead removal, so a count is one index range instead of a query over
-- every lead. Rebuilt in chunks (a `fit_jobs` row `segment:<id>`) after the segment's rules change.
CREATE TABLE segment_members (
    segment_id TEXT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    lead_rowid INTEGER NOT NULL,
    PRIMARY KEY (segment_id, lead_rowid)
) WITHOUT ROWID;
CREATE INDEX segment_members_lead ON segment_members(lead_rowid);

-- Pending re-scores after a profile/account rule change, and segment membership rebuilds: worked through in short
-- chunks by the server (resumed after a restart from `cursor`, the last rowid done).
CREATE TABLE fit_jobs (
    unit_id      TEXT NOT NULL,
    target       TEXT NOT NULL CHECK (target IN ('profile', 'account') OR target LIKE 'segment:%'),
    cursor       INTEGER NOT NULL DEFAULT 0,
    generation   INTEGER NOT NULL DEFAULT 1,  -- bumped by a new request: a pass under way starts over
    requested_at INTEGER NOT NULL,
    PRIMARY KEY (unit_id, target)
) WITHOUT ROWID;
