//! Audit retention (SPEC §4 retention column, §9): how long each event must be kept,
//! legal holds, what stops pruning at an event, and the check that lets verification
//! span a pruned range through its signed [`RangeManifest`].
//!
//! # Retention classes
//!
//! | event | kept for |
//! |---|---|
//! | level 0 or 1 | 30 days |
//! | level 2 | 90 days |
//! | level 3 | 365 days |
//! | level 4, and every event of an emergency permit | 2 555 days |
//! | no level (administrative acts: principals, tokens, checkpoints, pruning, holds) | 365 days ([`UNLEVELLED_RETENTION_DAYS`]) |
//!
//! An event may go once `now >= ts + days · 86 400 000 ms`. A level outside 0–4 (which
//! the store's CHECK refuses) is kept like level 4: unknown means longest.
//!
//! # What may be pruned
//!
//! Only a leading range: pruning removes the events right after the previously pruned
//! range (or from `seq` 1) up to the first event that must stay ([`keep_reason`]): one
//! still inside its retention, one a legal hold covers, or one beyond the latest signed
//! checkpoint. So the trail is always one pruned prefix (a run of manifests) followed by
//! the stored events, and every verifier checks it the same way ([`check_manifest`]).

use serde_json::{Value, json};

use crate::checkpoint::{CheckpointError, SignedManifest, verify_manifest};
use crate::entry::Subject;
use crate::hash::Hash;

mod hold;
mod prune;

pub use hold::{HoldRelease, HoldReleasedError, LegalHold, NewLegalHold};
pub use prune::{
    MAX_RANGE_EVENTS, PendingRange, PruneRange, PruneReport, PruneScan, PruneScanError, PruneStop,
    ScanEnd,
};

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// How long an event without a level is kept: administrative acts (principals, tokens,
/// checkpoints, pruning, legal holds). A year, like level 3: longer than any operational
/// level below it, because these events explain who could do what.
pub const UNLEVELLED_RETENTION_DAYS: u32 = 365;

/// The retention of an event, in days (module docs). `emergency` marks an event of an
/// emergency permit, kept as level 4 whatever its own level (SPEC §9).
pub fn retention_days(level: Option<u8>, emergency: bool) -> u32 {
    if emergency {
        return 2555;
    }
    match level {
        Some(0 | 1) => 30,
        Some(2) => 90,
        Some(3) => 365,
        Some(_) => 2555,
        None => UNLEVELLED_RETENTION_DAYS,
    }
}

/// The first instant (Unix milliseconds) at which the event stamped `ts_ms` may be pruned.
pub fn prunable_from_ms(ts_ms: i64, level: Option<u8>, emergency: bool) -> i64 {
    ts_ms.saturating_add(i64::from(retention_days(level, emergency)).saturating_mul(DAY_MS))
}

/// What a legal hold covers: every event about a worker, every event about a permit, or
/// a range of `seq` (both ends included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldScope {
    Worker(String),
    Permit(String),
    Range { first_seq: u64, last_seq: u64 },
}

/// What retention needs to know about one stored event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetainedEvent<'a> {
    pub seq: u64,
    pub ts_ms: i64,
    pub level: Option<u8>,
    /// The event is about an emergency permit (or is an `emergency.*` event).
    pub emergency: bool,
    pub worker_id: Option<&'a str>,
    pub permit_id: Option<&'a str>,
}

/// Why pruning stops at an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// Still inside its retention until `prunable_from_ms`.
    Retained { prunable_from_ms: i64 },
    /// An active legal hold covers it (the hold's id).
    Held { hold_id: String },
    /// It is beyond the latest signed checkpoint (or there is none), so no signed root
    /// covers it yet.
    Unsigned,
}

impl HoldScope {
    /// Whether the hold covers `event`.
    pub fn covers(&self, event: &RetainedEvent<'_>) -> bool {
        match self {
            HoldScope::Worker(id) => event.worker_id == Some(id.as_str()),
            HoldScope::Permit(id) => event.permit_id == Some(id.as_str()),
            HoldScope::Range {
                first_seq,
                last_seq,
            } => (*first_seq..=*last_seq).contains(&event.seq),
        }
    }

