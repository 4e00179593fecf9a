-- The Merkle tree over the audit trail and its signed checkpoints (SPEC §9), SQLite.
-- Keep in step with ../postgres/0004_merkle.sql: same tables, same columns, same CHECKs.

-- Perfect nodes of the RFC 6962 tree (steward_audit::NodeId): the complete subtree over
-- leaves [idx * 2^level, (idx + 1) * 2^level). Level 0 holds the leaf hashes, leaf i being
-- the event with seq = i + 1. A node never changes once written.
CREATE TABLE audit_merkle_nodes (
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx   INTEGER NOT NULL CHECK (idx >= 0),
    hash  BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

-- How many leaves (events, from seq 1) have their nodes written: one row, written only
-- inside a write transaction (BEGIN IMMEDIATE). It trails the audit head;
-- Store::extend_merkle catches it up outside the appending transactions.
CREATE TABLE audit_merkle_head (
    id        INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    tree_size INTEGER NOT NULL CHECK (tree_size >= 0)
) STRICT;
INSERT INTO audit_merkle_head (id, tree_size) VALUES (1, 0);

-- Signed checkpoints {tree_size, root_hash, ts}: Ed25519 over
-- steward_audit::Checkpoint::signed_message, by the key named by key_id.
CREATE TABLE audit_checkpoints (
    tree_size INTEGER PRIMARY KEY NOT NULL CHECK (tree_size >= 0),
    root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
    ts        INTEGER NOT NULL,
    key_id    TEXT NOT NULL CHECK (length(key_id) = 16),
    signature BLOB NOT NULL CHECK (length(signature) = 64)
) STRICT;
