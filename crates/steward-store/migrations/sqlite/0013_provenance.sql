-- Where tokens, worker outcomes and the audit signing key come from (issue 9, items 2, 3
-- and 10), SQLite. Keep in step with ../postgres/0013_provenance.sql.

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
    id            TEXT PRIMARY KEY NOT NULL,
    worker_id     TEXT NOT NULL REFERENCES workers (id),
    result        TEXT NOT NULL
                  CHECK (result IN ('success', 'failure', 'incident', 'safety_violation')),
    level         INTEGER NOT NULL CHECK (level BETWEEN 0 AND 4),
    basis         TEXT NOT NULL
                  CHECK (basis IN ('closed_permit', 'authorized_operation', 'reported')),
    permit_id     TEXT UNIQUE REFERENCES permits (id),
    authorize_seq INTEGER UNIQUE CHECK (authorize_seq >= 1),
    reported_by   TEXT NOT NULL REFERENCES principals (id),
    recorded_at   INTEGER NOT NULL,
    CHECK ((basis = 'closed_permit') = (permit_id IS NOT NULL)),
    CHECK ((basis = 'authorized_operation') = (authorize_seq IS NOT NULL))
) STRICT;
CREATE INDEX worker_outcomes_worker ON worker_outcomes (worker_id, recorded_at);

-- Successes recorded before this version were never tied to work Steward saw: they stay
-- in the history as `uncounted_successes` and no longer count towards promotion.
UPDATE workers SET
    stats = json_set(
        stats,
        '$.uncounted_successes',
        coalesce(json_extract(stats, '$.uncounted_successes'), 0)
            + coalesce(json_extract(stats, '$.successes_by_level[0]'), 0)
            + coalesce(json_extract(stats, '$.successes_by_level[1]'), 0)
            + coalesce(json_extract(stats, '$.successes_by_level[2]'), 0)
            + coalesce(json_extract(stats, '$.successes_by_level[3]'), 0)
            + coalesce(json_extract(stats, '$.successes_by_level[4]'), 0),
        '$.successes_by_level', json('[0,0,0,0,0]'),
        '$.successes_at_level', 0
    ),
    version = version + 1;

-- The public half of the key that signs audit checkpoints and manifests, recorded once by
-- `steward init` (or, for a database initialised before this version, by the first start
-- that has the key). Every instance refuses to start without the matching private key.
CREATE TABLE audit_signing_key (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    public_key  BLOB NOT NULL CHECK (length(public_key) = 32),
    key_id      TEXT NOT NULL CHECK (length(key_id) = 16),
    recorded_at INTEGER NOT NULL
) STRICT;
CREATE TRIGGER audit_signing_key_no_update BEFORE UPDATE ON audit_signing_key
BEGIN
    SELECT RAISE(ABORT, 'audit_signing_key is permanent');
END;
CREATE TRIGGER audit_signing_key_no_delete BEFORE DELETE ON audit_signing_key
BEGIN
    SELECT RAISE(ABORT, 'audit_signing_key is permanent');
END;
