//! `MemoryTree`: every perfect node of a Merkle tree, in memory, one vector per level. Used
//! by offline verification of an export, by tests and by benchmarks.

use crate::hash::Hash;
use crate::merkle::{EMPTY_ROOT, NodeId, NodeSource, node_hash, root_from_nodes};

/// An append-only Merkle tree holding all of its perfect nodes: about two hashes (64 bytes)
/// per leaf.
///
/// Roots of every earlier size come from [`MemoryTree::root_at`]; proofs from
/// [`crate::inclusion_proof`] and [`crate::consistency_proof`] with the tree as their
/// [`NodeSource`].
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    // INVARIANT: levels[l][i] is the hash of the perfect node (l, i), and
    // levels[l].len() == size >> l for every l. Levels past the bit length of size are
    // empty (or absent): `with_capacity` creates them ahead of time.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree with room for `leaves` leaves (and their parents) without
    /// reallocating.
    pub fn with_capacity(leaves: usize) -> MemoryTree {
        let mut levels = Vec::new();
        let mut count = leaves;
        while count > 0 {
            levels.push(Vec::with_capacity(count));
            count >>= 1;
        }
        MemoryTree { levels }
    }

    /// Appends a leaf hash (see [`crate::leaf_hash`]) and returns its index.
    pub fn push(&mut self, leaf_hash: Hash) -> u64 {
        let index = self.size();
        let mut level = 0;
        let mut hash = leaf_hash;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            nodes.push(hash);
            // An even length means the new node is a right child that completes its parent.
            if nodes.len() % 2 == 1 {
                break;
            }
            hash = node_hash(&nodes[nodes.len() - 2], &hash);
            level += 1;
        }
        index
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The leaf hash at `index`, if the tree has that many leaves.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.node(NodeId::leaf(index))
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        // The right edge of the tree is the last node of each level with an odd length (the
        // set bits of size), smallest first: fold them from the right.
        self.levels
            .iter()
            .filter(|nodes| nodes.len() % 2 == 1)
            .filter_map(|nodes| nodes.last())
            .fold(None, |right: Option<Hash>, node| {
                Some(match right {
                    None => *node,
                    Some(right) => node_hash(node, &right),
                })
            })
            .unwrap_or(EMPTY_ROOT)
    }

    /// The root the tree had when it held `size` leaves, or `None` if it has never been that
    /// large. Hashes at most 63 nodes.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        root_from_nodes(size, self).ok()
    }
}

impl NodeSource for MemoryTree {
    fn node(&self, id: NodeId) -> Option<Hash> {
        let nodes = self.levels.get(usize::from(id.level))?;
        nodes.get(usize::try_from(id.index).ok()?).copied()
    }
}

impl Extend<Hash> for MemoryTree {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, leaf_hashes: I) {
        for leaf_hash in leaf_hashes {
            self.push(leaf_hash);
        }
    }
}

impl FromIterator<Hash> for MemoryTree {
    fn from_iter<I: IntoIterator<Item = Hash>>(leaf_hashes: I) -> MemoryTree {
        let mut tree = MemoryTree::default();
        tree.extend(leaf_hashes);
        tree
    }
}
