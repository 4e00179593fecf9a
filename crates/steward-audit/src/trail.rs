//! The check of a stored trail as a store reads it (SPEC §9, `GET /v1/audit/verify`): the
//! rules a store applies to the manifests, events, checkpoints and Merkle nodes it loads,
//! page by page, naming each damage by the first affected `seq` and its [`Damage`] kind.
//!
//! # The rules
//!
//! 1. Each manifest of pruned history stands in for its range ([`check_manifest`], then
//!    [`check_manifest_root`]: it signs the stored tree's root at its `last_seq`).
//! 2. The events past pruned history chain, read a page at a time ([`ChainPages`]), and
//!    each goes into a [`TrailCheck`] ([`TrailCheck::leaf`]).
//! 3. Each checkpoint, when the events reach its tree size, is signed by the key (when
//!    one is given) and signs the root the events make ([`TrailCheck::checkpoint`]);
//!    damage it reveals lies after the last checkpoint found good.
//! 4. Every node the events make that the stored tree covers equals the stored one
//!    ([`TrailCheck::covered_nodes`], [`compare_nodes`]): damage at the first event under
//!    the first bad node, in event order.
//! 5. Nothing signed or stored reaches beyond the last event ([`TrailCheck::finish`]).
//!
//! [`check_manifest`]: crate::check_manifest

use crate::chain::{ChainError, verify_chain};
use crate::checkpoint::{RangeManifest, SignedCheckpoint, verify_checkpoint};
use crate::damage::Damage;
use crate::entry::AuditEntry;
use crate::hash::Hash;
use crate::merkle::{Frontier, MissingNodeError, NodeId, NodeSource, leaf_hash};
use crate::retention::ManifestErrorKind;

/// Damage in a stored trail: the first affected `seq`, its kind, and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} from seq {seq}: {problem}")]
pub struct TrailDamage {
    pub seq: u64,
    pub kind: Damage,
    pub problem: String,
}

impl TrailDamage {
    /// A manifest [`crate::check_manifest`] refused, as damage from `seq`.
    pub fn manifest(seq: u64, kind: &ManifestErrorKind) -> TrailDamage {
        TrailDamage {
            seq,
            kind: Damage::from(kind),
            problem: kind.to_string(),
        }
    }

    /// A node the tree needs is not stored: damage at the first event it covers.
    pub fn node_missing(error: MissingNodeError) -> TrailDamage {
        let id = error.0;
        TrailDamage {
            seq: first_leaf_seq(id),
            kind: Damage::MerkleNodesMissing,
            problem: format!(
                "merkle node {}/{} is not stored, though the tree covers it",
                id.level, id.index
            ),
        }
    }
}

/// [`verify_chain`] over a trail read a page at a time: the last entry of each page is
/// carried into the next check, so links and `seq` continuity across pages are checked
/// too, and a [`ChainError`]'s `index` counts from the first entry after the start.
#[derive(Debug, Clone)]
pub struct ChainPages {
    start_seq: u64,
    start_hash: Hash,
    carried: Option<AuditEntry>,
    checked: usize,
}

impl ChainPages {
    /// Pages following the entry (or pruned range) `start_seq` whose hash is
    /// `start_hash` (`seq` 0 and [`Hash::ZERO`] for the whole trail).
    pub fn new(start_seq: u64, start_hash: Hash) -> ChainPages {
        ChainPages {
            start_seq,
            start_hash,
            carried: None,
            checked: 0,
        }
    }

    /// The `seq` and `hash` of the last entry checked (the start before any).
    pub fn last(&self) -> (u64, Hash) {
        self.carried
            .as_ref()
            .map_or((self.start_seq, self.start_hash), |entry| {
                (entry.seq, entry.hash)
            })
    }

    /// Checks the next page, the entries right after [`ChainPages::last`], and gives it
    /// back.
    pub fn check(&mut self, page: Vec<AuditEntry>) -> Result<Vec<AuditEntry>, ChainError> {
        let mut window = Vec::with_capacity(page.len() + 1);
        let first_prev = match self.carried.take() {
            Some(entry) => {
                let prev = entry.prev_hash;
                window.push(entry);
                prev
            }
            None => self.start_hash,
        };
        let offset = window.len();
        window.extend(page);
        verify_chain(&window, first_prev).map_err(|mut error| {
            error.index = self.checked + error.index.saturating_sub(offset);
            error
        })?;
        self.checked += window.len() - offset;
        self.carried = window.last().cloned();
        window.drain(..offset);
        Ok(window)
    }
}

/// Where the damage of a manifest that fails [`crate::check_manifest`] starts: at the
/// `seq` it claims to start from, unless the event `expected` it should start at is
/// missing too (`expected_stored` false), then there.
pub fn manifest_damage_seq(manifest: &RangeManifest, expected: u64, expected_stored: bool) -> u64 {
    if manifest.first_seq > expected && !expected_stored {
        expected
    } else {
        manifest.first_seq.max(1)
    }
}

/// Checks that `manifest` signs `stored_root`, the stored Merkle tree's root at its
/// `last_seq`.
pub fn check_manifest_root(
    manifest: &RangeManifest,
    stored_root: &Hash,
) -> Result<(), TrailDamage> {
    if *stored_root == manifest.tree_root {
        return Ok(());
    }
    Err(TrailDamage {
        seq: manifest.first_seq,
        kind: Damage::ManifestRootMismatch,
        problem: format!(
            "manifest of seq {} to {} signs tree root {}, the stored merkle tree has \
             {stored_root}",
            manifest.first_seq, manifest.last_seq, manifest.tree_root
        ),
    })
}

