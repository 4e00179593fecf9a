-- Steward schema, version 17 (PostgreSQL): the agent gate (issue 12).
-- Keep in step with ../sqlite/0017_gate.sql.
--
-- How a permit was revoked, for whoever waits on it or reads it: the reason, when, by
-- whom, the `seq` of its `permit.revoked` event, and Steward's evidence for its own
-- revocations (a scope violation's rule and operation, a breach's trigger and readings).
-- Written in the revocation's transaction; never personal values (a revoker's comment
-- stays sealed in the audit event).
ALTER TABLE permits ADD COLUMN revocation JSONB
    CHECK (revocation IS NULL OR jsonb_typeof(revocation) = 'object');
