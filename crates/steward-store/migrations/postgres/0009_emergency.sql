-- One row per declared emergency (SPEC §8); its permit is an ordinary `permits` row of type
-- `emergency`, level 3, whose state, window and renewals live there. Keep in step with
-- ../sqlite/0009_emergency.sql.
CREATE TABLE emergencies (
    id                TEXT PRIMARY KEY NOT NULL,
    incident_id       TEXT NOT NULL CHECK (length(incident_id) BETWEEN 1 AND 200),
    permit_id         TEXT NOT NULL UNIQUE REFERENCES permits (id),
    worker_id         TEXT NOT NULL REFERENCES workers (id),
    declared_by       TEXT NOT NULL REFERENCES principals (id),
    reason            TEXT NOT NULL CHECK (length(reason) >= 1),
    minutes           BIGINT NOT NULL CHECK (minutes BETWEEN 1 AND 60),
    declared_at       BIGINT NOT NULL,
    approval_deadline BIGINT NOT NULL,
    approved_by       TEXT REFERENCES principals (id),
    approved_role     TEXT CHECK (approved_role IN ('incident_commander', 'on_call_lead')),
    approved_at       BIGINT,
    resolved_by       TEXT REFERENCES principals (id),
    resolved_at       BIGINT,
    resolution        TEXT,
    ended_at          BIGINT,
    end_reason        TEXT,
    review_due_at     BIGINT,
    review_filed_by   TEXT REFERENCES principals (id),
    review_filed_at   BIGINT,
    review            JSONB,
    version           BIGINT NOT NULL DEFAULT 1,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX emergencies_open ON emergencies (ended_at);
CREATE INDEX emergencies_review ON emergencies (review_filed_at, review_due_at);
CREATE INDEX emergencies_worker ON emergencies (worker_id);
