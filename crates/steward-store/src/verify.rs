//! `Store::verify_audit_trail`: the server's check of the stored trail, pruned history
//! included. Every damage it can detect is reported with the first affected `seq` and a
//! [`Damage`] kind (see [`StoreError::audit_damage`]); nothing it finds is an internal
//! error.

use std::collections::VecDeque;

use steward_audit::{
    AuditEntry, Damage, Frontier, Hash, MissingNodeError, NodeId, SignedCheckpoint, check_manifest,
    leaf_hash, node_hash, root_from_nodes, root_nodes, verify_chain, verify_checkpoint,
};

use crate::audit::AuditHead;
use crate::error::StoreError;
use crate::merkle::MAX_CHECKPOINT_PAGE;
use crate::retention::MAX_MANIFEST_PAGE;
use crate::store::Store;

/// Events read per query while verifying.
const PAGE: u32 = 1000;

/// Stored Merkle nodes read per query while verifying.
const NODE_CHUNK: usize = 500;

impl Store {
    /// Verifies the whole trail:
    /// 1. each manifest of pruned history in turn: consistent, signed by `public_key`
    ///    when given, contiguous from `seq` 1, linked by `prev_hash`, and its `tree_root`
    ///    equal to the stored Merkle tree's root at its `last_seq`;
    /// 2. the stored chain from the last manifest's `last_hash` on: every hash, every
    ///    link, `seq` gap-free, the last entry equal to the head;
    /// 3. every checkpoint past pruned history as the chain reaches its tree size: signed
    ///    by `public_key` when given, and signing the root the events make;
    /// 4. the stored Merkle tree: not larger than the trail, and every node it stores for
    ///    the events past pruned history equal to the one the events make.
    ///
    /// Damage is an error naming the first affected `seq` and its kind
    /// ([`StoreError::audit_damage`]): [`StoreError::AuditChain`] for a broken chain,
    /// [`StoreError::AuditHeadMismatch`] for a cut end, [`StoreError::AuditDamaged`] for
    /// the rest. Entries appended while it runs are not checked.
    pub async fn verify_audit_trail(
        &self,
        public_key: Option<&[u8; 32]>,
    ) -> Result<AuditHead, StoreError> {
        let start = self.verify_manifests(public_key).await?;
        let head = self.audit_head().await?;
        let merkle_size = self.merkle_size().await?;
        // The tree's right edge where pruned history ends, from the stored nodes (the last
        // manifest's tree root was just checked against them).
        let tree = if start.seq == 0 {
            Frontier::default()
        } else {
            self.stored_frontier(start.seq).await?
        };
        let open = Frontier::node_ids(tree.size())
            .into_iter()
            .zip(tree.nodes().iter().copied())
            .map(|(id, node)| (id.level, id.index, node))
            .collect();
        let mut pass = Pass {
            tree,
            open,
            made: Vec::new(),
            merkle_size,
            checkpoints: Checkpoints::new(start.seq),
            last_good_checkpoint: start.seq,
            public_key: public_key.copied(),
        };

        // The last entry of the previous page is carried into the next one, so links and
        // seq continuity across page boundaries are checked by verify_chain itself.
        let mut carried: Option<AuditEntry> = None;
        let mut checked_before = 0usize;
        loop {
            let after = carried.as_ref().map_or(start.seq, |entry| entry.seq);
            let page = self.events_in(after, head.seq, PAGE).await?;
            if page.is_empty() {
                break;
            }
            let mut window = Vec::with_capacity(page.len() + 1);
            let first_prev = match carried.take() {
                Some(entry) => {
                    let prev = entry.prev_hash;
                    window.push(entry);
                    prev
                }
                None => start.hash,
            };
            let offset = window.len();
            window.extend(page);
            verify_chain(&window, first_prev).map_err(|mut error| {
                error.index = checked_before + error.index.saturating_sub(offset);
                error
            })?;
            for entry in &window[offset..] {
                pass.leaf(self, entry).await?;
            }
            pass.compare_nodes(self).await?;
            checked_before += window.len() - offset;
            carried = window.pop();
        }
        let (last_seq, last_hash) =
            carried.map_or((start.seq, start.hash), |entry| (entry.seq, entry.hash));
        if last_seq != head.seq || last_hash != head.hash {
            return Err(StoreError::AuditHeadMismatch {
                head_seq: head.seq,
                last_seq,
            });
        }
        pass.finish(self, last_seq).await?;
        Ok(head)
    }

