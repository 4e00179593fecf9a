-- Steward schema, version 22 (PostgreSQL): adopting Steward (issue 13).
-- Keep in step with ../sqlite/0022_adopt.sql, which explains each table.
CREATE TABLE initial_certifications (
    worker_id     TEXT PRIMARY KEY REFERENCES workers (id),
    target_level  BIGINT NOT NULL CHECK (target_level BETWEEN 1 AND 4),
    justification TEXT NOT NULL,
    prior_record  JSONB NOT NULL,
    requested_by  TEXT NOT NULL REFERENCES principals (id),
    requested_at  BIGINT NOT NULL,
    approvals     JSONB NOT NULL DEFAULT '[]',
    certified_at  BIGINT
);

CREATE TABLE run_mode (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    mode        TEXT NOT NULL CHECK (mode IN ('production', 'rehearsal')),
    recorded_at BIGINT NOT NULL,
    -- Rehearsal only: how far an admin has advanced the clock past the wall clock (ms),
    -- so a restart resumes the rehearsal's time rather than going back.
    clock_offset_ms BIGINT NOT NULL DEFAULT 0 CHECK (clock_offset_ms >= 0)
);
