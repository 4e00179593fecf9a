//! The RFC 6962 Merkle tree over the audit trail, persisted as perfect nodes, and its
//! signed checkpoints and proofs (SPEC §9). The hashing and proof algorithms are
//! `steward_audit`'s; this module only stores nodes and reads back the few a root or a
//! proof needs.
//!
//! # Catching up instead of appending in place
//!
//! The tree is *not* extended inside [`append_event`]: that would add node writes to the
//! transaction of every use case. Instead the `audit_merkle_head` row records how many
//! leaves (events from `seq` 1) have their nodes stored, and [`Store::extend_merkle`]
//! catches it up in pages, one transaction per page. The server's maintenance loop calls
//! it every second, and [`Store::create_checkpoint`] calls it before signing, so the tree
//! trails the chain by at most a tick. Leaf `i` is the event with `seq == i + 1`, and its
//! leaf hash is `steward_audit::leaf_hash(&entry.hash)`.
//!
//! # Invariants
//!
//! - Nodes are written only together with the head that covers them, in one transaction,
//!   by a writer holding the head (PostgreSQL: `SELECT … FOR UPDATE` on the head row;
//!   SQLite: the database write lock every [`Tx`] holds). So the nodes of every tree size up
//!   to the head are stored, each exactly once, however many instances extend at once.
//! - A stored node never changes. Rewriting an event row after its leaf was stored does not
//!   change the tree: an inclusion proof, whose leaf hash is computed from the event row as
//!   it is now, then fails to verify against a checkpoint's root.
//! - Lock order, where both are taken: the Merkle head, then the audit head (only
//!   [`Store::create_checkpoint`] takes both). Appenders take only the audit head.

use std::collections::HashMap;

use sqlx::QueryBuilder;

use steward_audit::{
    Checkpoint, EventType, ExtendError, Hash, NodeId, ProofError, PublishedCheckpoint,
    SignedCheckpoint, consistency_proof_nodes, extend_nodes, root_from_nodes, root_nodes,
    sign_checkpoint,
};
pub use steward_audit::{ConsistencyProof, InclusionProof};

use steward_audit::event::CheckpointCreated;

use crate::audit::{HeadRow, append_unscoped_event, fit_i64};
use crate::caller::Caller;
use crate::error::StoreError;
use crate::store::{Store, Tx, in_pool, in_tx, on_tx};

/// The type of the audit event [`Store::create_checkpoint`] appends.
pub const CHECKPOINT_EVENT: &str = EventType::AuditCheckpointCreated.as_str();

/// The most checkpoints one [`Store::list_checkpoints`] call returns.
pub const MAX_CHECKPOINT_PAGE: u32 = 1000;

/// Leaves added per transaction by [`Store::extend_merkle`]. A page of 1 000 leaves
/// writes about 2 000 nodes in a handful of statements and holds the lock for
/// milliseconds.
const LEAVES_PER_PAGE: u64 = 1000;

/// Rows per multi-row `INSERT` of nodes: 3 parameters each, well below SQLite's and
/// PostgreSQL's parameter limits.
const NODES_PER_INSERT: usize = 500;

/// What [`Store::sign_checkpoint`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointOutcome {
    /// This call signed and stored a new checkpoint.
    Signed(SignedCheckpoint),
    /// Nothing but checkpoint events was appended since the latest checkpoint, which is
    /// returned; nothing was written.
    Unchanged(SignedCheckpoint),
}

impl CheckpointOutcome {
    pub fn into_checkpoint(self) -> SignedCheckpoint {
        match self {
            CheckpointOutcome::Signed(signed) | CheckpointOutcome::Unchanged(signed) => signed,
        }
    }
}

impl Store {
    /// How many leaves the stored Merkle tree covers (events `1..=size`).
    pub async fn merkle_size(&self) -> Result<u64, StoreError> {
        decode_size(in_pool!(
            self.pool,
            fetch_one,
            sqlx::query_scalar(SELECT_MERKLE_HEAD)
        ))
    }

    /// Stores the Merkle nodes of the events after the Merkle head, up to `up_to_seq` (or
    /// the audit head when `None`, or when `up_to_seq` is beyond it), and returns the new
    /// tree size.
    ///
    /// Works in pages of 1 000 events, one transaction each; an interrupted call leaves a
    /// consistent, shorter tree that the next call continues. Returns at once, without
    /// taking the write lock, when there is nothing to add. Safe to call from several
    /// instances at once.
    pub async fn extend_merkle(&self, up_to_seq: Option<u64>) -> Result<u64, StoreError> {
        let head = self.audit_head().await?.seq;
        let target = up_to_seq.map_or(head, |seq| seq.min(head));
        let mut size = self.merkle_size().await?;
        while size < target {
            let mut tx = self.begin().await?;
            size = extend_page(&mut tx, target).await?;
            tx.commit().await?;
        }
        Ok(size)
    }