    /// The subject of a hold's audit events: the worker or permit it names.
    pub fn subject(&self) -> Subject {
        match self {
            HoldScope::Worker(id) => Subject {
                worker_id: Some(id.clone()),
                ..Subject::default()
            },
            HoldScope::Permit(id) => Subject {
                permit_id: Some(id.clone()),
                ..Subject::default()
            },
            HoldScope::Range { .. } => Subject::default(),
        }
    }

    /// The scope as its audit events record it: `{"worker_id": …}`, `{"permit_id": …}`
    /// or `{"first_seq": …, "last_seq": …}`.
    pub fn to_json(&self) -> Value {
        match self {
            HoldScope::Worker(id) => json!({ "worker_id": id }),
            HoldScope::Permit(id) => json!({ "permit_id": id }),
            HoldScope::Range {
                first_seq,
                last_seq,
            } => json!({ "first_seq": first_seq, "last_seq": last_seq }),
        }
    }
}

/// Why `event` must stay, or `None` when pruning may remove it at `now_ms`.
/// `signed_size` is the tree size of the latest signed checkpoint (0 when there is none);
/// `holds` are the active legal holds as `(id, scope)`. Checked in this order: signed,
/// held, retained.
pub fn keep_reason(
    event: &RetainedEvent<'_>,
    now_ms: i64,
    signed_size: u64,
    holds: &[(String, HoldScope)],
) -> Option<KeepReason> {
    if event.seq > signed_size {
        return Some(KeepReason::Unsigned);
    }
    if let Some((hold_id, _)) = holds.iter().find(|(_, scope)| scope.covers(event)) {
        return Some(KeepReason::Held {
            hold_id: hold_id.clone(),
        });
    }
    let from = prunable_from_ms(event.ts_ms, event.level, event.emergency);
    (now_ms < from).then_some(KeepReason::Retained {
        prunable_from_ms: from,
    })
}

/// Why a manifest does not stand in for the range it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestErrorKind {
    /// Its fields contradict each other (`last_seq < first_seq`, or a tree size other
    /// than `last_seq`).
    #[error("manifest of seq {first_seq} to {last_seq} is inconsistent")]
    Inconsistent { first_seq: u64, last_seq: u64 },
    /// Its signature does not verify with the key given (edited or forged).
    #[error("manifest of seq {first_seq} to {last_seq} does not verify: {error}")]
    Signature {
        first_seq: u64,
        last_seq: u64,
        error: CheckpointError,
    },
    /// It does not start right after what precedes it.
    #[error("manifest of seq {first_seq} to {last_seq} is out of place")]
    OutOfPlace { first_seq: u64, last_seq: u64 },
    /// Its `prev_hash` is not the hash of the entry (or range) before it.
    #[error("manifest of seq {first_seq} to {last_seq} does not link to what precedes it")]
    BrokenLink { first_seq: u64, last_seq: u64 },
}

/// Checks that `signed` stands in for the entries from `next_seq` on, after the entry (or
/// range) whose hash is `prev_hash`: consistent, signed by `public_key` (skipped when
/// `None`: a store without a key can check links only), starting at `next_seq`, and
/// linking to `prev_hash`. The range is then `first_seq..=last_seq`, and what follows
/// must link to its `last_hash`.
pub fn check_manifest(
    signed: &SignedManifest,
    next_seq: u64,
    prev_hash: Hash,
    public_key: Option<&[u8; 32]>,
) -> Result<(), ManifestErrorKind> {
    let manifest = &signed.manifest;
    let (first_seq, last_seq) = (manifest.first_seq, manifest.last_seq);
    if last_seq < first_seq || manifest.tree_size != last_seq || first_seq == 0 {
        return Err(ManifestErrorKind::Inconsistent {
            first_seq,
            last_seq,
        });
    }
    if let Some(key) = public_key {
        verify_manifest(signed, key).map_err(|error| ManifestErrorKind::Signature {
            first_seq,
            last_seq,
            error,
        })?;
    }
    if first_seq != next_seq {
        return Err(ManifestErrorKind::OutOfPlace {
            first_seq,
            last_seq,
        });
    }
    if manifest.prev_hash != prev_hash {
        return Err(ManifestErrorKind::BrokenLink {
            first_seq,
            last_seq,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
