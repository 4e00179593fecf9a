-- Steward schema, version 1 (PostgreSQL). Keep in step with ../sqlite/0001_initial.sql:
-- same tables, same columns, same CHECK lists. Ids are TEXT, timestamps are BIGINT unix
-- milliseconds, integers are BIGINT (one Rust type, i64, for both backends), JSON is
-- JSONB except audit data (JSON, which keeps the canonical text as written).

CREATE TABLE principals (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('human', 'agent')),
    name        TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
    -- JSON array of role names, such as ["security_lead", "team_lead"].
    roles       JSONB NOT NULL CHECK (jsonb_typeof(roles) = 'array'),
    created_at  BIGINT NOT NULL,
    disabled_at BIGINT
);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    -- SHA-256 of the secret. The secret itself is never stored.
    token_hash   BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    label        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX tokens_principal ON tokens (principal_id);

CREATE TABLE workers (
    id               TEXT PRIMARY KEY,
    display_name     TEXT NOT NULL,
    owner_id         TEXT NOT NULL REFERENCES principals (id),
    -- The agent identity that authenticates as this worker; one worker per identity.
    principal_id     TEXT UNIQUE REFERENCES principals (id),
    level            BIGINT NOT NULL CHECK (level BETWEEN 0 AND 4),
    status           TEXT NOT NULL
                     CHECK (status IN ('active', 'probationary', 'suspended', 'expired', 'revoked')),
    domains          JSONB NOT NULL CHECK (jsonb_typeof(domains) = 'array'),
    level_granted_at BIGINT NOT NULL,
    recertify_by     BIGINT,
    probation_until  BIGINT,
    stats            JSONB NOT NULL CHECK (jsonb_typeof(stats) = 'object'),
    -- Optimistic lock: every update sets version = version + 1 WHERE version = the read one.
    version          BIGINT NOT NULL DEFAULT 1,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX workers_owner ON workers (owner_id);
CREATE INDEX workers_status ON workers (status);

CREATE TABLE permits (
    id                     TEXT PRIMARY KEY,
    task_id                TEXT NOT NULL,
    task                   JSONB NOT NULL,
    analysis               JSONB NOT NULL,
    permit_type            TEXT NOT NULL
                           CHECK (permit_type IN ('read_only', 'standard_production',
                                                  'advanced_production', 'master_production',
                                                  'destructive', 'emergency')),
    level                  BIGINT NOT NULL CHECK (level BETWEEN 0 AND 4),
    worker_id              TEXT NOT NULL REFERENCES workers (id),
    requester_id           TEXT NOT NULL REFERENCES principals (id),
    state                  TEXT NOT NULL
                           CHECK (state IN ('requested', 'under_review', 'changes_requested',
                                            'approved', 'active', 'executing', 'completed',
                                            'closed', 'rejected', 'expired', 'revoked',
                                            'archived')),
    evidence               JSONB NOT NULL,
    constraints            JSONB NOT NULL,
    requested_window_start BIGINT,
    valid_from             BIGINT,
    expires_at             BIGINT,
    renewals               BIGINT NOT NULL DEFAULT 0 CHECK (renewals >= 0),
    total_hours            DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (total_hours >= 0),
    outcome                TEXT
                           CHECK (outcome IN ('success', 'rolled_back', 'rollback_failed',
                                              'partial')),
    revocation_reason      TEXT
                           CHECK (revocation_reason IN ('safety_violation', 'constraint_breach',
                                                        'scope_expansion', 'time_expiration',
                                                        'certification_revoked',
                                                        'incident_resolved', 'approver_request',
                                                        'security_incident', 'manual')),
    audit_summary          JSONB,
    cab_signed_off         BOOLEAN NOT NULL DEFAULT FALSE,
    version                BIGINT NOT NULL DEFAULT 1,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX permits_worker_state ON permits (worker_id, state);
CREATE INDEX permits_state_expires ON permits (state, expires_at);
CREATE INDEX permits_task ON permits (task_id);
CREATE INDEX permits_requester ON permits (requester_id);

CREATE TABLE approvals (
    id           TEXT PRIMARY KEY,
    permit_id    TEXT NOT NULL REFERENCES permits (id),
    principal_id TEXT NOT NULL REFERENCES principals (id),
    role         TEXT NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('approve', 'reject', 'request_changes')),
    channel      TEXT NOT NULL CHECK (channel IN ('api', 'cli', 'web')),
    comment      TEXT,
    conditions   JSONB NOT NULL,
    -- Resubmission round, from 1. Approvals of earlier rounds do not count.
    round        BIGINT NOT NULL CHECK (round >= 1),
    created_at   BIGINT NOT NULL,
    UNIQUE (permit_id, principal_id, round)
);
CREATE INDEX approvals_principal ON approvals (principal_id);

-- The audit trail. seq is assigned by the store (audit_head.seq + 1), never by a
-- sequence: it must be gap-free, which sequences do not promise.
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY CHECK (seq >= 1),
    ts          BIGINT NOT NULL,
    type        TEXT NOT NULL CHECK (length(type) > 0),
    actor_kind  TEXT NOT NULL CHECK (actor_kind IN ('human', 'agent', 'system')),
    actor_id    TEXT NOT NULL,
    actor_roles JSONB NOT NULL CHECK (jsonb_typeof(actor_roles) = 'array'),
    task_id     TEXT,
    worker_id   TEXT,
    permit_id   TEXT,
    level       BIGINT CHECK (level BETWEEN 0 AND 4),
    -- Canonical JSON (steward_audit::canonical_json) of the event's data. JSON, not JSONB:
    -- JSON keeps the text exactly as written.
    data        JSON NOT NULL,
    prev_hash   BYTEA NOT NULL CHECK (length(prev_hash) = 32),
    hash        BYTEA NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_events_ts ON audit_events (ts);
CREATE INDEX audit_events_type ON audit_events (type, seq);
CREATE INDEX audit_events_worker ON audit_events (worker_id, seq) WHERE worker_id IS NOT NULL;
CREATE INDEX audit_events_permit ON audit_events (permit_id, seq) WHERE permit_id IS NOT NULL;

-- Defence in depth: the application never updates or deletes an audit event. (Pruning,
-- when it comes, will replace the delete guard with one that allows whole leading ranges.)
-- A database owner can drop these triggers; the hash chain is what detects that.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- The head of the chain: one row, locked (SELECT ... FOR UPDATE) and advanced inside
-- every appending transaction.
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL CHECK (seq >= 0),
    hash BYTEA NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
