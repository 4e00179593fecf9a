//! The RFC 6962 Merkle tree over the audit chain: leaf and node hashing, the addressing of
//! perfect subtrees that a store persists, and inclusion and consistency proofs.
//!
//! # Shape
//!
//! The tree is the one RFC 9162 §2.1 defines. Seen from a store, it is a set of *perfect
//! nodes*: [`NodeId`] `{ level, index }` names the complete subtree over leaves
//! `[index · 2^level, (index + 1) · 2^level)`, and its hash never changes once its last
//! leaf is appended. Level 0 holds the leaf hashes. Every root, for every tree size, and
//! every proof element is either a perfect node or the hash of a ragged right edge, which
//! is computed on the fly from at most 64 perfect nodes. So a store that persists the
//! perfect nodes as leaves arrive ([`append_nodes`]) can answer any root or proof by
//! reading O(log n) rows ([`root_nodes`], [`inclusion_proof_nodes`],
//! [`consistency_proof_nodes`]), and never rehashes the log.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use sha2::{Digest, Sha256};

use crate::hash::Hash;

mod frontier;
mod memory;
mod proof;

pub use frontier::Frontier;
pub use memory::MemoryTree;
pub use proof::{
    ConsistencyProof, InclusionProof, ProofError, consistency_proof, consistency_proof_nodes,
    inclusion_proof, inclusion_proof_nodes, verify_consistency, verify_inclusion,
};

/// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = Hash::from_bytes([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/// The leaf hash of an audit entry: `SHA-256(0x00 || entry_hash)`.
///
/// The leaf input is the entry's 32-byte chain `hash`, which already commits to every
/// field of the entry and to everything before it.
pub fn leaf_hash(entry_hash: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry_hash.as_bytes());
    Hash::from_bytes(hasher.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.as_bytes());
    hasher.update(right.as_bytes());
    Hash::from_bytes(hasher.finalize().into())
}

/// The Merkle tree hash (MTH) of a list of *leaf hashes* (already passed through
/// [`leaf_hash`]), by the recursive definition of RFC 9162 §2.1.1. [`EMPTY_ROOT`] for
/// an empty list.
///
/// This hashes every node. Stores use [`root_from_nodes`] instead.
pub fn merkle_root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes {
        [] => EMPTY_ROOT,
        [leaf] => *leaf,
        _ => {
            // The largest power of two below the length, as in `split_point`.
            let k = 1 << (usize::BITS - 1 - (leaf_hashes.len() - 1).leading_zeros());
            node_hash(
                &merkle_root(&leaf_hashes[..k]),
                &merkle_root(&leaf_hashes[k..]),
            )
        }
    }
}

/// The address of a perfect subtree: the `index`-th run of `2^level` leaves.
///
/// `NodeId { level: 0, index: i }` is leaf `i`; `NodeId { level: 1, index: i }` is the
/// node over leaves `2i` and `2i + 1`; and so on. `level` is at most 63.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub const fn new(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    /// The node that holds leaf `index`'s hash.
    pub const fn leaf(index: u64) -> NodeId {
        NodeId { level: 0, index }
    }

    /// The first leaf the node covers.
    pub const fn first_leaf(self) -> u64 {
        self.index << self.level
    }

    /// The number of leaves the node covers: `2^level`.
    pub const fn leaf_count(self) -> u64 {
        1 << self.level
    }
}

/// Where perfect-node hashes come from when computing roots and proofs.
///
/// Implemented by [`MemoryTree`] and by maps from [`NodeId`] to [`Hash`](struct@Hash): a
/// store that cannot answer synchronously (a database) asks [`root_nodes`],
/// [`inclusion_proof_nodes`] or [`consistency_proof_nodes`] which nodes it needs, fetches
/// them in one query into a map, and passes the map.
pub trait NodeSource {
    /// The hash of the perfect node `id`, or `None` if it is not stored (it may not be
    /// complete yet, or the caller did not fetch it).
    fn node(&self, id: NodeId) -> Option<Hash>;
}

/// A perfect node a tree needed but its [`NodeSource`] did not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("merkle node at level {}, index {} is not stored", .0.level, .0.index)]
pub struct MissingNodeError(pub NodeId);

/// The perfect nodes that appending leaf number `size` (0-based, so the tree grows from
/// `size` to `size + 1` leaves) creates, lowest level first: the leaf itself, then one
/// parent for each complete pair it closes. At most 64 nodes, usually 1 or 2.
///
/// `existing` must hold the tree of `size` leaves; only the left siblings along the right
/// edge are read, all of which are among [`root_nodes`]`(size)`. A store persists the
/// returned rows in the same transaction as the entry. To append several leaves, add each
/// call's result to the source before the next call.
pub fn append_nodes(
    existing: &impl NodeSource,
    size: u64,
    leaf_hash: Hash,
) -> Result<Vec<(NodeId, Hash)>, MissingNodeError> {
    let mut id = NodeId::leaf(size);
    let mut hash = leaf_hash;
    let mut created = vec![(id, hash)];
    // An odd index means the node is a right child, and its left sibling is complete: the
    // parent becomes complete with it.
    while id.index & 1 == 1 {
        let left = NodeId::new(id.level, id.index - 1);
        let left_hash = existing.node(left).ok_or(MissingNodeError(left))?;
        hash = node_hash(&left_hash, &hash);
        id = NodeId::new(id.level + 1, id.index >> 1);
        created.push((id, hash));
    }
    Ok(created)
}