/// The tree and checkpoint checks that ride along a store's chain check (module docs,
/// rules 2 to 5).
#[derive(Debug, Clone)]
pub struct TrailCheck {
    /// The tree of the events checked so far.
    tree: Frontier,
    /// Nodes the events made since [`TrailCheck::covered_nodes`] last took them.
    made: Vec<(NodeId, Hash)>,
    /// How many leaves the stored tree covers.
    merkle_size: u64,
    /// The tree size of the last checkpoint found good (or where pruned history ends):
    /// damage a later checkpoint reveals lies after it.
    last_good_checkpoint: u64,
    public_key: Option<[u8; 32]>,
}

impl TrailCheck {
    /// A check starting where pruned history ends, `tree` being the stored tree's right
    /// edge there (the empty tree when nothing was pruned), against a stored tree of
    /// `merkle_size` leaves; checkpoints' signatures are checked when `public_key` is
    /// given.
    pub fn new(tree: Frontier, merkle_size: u64, public_key: Option<&[u8; 32]>) -> TrailCheck {
        TrailCheck {
            last_good_checkpoint: tree.size(),
            tree,
            made: Vec::new(),
            merkle_size,
            public_key: public_key.copied(),
        }
    }

    /// Adds the next event, by its chain `hash` (already chain-checked), to the tree.
    pub fn leaf(&mut self, entry_hash: &Hash) {
        let made = &mut self.made;
        self.tree
            .push_with(leaf_hash(entry_hash), |id, node| made.push((id, node)));
    }

    /// Checks a checkpoint whose tree size the events reached at `seq` (the last event
    /// given to [`TrailCheck::leaf`]): its signature, and its root against the events'.
    pub fn checkpoint(&mut self, signed: &SignedCheckpoint, seq: u64) -> Result<(), TrailDamage> {
        let tree_size = signed.checkpoint.tree_size;
        if let Some(key) = &self.public_key
            && let Err(error) = verify_checkpoint(signed, key)
        {
            return Err(TrailDamage {
                seq: tree_size,
                kind: Damage::CheckpointForged,
                problem: format!("checkpoint of tree size {tree_size} does not verify: {error}"),
            });
        }
        // A checkpoint whose size is no event's (one skipped by the pass) cannot be
        // checked against a root; only seq gaps make that, and those fail the chain first.
        if tree_size != seq {
            return Ok(());
        }
        let computed = self.tree.root();
        if computed != signed.checkpoint.root_hash {
            return Err(TrailDamage {
                seq: self.last_good_checkpoint + 1,
                kind: Damage::CheckpointRootMismatch,
                problem: format!(
                    "checkpoint of tree size {tree_size} signs root {}, the events make \
                     {computed}: an event after seq {} was rewritten, or the checkpoint was",
                    signed.checkpoint.root_hash, self.last_good_checkpoint
                ),
            });
        }
        self.last_good_checkpoint = tree_size;
        Ok(())
    }

    /// Takes the nodes the events made since the last call that the stored tree covers
    /// (those of its first `merkle_size` leaves): what to compare with [`compare_nodes`].
    pub fn covered_nodes(&mut self) -> Vec<(NodeId, Hash)> {
        let merkle_size = self.merkle_size;
        self.made
            .drain(..)
            .filter(|(id, _)| {
                (id.index + 1)
                    .checked_shl(u32::from(id.level))
                    .is_some_and(|end| end <= merkle_size)
            })
            .collect()
    }

    /// After the last event, `last_seq`: no checkpoint (`beyond`, the first one not yet
    /// checked, if any) and no stored tree may reach beyond it.
    pub fn finish(
        &self,
        beyond: Option<&SignedCheckpoint>,
        last_seq: u64,
    ) -> Result<(), TrailDamage> {
        let cut = |problem| TrailDamage {
            seq: last_seq + 1,
            kind: Damage::Truncated,
            problem,
        };
        if let Some(signed) = beyond {
            let tree_size = signed.checkpoint.tree_size;
            return Err(cut(format!(
                "a checkpoint signs a tree of {tree_size} events, but the trail ends at seq \
                 {last_seq}: events were cut from its end"
            )));
        }
        if self.merkle_size > last_seq {
            return Err(cut(format!(
                "the merkle tree covers {} events, but the trail ends at seq {last_seq}: \
                 events were cut from its end",
                self.merkle_size
            )));
        }
        Ok(())
    }
}

/// Compares nodes the events `made` with the `stored` ones: the first missing or
/// different node in event order (the one under the smallest seq) is damage at the first
/// event under it.
pub fn compare_nodes(made: &[(NodeId, Hash)], stored: &impl NodeSource) -> Result<(), TrailDamage> {
    let damaged = made
        .iter()
        .filter(|(id, made)| stored.node(*id).as_ref() != Some(made))
        .min_by_key(|(id, _)| first_leaf_seq(*id));
    let Some((id, made)) = damaged else {
        return Ok(());
    };
    Err(match stored.node(*id) {
        None => TrailDamage::node_missing(MissingNodeError(*id)),
        Some(node) => TrailDamage {
            seq: first_leaf_seq(*id),
            kind: Damage::MerkleNodesAltered,
            problem: format!(
                "stored merkle node {}/{} is {node}, the events make {made}",
                id.level, id.index
            ),
        },
    })
}

/// The `seq` of the first event under a Merkle node.
fn first_leaf_seq(id: NodeId) -> u64 {
    id.index
        .checked_shl(u32::from(id.level))
        .map_or(u64::MAX, |leaf| leaf.saturating_add(1))
}

#[cfg(test)]
mod tests;
