//! Inclusion and consistency proofs: generation from perfect nodes, and the verification
//! algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.

use crate::hash::Hash;
use crate::merkle::{
    EMPTY_ROOT, MissingNodeError, NodeId, NodeSource, leaf_hash, node_hash, range_hash,
    range_nodes, split_point,
};

/// The proof that the event `seq` is leaf `leaf_index` of the tree of `tree_size` leaves,
/// as a store serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub seq: u64,
    /// `seq - 1`.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The event's `hash` as stored now.
    pub entry_hash: Hash,
    /// `leaf_hash(&entry_hash)`: what [`verify_inclusion`] checks.
    pub leaf_hash: Hash,
    /// The audit path, lowest level first (RFC 9162 §2.1.3.1).
    pub proof: Vec<Hash>,
}

/// The proof that the tree of `old_size` leaves is a prefix of the tree of `new_size`
/// leaves (RFC 9162 §2.1.4.1), as a store serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub proof: Vec<Hash>,
}

impl InclusionProof {
    /// The perfect nodes the proof of event `seq` in the tree of `tree_size` leaves reads
    /// (`seq` 0 is in no tree).
    pub fn node_ids(seq: u64, tree_size: u64) -> Result<Vec<NodeId>, ProofError> {
        inclusion_proof_nodes(seq.wrapping_sub(1), tree_size)
    }

    /// The proof of event `seq`, whose stored hash is `entry_hash`, in the tree of
    /// `tree_size` leaves, from `nodes` (a fetch of [`InclusionProof::node_ids`]).
    pub fn from_nodes(
        seq: u64,
        tree_size: u64,
        entry_hash: Hash,
        nodes: &impl NodeSource,
    ) -> Result<InclusionProof, ProofError> {
        let leaf_index = seq.wrapping_sub(1);
        Ok(InclusionProof {
            proof: inclusion_proof(leaf_index, tree_size, nodes)?,
            seq,
            leaf_index,
            tree_size,
            entry_hash,
            leaf_hash: leaf_hash(&entry_hash),
        })
    }
}

impl ConsistencyProof {
    /// The proof from `old_size` to `new_size` leaves, from `nodes` (a fetch of
    /// [`consistency_proof_nodes`]).
    pub fn from_nodes(
        old_size: u64,
        new_size: u64,
        nodes: &impl NodeSource,
    ) -> Result<ConsistencyProof, ProofError> {
        Ok(ConsistencyProof {
            old_size,
            new_size,
            proof: consistency_proof(old_size, new_size, nodes)?,
        })
    }
}

/// Why a proof could not be produced, or did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {tree_size}")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizesOutOfOrder { old_size: u64, new_size: u64 },
    #[error(transparent)]
    MissingNode(#[from] MissingNodeError),
    #[error("proof has length {actual}, but the tree sizes call for {expected}")]
    WrongLength { expected: usize, actual: usize },
    #[error("inclusion proof does not lead to the expected root")]
    RootMismatch,
    #[error("consistency proof does not lead to the expected old root")]
    OldRootMismatch,
    #[error("consistency proof does not lead to the expected new root")]
    NewRootMismatch,
}

/// The audit path of leaf `index` in the tree of `tree_size` leaves (RFC 9162 §2.1.3.1),
/// lowest level first.
///
/// Reads at most about 2·log2(`tree_size`) perfect nodes from `nodes`
/// ([`inclusion_proof_nodes`] lists them).
pub fn inclusion_proof(
    index: u64,
    tree_size: u64,
    nodes: &impl NodeSource,
) -> Result<Vec<Hash>, ProofError> {
    inclusion_ranges(index, tree_size)?
        .into_iter()
        .map(|(begin, end)| Ok(range_hash(begin, end, nodes)?))
        .collect()
}

