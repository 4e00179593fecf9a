-- Steward schema, version 1 (SQLite). Keep in step with ../postgres/0001_initial.sql:
-- same tables, same columns, same CHECK lists. Ids are TEXT, timestamps are INTEGER unix
-- milliseconds, JSON is TEXT checked with json_valid. STRICT tables enforce column types.

CREATE TABLE principals (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('human', 'agent')),
    name        TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
    -- JSON array of role names, such as ["security_lead", "team_lead"].
    roles       TEXT NOT NULL CHECK (json_valid(roles) AND json_type(roles) = 'array'),
    created_at  INTEGER NOT NULL,
    disabled_at INTEGER
) STRICT;

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    -- SHA-256 of the secret. The secret itself is never stored.
    token_hash   BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    label        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
) STRICT;
CREATE INDEX tokens_principal ON tokens (principal_id);

CREATE TABLE workers (
    id               TEXT PRIMARY KEY NOT NULL,
    display_name     TEXT NOT NULL,
    owner_id         TEXT NOT NULL REFERENCES principals (id),
    -- The agent identity that authenticates as this worker; one worker per identity.
    principal_id     TEXT UNIQUE REFERENCES principals (id),
    level            INTEGER NOT NULL CHECK (level BETWEEN 0 AND 4),
    status           TEXT NOT NULL
                     CHECK (status IN ('active', 'probationary', 'suspended', 'expired', 'revoked')),
    domains          TEXT NOT NULL CHECK (json_valid(domains) AND json_type(domains) = 'array'),
    level_granted_at INTEGER NOT NULL,
    recertify_by     INTEGER,
    probation_until  INTEGER,
    stats            TEXT NOT NULL CHECK (json_valid(stats) AND json_type(stats) = 'object'),
    -- Optimistic lock: every update sets version = version + 1 WHERE version = the read one.
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX workers_owner ON workers (owner_id);
CREATE INDEX workers_status ON workers (status);

CREATE TABLE permits (
    id                     TEXT PRIMARY KEY NOT NULL,
    task_id                TEXT NOT NULL,
    task                   TEXT NOT NULL CHECK (json_valid(task)),
    analysis               TEXT NOT NULL CHECK (json_valid(analysis)),
    permit_type            TEXT NOT NULL
                           CHECK (permit_type IN ('read_only', 'standard_production',
                                                  'advanced_production', 'master_production',
                                                  'destructive', 'emergency')),
    level                  INTEGER NOT NULL CHECK (level BETWEEN 0 AND 4),
    worker_id              TEXT NOT NULL REFERENCES workers (id),
    requester_id           TEXT NOT NULL REFERENCES principals (id),
    state                  TEXT NOT NULL
                           CHECK (state IN ('requested', 'under_review', 'changes_requested',
                                            'approved', 'active', 'executing', 'completed',
                                            'closed', 'rejected', 'expired', 'revoked',
                                            'archived')),
    evidence               TEXT NOT NULL CHECK (json_valid(evidence)),
    constraints            TEXT NOT NULL CHECK (json_valid(constraints)),
    requested_window_start INTEGER,
    valid_from             INTEGER,
    expires_at             INTEGER,
    renewals               INTEGER NOT NULL DEFAULT 0 CHECK (renewals >= 0),
    total_hours            REAL NOT NULL DEFAULT 0 CHECK (total_hours >= 0),
    outcome                TEXT
                           CHECK (outcome IN ('success', 'rolled_back', 'rollback_failed',
                                              'partial')),
    revocation_reason      TEXT
                           CHECK (revocation_reason IN ('safety_violation', 'constraint_breach',
                                                        'scope_expansion', 'time_expiration',
                                                        'certification_revoked',
                                                        'incident_resolved', 'approver_request',
                                                        'security_incident', 'manual')),
    audit_summary          TEXT CHECK (audit_summary IS NULL OR json_valid(audit_summary)),
    cab_signed_off         INTEGER NOT NULL DEFAULT 0 CHECK (cab_signed_off IN (0, 1)),
    version                INTEGER NOT NULL DEFAULT 1,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;
CREATE INDEX permits_worker_state ON permits (worker_id, state);
CREATE INDEX permits_state_expires ON permits (state, expires_at);
CREATE INDEX permits_task ON permits (task_id);
CREATE INDEX permits_requester ON permits (requester_id);

CREATE TABLE approvals (
    id           TEXT PRIMARY KEY NOT NULL,
    permit_id    TEXT NOT NULL REFERENCES permits (id),
    principal_id TEXT NOT NULL REFERENCES principals (id),
    role         TEXT NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('approve', 'reject', 'request_changes')),
    channel      TEXT NOT NULL CHECK (channel IN ('api', 'cli', 'web')),
    comment      TEXT,
    conditions   TEXT NOT NULL CHECK (json_valid(conditions)),
    -- Resubmission round, from 1. Approvals of earlier rounds do not count.
    round        INTEGER NOT NULL CHECK (round >= 1),
    created_at   INTEGER NOT NULL,
    UNIQUE (permit_id, principal_id, round)
) STRICT;
CREATE INDEX approvals_principal ON approvals (principal_id);

-- The audit trail. seq is assigned by the store (audit_head.seq + 1), never by SQLite:
-- it must be gap-free, which AUTOINCREMENT does not promise.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    ts          INTEGER NOT NULL,
    type        TEXT NOT NULL CHECK (length(type) > 0),
    actor_kind  TEXT NOT NULL CHECK (actor_kind IN ('human', 'agent', 'system')),
    actor_id    TEXT NOT NULL,
    actor_roles TEXT NOT NULL CHECK (json_valid(actor_roles) AND json_type(actor_roles) = 'array'),
    task_id     TEXT,
    worker_id   TEXT,
    permit_id   TEXT,
    level       INTEGER CHECK (level BETWEEN 0 AND 4),
    -- Canonical JSON (steward_audit::canonical_json) of the event's data.
    data        TEXT NOT NULL CHECK (json_valid(data)),
    prev_hash   BLOB NOT NULL CHECK (length(prev_hash) = 32),
    hash        BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
CREATE INDEX audit_events_ts ON audit_events (ts);
CREATE INDEX audit_events_type ON audit_events (type, seq);
CREATE INDEX audit_events_worker ON audit_events (worker_id, seq) WHERE worker_id IS NOT NULL;
CREATE INDEX audit_events_permit ON audit_events (permit_id, seq) WHERE permit_id IS NOT NULL;

-- Defence in depth: the application never updates or deletes an audit event. (Pruning,
-- when it comes, will replace the delete guard with one that allows whole leading ranges.)
-- Someone with write access to the file can drop these triggers; the hash chain is what
-- detects that.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- The head of the chain: one row, read and advanced inside every appending transaction.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
