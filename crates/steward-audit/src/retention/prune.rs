//! Pruning, the decisions: the scan of stored events for the next prunable range (each
//! event kept or taken, re-verified, and added to the range's own tree), the range's
//! manifest, and the report of a run. The store reads the events, signs and writes.

use crate::chain::{ChainError, verify_chain};
use crate::checkpoint::RangeManifest;
use crate::entry::AuditEntry;
use crate::hash::Hash;
use crate::merkle::{Frontier, leaf_hash};
use crate::retention::{HoldScope, KeepReason, RetainedEvent, keep_reason};

/// The most events one manifest covers (one transaction of pruning). Bounds how long
/// pruning holds the write lock.
pub const MAX_RANGE_EVENTS: u64 = 10_000;

/// A range of `seq` that pruning removed, or would remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneRange {
    pub first_seq: u64,
    pub last_seq: u64,
}

/// Where pruning stopped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneStop {
    /// The first event that stays.
    pub seq: u64,
    pub reason: KeepReason,
}

/// What a pruning run did (or, from a plan, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// The ranges, in order; one manifest each.
    pub ranges: Vec<PruneRange>,
    /// The signed manifests written (empty for a plan).
    pub manifests: Vec<crate::checkpoint::SignedManifest>,
    /// The first event kept and why, or `None` when pruning reached the head.
    pub stop: Option<PruneStop>,
    /// The last pruned `seq` before this run (0 when nothing was ever pruned).
    pub pruned_before: u64,
}

/// How a scan for prunable events ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// At the head of the trail: every stored event may go.
    Head,
    /// At [`MAX_RANGE_EVENTS`]; more may follow.
    Cap,
    /// At an event that must stay.
    Kept(PruneStop),
}

/// A range being collected: its ends and hashes, and the Merkle tree of its own leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRange {
    pub first_seq: u64,
    pub last_seq: u64,
    pub prev_hash: Hash,
    pub first_hash: Hash,
    pub last_hash: Hash,
    leaves: Frontier,
}

/// Why a scan cannot go on: the trail is broken where pruning would take it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PruneScanError {
    /// The event `seq` is missing.
    #[error("missing from the trail: pruning refuses a broken chain")]
    Missing { seq: u64 },
    /// An event does not hash or link: a damaged event is never pruned, its manifest
    /// would vouch for it.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// The scan for the longest prunable range after the pruned history: fed the stored
/// events in `seq` order, it says where the range ends.
#[derive(Debug, Clone)]
pub struct PruneScan<'a> {
    after_seq: u64,
    after_hash: Hash,
    signed_size: u64,
    holds: &'a [(String, HoldScope)],
    now_ms: i64,
    range: Option<PendingRange>,
}

impl PruneRange {
    pub fn event_count(&self) -> u64 {
        self.last_seq - self.first_seq + 1
    }
}

impl PruneReport {
    /// Records how a scan ended; `true` when the run is over.
    pub fn finish(&mut self, end: ScanEnd) -> bool {
        match end {
            ScanEnd::Cap => false,
            ScanEnd::Head => true,
            ScanEnd::Kept(stop) => {
                self.stop = Some(stop);
                true
            }
        }
    }

    /// How many events the run removed (or would remove).
    pub fn event_count(&self) -> u64 {
        self.ranges.iter().map(PruneRange::event_count).sum()
    }
}

impl PendingRange {
    pub fn range(&self) -> PruneRange {
        PruneRange {
            first_seq: self.first_seq,
            last_seq: self.last_seq,
        }
    }

    /// The manifest of the range, unsigned: `tree_root` is the whole trail's tree root
    /// at its `last_seq`, `ts_ms` when it is pruned.
    pub fn manifest(&self, tree_root: Hash, ts_ms: i64) -> RangeManifest {
        RangeManifest {
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            prev_hash: self.prev_hash,
            first_hash: self.first_hash,
            last_hash: self.last_hash,
            range_root: self.leaves.root(),
            tree_size: self.last_seq,
            tree_root,
            ts_ms,
        }
    }
}

impl<'a> PruneScan<'a> {
    /// A scan after the event (or pruned range) `after_seq` whose hash is `after_hash`, at
    /// `now_ms`, with the latest signed checkpoint's tree size (0 without one) and the
    /// active holds as `(id, scope)`.
    pub fn new(
        after_seq: u64,
        after_hash: Hash,
        signed_size: u64,
        holds: &'a [(String, HoldScope)],
        now_ms: i64,
    ) -> PruneScan<'a> {
        PruneScan {
            after_seq,
            after_hash,
            signed_size,
            holds,
            now_ms,
            range: None,
        }
    }

    /// The last event taken (or where the scan started): the next one to feed follows it.
    pub fn after_seq(&self) -> u64 {
        self.after_seq
    }

    /// Feeds the next stored event; `emergency_permit` when it is about an emergency
    /// permit. `Some` when the scan ends here ([`ScanEnd::Kept`] at this event, or
    /// [`ScanEnd::Cap`] with it taken), `None` to go on.
    pub fn push(
        &mut self,
        entry: &AuditEntry,
        emergency_permit: bool,
    ) -> Result<Option<ScanEnd>, PruneScanError> {
        if entry.seq != self.after_seq + 1 {
            return Err(PruneScanError::Missing {
                seq: self.after_seq + 1,
            });
        }
        let retained = RetainedEvent {
            seq: entry.seq,
            ts_ms: entry.ts_ms,
            level: entry.level,
            emergency: emergency_permit || entry.event_type.starts_with("emergency."),
            worker_id: entry.subject.worker_id.as_deref(),
            permit_id: entry.subject.permit_id.as_deref(),
        };
        if let Some(reason) = keep_reason(&retained, self.now_ms, self.signed_size, self.holds) {
            let seq = entry.seq;
            return Ok(Some(ScanEnd::Kept(PruneStop { seq, reason })));
        }
        verify_chain(std::slice::from_ref(entry), self.after_hash)?;
        let range = self.range.get_or_insert_with(|| PendingRange {
            first_seq: entry.seq,
            last_seq: entry.seq,
            prev_hash: entry.prev_hash,
            first_hash: entry.hash,
            last_hash: entry.hash,
            leaves: Frontier::default(),
        });
        range.last_seq = entry.seq;
        range.last_hash = entry.hash;
        range.leaves.push(leaf_hash(&entry.hash));
        (self.after_seq, self.after_hash) = (entry.seq, entry.hash);
        Ok((range.leaves.size() >= MAX_RANGE_EVENTS).then_some(ScanEnd::Cap))
    }

    /// The range taken so far, if any.
    pub fn into_range(self) -> Option<PendingRange> {
        self.range
    }
}

#[cfg(test)]
mod tests;
