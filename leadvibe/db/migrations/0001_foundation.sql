-- Organizations, OUs, people, API credentials, token revocations, the audit log.
-- Times are INTEGER milliseconds since the Unix epoch (UTC).

CREATE TABLE organizations (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    slug                  TEXT NOT NULL,
    allow_negative_scores INTEGER NOT NULL DEFAULT 0,
    abm_enabled           INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE org_units (
    id                      TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL REFERENCES organizations(id),
    name                    TEXT NOT NULL,
    slug                    TEXT NOT NULL,
    session_timeout_minutes INTEGER NOT NULL DEFAULT 30,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    UNIQUE (org_id, slug)
);

CREATE TABLE members (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    email         TEXT NOT NULL COLLATE NOCASE UNIQUE,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash TEXT NOT NULL,
    verified      INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX members_org ON members(org_id);

CREATE TABLE ou_memberships (
    unit_id    TEXT NOT NULL REFERENCES org_units(id) ON DELETE CASCADE,
    member_id  TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    org_id     TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('Owner', 'Operator', 'Viewer')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (unit_id, member_id)
) WITHOUT ROWID;
CREATE INDEX ou_memberships_member ON ou_memberships(member_id);

CREATE TABLE api_credentials (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    unit_id       TEXT NOT NULL REFERENCES org_units(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    client_id     TEXT NOT NULL UNIQUE,
    secret_digest BLOB NOT NULL,
    created_by    TEXT,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX api_credentials_unit ON api_credentials(unit_id);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit_logs (
    id          INTEGER PRIMARY KEY,
    org_id      TEXT,
    unit_id     TEXT,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT,
    user_email  TEXT,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status      INTEGER NOT NULL,
    ip          TEXT,
    latency_ms  REAL NOT NULL,
    request_id  TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_logs_unit_time ON audit_logs(unit_id, created_at);
CREATE INDEX audit_logs_org_time ON audit_logs(org_id, created_at);
