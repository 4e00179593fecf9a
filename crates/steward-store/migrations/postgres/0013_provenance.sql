-- Where tokens, worker outcomes and the audit signing key come from (issue 9, items 2, 3
-- and 10), PostgreSQL. Keep in step with ../sqlite/0013_provenance.sql.

-- The token whose bearer created this one through the API; NULL for tokens made outside
-- it (`steward init`, seeding) and for tokens made before this version. Revoking a token
-- revokes every token minted with it, transitively, in the same transaction; a minted
-- token never expires after the token that minted it, so expiry is transitive too.
ALTER TABLE tokens ADD COLUMN parent_token_id TEXT REFERENCES tokens (id);
CREATE INDEX tokens_parent ON tokens (parent_token_id) WHERE parent_token_id IS NOT NULL;

-- Every operation outcome reported for a worker, with the work Steward saw behind it:
-- a closed permit the worker executed, an allowed and audited authorize decision of the
-- worker, or nothing (`reported`: recorded, but a success without evidence never counts
-- towards promotion). One outcome per permit and per decision.
CREATE TABLE worker_outcomes (
    id            TEXT PRIMARY KEY,
    worker_id     TEXT NOT NULL REFERENCES workers (id),
    result        TEXT NOT NULL
                  CHECK (result IN ('success', 'failure', 'incident', 'safety_violation')),
    level         BIGINT NOT NULL CHECK (level BETWEEN 0 AND 4),
    basis         TEXT NOT NULL
                  CHECK (basis IN ('closed_permit', 'authorized_operation', 'reported')),
    permit_id     TEXT UNIQUE REFERENCES permits (id),
    authorize_seq BIGINT UNIQUE CHECK (authorize_seq >= 1),
    reported_by   TEXT NOT NULL REFERENCES principals (id),
    recorded_at   BIGINT NOT NULL,
    CHECK ((basis = 'closed_permit') = (permit_id IS NOT NULL)),
    CHECK ((basis = 'authorized_operation') = (authorize_seq IS NOT NULL))
);
CREATE INDEX worker_outcomes_worker ON worker_outcomes (worker_id, recorded_at);

-- Successes recorded before this version were never tied to work Steward saw: they stay
-- in the history as `uncounted_successes` and no longer count towards promotion.
UPDATE workers SET
    stats = stats || jsonb_build_object(
        'uncounted_successes',
        coalesce((stats ->> 'uncounted_successes')::bigint, 0)
            + (SELECT coalesce(sum(n::bigint), 0)
               FROM jsonb_array_elements_text(stats -> 'successes_by_level') AS n),
        'successes_by_level', '[0,0,0,0,0]'::jsonb,
        'successes_at_level', 0
    ),
    version = version + 1;

-- The public half of the key that signs audit checkpoints and manifests, recorded once by
-- `steward init` (or, for a database initialised before this version, by the first start
-- that has the key). Every instance refuses to start without the matching private key.
CREATE TABLE audit_signing_key (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    public_key  BYTEA NOT NULL CHECK (length(public_key) = 32),
    key_id      TEXT NOT NULL CHECK (length(key_id) = 16),
    recorded_at BIGINT NOT NULL
);
CREATE FUNCTION audit_signing_key_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_signing_key is permanent';
END;
$$;
CREATE TRIGGER audit_signing_key_no_update BEFORE UPDATE ON audit_signing_key
    FOR EACH ROW EXECUTE FUNCTION audit_signing_key_permanent();
CREATE TRIGGER audit_signing_key_no_delete BEFORE DELETE ON audit_signing_key
    FOR EACH ROW EXECUTE FUNCTION audit_signing_key_permanent();
