//! Audit retention in the database (SPEC §4, §9): pruning leading ranges of the trail
//! past their retention into permanent signed manifests, the legal holds that stop it,
//! and the verification of the trail across pruned history.
//!
//! # Pruning
//!
//! [`Store::prune_audit`] removes the events right after the pruned history (or from
//! `seq` 1) up to the first one that must stay (`steward_audit::keep_reason`: inside its
//! retention, under an active legal hold, or beyond the latest signed checkpoint), in
//! ranges of at most [`MAX_RANGE_EVENTS`], one transaction each. Per range, in that
//! transaction: the range's events are re-verified (hash and link: a damaged event is
//! never laundered into a manifest), the signed manifest is inserted, the events are
//! deleted (the `audit_events_no_delete` trigger refuses any delete a manifest does not
//! cover), and an `audit.pruned` event records the manifest. [`Store::plan_prune`] runs
//! the same scan and writes nothing (`--dry-run`).
//!
//! # Invariants
//!
//! - The pruned history is one prefix: manifests are contiguous from `seq` 1, each
//!   linking to the one before by `prev_hash`, and the first stored event links to the
//!   last manifest's `last_hash`.
//! - Manifests are permanent (triggers refuse update and delete), and so are the Merkle
//!   nodes: inclusion and consistency proofs for surviving events and old checkpoints
//!   read only nodes, never pruned rows.
//! - Lock order, as for checkpoints: the Merkle head, then the audit head. Holding the
//!   Merkle head serialises pruners (and checkpoint makers) across instances.

use std::collections::HashSet;

use steward_audit::{
    Actor, AuditEntry, EventType, Frontier, Hash, HoldReleasedError, HoldScope, PendingRange,
    PruneScan, PruneScanError, RangeManifest, ScanEnd, SignedManifest, root_from_nodes, root_nodes,
    sign_manifest,
};
pub use steward_audit::{
    HoldRelease, LegalHold, MAX_RANGE_EVENTS, NewLegalHold, PruneRange, PruneReport, PruneStop,
};

use steward_audit::event::Pruned;

use crate::audit::{
    AuditHead, EventRow, HeadRow, NewEvent, SELECT_EVENTS, append_event, append_unscoped_event,
    decode_event, fit_i64,
};
use crate::caller::Caller;
use crate::error::StoreError;
use crate::merkle::{lock_merkle_head, missing_node, read_latest_checkpoint, tx_nodes};
use crate::store::{Store, Tx, in_pool, in_tx, new_id};

/// The type of the audit event that records a pruned range and its manifest.
pub const PRUNED_EVENT: &str = EventType::AuditPruned.as_str();
/// The type of the audit event that records a new legal hold.
pub const HOLD_CREATED_EVENT: &str = EventType::AuditHoldCreated.as_str();
/// The type of the audit event that records a released legal hold.
pub const HOLD_RELEASED_EVENT: &str = EventType::AuditHoldReleased.as_str();

/// The most manifests one [`Store::list_manifests`] call returns.
pub const MAX_MANIFEST_PAGE: u32 = 1000;

/// Events read per query while scanning for what to prune.
const SCAN_PAGE: i64 = 1000;

/// Which holds [`Store::list_legal_holds`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldFilter {
    Active,
    All,
}

impl Store {
    /// Prunes every leading range of the trail that is past its retention, not held and
    /// covered by a signed checkpoint, signing a manifest for each with `signing_key` (an
    /// Ed25519 seed) and recording an `audit.pruned` event by `by` (module docs). Returns
    /// what was pruned and where it stopped; a run with nothing to prune writes nothing.
    pub async fn prune_audit(
        &self,
        by: &Caller,
        signing_key: &[u8; 32],
        now_ms: i64,
    ) -> Result<PruneReport, StoreError> {
        let by = by.actor();
        let mut report = PruneReport::default();
        // One transaction per range, each starting from what is stored, so concurrent
        // pruners on other instances (serialised on the Merkle head) never prune a range
        // twice.
        loop {
            let mut tx = self.begin().await?;
            let (start, signed_size, holds) = prune_context(&mut tx).await?;
            if report.ranges.is_empty() {
                report.pruned_before = start.seq;
            }
            let (range, end) = scan(&mut tx, start, signed_size, &holds, now_ms).await?;
            if let Some(range) = range {
                let signed = write_range(&mut tx, &range, &by, signing_key, now_ms).await?;
                report.ranges.push(range.range());
                report.manifests.push(signed);
            }
            tx.commit().await?;
            if report.finish(end) {
                return Ok(report);
            }
        }
    }

