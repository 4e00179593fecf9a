-- The Merkle tree over the audit trail and its signed checkpoints (SPEC §9), PostgreSQL.
-- Keep in step with ../sqlite/0004_merkle.sql: same tables, same columns, same CHECKs.

-- Perfect nodes of the RFC 6962 tree (steward_audit::NodeId): the complete subtree over
-- leaves [idx * 2^level, (idx + 1) * 2^level). Level 0 holds the leaf hashes, leaf i being
-- the event with seq = i + 1. A node never changes once written.
CREATE TABLE audit_merkle_nodes (
    level BIGINT NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx   BIGINT NOT NULL CHECK (idx >= 0),
    hash  BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- How many leaves (events, from seq 1) have their nodes written: one row, locked
-- (SELECT ... FOR UPDATE) by whoever extends the tree or signs a checkpoint. It trails the
-- audit head; Store::extend_merkle catches it up outside the appending transactions.
CREATE TABLE audit_merkle_head (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    tree_size BIGINT NOT NULL CHECK (tree_size >= 0)
);
INSERT INTO audit_merkle_head (id, tree_size) VALUES (1, 0);

-- Signed checkpoints {tree_size, root_hash, ts}: Ed25519 over
-- steward_audit::Checkpoint::signed_message, by the key named by key_id.
CREATE TABLE audit_checkpoints (
    tree_size BIGINT PRIMARY KEY CHECK (tree_size >= 0),
    root_hash BYTEA NOT NULL CHECK (length(root_hash) = 32),
    ts        BIGINT NOT NULL,
    key_id    TEXT NOT NULL CHECK (length(key_id) = 16),
    signature BYTEA NOT NULL CHECK (length(signature) = 64)
);
