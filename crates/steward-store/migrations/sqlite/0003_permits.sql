-- Permit workflow columns (keep in step with ../postgres/0003_permits.sql).
-- round: the resubmission round; approvals of earlier rounds no longer count.
ALTER TABLE permits ADD COLUMN round INTEGER NOT NULL DEFAULT 1 CHECK (round >= 1);
-- A renewal waiting for its approvals: {"hours": h, "approvals": [{"principal_id", "role"}]}.
ALTER TABLE permits ADD COLUMN pending_renewal TEXT
    CHECK (pending_renewal IS NULL OR json_valid(pending_renewal));
-- The policy the analysis was made under.
ALTER TABLE permits ADD COLUMN policy_version TEXT NOT NULL DEFAULT '';
CREATE INDEX permits_state_id ON permits (state, id);
CREATE INDEX approvals_permit_round ON approvals (permit_id, round);
