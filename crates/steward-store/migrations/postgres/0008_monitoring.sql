-- Telemetry of live permits, their trigger state, and the rollbacks fired triggers open
-- (SPEC §7). Keep in step with ../sqlite/0008_monitoring.sql.

-- One row per monitored permit: the running state of its triggers.
CREATE TABLE permit_monitors (
    permit_id            TEXT PRIMARY KEY REFERENCES permits (id),
    error_breach_since   BIGINT,
    latency_breach_since BIGINT,
    failed_health_checks BIGINT NOT NULL DEFAULT 0 CHECK (failed_health_checks >= 0),
    last_sample_at       BIGINT,
    samples              BIGINT NOT NULL DEFAULT 0 CHECK (samples >= 0),
    updated_at           BIGINT NOT NULL
);

-- The latest samples of each permit (bounded: older ones are pruned on insert).
CREATE TABLE telemetry_samples (
    permit_id      TEXT NOT NULL REFERENCES permits (id),
    seq            BIGINT NOT NULL CHECK (seq >= 1),
    ts             BIGINT NOT NULL,
    error_rate     DOUBLE PRECISION CHECK (error_rate IS NULL OR (error_rate >= 0 AND error_rate <= 1)),
    latency_p99_ms DOUBLE PRECISION CHECK (latency_p99_ms IS NULL OR latency_p99_ms >= 0),
    health_ok      BIGINT CHECK (health_ok IS NULL OR health_ok IN (0, 1)),
    reported_by    TEXT NOT NULL,
    PRIMARY KEY (permit_id, seq)
);

-- At most one rollback per permit: the first trigger that fired opens it.
CREATE TABLE rollbacks (
    id              TEXT PRIMARY KEY,
    permit_id       TEXT NOT NULL UNIQUE REFERENCES permits (id),
    worker_id       TEXT NOT NULL,
    level           BIGINT NOT NULL CHECK (level BETWEEN 0 AND 4),
    trigger_kind    TEXT NOT NULL CHECK (trigger_kind IN ('error_rate', 'latency_p99', 'health_checks')),
    breach          JSONB NOT NULL,
    sla_minutes     BIGINT NOT NULL CHECK (sla_minutes > 0),
    opened_at       BIGINT NOT NULL,
    due_at          BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'succeeded', 'failed')),
    completed_at    BIGINT,
    completed_by    TEXT,
    duration_ms     BIGINT CHECK (duration_ms IS NULL OR duration_ms >= 0),
    within_sla      BIGINT CHECK (within_sla IS NULL OR within_sla IN (0, 1)),
    notes           TEXT,
    escalated_at    BIGINT,
    escalated_to    JSONB
);
CREATE INDEX rollbacks_status_due ON rollbacks (status, due_at);
