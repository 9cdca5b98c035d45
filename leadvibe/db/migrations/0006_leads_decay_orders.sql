-- Score decay rules, orders (the activity stream's transactional side), asynchronous lead deletions, and the
-- indexes the lead list, search, decay scheduler and merge need.

CREATE TABLE decay_rules (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    unit_id      TEXT NOT NULL,
    inactive_for INTEGER NOT NULL CHECK (inactive_for >= 1),
    unit         TEXT NOT NULL CHECK (unit IN ('hours', 'days', 'weeks')),
    inactive_ms  INTEGER NOT NULL,          -- inactive_for x unit, precomputed so the scheduler compares integers
    decrease     INTEGER NOT NULL CHECK (decrease >= 1),
    active       INTEGER NOT NULL DEFAULT 1,
    source       TEXT NOT NULL DEFAULT 'api',
    created_by   TEXT,
    updated_by   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX decay_rules_unit ON decay_rules(unit_id);

-- "Has this lead already received this rule's decay since its last organic event?": a partial index over the
-- few DECAY events only, probed once per inactive lead by the scheduler.
CREATE INDEX events_lead_decay ON events(unit_id, lead_id, decay_id, occurred_at) WHERE decay_id IS NOT NULL;

-- Merged sources by target: merge flattens chains and delete removes the sources of a deleted lead.
CREATE INDEX leads_merged ON leads(unit_id, merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE orders (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,       -- server id (or_...)
    org_id      TEXT NOT NULL,
    unit_id     TEXT NOT NULL,
    lead_id     TEXT NOT NULL,
    order_id    TEXT NOT NULL,              -- the client's order reference, unique within the OU
    amount      REAL NOT NULL CHECK (amount >= 0),
    currency    TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    metadata    TEXT NOT NULL DEFAULT '{}',
    source      TEXT NOT NULL DEFAULT 'api',
    UNIQUE (unit_id, order_id)
);
CREATE INDEX orders_unit_lead_time ON orders(unit_id, lead_id, occurred_at);

-- One row per requested deletion; `upto_seq` bounds the events removed, so a lead re-created by a later ingest
-- while the deletion runs keeps its new events.
CREATE TABLE lead_deletions (
    unit_id      TEXT NOT NULL,
    lead_id      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'completed')),
    upto_seq     INTEGER NOT NULL,
    requested_by TEXT,
    requested_at INTEGER NOT NULL,
    completed_at INTEGER,
    PRIMARY KEY (unit_id, lead_id)
) WITHOUT ROWID;
CREATE INDEX lead_deletions_pending ON lead_deletions(requested_at) WHERE status = 'pending';