    /// What [`Store::prune_audit`] would prune at `now_ms`, writing nothing.
    pub async fn plan_prune(&self, now_ms: i64) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport::default();
        // One transaction, never committed, carrying each range's end over as the next
        // one's start.
        let mut tx = self.begin().await?;
        let (mut start, signed_size, holds) = prune_context(&mut tx).await?;
        report.pruned_before = start.seq;
        loop {
            let (range, end) = scan(&mut tx, start, signed_size, &holds, now_ms).await?;
            if let Some(range) = range {
                report.ranges.push(range.range());
                start = AuditHead {
                    seq: range.last_seq,
                    hash: range.last_hash,
                };
            }
            if report.finish(end) {
                break;
            }
        }
        tx.rollback().await?;
        Ok(report)
    }

    /// The last pruned event's `seq` and `hash` (from the latest manifest), or `seq` 0
    /// and zeros when nothing was pruned.
    pub async fn pruned_head(&self) -> Result<AuditHead, StoreError> {
        decode_pruned_head(in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as(SELECT_PRUNED_HEAD)
        ))
    }

    /// Up to `limit` manifests (at most [`MAX_MANIFEST_PAGE`]) whose range starts after
    /// `after_seq`, in `seq` order. To page, pass the last one's `last_seq`.
    pub async fn list_manifests(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<SignedManifest>, StoreError> {
        let Ok(after) = i64::try_from(after_seq) else {
            return Ok(Vec::new());
        };
        let limit = i64::from(limit.min(MAX_MANIFEST_PAGE));
        let sql = format!("{SELECT_MANIFESTS} WHERE first_seq > $1 ORDER BY first_seq LIMIT $2");
        let rows = in_pool!(
            self.pool,
            fetch_all,
            sqlx::query_as::<_, ManifestRow>(&sql),
            after,
            limit
        );
        rows.into_iter().map(decode_manifest).collect()
    }

    /// The right-edge Merkle nodes of the tree at `tree_size` (see
    /// `steward_audit::Frontier`), for an export's manifest line.
    pub async fn merkle_frontier(&self, tree_size: u64) -> Result<Vec<Hash>, StoreError> {
        let nodes = self.pool_nodes(&Frontier::node_ids(tree_size)).await?;
        let frontier = Frontier::from_source(tree_size, &nodes).map_err(missing_node)?;
        Ok(frontier.nodes().to_vec())
    }

    /// Places a legal hold, recording an `audit.hold_created` event by `by`. A worker or
    /// permit hold must name an existing worker or permit ([`StoreError::NotFound`]).
    pub async fn create_legal_hold(
        &self,
        by: &Caller,
        hold: NewLegalHold,
        now_ms: i64,
    ) -> Result<LegalHold, StoreError> {
        let mut tx = self.begin().await?;
        match &hold.scope {
            HoldScope::Worker(id) => require_row(&mut tx, "worker", "workers", id).await?,
            HoldScope::Permit(id) => require_row(&mut tx, "permit", "permits", id).await?,
            HoldScope::Range { .. } => {}
        }
        let (created, event) = LegalHold::place(new_id(), hold, &by.id, now_ms);
        insert_hold(&mut tx, &created).await?;
        let event = NewEvent::typed(now_ms, by.actor(), created.scope.subject(), None, event)?;
        append_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Releases an active legal hold, recording an `audit.hold_released` event by `by`.
    /// [`StoreError::NotFound`] for an unknown id, [`StoreError::Conflict`] when already
    /// released.
    pub async fn release_legal_hold(
        &self,
        by: &Caller,
        id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<LegalHold, StoreError> {
        let mut tx = self.begin().await?;
        let mut hold = read_hold(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "legal hold",
                id: id.to_owned(),
            })?;
        let conflict = |error: HoldReleasedError| StoreError::Conflict {
            message: error.to_string(),
        };
        let event = hold.release(&by.id, now_ms, reason).map_err(conflict)?;
        let released = in_tx!(
            tx,
            execute,
            sqlx::query(
                "UPDATE audit_legal_holds SET released_by = $1, released_at = $2, \
                 release_reason = $3 WHERE id = $4 AND released_at IS NULL",
            ),
            &by.id,
            now_ms,
            reason,
            id,
        );
        if released != 1 {
            return Err(conflict(hold.released_error()));
        }
        let event = NewEvent::typed(now_ms, by.actor(), hold.scope.subject(), None, event)?;
        append_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(hold)
    }

    /// Legal holds, oldest first.
    pub async fn list_legal_holds(&self, filter: HoldFilter) -> Result<Vec<LegalHold>, StoreError> {
        let condition = match filter {
            HoldFilter::Active => "WHERE released_at IS NULL",
            HoldFilter::All => "",
        };
        let sql = format!("{SELECT_HOLDS} {condition} ORDER BY created_at, id");
        let rows = in_pool!(self.pool, fetch_all, sqlx::query_as::<_, HoldRow>(&sql));
        rows.into_iter().map(decode_hold).collect()
    }
}

/// Inside a pruning transaction: takes the Merkle head's lock, and reads where the
/// pruned history ends, the latest checkpoint's tree size (0 without one) and the active
/// holds.
async fn prune_context(
    tx: &mut Tx<'_>,
) -> Result<(AuditHead, u64, Vec<(String, HoldScope)>), StoreError> {
    lock_merkle_head(tx).await?;
    let start = pruned_head(tx).await?;
    let signed_size = read_latest_checkpoint(tx)
        .await?
        .map_or(0, |signed| signed.checkpoint.tree_size);
    let holds = active_holds(tx).await?;
    Ok((start, signed_size, holds))
}

/// Scans the stored events after `start` for the longest prunable run, up to
/// [`MAX_RANGE_EVENTS`] (`steward_audit::PruneScan` decides; this reads the pages).
async fn scan(
    tx: &mut Tx<'_>,
    start: AuditHead,
    signed_size: u64,
    holds: &[(String, HoldScope)],
    now_ms: i64,
) -> Result<(Option<PendingRange>, ScanEnd), StoreError> {
    let mut scan = PruneScan::new(start.seq, start.hash, signed_size, holds, now_ms);
    let end = 'pages: loop {
        let page = read_events(tx, scan.after_seq()).await?;
        let Some(last) = page.last().map(|entry| entry.seq) else {
            break ScanEnd::Head;
        };
        let emergency = emergency_seqs(tx, scan.after_seq(), last).await?;
        for entry in page {
            let end = scan.push(&entry, emergency.contains(&entry.seq));
            match end {
                Ok(None) => {}
                Ok(Some(end)) => break 'pages end,
                Err(error @ PruneScanError::Missing { seq }) => {
                    return Err(StoreError::corrupt("audit event", seq, error));
                }
                Err(PruneScanError::Chain(error)) => return Err(error.into()),
            }
        }
    };
    Ok((scan.into_range(), end))
}