    /// Extends the tree to the audit head, signs a checkpoint of it with `signing_key`
    /// (an Ed25519 seed), stores it and records an `audit.checkpoint_created` event by
    /// `by`, stamped `now_ms`, whose data is the checkpoint in its published form
    /// (`steward_audit::PublishedCheckpoint`: `tree_size`, `root_hash`, `ts_ms`, `key_id`,
    /// `signature`), so whoever follows the trail (webhooks) can keep it elsewhere.
    ///
    /// That event comes after the checkpoint's last leaf, so it is never covered by the
    /// checkpoint it records (the root cannot cover an event that contains it); the next
    /// checkpoint covers it.
    ///
    /// Idempotent: when no event other than `audit.checkpoint_created` was appended since
    /// the latest checkpoint, that checkpoint is returned and nothing is written (even if
    /// `signing_key` is not the key that signed it). [`Store::sign_checkpoint`] says which
    /// of the two happened.
    pub async fn create_checkpoint(
        &self,
        by: &Caller,
        signing_key: &[u8; 32],
        now_ms: i64,
    ) -> Result<SignedCheckpoint, StoreError> {
        Ok(self
            .sign_checkpoint(by, signing_key, now_ms)
            .await?
            .into_checkpoint())
    }

    /// [`Store::create_checkpoint`], saying whether this call signed the checkpoint
    /// ([`CheckpointOutcome::Signed`], the one to publish) or found nothing new
    /// ([`CheckpointOutcome::Unchanged`], with the latest one).
    pub async fn sign_checkpoint(
        &self,
        by: &Caller,
        signing_key: &[u8; 32],
        now_ms: i64,
    ) -> Result<CheckpointOutcome, StoreError> {
        self.extend_merkle(None).await?;
        let mut tx = self.begin().await?;
        // Holding the Merkle head serialises checkpoint makers, so two instances never sign
        // the same size twice, and the tree cannot move while the root is computed.
        let size = lock_merkle_head(&mut tx).await?;
        let latest = read_latest_checkpoint(&mut tx).await?;
        if let Some(latest) = latest
            && !has_events_besides_checkpoints(&mut tx, latest.checkpoint.tree_size, size).await?
        {
            tx.rollback().await?;
            return Ok(CheckpointOutcome::Unchanged(latest));
        }
        let nodes = tx_nodes(&mut tx, &root_nodes(size)).await?;
        let root_hash = root_from_nodes(size, &nodes).map_err(missing_node)?;
        let signed = sign_checkpoint(
            Checkpoint {
                tree_size: size,
                root_hash,
                ts_ms: now_ms,
            },
            signing_key,
        );
        insert_checkpoint(&mut tx, &signed).await?;
        let event = CheckpointCreated::from(PublishedCheckpoint::from(&signed));
        append_unscoped_event(&mut tx, now_ms, by.actor(), event).await?;
        tx.commit().await?;
        Ok(CheckpointOutcome::Signed(signed))
    }

