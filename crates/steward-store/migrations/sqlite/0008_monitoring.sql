-- Telemetry of live permits, their trigger state, and the rollbacks fired triggers open
-- (SPEC §7). Keep in step with ../postgres/0008_monitoring.sql.

-- One row per monitored permit: the running state of its triggers.
CREATE TABLE permit_monitors (
    permit_id            TEXT PRIMARY KEY NOT NULL REFERENCES permits (id),
    error_breach_since   INTEGER,
    latency_breach_since INTEGER,
    failed_health_checks INTEGER NOT NULL DEFAULT 0 CHECK (failed_health_checks >= 0),
    last_sample_at       INTEGER,
    samples              INTEGER NOT NULL DEFAULT 0 CHECK (samples >= 0),
    updated_at           INTEGER NOT NULL
) STRICT;

-- The latest samples of each permit (bounded: older ones are pruned on insert).
CREATE TABLE telemetry_samples (
    permit_id      TEXT NOT NULL REFERENCES permits (id),
    seq            INTEGER NOT NULL CHECK (seq >= 1),
    ts             INTEGER NOT NULL,
    error_rate     REAL CHECK (error_rate IS NULL OR (error_rate >= 0 AND error_rate <= 1)),
    latency_p99_ms REAL CHECK (latency_p99_ms IS NULL OR latency_p99_ms >= 0),
    health_ok      INTEGER CHECK (health_ok IS NULL OR health_ok IN (0, 1)),
    reported_by    TEXT NOT NULL,
    PRIMARY KEY (permit_id, seq)
) STRICT;

-- At most one rollback per permit: the first trigger that fired opens it.
CREATE TABLE rollbacks (
    id              TEXT PRIMARY KEY NOT NULL,
    permit_id       TEXT NOT NULL UNIQUE REFERENCES permits (id),
    worker_id       TEXT NOT NULL,
    level           INTEGER NOT NULL CHECK (level BETWEEN 0 AND 4),
    trigger_kind    TEXT NOT NULL CHECK (trigger_kind IN ('error_rate', 'latency_p99', 'health_checks')),
    breach          TEXT NOT NULL CHECK (json_valid(breach)),
    sla_minutes     INTEGER NOT NULL CHECK (sla_minutes > 0),
    opened_at       INTEGER NOT NULL,
    due_at          INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'succeeded', 'failed')),
    completed_at    INTEGER,
    completed_by    TEXT,
    duration_ms     INTEGER CHECK (duration_ms IS NULL OR duration_ms >= 0),
    within_sla      INTEGER CHECK (within_sla IS NULL OR within_sla IN (0, 1)),
    notes           TEXT,
    escalated_at    INTEGER,
    escalated_to    TEXT CHECK (escalated_to IS NULL OR json_valid(escalated_to))
) STRICT;
CREATE INDEX rollbacks_status_due ON rollbacks (status, due_at);
