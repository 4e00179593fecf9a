-- Steward schema, version 22 (SQLite): adopting Steward (issue 13).
-- Keep in step with ../postgres/0022_adopt.sql.
--
-- Initial certification: a worker with no certification history asks (through its owner
-- or an admin) to be certified at a level on a justification and evidence of its prior
-- record; human approvers approve as for a promotion. One request per worker, ever: once
-- certified the worker has a history, and a request is kept as the record of why.
-- Approver comments are not kept here (they are sealed in the audit events, where an
-- erasure reaches them): `approvals` holds principal, role and time only.
CREATE TABLE initial_certifications (
    worker_id     TEXT PRIMARY KEY REFERENCES workers (id),
    target_level  INTEGER NOT NULL CHECK (target_level BETWEEN 1 AND 4),
    justification TEXT NOT NULL,
    prior_record  TEXT NOT NULL CHECK (json_valid(prior_record)),
    requested_by  TEXT NOT NULL REFERENCES principals (id),
    requested_at  INTEGER NOT NULL,
    approvals     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(approvals)),
    certified_at  INTEGER
);

-- How this database is run: `production` (the wall clock) or `rehearsal` (a clock an
-- admin advances). Recorded by the first `serve`; a later serve in the other mode is
-- refused, so a rehearsal never writes into a production trail nor the reverse.
CREATE TABLE run_mode (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    mode        TEXT NOT NULL CHECK (mode IN ('production', 'rehearsal')),
    recorded_at INTEGER NOT NULL,
    -- Rehearsal only: how far an admin has advanced the clock past the wall clock (ms),
    -- so a restart resumes the rehearsal's time rather than going back.
    clock_offset_ms INTEGER NOT NULL DEFAULT 0 CHECK (clock_offset_ms >= 0)
);
