-- Ingestion inbox, leads and aliases, events, per-event per-ruleset scores, lead scores, scoring configuration.

CREATE TABLE inbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id        TEXT NOT NULL,
    unit_id       TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    payload       BLOB NOT NULL,
    source        TEXT NOT NULL,
    skip_triggers INTEGER NOT NULL DEFAULT 0,
    received_at   INTEGER NOT NULL
);

-- An inbox row whose processing raised (a bug, never bad input: input is validated at ingest) is kept here with
-- the error instead of blocking the queue or being lost.
CREATE TABLE inbox_dead (
    seq           INTEGER PRIMARY KEY,
    org_id        TEXT NOT NULL,
    unit_id       TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    payload       BLOB NOT NULL,
    source        TEXT NOT NULL,
    skip_triggers INTEGER NOT NULL DEFAULT 0,
    received_at   INTEGER NOT NULL,
    error         TEXT NOT NULL,
    failed_at     INTEGER NOT NULL
);

-- Idempotency: a repeated event_id / Idempotency-Key within an OU answers the original event id.
CREATE TABLE idempotency_keys (
    unit_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (unit_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_time ON idempotency_keys(created_at);

CREATE TABLE leads (
    rowid              INTEGER PRIMARY KEY,
    unit_id            TEXT NOT NULL,
    id                 TEXT NOT NULL,
    org_id             TEXT NOT NULL,
    metadata           TEXT NOT NULL DEFAULT '{}',
    account_id         TEXT,
    owner_id           TEXT,
    merged_into        TEXT,
    source             TEXT NOT NULL DEFAULT 'api',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    last_event_at      INTEGER,
    last_event_type    TEXT,
    last_organic_at    INTEGER,
    session_count      INTEGER NOT NULL DEFAULT 0,
    session_n          INTEGER NOT NULL DEFAULT 0,
    session_last_ts    INTEGER,
    session_started_at INTEGER,
    UNIQUE (unit_id, id)
);
CREATE INDEX leads_unit_activity ON leads(unit_id, last_event_at) WHERE merged_into IS NULL;
CREATE INDEX leads_unit_organic ON leads(unit_id, last_organic_at) WHERE merged_into IS NULL;
CREATE INDEX leads_unit_created ON leads(unit_id, created_at) WHERE merged_into IS NULL;

CREATE TABLE lead_aliases (
    unit_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    lead_id    TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    raw_value  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (unit_id, kind, value)
) WITHOUT ROWID;
CREATE INDEX lead_aliases_lead ON lead_aliases(unit_id, lead_id);
CREATE INDEX lead_aliases_value ON lead_aliases(unit_id, value);

CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT, -- arrival order, never reused; replays follow it
    id            TEXT NOT NULL UNIQUE,
    org_id        TEXT NOT NULL,
    unit_id       TEXT NOT NULL,
    lead_id       TEXT NOT NULL,
    event_type    TEXT NOT NULL,            -- as sent
    type_key      TEXT NOT NULL,            -- normalized: matching uses this
    occurred_at   INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    processed_at  INTEGER NOT NULL,
    metadata      TEXT,
    channel       TEXT NOT NULL,
    source        TEXT NOT NULL DEFAULT 'api',
    scope         TEXT NOT NULL DEFAULT 'activate',
    inorganic     INTEGER NOT NULL DEFAULT 0,
    filtered_by   TEXT,
    grouped_with  TEXT,
    multiplier    REAL NOT NULL DEFAULT 1.0,
    session_index INTEGER,
    has_delta     INTEGER NOT NULL DEFAULT 0,
    decay_id      TEXT
);
CREATE INDEX events_unit_lead ON events(unit_id, lead_id, seq);
CREATE INDEX events_unit_time ON events(unit_id, occurred_at);
CREATE INDEX events_unit_type_time ON events(unit_id, type_key, occurred_at);
CREATE INDEX events_lead_type_time ON events(unit_id, lead_id, type_key, occurred_at);

CREATE TABLE event_scores (
    event_seq   INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
    ruleset_id  TEXT NOT NULL,
    unit_id     TEXT NOT NULL,
    lead_id     TEXT NOT NULL,
    rule_ids    TEXT NOT NULL DEFAULT '[]',
    weight      INTEGER NOT NULL,
    multiplier  REAL NOT NULL,
    delta       INTEGER NOT NULL,
    before      INTEGER NOT NULL,
    after       INTEGER NOT NULL,
    filtered_by TEXT,
    PRIMARY KEY (event_seq, ruleset_id)
) WITHOUT ROWID;
CREATE INDEX event_scores_lead ON event_scores(unit_id, ruleset_id, lead_id);

CREATE TABLE lead_scores (
    unit_id    TEXT NOT NULL,
    ruleset_id TEXT NOT NULL,
    lead_id    TEXT NOT NULL,
    score      INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (unit_id, lead_id, ruleset_id)
) WITHOUT ROWID;
-- Ranking and score filters; it also carries lead_id (a key column), so those queries never touch the table.
CREATE INDEX lead_scores_rank ON lead_scores(unit_id, ruleset_id, score);

CREATE TABLE event_types (
    unit_id       TEXT NOT NULL,
    type_key      TEXT NOT NULL,
    display_name  TEXT NOT NULL,            -- the first spelling seen in the OU
    event_count   INTEGER NOT NULL DEFAULT 0,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (unit_id, type_key)
) WITHOUT ROWID;

CREATE TABLE event_type_properties (
    unit_id  TEXT NOT NULL,
    type_key TEXT NOT NULL,
    key      TEXT NOT NULL,
    PRIMARY KEY (unit_id, type_key, key)
) WITHOUT ROWID;

CREATE TABLE event_type_settings (
    unit_id              TEXT NOT NULL,
    type_key             TEXT NOT NULL,
    hidden               INTEGER NOT NULL DEFAULT 0,
    max_processing_scope TEXT NOT NULL DEFAULT 'activate'
                         CHECK (max_processing_scope IN ('observe', 'decide', 'activate')),
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (unit_id, type_key)
) WITHOUT ROWID;

CREATE TABLE rulesets (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    unit_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    score_column TEXT NOT NULL DEFAULT 'total_score',
    is_primary   INTEGER NOT NULL DEFAULT 0,
    active       INTEGER NOT NULL DEFAULT 1,
    source       TEXT NOT NULL DEFAULT 'api',
    created_by   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX rulesets_unit ON rulesets(unit_id);
CREATE UNIQUE INDEX rulesets_one_primary ON rulesets(unit_id) WHERE is_primary = 1;

CREATE TABLE rules (
    id         TEXT PRIMARY KEY,
    ruleset_id TEXT NOT NULL REFERENCES rulesets(id) ON DELETE CASCADE,
    org_id     TEXT NOT NULL,
    unit_id    TEXT NOT NULL,
    event_type TEXT NOT NULL,
    type_key   TEXT NOT NULL,
    weight     INTEGER NOT NULL,
    icon       TEXT,
    active     INTEGER NOT NULL DEFAULT 1,
    start_at   INTEGER,
    end_at     INTEGER,
    source     TEXT NOT NULL DEFAULT 'api',
    created_by TEXT,
    updated_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX rules_ruleset ON rules(ruleset_id);
CREATE INDEX rules_unit ON rules(unit_id);

CREATE TABLE inorganic_filters (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    unit_id         TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    type_key        TEXT NOT NULL,
    count_threshold INTEGER NOT NULL,
    time_window_ms  INTEGER NOT NULL,
    group_events    INTEGER NOT NULL DEFAULT 0,
    source          TEXT NOT NULL DEFAULT 'api',
    created_by      TEXT,
    updated_by      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX inorganic_filters_unit ON inorganic_filters(unit_id);

CREATE TABLE levels (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL,
    unit_id    TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('engagement', 'profile', 'account')),
    name       TEXT NOT NULL,
    min_score  INTEGER NOT NULL,
    max_score  INTEGER NOT NULL,
    source     TEXT NOT NULL DEFAULT 'api',
    created_by TEXT,
    updated_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX levels_unit_kind ON levels(unit_id, kind);

CREATE TABLE surge_policies (
    unit_id            TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL,
    mode               TEXT NOT NULL,
    bands              TEXT NOT NULL,
    idle_reset_seconds INTEGER NOT NULL,
    multiplier_cap     REAL NOT NULL,
    updated_at         INTEGER NOT NULL
);