/// Signs and stores the manifest of `range`, deletes its events and records the
/// `audit.pruned` event, inside `tx`.
async fn write_range(
    tx: &mut Tx<'_>,
    range: &PendingRange,
    by: &Actor,
    signing_key: &[u8; 32],
    now_ms: i64,
) -> Result<SignedManifest, StoreError> {
    let nodes = tx_nodes(tx, &root_nodes(range.last_seq)).await?;
    let tree_root = root_from_nodes(range.last_seq, &nodes).map_err(missing_node)?;
    let signed = sign_manifest(range.manifest(tree_root, now_ms), signing_key);
    insert_manifest(tx, &signed).await?;
    let (first, last) = (seq_i64(range.first_seq)?, seq_i64(range.last_seq)?);
    // The events, and their entries in the per-worker index (a scan of that table: pruning
    // is rare).
    for table in ["audit_events", "audit_worker_events"] {
        let delete = format!("DELETE FROM {table} WHERE seq >= $1 AND seq <= $2");
        in_tx!(tx, execute, sqlx::query(&delete), first, last);
    }
    append_unscoped_event(tx, now_ms, by.clone(), Pruned::from(signed.clone())).await?;
    Ok(signed)
}

/// The last pruned event, read inside `tx`.
async fn pruned_head(tx: &mut Tx<'_>) -> Result<AuditHead, StoreError> {
    decode_pruned_head(in_tx!(
        tx,
        fetch_optional,
        sqlx::query_as(SELECT_PRUNED_HEAD)
    ))
}

fn decode_pruned_head(row: Option<HeadRow>) -> Result<AuditHead, StoreError> {
    let Some(row) = row else {
        return Ok(AuditHead {
            seq: 0,
            hash: Hash::ZERO,
        });
    };
    row.decode_as("audit manifest", ["last_seq", "last_hash"])
}

