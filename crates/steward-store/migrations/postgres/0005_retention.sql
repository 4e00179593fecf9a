-- Audit retention, pruning and legal holds (SPEC §4, §9), PostgreSQL. Keep in step with
-- ../sqlite/0005_retention.sql: same tables, same columns, same CHECKs.

-- The permanent, signed record of each pruned range of audit_events (see
-- steward_audit::RangeManifest; signature: Ed25519 over RangeManifest::signed_message by
-- the key named by key_id). Ranges are contiguous from seq 1, never overlap, and are
-- never updated or deleted.
CREATE TABLE audit_manifests (
    first_seq   BIGINT PRIMARY KEY CHECK (first_seq >= 1),
    last_seq    BIGINT NOT NULL UNIQUE,
    event_count BIGINT NOT NULL,
    prev_hash   BYTEA NOT NULL CHECK (length(prev_hash) = 32),
    first_hash  BYTEA NOT NULL CHECK (length(first_hash) = 32),
    last_hash   BYTEA NOT NULL CHECK (length(last_hash) = 32),
    range_root  BYTEA NOT NULL CHECK (length(range_root) = 32),
    tree_size   BIGINT NOT NULL,
    tree_root   BYTEA NOT NULL CHECK (length(tree_root) = 32),
    ts          BIGINT NOT NULL,
    key_id      TEXT NOT NULL CHECK (length(key_id) = 16),
    signature   BYTEA NOT NULL CHECK (length(signature) = 64),
    CHECK (last_seq >= first_seq),
    CHECK (event_count = last_seq - first_seq + 1),
    CHECK (tree_size = last_seq)
);

CREATE FUNCTION audit_manifests_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_manifests is permanent';
END;
$$;
CREATE TRIGGER audit_manifests_no_update BEFORE UPDATE ON audit_manifests
    FOR EACH ROW EXECUTE FUNCTION audit_manifests_permanent();
CREATE TRIGGER audit_manifests_no_delete BEFORE DELETE ON audit_manifests
    FOR EACH ROW EXECUTE FUNCTION audit_manifests_permanent();

-- Pruning deletes whole ranges of audit_events, and only ranges a manifest covers: the
-- manifest row is written first, in the same transaction. Every other delete is still
-- refused (updates stay refused by audit_events_no_update).
CREATE FUNCTION audit_events_prune_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM audit_manifests WHERE first_seq <= OLD.seq AND last_seq >= OLD.seq
    ) THEN
        RAISE EXCEPTION 'audit_events is append-only: only a range covered by a manifest may be pruned';
    END IF;
    RETURN OLD;
END;
$$;
DROP TRIGGER audit_events_no_delete ON audit_events;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_prune_only();

-- Legal holds: while active (released_at NULL) no event they cover is pruned. A hold
-- covers every event about one worker, about one permit, or a seq range.
CREATE TABLE audit_legal_holds (
    id             TEXT PRIMARY KEY,
    scope          TEXT NOT NULL CHECK (scope IN ('worker', 'permit', 'range')),
    worker_id      TEXT,
    permit_id      TEXT,
    first_seq      BIGINT,
    last_seq       BIGINT,
    reason         TEXT NOT NULL CHECK (length(reason) > 0),
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    released_by    TEXT,
    released_at    BIGINT,
    release_reason TEXT,
    CHECK ((scope = 'worker') = (worker_id IS NOT NULL)),
    CHECK ((scope = 'permit') = (permit_id IS NOT NULL)),
    CHECK ((scope = 'range') = (first_seq IS NOT NULL AND last_seq IS NOT NULL)),
    CHECK (scope = 'range' OR (first_seq IS NULL AND last_seq IS NULL)),
    CHECK (first_seq IS NULL OR (first_seq >= 1 AND last_seq >= first_seq)),
    CHECK ((released_at IS NULL) = (released_by IS NULL))
);
CREATE INDEX audit_legal_holds_active ON audit_legal_holds (released_at, created_at);
