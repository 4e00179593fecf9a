-- One row per declared emergency (SPEC §8); its permit is an ordinary `permits` row of type
-- `emergency`, level 3, whose state, window and renewals live there. Keep in step with
-- ../postgres/0009_emergency.sql.
CREATE TABLE emergencies (
    id                TEXT PRIMARY KEY NOT NULL,
    incident_id       TEXT NOT NULL CHECK (length(incident_id) BETWEEN 1 AND 200),
    permit_id         TEXT NOT NULL UNIQUE REFERENCES permits (id),
    worker_id         TEXT NOT NULL REFERENCES workers (id),
    declared_by       TEXT NOT NULL REFERENCES principals (id),
    reason            TEXT NOT NULL CHECK (length(reason) >= 1),
    minutes           INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 60),
    declared_at       INTEGER NOT NULL,
    approval_deadline INTEGER NOT NULL,
    approved_by       TEXT REFERENCES principals (id),
    approved_role     TEXT CHECK (approved_role IN ('incident_commander', 'on_call_lead')),
    approved_at       INTEGER,
    resolved_by       TEXT REFERENCES principals (id),
    resolved_at       INTEGER,
    resolution        TEXT,
    -- When the emergency stopped authorizing work (resolution, expiry, revocation), and
    -- why; NULL while it is open.
    ended_at          INTEGER,
    end_reason        TEXT,
    -- The post-incident review: due 24 h after the end of a granted emergency.
    review_due_at     INTEGER,
    review_filed_by   TEXT REFERENCES principals (id),
    review_filed_at   INTEGER,
    review            TEXT CHECK (review IS NULL OR json_valid(review)),
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX emergencies_open ON emergencies (ended_at);
CREATE INDEX emergencies_review ON emergencies (review_filed_at, review_due_at);
CREATE INDEX emergencies_worker ON emergencies (worker_id);
