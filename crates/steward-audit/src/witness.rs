//! Checking the trail against a checkpoint witnessed outside its database (issue 9, item
//! 6), as transparency logs do: a truncation that also removes the later checkpoints and
//! Merkle nodes leaves a trail that verifies clean on its own, but not against a signed
//! checkpoint someone kept elsewhere.
//!
//! # The published form
//!
//! Every signed checkpoint is published (the `audit.checkpoint` webhook event, the
//! `steward serve --checkpoint-sink` file) as one flat JSON object,
//! [`PublishedCheckpoint`]: `{"tree_size", "root_hash", "ts_ms", "key_id",
//! "signature"}`, hashes and signature in lowercase hex. It is the form
//! `GET /v1/audit/checkpoints/latest` returns, so either can be kept as the witness.
//!
//! # The rule
//!
//! [`check_witnessed`]: the current tree must be at least as large as the witnessed one
//! (otherwise events were removed from the end: [`WitnessKind::Truncated`], from the first
//! missing seq), and the RFC 9162 consistency proof must lead from the witnessed root to
//! the current root (otherwise the history the witness signed was rewritten:
//! [`WitnessKind::Inconsistent`]). The caller must have checked the witnessed checkpoint's
//! signature first: an unsigned claim proves nothing either way.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::hash::Hash;
use crate::merkle::verify_consistency;

/// A signed checkpoint in its published form: one flat JSON object, as
/// `GET /v1/audit/checkpoints/latest` returns it and the checkpoint sink writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedCheckpoint {
    pub tree_size: u64,
    pub root_hash: Hash,
    pub ts_ms: i64,
    pub key_id: String,
    #[serde(with = "crate::checkpoint::signature_hex")]
    pub signature: [u8; 64],
}

/// How the trail differs from a witnessed checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WitnessKind {
    /// The trail is shorter than the witnessed tree: its end was removed.
    Truncated,
    /// The witnessed tree is not a prefix of the current one: history was rewritten (a
    /// truncation followed by new events looks like this too).
    Inconsistent,
}

/// Why the trail does not extend a witnessed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} from seq {first_bad_seq}: {problem}")]
pub struct WitnessError {
    pub kind: WitnessKind,
    /// The first seq that is not as the witness signed it: the first missing one for a
    /// truncation; for an inconsistency, the first seq no earlier evidence vouches for
    /// (1 when there is none; callers with more evidence may raise it).
    pub first_bad_seq: u64,
    pub problem: String,
}

impl WitnessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WitnessKind::Truncated => "truncated",
            WitnessKind::Inconsistent => "inconsistent",
        }
    }
}

impl WitnessError {
    /// The trail ends at `head`, but its Merkle tree covers `tree_size` events (more):
    /// events were removed from its end, a truncation when the witnessed tree reaches
    /// past `head`.
    pub fn cut_end(witnessed: &Checkpoint, head: u64, tree_size: u64) -> WitnessError {
        WitnessError {
            kind: if head < witnessed.tree_size {
                WitnessKind::Truncated
            } else {
                WitnessKind::Inconsistent
            },
            first_bad_seq: head + 1,
            problem: format!(
                "the Merkle tree covers {tree_size} events, but the trail ends at seq {head}: \
                 events {} to {tree_size} were removed",
                head + 1
            ),
        }
    }

    /// The current tree cannot be read (a node or an event it needs is missing), from
    /// `first_bad_seq`: a truncation when the part read, `readable_size` leaves, is
    /// smaller than the witnessed tree, an inconsistency otherwise.
    pub fn unreadable(
        witnessed: &Checkpoint,
        readable_size: u64,
        first_bad_seq: u64,
        problem: &str,
    ) -> WitnessError {
        let truncated = readable_size != 0 && readable_size < witnessed.tree_size;
        WitnessError {
            kind: if truncated {
                WitnessKind::Truncated
            } else {
                WitnessKind::Inconsistent
            },
            first_bad_seq,
            problem: format!("the tree cannot be read: {problem}"),
        }
    }

    /// Raises an inconsistency's first bad seq past `vouched`, the size of a signed
    /// checkpoint no later than the witnessed one whose root the current tree still has.
    pub fn vouched_up_to(&mut self, vouched: u64) {
        self.first_bad_seq = vouched + 1;
        self.problem.push_str(&format!(
            "; events 1 to {vouched} match the signed checkpoint of that size, signed no \
             later than the witnessed one"
        ));
    }
}

impl std::fmt::Display for WitnessKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&SignedCheckpoint> for PublishedCheckpoint {
    fn from(signed: &SignedCheckpoint) -> PublishedCheckpoint {
        PublishedCheckpoint {
            tree_size: signed.checkpoint.tree_size,
            root_hash: signed.checkpoint.root_hash,
            ts_ms: signed.checkpoint.ts_ms,
            key_id: signed.key_id.clone(),
            signature: signed.signature,
        }
    }
}

impl From<PublishedCheckpoint> for SignedCheckpoint {
    fn from(published: PublishedCheckpoint) -> SignedCheckpoint {
        SignedCheckpoint {
            checkpoint: Checkpoint {
                tree_size: published.tree_size,
                root_hash: published.root_hash,
                ts_ms: published.ts_ms,
            },
            key_id: published.key_id,
            signature: published.signature,
        }
    }
}

/// Checks that the current tree of `current_size` leaves with root `current_root` extends
/// the `witnessed` tree, by the consistency `proof` from the witnessed size to the current
/// one (RFC 9162 §2.1.4; ignored when the current tree is smaller).
///
/// INVARIANT: `Ok` only when `current_size >= witnessed.tree_size` and the proof links
/// `witnessed.root_hash` to `current_root`; a smaller tree is always
/// [`WitnessKind::Truncated`] from `current_size + 1`.
pub fn check_witnessed(
    witnessed: &Checkpoint,
    current_size: u64,
    current_root: &Hash,
    proof: &[Hash],
) -> Result<(), WitnessError> {
    let size = witnessed.tree_size;
    if current_size < size {
        let first = current_size + 1;
        return Err(WitnessError {
            kind: WitnessKind::Truncated,
            first_bad_seq: first,
            problem: format!(
                "the trail holds {current_size} events, but the witnessed checkpoint signed a \
                 tree of {size}: events {first} to {size} were removed"
            ),
        });
    }
    verify_consistency(
        size,
        current_size,
        &witnessed.root_hash,
        current_root,
        proof,
    )
    .map_err(|error| WitnessError {
        kind: WitnessKind::Inconsistent,
        first_bad_seq: 1,
        problem: format!(
            "the witnessed tree of {size} events (root {}) is not a prefix of the current \
             tree of {current_size} events (root {current_root}): {error}",
            witnessed.root_hash
        ),
    })
}

#[cfg(test)]
mod tests;
