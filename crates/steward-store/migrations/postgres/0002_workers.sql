-- Steward schema, version 2 (PostgreSQL): human approvals of worker promotions (SPEC §5).
-- Keep in step with ../sqlite/0002_workers.sql.

CREATE TABLE promotion_approvals (
    id           TEXT PRIMARY KEY,
    worker_id    TEXT NOT NULL REFERENCES workers (id),
    -- The level the approver agreed to promote the worker to.
    target_level BIGINT NOT NULL CHECK (target_level BETWEEN 1 AND 4),
    principal_id TEXT NOT NULL REFERENCES principals (id),
    -- The role the approver approved under (held by them when they approved).
    role         TEXT NOT NULL,
    comment      TEXT,
    created_at   BIGINT NOT NULL,
    -- NULL while the approval counts. Set when the worker is promoted (the approvals were
    -- used up) or suspended or revoked (pending approvals are void): a closed approval
    -- never counts towards a later promotion.
    closed_at    BIGINT,
    closed_by    TEXT CHECK (closed_by IN ('promoted', 'voided')),
    CHECK ((closed_at IS NULL) = (closed_by IS NULL))
);
-- One vote per person per open promotion; also what refuses a racing duplicate.
CREATE UNIQUE INDEX promotion_approvals_open
    ON promotion_approvals (worker_id, target_level, principal_id) WHERE closed_at IS NULL;
CREATE INDEX promotion_approvals_principal ON promotion_approvals (principal_id);

-- Keyset pagination of GET /v1/workers filters on these and orders by id.
CREATE INDEX workers_level ON workers (level, id);