/// Up to [`SCAN_PAGE`] events after `after`, in order.
async fn read_events(tx: &mut Tx<'_>, after: u64) -> Result<Vec<AuditEntry>, StoreError> {
    let after = seq_i64(after)?;
    let sql = format!("{SELECT_EVENTS} WHERE seq > $1 ORDER BY seq LIMIT $2");
    let rows = in_tx!(
        tx,
        fetch_all,
        sqlx::query_as::<_, EventRow>(&sql),
        after,
        SCAN_PAGE
    );
    rows.into_iter().map(decode_event).collect()
}

/// The `seq` of events with `after < seq <= up_to` about an emergency permit.
async fn emergency_seqs(
    tx: &mut Tx<'_>,
    after: u64,
    up_to: u64,
) -> Result<HashSet<u64>, StoreError> {
    let (after, up_to) = (seq_i64(after)?, seq_i64(up_to)?);
    const SQL: &str = "SELECT e.seq FROM audit_events e JOIN permits p ON p.id = e.permit_id \
         WHERE e.seq > $1 AND e.seq <= $2 AND p.permit_type = 'emergency'";
    let seqs = in_tx!(
        tx,
        fetch_all,
        sqlx::query_scalar::<_, i64>(SQL),
        after,
        up_to
    );
    Ok(seqs
        .into_iter()
        .filter_map(|seq| u64::try_from(seq).ok())
        .collect())
}

/// The active holds as `(id, scope)`, read inside `tx`.
async fn active_holds(tx: &mut Tx<'_>) -> Result<Vec<(String, HoldScope)>, StoreError> {
    let sql = format!("{SELECT_HOLDS} WHERE released_at IS NULL");
    let rows = in_tx!(tx, fetch_all, sqlx::query_as::<_, HoldRow>(&sql));
    rows.into_iter()
        .map(|row| decode_hold(row).map(|hold| (hold.id, hold.scope)))
        .collect()
}

async fn read_hold(tx: &mut Tx<'_>, id: &str) -> Result<Option<LegalHold>, StoreError> {
    let sql = format!("{SELECT_HOLDS} WHERE id = $1{}", tx.for_update());
    let row = in_tx!(tx, fetch_optional, sqlx::query_as::<_, HoldRow>(&sql), id);
    row.map(decode_hold).transpose()
}

/// [`StoreError::NotFound`] unless `table` has a row with `id`.
async fn require_row(
    tx: &mut Tx<'_>,
    what: &'static str,
    table: &'static str,
    id: &str,
) -> Result<(), StoreError> {
    let sql = format!("SELECT id FROM {table} WHERE id = $1");
    let found = in_tx!(
        tx,
        fetch_optional,
        sqlx::query_scalar::<_, String>(&sql),
        id
    );
    found.map(|_| ()).ok_or_else(|| StoreError::NotFound {
        what,
        id: id.to_owned(),
    })
}

