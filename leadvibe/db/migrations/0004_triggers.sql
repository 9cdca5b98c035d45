-- Triggers (milestone, sequence, pattern, surge), per-lead trigger state, what fired, notification deliveries,
-- webhook signing secrets, Slack app credentials and installs, OAuth states.
-- Times are INTEGER milliseconds since the Unix epoch (UTC).

-- One table for the four kinds: they share destinations, templates and filters; the kind-specific fields are
-- typed columns (NULL where a kind does not use them) so the evaluator loads an OU's triggers in one query.
CREATE TABLE triggers (
    id                     TEXT PRIMARY KEY,
    org_id                 TEXT NOT NULL,
    unit_id                TEXT NOT NULL,
    kind                   TEXT NOT NULL CHECK (kind IN ('milestone', 'sequence', 'pattern', 'surge')),
    name                   TEXT NOT NULL DEFAULT '',
    description            TEXT,
    active                 INTEGER NOT NULL DEFAULT 1,
    event_type             TEXT,              -- milestone / surge: as sent ('' or NULL = any type)
    type_key               TEXT,              -- its normalized key
    score_threshold        INTEGER,           -- milestone
    event_steps            TEXT,              -- sequence: JSON list of event types as sent
    conditions             TEXT,              -- pattern: JSON [{"event_type","min_count"}]
    window_amount          INTEGER,           -- API field window_seconds (an amount of window_unit)
    window_unit            TEXT,
    ordered                INTEGER,           -- sequence
    fire_mode              TEXT NOT NULL DEFAULT 'once' CHECK (fire_mode IN ('once', 'every')),
    threshold_count        INTEGER,           -- surge
    profile_filters        TEXT NOT NULL DEFAULT '[]',
    lead_attribute_filters TEXT NOT NULL DEFAULT '[]',
    webhook_url            TEXT,
    webhook_disabled_at    INTEGER,           -- the receiver answered 410 Gone; cleared when the URL changes
    emails                 TEXT NOT NULL DEFAULT '[]',
    email_subject          TEXT,
    email_preheader        TEXT,
    email_message          TEXT,
    slack_target_kind      TEXT,
    slack_target_id        TEXT,
    teams_target_kind      TEXT,
    teams_target_id        TEXT,
    hubspot_sync           INTEGER NOT NULL DEFAULT 0,
    source                 TEXT NOT NULL DEFAULT 'api',
    created_by             TEXT,
    updated_by             TEXT,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE INDEX triggers_unit_kind ON triggers(unit_id, kind);

-- Per (trigger, lead): milestone `armed`; sequence last completion; pattern/surge last firing (event time).
-- A missing row is the initial state (armed, never completed, never fired).
CREATE TABLE trigger_state (
    trigger_id               TEXT NOT NULL REFERENCES triggers(id) ON DELETE CASCADE,
    lead_id                  TEXT NOT NULL,
    unit_id                  TEXT NOT NULL,
    armed                    INTEGER NOT NULL DEFAULT 1,
    last_completion_ts       INTEGER,
    last_completion_event_id TEXT,
    last_fired_ts            INTEGER,
    updated_at               INTEGER NOT NULL,
    PRIMARY KEY (trigger_id, lead_id)
) WITHOUT ROWID;
CREATE INDEX trigger_state_lead ON trigger_state(unit_id, lead_id);

-- What fired (milestone, sequence, pattern), with the lead's primary score around the firing event.
-- trigger_name/kind are copied so the history stays readable after a trigger is deleted.
CREATE TABLE trigger_events (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    unit_id      TEXT NOT NULL,
    trigger_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    trigger_name TEXT NOT NULL DEFAULT '',
    lead_id      TEXT NOT NULL,
    event_id     TEXT,
    event_type   TEXT,
    score_before INTEGER,
    score_after  INTEGER,
    level        TEXT,
    fired_at     INTEGER NOT NULL
);
CREATE INDEX trigger_events_unit_kind_time ON trigger_events(unit_id, kind, fired_at);
CREATE INDEX trigger_events_trigger ON trigger_events(trigger_id);

-- Surge trigger firings, with the channel of the event that tipped the burst (aggregated by /surge metrics).
CREATE TABLE surge_events (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    unit_id      TEXT NOT NULL,
    trigger_id   TEXT NOT NULL,
    lead_id      TEXT NOT NULL,
    event_id     TEXT,
    event_type   TEXT,
    channel      TEXT NOT NULL,
    window_ms    INTEGER NOT NULL,
    threshold    INTEGER NOT NULL,
    score_after  INTEGER,
    occurred_at  INTEGER NOT NULL,
    fired_at     INTEGER NOT NULL
);
CREATE INDEX surge_events_unit_time ON surge_events(unit_id, occurred_at);
CREATE INDEX surge_events_unit_channel_time ON surge_events(unit_id, channel, occurred_at);

-- One row per notification (webhook, each email address, the Slack target). Durable: the sender picks up
-- due pending rows after a restart. `webhook_id` stays the same across retries (receivers de-duplicate on it).
CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL,
    unit_id           TEXT NOT NULL,
    emitted_id        TEXT NOT NULL,          -- trigger_events.id or surge_events.id
    trigger_id        TEXT,
    kind              TEXT NOT NULL CHECK (kind IN ('webhook', 'email', 'slack')),
    destination       TEXT NOT NULL,          -- URL, email address, or "channel:C123" / "user:U123"
    payload           TEXT NOT NULL,          -- the webhook body (JSON); also the data for email and Slack
    options           TEXT NOT NULL DEFAULT '{}',  -- email templates, Slack target
    webhook_id        TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'failed', 'disabled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,
    last_error        TEXT,
    last_status       INTEGER,
    event_received_at INTEGER,                -- for event_to_slack_latency_seconds
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    delivered_at      INTEGER
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_unit_time ON deliveries(unit_id, created_at);
CREATE INDEX deliveries_unit_status ON deliveries(unit_id, status, created_at);

-- Per-OU webhook signing secret (sealed at rest). After a rotation `previous` also signs for 24 h.
CREATE TABLE webhook_secrets (
    unit_id     TEXT PRIMARY KEY,
    current     BLOB NOT NULL,
    previous    BLOB,
    rotated_at  INTEGER,
    created_at  INTEGER NOT NULL
);

-- Per-org Slack app credentials; the client secret is sealed and never returned.
CREATE TABLE slack_apps (
    org_id        TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    client_secret BLOB NOT NULL,
    updated_by    TEXT,
    updated_at    INTEGER NOT NULL
);

-- Per-OU Slack connection (bot token sealed, never returned) and default notification target.
CREATE TABLE slack_installs (
    unit_id             TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL,
    team_id             TEXT,
    team_name           TEXT,
    bot_user_id         TEXT,
    bot_token           BLOB,               -- NULL: not connected (a default target may still be saved)
    default_target_kind TEXT,
    default_target_id   TEXT,
    installed_by        TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- OAuth install states: single use, valid 10 minutes.
CREATE TABLE oauth_states (
    state      TEXT PRIMARY KEY,
    unit_id    TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    member_id  TEXT,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