    /// Checks the manifests of pruned history (step 1 of
    /// [`Store::verify_audit_trail`]) and returns where pruned history ends.
    async fn verify_manifests(
        &self,
        public_key: Option<&[u8; 32]>,
    ) -> Result<AuditHead, StoreError> {
        let mut start = AuditHead {
            seq: 0,
            hash: Hash::ZERO,
        };
        // Paged by first_seq, so a forged manifest overlapping an earlier one is still
        // read (and found out of place).
        let mut after = 0;
        loop {
            let page = self.list_manifests(after, MAX_MANIFEST_PAGE).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.manifest.first_seq;
            for signed in page {
                let expected = start.seq + 1;
                let manifest = &signed.manifest;
                if let Err(kind) = check_manifest(&signed, expected, start.hash, public_key) {
                    // Damage starts where the manifest claims to stand, unless history
                    // before it is missing too.
                    let seq = if manifest.first_seq > expected && !self.has_event(expected).await? {
                        expected
                    } else {
                        manifest.first_seq.max(1)
                    };
                    return Err(StoreError::AuditDamaged {
                        seq,
                        kind: Damage::from(&kind),
                        problem: kind.to_string(),
                    });
                }
                let nodes = self.pool_nodes(&root_nodes(manifest.last_seq)).await?;
                let root = root_from_nodes(manifest.last_seq, &nodes).map_err(nodes_missing)?;
                if root != manifest.tree_root {
                    return Err(StoreError::AuditDamaged {
                        seq: manifest.first_seq,
                        kind: Damage::ManifestRootMismatch,
                        problem: format!(
                            "manifest of seq {} to {} signs tree root {}, the stored merkle \
                             tree has {root}",
                            manifest.first_seq, manifest.last_seq, manifest.tree_root
                        ),
                    });
                }
                start = AuditHead {
                    seq: manifest.last_seq,
                    hash: manifest.last_hash,
                };
            }
        }
        Ok(start)
    }

    /// The stored right edge of the tree of `size` leaves; a missing node is damage.
    async fn stored_frontier(&self, size: u64) -> Result<Frontier, StoreError> {
        let ids = Frontier::node_ids(size);
        let nodes = self.pool_nodes(&ids).await?;
        let mut edge = Vec::with_capacity(ids.len());
        for id in ids {
            edge.push(
                nodes
                    .get(&id)
                    .copied()
                    .ok_or_else(|| nodes_missing(MissingNodeError(id)))?,
            );
        }
        Frontier::from_nodes(size, edge).ok_or_else(|| StoreError::AuditDamaged {
            seq: 1,
            kind: Damage::MerkleNodesMissing,
            problem: format!("the stored merkle tree has no right edge at size {size}"),
        })
    }

    /// Whether an event with this `seq` is stored.
    async fn has_event(&self, seq: u64) -> Result<bool, StoreError> {
        let found = self.events_in(seq.saturating_sub(1), seq, 1).await;
        match found {
            Ok(events) => Ok(!events.is_empty()),
            // A row that is there but cannot be decoded is there.
            Err(StoreError::Corrupt { .. }) => Ok(true),
            Err(error) => Err(error),
        }
    }
}

/// The tree and checkpoint checks that ride along the chain check.
struct Pass {
    /// The tree of the events checked so far.
    tree: Frontier,
    /// The perfect nodes the events made that are still open to merging (a binary
    /// counter's carries): `(level, index, hash)`, levels decreasing.
    open: Vec<(u8, u64, Hash)>,
    /// Nodes the events made since the last comparison with the stored ones.
    made: Vec<(NodeId, Hash)>,
    merkle_size: u64,
    checkpoints: Checkpoints,
    /// The tree size of the last checkpoint found good (or where pruned history ends):
    /// damage a later checkpoint reveals lies after it.
    last_good_checkpoint: u64,
    public_key: Option<[u8; 32]>,
}

impl Pass {
    /// Adds an event (already chain-checked) to the tree and checks each checkpoint of
    /// that tree size.
    async fn leaf(&mut self, store: &Store, entry: &AuditEntry) -> Result<(), StoreError> {
        let leaf = leaf_hash(&entry.hash);
        let mut node = (0u8, self.tree.size(), leaf);
        self.tree.push(leaf);
        self.made.push((NodeId::new(node.0, node.1), node.2));
        while let Some(&(level, _, left)) = self.open.last()
            && level == node.0
        {
            self.open.pop();
            node = (level + 1, node.1 >> 1, node_hash(&left, &node.2));
            self.made.push((NodeId::new(node.0, node.1), node.2));
        }
        self.open.push(node);
        while let Some(signed) = self.checkpoints.next_at_most(store, entry.seq).await? {
            self.check(&signed, entry.seq)?;
        }
        Ok(())
    }