/// The perfect nodes [`inclusion_proof`]`(index, tree_size, _)` reads, for a store to fetch
/// in one query.
pub fn inclusion_proof_nodes(index: u64, tree_size: u64) -> Result<Vec<NodeId>, ProofError> {
    let mut ids = Vec::new();
    for (begin, end) in inclusion_ranges(index, tree_size)? {
        range_nodes(begin, end, &mut ids);
    }
    Ok(ids)
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `tree_size` leaves whose root is
/// `root`, by the algorithm of RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // The RFC algorithm rejects a proof of the wrong length too; checking it first gives
    // the more precise error.
    let expected = inclusion_ranges(index, tree_size)?.len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength {
                expected,
                actual: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The proof that the tree of `old_size` leaves is a prefix of the tree of `new_size`
/// leaves (RFC 9162 §2.1.4.1). Empty when `old_size` is 0 or equals `new_size`.
///
/// Reads at most about 2·log2(`new_size`) perfect nodes from `nodes`
/// ([`consistency_proof_nodes`] lists them).
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    nodes: &impl NodeSource,
) -> Result<Vec<Hash>, ProofError> {
    consistency_ranges(old_size, new_size)?
        .into_iter()
        .map(|(begin, end)| Ok(range_hash(begin, end, nodes)?))
        .collect()
}

/// The perfect nodes [`consistency_proof`]`(old_size, new_size, _)` reads, for a store to
/// fetch in one query.
pub fn consistency_proof_nodes(old_size: u64, new_size: u64) -> Result<Vec<NodeId>, ProofError> {
    let mut ids = Vec::new();
    for (begin, end) in consistency_ranges(old_size, new_size)? {
        range_nodes(begin, end, &mut ids);
    }
    Ok(ids)
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree
/// of `new_size` leaves with root `new_root`, by the algorithm of RFC 9162 §2.1.4.2.
///
/// Two cases the RFC leaves out are defined here: an empty old tree is a prefix of every
/// tree, provided `old_root` is [`EMPTY_ROOT`] and the proof is empty; and equal sizes need
/// an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let expected = consistency_ranges(old_size, new_size)?.len();
    let wrong_length = ProofError::WrongLength {
        expected,
        actual: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }
    if old_size == 0 {
        return if *old_root == EMPTY_ROOT {
            Ok(())
        } else {
            Err(ProofError::OldRootMismatch)
        };
    }
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::NewRootMismatch)
        };
    }
    // When the old tree is perfect its root is the first node of the path, and the proof
    // leaves it out.
    let (first, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(wrong_length),
        }
    };
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = first;
    let mut s_r = first;
    for c in rest {
        if s_n == 0 {
            return Err(wrong_length);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(wrong_length);
    }
    if f_r != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if s_r != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

/// The RFC subtrees whose hashes form the audit path of leaf `index`, lowest first.
///
/// In the tree of `tree_size` leaves, the ancestor of leaf `index` at level `l` is node
/// `index >> l`, and the path holds the hash of its sibling `(index >> l) ^ 1`, cut off at
/// `tree_size` on the right. A sibling that lies wholly beyond `tree_size` does not exist:
/// RFC 9162 promotes the lone child, so that level adds nothing to the path.
fn inclusion_ranges(index: u64, tree_size: u64) -> Result<Vec<(u64, u64)>, ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    // The root sits at level ceil(log2(tree_size)).
    let height = u64::BITS - (tree_size - 1).leading_zeros();
    let mut ranges = Vec::with_capacity(height as usize);
    for level in 0..height {
        let begin = ((index >> level) ^ 1) << level;
        if begin < tree_size {
            // Saturating: a hostile tree size near 2^64 must not overflow in a verifier.
            let end = begin.saturating_add(1 << level).min(tree_size);
            ranges.push((begin, end));
        }
    }
    Ok(ranges)
}

/// The RFC subtrees whose hashes form the consistency proof from `old_size` to
/// `new_size`, in proof order: RFC 9162 §2.1.4.1 `SUBPROOF`, unrolled.
fn consistency_ranges(old_size: u64, new_size: u64) -> Result<Vec<(u64, u64)>, ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[begin:end], b) with m = old_size fixed: each step either descends left
    // (m within the left half) and owes the right half's hash, or descends right and owes
    // the left half's hash. The owed hashes are appended after the deeper result, so they
    // are collected top-down here and reversed at the end.
    let mut begin = 0;
    let mut end = new_size;
    let mut whole_old_tree = true;
    let mut owed = Vec::new();
    // INVARIANT: begin < old_size <= end.
    while old_size < end {
        let k = split_point(end - begin);
        if old_size <= begin + k {
            owed.push((begin + k, end));
            end = begin + k;
        } else {
            owed.push((begin, begin + k));
            begin += k;
            whole_old_tree = false;
        }
    }
    // Here old_size == end, so D[begin:end] lies wholly in the old tree. Its hash is part of
    // the proof unless it is the whole old tree, whose root the verifier already has.
    let mut ranges = Vec::with_capacity(owed.len() + 1);
    if !whole_old_tree {
        ranges.push((begin, end));
    }
    ranges.extend(owed.into_iter().rev());
    Ok(ranges)
}