async fn insert_hold(tx: &mut Tx<'_>, hold: &LegalHold) -> Result<(), StoreError> {
    let (scope, worker_id, permit_id, first_seq, last_seq) = match &hold.scope {
        HoldScope::Worker(id) => ("worker", Some(id.as_str()), None, None, None),
        HoldScope::Permit(id) => ("permit", None, Some(id.as_str()), None, None),
        HoldScope::Range {
            first_seq,
            last_seq,
        } => (
            "range",
            None,
            None,
            Some(seq_i64(*first_seq)?),
            Some(seq_i64(*last_seq)?),
        ),
    };
    in_tx!(
        tx,
        execute,
        sqlx::query(
            "INSERT INTO audit_legal_holds (id, scope, worker_id, permit_id, first_seq, \
             last_seq, reason, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        ),
        &hold.id,
        scope,
        worker_id,
        permit_id,
        first_seq,
        last_seq,
        &hold.reason,
        &hold.created_by,
        hold.created_at_ms,
    );
    Ok(())
}

async fn insert_manifest(tx: &mut Tx<'_>, signed: &SignedManifest) -> Result<(), StoreError> {
    let m = &signed.manifest;
    let (first, last) = (seq_i64(m.first_seq)?, seq_i64(m.last_seq)?);
    let count = last - first + 1;
    let tree_size = seq_i64(m.tree_size)?;
    in_tx!(
        tx,
        execute,
        sqlx::query(
            "INSERT INTO audit_manifests (first_seq, last_seq, event_count, prev_hash, \
             first_hash, last_hash, range_root, tree_size, tree_root, ts, key_id, signature) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        ),
        first,
        last,
        count,
        m.prev_hash.as_bytes().as_slice(),
        m.first_hash.as_bytes().as_slice(),
        m.last_hash.as_bytes().as_slice(),
        m.range_root.as_bytes().as_slice(),
        tree_size,
        m.tree_root.as_bytes().as_slice(),
        m.ts_ms,
        &signed.key_id,
        signed.signature.as_slice(),
    );
    Ok(())
}

/// The latest manifest's end, as a [`HeadRow`].
const SELECT_PRUNED_HEAD: &str = "SELECT last_seq AS seq, last_hash AS hash FROM audit_manifests \
     ORDER BY last_seq DESC LIMIT 1";

const SELECT_MANIFESTS: &str = "SELECT first_seq, last_seq, prev_hash, first_hash, last_hash, \
     range_root, tree_size, tree_root, ts, key_id, signature FROM audit_manifests";

const SELECT_HOLDS: &str = "SELECT id, scope, worker_id, permit_id, first_seq, last_seq, \
     reason, created_by, created_at, released_by, released_at, release_reason \
     FROM audit_legal_holds";

/// One `audit_manifests` row as [`SELECT_MANIFESTS`] reads it.
#[derive(sqlx::FromRow)]
struct ManifestRow {
    first_seq: i64,
    last_seq: i64,
    prev_hash: Vec<u8>,
    first_hash: Vec<u8>,
    last_hash: Vec<u8>,
    range_root: Vec<u8>,
    tree_size: i64,
    tree_root: Vec<u8>,
    ts: i64,
    key_id: String,
    signature: Vec<u8>,
}

/// One `audit_legal_holds` row as [`SELECT_HOLDS`] reads it.
#[derive(sqlx::FromRow)]
struct HoldRow {
    id: String,
    scope: String,
    worker_id: Option<String>,
    permit_id: Option<String>,
    first_seq: Option<i64>,
    last_seq: Option<i64>,
    reason: String,
    created_by: String,
    created_at: i64,
    released_by: Option<String>,
    released_at: Option<i64>,
    release_reason: Option<String>,
}

fn decode_manifest(row: ManifestRow) -> Result<SignedManifest, StoreError> {
    let bad = |problem: &str| StoreError::corrupt("audit manifest", row.first_seq, problem);
    let seq =
        |value: i64, name: &str| u64::try_from(value).map_err(|_| bad(&format!("negative {name}")));
    let hash = |bytes: &[u8], name: &str| {
        Hash::from_slice(bytes).ok_or_else(|| bad(&format!("{name} is not 32 bytes")))
    };
    Ok(SignedManifest {
        manifest: RangeManifest {
            first_seq: seq(row.first_seq, "first_seq")?,
            last_seq: seq(row.last_seq, "last_seq")?,
            prev_hash: hash(&row.prev_hash, "prev_hash")?,
            first_hash: hash(&row.first_hash, "first_hash")?,
            last_hash: hash(&row.last_hash, "last_hash")?,
            range_root: hash(&row.range_root, "range_root")?,
            tree_size: seq(row.tree_size, "tree_size")?,
            tree_root: hash(&row.tree_root, "tree_root")?,
            ts_ms: row.ts,
        },
        key_id: row.key_id,
        signature: <[u8; 64]>::try_from(row.signature.as_slice())
            .map_err(|_| bad("signature is not 64 bytes"))?,
    })
}

fn decode_hold(row: HoldRow) -> Result<LegalHold, StoreError> {
    let bad = |problem: &str| StoreError::corrupt("legal hold", &row.id, problem);
    let columns = (row.worker_id, row.permit_id, row.first_seq, row.last_seq);
    let scope = match (row.scope.as_str(), columns) {
        ("worker", (Some(worker), None, None, None)) => HoldScope::Worker(worker),
        ("permit", (None, Some(permit), None, None)) => HoldScope::Permit(permit),
        ("range", (None, None, Some(first), Some(last))) => HoldScope::Range {
            first_seq: u64::try_from(first).map_err(|_| bad("negative first_seq"))?,
            last_seq: u64::try_from(last).map_err(|_| bad("negative last_seq"))?,
        },
        _ => return Err(bad("scope does not match its columns")),
    };
    let released = match (row.released_by, row.released_at) {
        (Some(by), Some(at_ms)) => Some(HoldRelease {
            by,
            at_ms,
            reason: row.release_reason.unwrap_or_default(),
        }),
        (None, None) => None,
        _ => return Err(bad("half released")),
    };
    Ok(LegalHold {
        id: row.id,
        scope,
        reason: row.reason,
        created_by: row.created_by,
        created_at_ms: row.created_at,
        released,
    })
}

fn seq_i64(seq: u64) -> Result<i64, StoreError> {
    fit_i64(seq, "audit event", "seq")
}