    /// The checkpoint with the largest tree size, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        let row = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as::<_, CheckpointRow>(SELECT_LATEST_CHECKPOINT)
        );
        row.map(decode_checkpoint).transpose()
    }

    /// The checkpoint of the tree of `tree_size` leaves, or [`StoreError::NotFound`].
    pub async fn checkpoint(&self, tree_size: u64) -> Result<SignedCheckpoint, StoreError> {
        let not_found = || StoreError::NotFound {
            what: "checkpoint of tree size",
            id: tree_size.to_string(),
        };
        let Ok(size) = i64::try_from(tree_size) else {
            return Err(not_found());
        };
        let sql = format!("{SELECT_CHECKPOINTS} WHERE tree_size = $1");
        let row = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as::<_, CheckpointRow>(&sql),
            size
        );
        row.map(decode_checkpoint)
            .transpose()?
            .ok_or_else(not_found)
    }

    /// Up to `limit` checkpoints (at most [`MAX_CHECKPOINT_PAGE`]) with a tree size above
    /// `after`, smallest first. To page, pass the last one's tree size as `after`.
    pub async fn list_checkpoints(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<SignedCheckpoint>, StoreError> {
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        let limit = i64::from(limit.min(MAX_CHECKPOINT_PAGE));
        let sql = format!("{SELECT_CHECKPOINTS} WHERE tree_size > $1 ORDER BY tree_size LIMIT $2");
        let rows = in_pool!(
            self.pool,
            fetch_all,
            sqlx::query_as::<_, CheckpointRow>(&sql),
            after,
            limit
        );
        rows.into_iter().map(decode_checkpoint).collect()
    }

    /// The proof that event `seq` is in the tree of `tree_size` leaves, which must not be
    /// beyond the stored tree ([`StoreError::BeyondMerkleTree`]). Reads the event's hash
    /// as it is stored now and only the O(log n) nodes the proof needs.
    pub async fn inclusion_proof(
        &self,
        seq: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, StoreError> {
        if seq == 0 || seq > tree_size {
            return Err(StoreError::SeqNotInTree { seq, tree_size });
        }
        self.check_within_tree(tree_size).await?;
        let entry_hash = self.event_hash(seq).await?;
        let ids = InclusionProof::node_ids(seq, tree_size).map_err(proof_error)?;
        let nodes = self.pool_nodes(&ids).await?;
        InclusionProof::from_nodes(seq, tree_size, entry_hash, &nodes).map_err(proof_error)
    }

    /// The proof that the tree of `old_size` leaves is a prefix of the tree of `new_size`
    /// leaves; `old_size <= new_size`, and `new_size` not beyond the stored tree.
    pub async fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, StoreError> {
        let ids = consistency_proof_nodes(old_size, new_size).map_err(proof_error)?;
        self.check_within_tree(new_size).await?;
        let nodes = self.pool_nodes(&ids).await?;
        ConsistencyProof::from_nodes(old_size, new_size, &nodes).map_err(proof_error)
    }

    /// The root of the stored tree of `tree_size` leaves, which must not be beyond the
    /// stored tree; a node the head covers but the table lacks is [`StoreError::Corrupt`].
    pub async fn merkle_root(&self, tree_size: u64) -> Result<Hash, StoreError> {
        self.check_within_tree(tree_size).await?;
        let nodes = self.pool_nodes(&root_nodes(tree_size)).await?;
        root_from_nodes(tree_size, &nodes).map_err(missing_node)
    }

    async fn check_within_tree(&self, tree_size: u64) -> Result<(), StoreError> {
        let merkle_size = self.merkle_size().await?;
        if tree_size > merkle_size {
            return Err(StoreError::BeyondMerkleTree {
                tree_size,
                merkle_size,
            });
        }
        Ok(())
    }

    /// The stored `hash` of event `seq`.
    async fn event_hash(&self, seq: u64) -> Result<Hash, StoreError> {
        let not_found = || StoreError::NotFound {
            what: "audit event",
            id: seq.to_string(),
        };
        let seq_i64 = i64::try_from(seq).map_err(|_| not_found())?;
        const SQL: &str = "SELECT hash FROM audit_events WHERE seq = $1";
        let hash = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_scalar::<_, Vec<u8>>(SQL),
            seq_i64
        );
        let hash = hash.ok_or_else(not_found)?;
        Hash::from_slice(&hash)
            .ok_or_else(|| StoreError::corrupt("audit event", seq, "hash is not 32 bytes"))
    }

    /// The stored nodes among `ids`, in one query outside any transaction. Nodes up to the
    /// Merkle head never change, so no transaction is needed to read a consistent set.
    pub(crate) async fn pool_nodes(
        &self,
        ids: &[NodeId],
    ) -> Result<HashMap<NodeId, Hash>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let keys = node_keys(ids)?;
        let rows = in_pool!(self.pool, fetch_all, select_nodes(&keys).build_query_as());
        decode_nodes(rows)
    }
}

/// Adds up to one page of leaves, from the Merkle head towards `target`, inside `tx`.
/// Returns the new tree size (unchanged when another writer got there first).
async fn extend_page(tx: &mut Tx<'_>, target: u64) -> Result<u64, StoreError> {
    let size = lock_merkle_head(tx).await?;
    if size >= target {
        return Ok(size);
    }
    let end = target.min(size.saturating_add(LEAVES_PER_PAGE));
    let events = event_hashes(tx, size, end).await?;
    let mut nodes = tx_nodes(tx, &root_nodes(size)).await?;
    let created = extend_nodes(&mut nodes, size, end, &events).map_err(|error| match error {
        ExtendError::MissingEvent { seq } => StoreError::corrupt(
            "audit event",
            seq,
            "missing from the trail while building the merkle tree",
        ),
        ExtendError::MissingNode(missing) => missing_node(missing),
    })?;
    insert_nodes(tx, &created).await?;
    set_merkle_head(tx, end).await?;
    Ok(end)
}

