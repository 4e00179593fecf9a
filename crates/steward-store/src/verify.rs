//! `Store::verify_audit_trail`: the server's check of the stored trail, pruned history
//! included. Every damage it can detect is reported with the first affected `seq` and a
//! [`Damage`](steward_audit::Damage) kind (see [`StoreError::audit_damage`]); nothing it
//! finds is an internal error. The rules are `steward_audit`'s ([`TrailCheck`] and its
//! companions); this module reads the pages they check.

use std::collections::VecDeque;

use steward_audit::{
    ChainPages, Frontier, Hash, NodeId, SignedCheckpoint, TrailCheck, TrailDamage, check_manifest,
    check_manifest_root, compare_nodes, manifest_damage_seq, root_from_nodes, root_nodes,
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
        // manifest's tree root was just checked against them); empty from `seq` 1.
        let nodes = self.pool_nodes(&Frontier::node_ids(start.seq)).await?;
        let tree = Frontier::from_source(start.seq, &nodes).map_err(TrailDamage::node_missing)?;
        let mut trail = TrailCheck::new(tree, merkle_size, public_key);
        let mut checkpoints = Checkpoints::new(start.seq);

        let mut chain = ChainPages::new(start.seq, start.hash);
        loop {
            let page = self.events_in(chain.last().0, head.seq, PAGE).await?;
            if page.is_empty() {
                break;
            }
            for entry in &chain.check(page)? {
                trail.leaf(&entry.hash);
                while let Some(signed) = checkpoints.next_at_most(self, entry.seq).await? {
                    trail.checkpoint(&signed, entry.seq)?;
                }
            }
            for made in trail.covered_nodes().chunks(NODE_CHUNK) {
                let ids: Vec<NodeId> = made.iter().map(|(id, _)| *id).collect();
                compare_nodes(made, &self.pool_nodes(&ids).await?)?;
            }
        }
        let (last_seq, last_hash) = chain.last();
        if last_seq != head.seq || last_hash != head.hash {
            return Err(StoreError::AuditHeadMismatch {
                head_seq: head.seq,
                last_seq,
            });
        }
        let beyond = checkpoints.next_at_most(self, u64::MAX).await?;
        trail.finish(beyond.as_ref(), last_seq)?;
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
                    // Only a manifest past `expected` needs to know whether it is stored.
                    let stored = manifest.first_seq <= expected || self.has_event(expected).await?;
                    let seq = manifest_damage_seq(manifest, expected, stored);
                    return Err(TrailDamage::manifest(seq, &kind).into());
                }
                let nodes = self.pool_nodes(&root_nodes(manifest.last_seq)).await?;
                let root = root_from_nodes(manifest.last_seq, &nodes)
                    .map_err(TrailDamage::node_missing)?;
                check_manifest_root(manifest, &root)?;
                start = AuditHead {
                    seq: manifest.last_seq,
                    hash: manifest.last_hash,
                };
            }
        }
        Ok(start)
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
