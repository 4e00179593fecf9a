//! Chain verification: recompute every hash, check every link and every `seq`, and name
//! the first entry that fails.

use std::fmt;

use crate::entry::AuditEntry;
use crate::hash::Hash;

/// Checks that `entries` form an unbroken chain starting after `expected_first_prev`.
///
/// For each entry, in order, the checks are:
/// 1. its stored `hash` equals the hash of its fields ([`ChainErrorKind::HashMismatch`]);
/// 2. its `seq` is exactly one more than the previous entry's
///    ([`ChainErrorKind::SeqNotIncreasing`], [`ChainErrorKind::SeqGap`]);
/// 3. its `prev_hash` equals the previous entry's `hash`, or `expected_first_prev` for
///    the first entry ([`ChainErrorKind::BrokenLink`]).
///
/// The error names the first entry that fails. An empty slice is a valid chain.
///
/// To verify a long trail in pages, pass the last `hash` of one page as
/// `expected_first_prev` of the next and check `seq` continuity across the boundary.
/// Removing entries from the *end* of a trail leaves a valid chain: only a separately
/// kept head (the store's `audit_head`, later a signed checkpoint) reveals truncation.
pub fn verify_chain(entries: &[AuditEntry], expected_first_prev: Hash) -> Result<(), ChainError> {
    let mut previous: Option<&AuditEntry> = None;
    let mut scratch = Vec::with_capacity(512);
    for (index, entry) in entries.iter().enumerate() {
        check_link(previous, expected_first_prev, entry, &mut scratch).map_err(|kind| {
            ChainError {
                index,
                seq: entry.seq,
                kind,
            }
        })?;
        previous = Some(entry);
    }
    Ok(())
}

/// The chain rule for one entry, in the order [`verify_chain`] documents: `entry` follows
/// `previous`, or is the first entry and links to `expected_first_prev`. Shared with the
/// export verifier, which checks a stream one entry at a time. `scratch` is the reused
/// encoding buffer.
pub(crate) fn check_link(
    previous: Option<&AuditEntry>,
    expected_first_prev: Hash,
    entry: &AuditEntry,
    scratch: &mut Vec<u8>,
) -> Result<(), ChainErrorKind> {
    if entry.body().hash_after_in(&entry.prev_hash, scratch) != entry.hash {
        return Err(ChainErrorKind::HashMismatch);
    }
    let expected_prev = match previous {
        None => expected_first_prev,
        Some(previous) => {
            if entry.seq <= previous.seq {
                return Err(ChainErrorKind::SeqNotIncreasing);
            }
            if entry.seq != previous.seq + 1 {
                return Err(ChainErrorKind::SeqGap);
            }
            previous.hash
        }
    };
    if entry.prev_hash != expected_prev {
        return Err(ChainErrorKind::BrokenLink);
    }
    Ok(())
}

/// The first entry that breaks the chain, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at seq {seq}: {kind}")]
pub struct ChainError {
    /// Position of the bad entry in the verified slice.
    pub index: usize,
    /// The `seq` stored in the bad entry (which may itself be what was altered).
    pub seq: u64,
    pub kind: ChainErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainErrorKind {
    /// The entry's fields do not hash to its stored `hash`: the entry was edited.
    HashMismatch,
    /// The entry's `prev_hash` is not the previous entry's `hash`: an entry was deleted,
    /// inserted or moved before this one.
    BrokenLink,
    /// The entry's `seq` skips one or more numbers after the previous entry's.
    SeqGap,
    /// The entry's `seq` is not greater than the previous entry's.
    SeqNotIncreasing,
}

impl ChainErrorKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ChainErrorKind::HashMismatch => "hash mismatch (entry altered)",
            ChainErrorKind::BrokenLink => {
                "prev_hash does not match the previous entry (entry removed, inserted or moved)"
            }
            ChainErrorKind::SeqGap => "seq gap after the previous entry",
            ChainErrorKind::SeqNotIncreasing => "seq not greater than the previous entry's",
        }
    }
}

impl fmt::Display for ChainErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