/// Reads the Merkle head inside `tx`, locking it on PostgreSQL (SQLite's `Tx` already
/// holds the database write lock).
pub(crate) async fn lock_merkle_head(tx: &mut Tx<'_>) -> Result<u64, StoreError> {
    let sql = format!("{SELECT_MERKLE_HEAD}{}", tx.for_update());
    decode_size(in_tx!(tx, fetch_one, sqlx::query_scalar(&sql)))
}

async fn set_merkle_head(tx: &mut Tx<'_>, size: u64) -> Result<(), StoreError> {
    let size = size_i64(size)?;
    const SQL: &str = "UPDATE audit_merkle_head SET tree_size = $1 WHERE id = 1";
    in_tx!(tx, execute, sqlx::query(SQL), size);
    Ok(())
}

/// `(seq, hash)` of the events with `after < seq <= up_to`, in order.
async fn event_hashes(
    tx: &mut Tx<'_>,
    after: u64,
    up_to: u64,
) -> Result<Vec<(u64, Hash)>, StoreError> {
    let (after, up_to) = (size_i64(after)?, size_i64(up_to)?);
    const SQL: &str =
        "SELECT seq, hash FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq";
    let rows = in_tx!(
        tx,
        fetch_all,
        sqlx::query_as::<_, HeadRow>(SQL),
        after,
        up_to
    );
    rows.into_iter()
        .map(|row| {
            let event = row.decode_as("audit event", ["seq", "hash"])?;
            Ok((event.seq, event.hash))
        })
        .collect()
}

/// The stored nodes among `ids`, read inside `tx`, in one query.
pub(crate) async fn tx_nodes(
    tx: &mut Tx<'_>,
    ids: &[NodeId],
) -> Result<HashMap<NodeId, Hash>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let keys = node_keys(ids)?;
    let rows = in_tx!(tx, fetch_all, select_nodes(&keys).build_query_as());
    decode_nodes(rows)
}

