//! `Frontier`: the right edge of a Merkle tree (one perfect node per set bit of its size),
//! enough to append leaves and compute the root without holding the leaves before it.

use crate::hash::Hash;
use crate::merkle::{EMPTY_ROOT, MissingNodeError, NodeId, NodeSource, node_hash};

/// The perfect nodes along the right edge of a tree of `size` leaves, largest (leftmost)
/// first: exactly the nodes [`crate::root_nodes`]`(size)` names, and all that appending
/// a leaf or computing the root reads. 32 bytes per set bit of `size`.
///
/// Offline verification keeps one instead of every leaf, and a pruned range's manifest
/// line in an export carries the frontier at its end, so root checks continue past
/// history that no longer exists: the frontier is trusted only once its root equals the
/// manifest's signed `tree_root`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    // INVARIANT: nodes.len() == size.count_ones(), and nodes[k] is the perfect node of
    // the k-th set bit of size counted from the most significant one.
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves from its right-edge nodes, largest first
    /// (in the order of [`Frontier::node_ids`]), or `None` when their number does not fit
    /// `size`.
    pub fn from_nodes(size: u64, nodes: Vec<Hash>) -> Option<Frontier> {
        (nodes.len() == size.count_ones() as usize).then_some(Frontier { size, nodes })
    }

    /// The frontier of a tree of `size` leaves, its right-edge nodes taken from `nodes`
    /// (a store's fetch of [`Frontier::node_ids`]); the first one missing, largest first,
    /// is the error.
    pub fn from_source(size: u64, nodes: &impl NodeSource) -> Result<Frontier, MissingNodeError> {
        let nodes = Frontier::node_ids(size)
            .into_iter()
            .map(|id| nodes.node(id).ok_or(MissingNodeError(id)))
            .collect::<Result<_, _>>()?;
        Ok(Frontier { size, nodes })
    }

    /// The ids of the right-edge nodes of a tree of `size` leaves, largest first: what a
    /// store fetches to build a frontier.
    pub fn node_ids(size: u64) -> Vec<NodeId> {
        (0..64u8)
            .rev()
            .filter(|level| (size >> level) & 1 == 1)
            .map(|level| NodeId::new(level, (size >> level) - 1))
            .collect()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The right-edge nodes, largest first.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends a leaf hash (see [`crate::leaf_hash`]).
    pub fn push(&mut self, leaf_hash: Hash) {
        self.push_with(leaf_hash, |_, _| {});
    }

    /// Appends a leaf hash, calling `made` with each perfect node it completes, lowest
    /// level first: the leaf, then one parent per pair it closes (what
    /// [`crate::append_nodes`] returns for the same leaf).
    pub fn push_with(&mut self, leaf_hash: Hash, mut made: impl FnMut(NodeId, Hash)) {
        let mut id = NodeId::leaf(self.size);
        let mut hash = leaf_hash;
        made(id, hash);
        // Each trailing one bit of the size is a complete left sibling that the new node
        // closes into its parent, as in a binary counter's carry.
        while id.index & 1 == 1 {
            let Some(left) = self.nodes.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            id = NodeId::new(id.level + 1, id.index >> 1);
            made(id, hash);
        }
        self.nodes.push(hash);
        self.size = self.size.saturating_add(1);
    }

    /// The root of the tree.
    pub fn root(&self) -> Hash {
        self.nodes
            .iter()
            .rev()
            .fold(None, |right: Option<Hash>, node| {
                Some(match right {
                    None => *node,
                    Some(right) => node_hash(node, &right),
                })
            })
            .unwrap_or(EMPTY_ROOT)
    }
}