/// Why the nodes of a run of events cannot be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExtendError {
    /// The event `seq` was not among those given.
    #[error("event {seq} is missing")]
    MissingEvent { seq: u64 },
    /// A left sibling the new nodes need is not in the source.
    #[error(transparent)]
    MissingNode(#[from] MissingNodeError),
}

/// Appends the leaves of the events `size + 1 ..= end` (leaf `i` is the event with
/// `seq == i + 1`), given as `(seq, entry hash)` in `seq` order, to the tree of `size`
/// leaves whose [`root_nodes`] `nodes` holds. Returns every perfect node created, in
/// order, and adds each to `nodes` as it goes: what a store writes.
pub fn extend_nodes<S: BuildHasher>(
    nodes: &mut HashMap<NodeId, Hash, S>,
    size: u64,
    end: u64,
    events: &[(u64, Hash)],
) -> Result<Vec<(NodeId, Hash)>, ExtendError> {
    let mut created = Vec::new();
    let mut leaves = size;
    for &(seq, hash) in events {
        if seq != leaves + 1 {
            return Err(ExtendError::MissingEvent { seq: leaves + 1 });
        }
        for (id, node) in append_nodes(&*nodes, leaves, leaf_hash(&hash))? {
            nodes.insert(id, node);
            created.push((id, node));
        }
        leaves += 1;
    }
    if leaves != end {
        return Err(ExtendError::MissingEvent { seq: leaves + 1 });
    }
    Ok(created)
}

/// The perfect nodes whose hashes make up the root of the tree of `size` leaves, largest
/// (leftmost) first: one per set bit of `size`. They are also every node
/// [`append_nodes`]`(_, size, _)` reads.
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    let mut ids = Vec::new();
    range_nodes(0, size, &mut ids);
    ids
}

/// The root of the tree of `size` leaves, from the perfect nodes in `nodes` alone
/// ([`root_nodes`]`(size)`): at most 63 hashes, whatever the size.
pub fn root_from_nodes(size: u64, nodes: &impl NodeSource) -> Result<Hash, MissingNodeError> {
    range_hash(0, size, nodes)
}

impl<S: BuildHasher> NodeSource for HashMap<NodeId, Hash, S> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

impl NodeSource for BTreeMap<NodeId, Hash> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

impl<T: NodeSource + ?Sized> NodeSource for &T {
    fn node(&self, id: NodeId) -> Option<Hash> {
        (**self).node(id)
    }
}

/// The largest power of two strictly less than `n`, for `n >= 2`: where RFC 9162 splits a
/// tree of `n` leaves.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2, "split_point needs at least two leaves");
    1 << (63 - (n - 1).leading_zeros())
}

// Ranges below are *RFC subtrees*: `[begin, end)` with `begin` a multiple of a power of
// two that is at least `end - begin`. Every subtree the RFC 9162 recursion visits has this
// shape (the recursion splits at powers of two, left to right), and for such a range the
// subtree is the perfect nodes of the binary digits of `end - begin`, largest first,
// folded from the right: MTH = H(P1, H(P2, ... H(Pj-1, Pj))).

/// Appends the perfect nodes that make up the RFC subtree `[begin, end)`, largest first.
fn range_nodes(begin: u64, end: u64, out: &mut Vec<NodeId>) {
    let mut start = begin;
    while start < end {
        // The largest perfect node that starts at `start` and ends by `end`. For an RFC
        // subtree the alignment term never binds; it keeps the cover exact regardless.
        let level = (63 - (end - start).leading_zeros()).min(start.trailing_zeros());
        out.push(NodeId::new(level as u8, start >> level));
        start += 1 << level;
    }
}

/// The hash of the RFC subtree `[begin, end)`, folded from its perfect nodes.
fn range_hash(begin: u64, end: u64, nodes: &impl NodeSource) -> Result<Hash, MissingNodeError> {
    let mut remaining = end - begin;
    let mut acc: Option<Hash> = None;
    // Walk the perfect nodes right to left (smallest first), so the fold needs no buffer.
    while remaining > 0 {
        let level = remaining.trailing_zeros();
        let size = 1 << level;
        let id = NodeId::new(level as u8, (begin + remaining - size) >> level);
        let hash = nodes.node(id).ok_or(MissingNodeError(id))?;
        acc = Some(match acc {
            None => hash,
            Some(right) => node_hash(&hash, &right),
        });
        remaining -= size;
    }
    Ok(acc.unwrap_or(EMPTY_ROOT))
}

#[cfg(test)]
mod tests;