/// Inserts `nodes` with multi-row `INSERT`s of up to [`NODES_PER_INSERT`] rows.
async fn insert_nodes(tx: &mut Tx<'_>, nodes: &[(NodeId, Hash)]) -> Result<(), StoreError> {
    for chunk in nodes.chunks(NODES_PER_INSERT) {
        let rows = chunk
            .iter()
            .map(|(id, hash)| Ok((i64::from(id.level), index_i64(id.index)?, hash)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        on_tx!(tx, |conn| {
            let mut query = QueryBuilder::new("INSERT INTO audit_merkle_nodes (level, idx, hash) ");
            query.push_values(&rows, |mut row, (level, index, hash)| {
                row.push_bind(*level)
                    .push_bind(*index)
                    .push_bind(hash.as_bytes().as_slice());
            });
            query.build().execute(&mut **conn).await?;
        });
    }
    Ok(())
}

pub(crate) async fn read_latest_checkpoint(
    tx: &mut Tx<'_>,
) -> Result<Option<SignedCheckpoint>, StoreError> {
    let row = in_tx!(
        tx,
        fetch_optional,
        sqlx::query_as::<_, CheckpointRow>(SELECT_LATEST_CHECKPOINT)
    );
    row.map(decode_checkpoint).transpose()
}

/// Whether any event with `after < seq <= up_to` is something other than a checkpoint's
/// own `audit.checkpoint_created` event.
async fn has_events_besides_checkpoints(
    tx: &mut Tx<'_>,
    after: u64,
    up_to: u64,
) -> Result<bool, StoreError> {
    let (after, up_to) = (size_i64(after)?, size_i64(up_to)?);
    const SQL: &str =
        "SELECT seq FROM audit_events WHERE seq > $1 AND seq <= $2 AND type <> $3 LIMIT 1";
    let found = in_tx!(
        tx,
        fetch_optional,
        sqlx::query_scalar::<_, i64>(SQL),
        after,
        up_to,
        CHECKPOINT_EVENT
    );
    Ok(found.is_some())
}

async fn insert_checkpoint(tx: &mut Tx<'_>, signed: &SignedCheckpoint) -> Result<(), StoreError> {
    let checkpoint = &signed.checkpoint;
    let size = size_i64(checkpoint.tree_size)?;
    in_tx!(
        tx,
        execute,
        sqlx::query(
            "INSERT INTO audit_checkpoints (tree_size, root_hash, ts, key_id, signature) \
             VALUES ($1, $2, $3, $4, $5)",
        ),
        size,
        checkpoint.root_hash.as_bytes().as_slice(),
        checkpoint.ts_ms,
        &signed.key_id,
        signed.signature.as_slice(),
    );
    Ok(())
}

const SELECT_MERKLE_HEAD: &str = "SELECT tree_size FROM audit_merkle_head WHERE id = 1";

/// The columns of a [`CheckpointRow`]; a statement adds its condition and order.
pub(crate) const SELECT_CHECKPOINTS: &str =
    "SELECT tree_size, root_hash, ts, key_id, signature FROM audit_checkpoints";

const SELECT_LATEST_CHECKPOINT: &str = "SELECT tree_size, root_hash, ts, key_id, signature \
     FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1";

/// One `audit_checkpoints` row.
#[derive(sqlx::FromRow)]
pub(crate) struct CheckpointRow {
    tree_size: i64,
    root_hash: Vec<u8>,
    ts: i64,
    key_id: String,
    signature: Vec<u8>,
}

/// One `audit_merkle_nodes` row.
#[derive(sqlx::FromRow)]
struct NodeRow {
    level: i64,
    idx: i64,
    hash: Vec<u8>,
}

pub(crate) fn decode_checkpoint(row: CheckpointRow) -> Result<SignedCheckpoint, StoreError> {
    let bad = |problem| StoreError::corrupt("audit checkpoint", row.tree_size, problem);
    Ok(SignedCheckpoint {
        checkpoint: Checkpoint {
            tree_size: u64::try_from(row.tree_size).map_err(|_| bad("negative tree_size"))?,
            root_hash: Hash::from_slice(&row.root_hash)
                .ok_or_else(|| bad("root_hash is not 32 bytes"))?,
            ts_ms: row.ts,
        },
        key_id: row.key_id,
        signature: <[u8; 64]>::try_from(row.signature.as_slice())
            .map_err(|_| bad("signature is not 64 bytes"))?,
    })
}

fn decode_nodes(rows: Vec<NodeRow>) -> Result<HashMap<NodeId, Hash>, StoreError> {
    rows.into_iter()
        .map(|NodeRow { level, idx, hash }| {
            let bad = |problem| {
                StoreError::corrupt("audit merkle node", format!("{level}/{idx}"), problem)
            };
            let level = u8::try_from(level).map_err(|_| bad("level out of range"))?;
            let index = u64::try_from(idx).map_err(|_| bad("negative index"))?;
            let hash = Hash::from_slice(&hash).ok_or_else(|| bad("hash is not 32 bytes"))?;
            Ok((NodeId::new(level, index), hash))
        })
        .collect()
}

/// `(level, idx)` of each node as the database stores them.
fn node_keys(ids: &[NodeId]) -> Result<Vec<(i64, i64)>, StoreError> {
    ids.iter()
        .map(|id| Ok((i64::from(id.level), index_i64(id.index)?)))
        .collect()
}

/// `SELECT … WHERE (level, idx) IN (VALUES (…, …), …)` for the nodes at `keys`: a
/// row-value `IN`, which both SQLite (≥ 3.15, with a `VALUES` list) and PostgreSQL answer
/// from the primary key.
fn select_nodes<'q, DB>(keys: &[(i64, i64)]) -> QueryBuilder<'q, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = QueryBuilder::new(
        "SELECT level, idx, hash FROM audit_merkle_nodes WHERE (level, idx) IN (",
    );
    query.push_values(keys, |mut row, &(level, index)| {
        row.push_bind(level).push_bind(index);
    });
    query.push(")");
    query
}

fn decode_size(size: i64) -> Result<u64, StoreError> {
    u64::try_from(size)
        .map_err(|_| StoreError::corrupt("audit merkle head", size, "negative tree_size"))
}

fn size_i64(size: u64) -> Result<i64, StoreError> {
    fit_i64(size, "audit merkle head", "tree size")
}

fn index_i64(index: u64) -> Result<i64, StoreError> {
    fit_i64(index, "audit merkle node", "index")
}

/// A node the tree needed is not stored although the head covers it: the table was
/// edited outside Steward.
pub(crate) fn missing_node(error: steward_audit::MissingNodeError) -> StoreError {
    let id = error.0;
    StoreError::corrupt(
        "audit merkle node",
        format!("{}/{}", id.level, id.index),
        "not stored, though the merkle head covers it",
    )
}

fn proof_error(error: ProofError) -> StoreError {
    match error {
        ProofError::MissingNode(missing) => missing_node(missing),
        other => StoreError::Proof(other),
    }
}
