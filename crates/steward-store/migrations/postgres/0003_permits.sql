-- Permit workflow columns (keep in step with ../sqlite/0003_permits.sql).
ALTER TABLE permits ADD COLUMN round BIGINT NOT NULL DEFAULT 1 CHECK (round >= 1);
ALTER TABLE permits ADD COLUMN pending_renewal JSONB;
ALTER TABLE permits ADD COLUMN policy_version TEXT NOT NULL DEFAULT '';
CREATE INDEX permits_state_id ON permits (state, id);
CREATE INDEX approvals_permit_round ON approvals (permit_id, round);