    fn check(&mut self, signed: &SignedCheckpoint, seq: u64) -> Result<(), StoreError> {
        let tree_size = signed.checkpoint.tree_size;
        if let Some(key) = &self.public_key
            && let Err(error) = verify_checkpoint(signed, key)
        {
            return Err(StoreError::AuditDamaged {
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
            return Err(StoreError::AuditDamaged {
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

    /// Compares the nodes the events made since the last call with the stored ones, for
    /// every node the stored tree covers (those of its first `merkle_size` leaves): a
    /// missing or different node is damage at the first event under it.
    async fn compare_nodes(&mut self, store: &Store) -> Result<(), StoreError> {
        let covered: Vec<(NodeId, Hash)> = self
            .made
            .drain(..)
            .filter(|(id, _)| {
                (id.index + 1)
                    .checked_shl(u32::from(id.level))
                    .is_some_and(|end| end <= self.merkle_size)
            })
            .collect();
        for chunk in covered.chunks(NODE_CHUNK) {
            let ids: Vec<NodeId> = chunk.iter().map(|(id, _)| *id).collect();
            let stored = store.pool_nodes(&ids).await?;
            // The first damaged node in event order: the one under the smallest seq.
            let damaged = chunk
                .iter()
                .filter(|(id, made)| stored.get(id) != Some(made))
                .min_by_key(|(id, _)| first_leaf_seq(*id));
            if let Some((id, made)) = damaged {
                return Err(match stored.get(id) {
                    None => nodes_missing(MissingNodeError(*id)),
                    Some(node) => StoreError::AuditDamaged {
                        seq: first_leaf_seq(*id),
                        kind: Damage::MerkleNodesAltered,
                        problem: format!(
                            "stored merkle node {}/{} is {node}, the events make {made}",
                            id.level, id.index
                        ),
                    },
                });
            }
        }
        Ok(())
    }

    /// After the last event: nothing signed or stored may reach beyond it.
    async fn finish(mut self, store: &Store, last_seq: u64) -> Result<(), StoreError> {
        if let Some(signed) = self.checkpoints.next_at_most(store, u64::MAX).await? {
            let tree_size = signed.checkpoint.tree_size;
            return Err(StoreError::AuditDamaged {
                seq: last_seq + 1,
                kind: Damage::Truncated,
                problem: format!(
                    "a checkpoint signs a tree of {tree_size} events, but the trail ends at \
                     seq {last_seq}: events were cut from its end"
                ),
            });
        }
        if self.merkle_size > last_seq {
            return Err(StoreError::AuditDamaged {
                seq: last_seq + 1,
                kind: Damage::Truncated,
                problem: format!(
                    "the merkle tree covers {} events, but the trail ends at seq {last_seq}: \
                     events were cut from its end",
                    self.merkle_size
                ),
            });
        }
        Ok(())
    }
}

/// The stored checkpoints past pruned history, read a page at a time as the chain check
/// reaches them.
struct Checkpoints {
    /// The tree size of the last checkpoint read.
    after: u64,
    queued: VecDeque<SignedCheckpoint>,
    exhausted: bool,
}

impl Checkpoints {
    fn new(after: u64) -> Checkpoints {
        Checkpoints {
            after,
            queued: VecDeque::new(),
            exhausted: false,
        }
    }

    /// The next checkpoint if its tree size is at most `seq`.
    async fn next_at_most(
        &mut self,
        store: &Store,
        seq: u64,
    ) -> Result<Option<SignedCheckpoint>, StoreError> {
        if self.queued.is_empty() && !self.exhausted {
            let page = store
                .list_checkpoints(self.after, MAX_CHECKPOINT_PAGE)
                .await?;
            self.exhausted = page.len() < MAX_CHECKPOINT_PAGE as usize;
            if let Some(last) = page.last() {
                self.after = last.checkpoint.tree_size;
            }
            self.queued.extend(page);
        }
        Ok(self
            .queued
            .front()
            .is_some_and(|signed| signed.checkpoint.tree_size <= seq)
            .then(|| self.queued.pop_front())
            .flatten())
    }
}

/// The `seq` of the first event under a Merkle node.
fn first_leaf_seq(id: NodeId) -> u64 {
    id.index
        .checked_shl(u32::from(id.level))
        .map_or(u64::MAX, |leaf| leaf.saturating_add(1))
}

/// A node the tree needs is not stored: damage at the first event it covers.
fn nodes_missing(error: MissingNodeError) -> StoreError {
    let id = error.0;
    StoreError::AuditDamaged {
        seq: first_leaf_seq(id),
        kind: Damage::MerkleNodesMissing,
        problem: format!(
            "merkle node {}/{} is not stored, though the tree covers it",
            id.level, id.index
        ),
    }
}
