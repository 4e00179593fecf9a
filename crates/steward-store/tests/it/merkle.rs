//! The Merkle tree over the trail in the database: stored roots equal the naive RFC 6962
//! root, inclusion and consistency proofs verify against signed checkpoints (and fail
//! for the wrong event, root or a tampered row), catching up is incremental, checkpoints
//! are idempotent.

use rand::Rng as _;
use serde_json::json;
use steward_audit::{
    ProofError, leaf_hash, merkle_root, public_key, verify_checkpoint, verify_consistency,
    verify_inclusion,
};
use steward_store::{Backend, CHECKPOINT_EVENT, Hash, SignedCheckpoint, Store, StoreError};

use crate::audit::{append_many, event, unguarded};
use crate::support::{admin, execute, store_test};

const KEY: [u8; 32] = [7; 32];
const NOW_MS: i64 = 1_800_000_000_000;

/// The leaf hashes of events `1..=size`, read back from the trail.
async fn leaves(store: &Store, size: u64) -> Vec<Hash> {
    let mut out = Vec::new();
    while (out.len() as u64) < size {
        let page = store
            .events(out.len() as u64 + 1, 1000)
            .await
            .expect("events");
        assert!(!page.is_empty(), "trail shorter than {size}");
        out.extend(page.iter().map(|entry| leaf_hash(&entry.hash)));
    }
    out.truncate(usize::try_from(size).expect("size fits"));
    out
}

/// A checkpoint of the tree as it is, signed with `KEY` by [`admin`] at `at`.
async fn signed_checkpoint(store: &Store, at: i64) -> SignedCheckpoint {
    store
        .create_checkpoint(&admin(), &KEY, at)
        .await
        .expect("checkpoint")
}

fn flip(hash: &Hash) -> Hash {
    let mut bytes = hash.to_bytes();
    bytes[0] ^= 1;
    Hash::from_bytes(bytes)
}

store_test!(
    inclusion_proofs_verify_against_the_signed_root,
    |store: Store| async move {
        // More than one page of 1 000 leaves, and a size that is not a power of two.
        let size = 1000 + rand::rng().random_range(1..300);
        append_many(&store, size).await;

        let signed = signed_checkpoint(&store, NOW_MS).await;
        assert_eq!(signed.checkpoint.tree_size, size);
        assert_eq!(signed.checkpoint.ts_ms, NOW_MS);
        verify_checkpoint(&signed, &public_key(&KEY)).unwrap();
        let root = signed.checkpoint.root_hash;
        let leaves = leaves(&store, size).await;
        assert_eq!(
            root,
            merkle_root(&leaves),
            "stored root equals the naive root"
        );

        let mut seqs = vec![1, 2, size / 2, size - 1, size];
        seqs.extend((0..20).map(|_| rand::rng().random_range(1..=size)));
        for seq in seqs {
            let proof = store.inclusion_proof(seq, size).await.unwrap();
            assert_eq!(
                (proof.seq, proof.leaf_index, proof.tree_size),
                (seq, seq - 1, size)
            );
            let leaf = leaves[usize::try_from(seq - 1).unwrap()];
            assert_eq!(proof.leaf_hash, leaf);
            assert_eq!(leaf_hash(&proof.entry_hash), leaf);
            let verify = |leaf: &Hash, root: &Hash| {
                verify_inclusion(leaf, seq - 1, size, &proof.proof, root)
            };
            verify(&leaf, &root).unwrap_or_else(|e| panic!("seq {seq}: {e}"));

            // Another event's leaf, or another root, does not verify.
            let other = if seq == 1 { 2 } else { seq - 1 };
            let other_leaf = leaves[usize::try_from(other - 1).unwrap()];
            assert_eq!(verify(&other_leaf, &root), Err(ProofError::RootMismatch));
            assert_eq!(verify(&leaf, &flip(&root)), Err(ProofError::RootMismatch));
        }

        // A proof within an older, smaller tree verifies against that tree's root.
        let proof = store.inclusion_proof(3, 5).await.unwrap();
        verify_inclusion(&leaves[2], 2, 5, &proof.proof, &merkle_root(&leaves[..5])).unwrap();
    }
);

store_test!(
    checkpoint_records_its_event_and_is_idempotent,
    |store: Store| async move {
        append_many(&store, 10).await;
        let first = signed_checkpoint(&store, NOW_MS).await;
        assert_eq!(first.checkpoint.tree_size, 10);

        // The checkpoint's own event comes after the tree it signs.
        let head = store.audit_head().await.unwrap();
        assert_eq!(head.seq, 11);
        let recorded = store.events(11, 1).await.unwrap().remove(0);
        assert_eq!(recorded.event_type, CHECKPOINT_EVENT);
        assert_eq!(recorded.actor, admin().actor());
        assert_eq!(
            recorded.data,
            // The whole signed checkpoint, in its published form (issue 9, item 6).
            json!({
                "tree_size": 10,
                "root_hash": first.checkpoint.root_hash.to_string(),
                "key_id": first.key_id,
                "ts_ms": NOW_MS,
                "signature": serde_json::to_value(&first).unwrap()["signature"],
            })
        );

        // Nothing new but the checkpoint event: the same checkpoint, nothing written.
        let again = signed_checkpoint(&store, NOW_MS + 60_000).await;
        assert_eq!(again, first);
        assert_eq!(store.audit_head().await.unwrap().seq, 11);

        append_many(&store, 3).await;
        let second = signed_checkpoint(&store, NOW_MS + 120_000).await;
        assert_eq!(
            second.checkpoint.tree_size, 14,
            "covers the first checkpoint's event"
        );
        assert_eq!(
            second.checkpoint.root_hash,
            merkle_root(&leaves(&store, 14).await)
        );

        assert_eq!(
            store.latest_checkpoint().await.unwrap(),
            Some(second.clone())
        );
        assert_eq!(store.checkpoint(10).await.unwrap(), first);
        assert_eq!(
            store.list_checkpoints(0, 100).await.unwrap(),
            [first.clone(), second.clone()]
        );
        assert_eq!(store.list_checkpoints(10, 100).await.unwrap(), [second]);
        assert_eq!(store.list_checkpoints(0, 1).await.unwrap(), [first]);
        let missing = store.checkpoint(12).await.unwrap_err();
        assert!(
            matches!(missing, StoreError::NotFound { .. }),
            "{missing:?}"
        );
        assert_eq!(
            missing.to_string(),
            "checkpoint of tree size `12` not found"
        );
    }
);

store_test!(
    no_checkpoint_before_the_first_is_made,
    |store: Store| async move {
        assert_eq!(store.latest_checkpoint().await.unwrap(), None);
        assert_eq!(store.list_checkpoints(0, 10).await.unwrap(), []);
    }
);

store_test!(
    consistency_proofs_between_checkpoints_verify,
    |store: Store| async move {
        append_many(&store, 7).await;
        let old = signed_checkpoint(&store, NOW_MS).await;
        append_many(&store, 21).await;
        let new = signed_checkpoint(&store, NOW_MS).await;
        let (old_size, new_size) = (old.checkpoint.tree_size, new.checkpoint.tree_size);
        assert_eq!((old_size, new_size), (7, 29));
        let (old_root, new_root) = (old.checkpoint.root_hash, new.checkpoint.root_hash);

        let proof = store.consistency_proof(old_size, new_size).await.unwrap();
        assert_eq!((proof.old_size, proof.new_size), (7, 29));
        let verify = |old_root: &Hash, new_root: &Hash| {
            verify_consistency(old_size, new_size, old_root, new_root, &proof.proof)
        };
        verify(&old_root, &new_root).unwrap();
        assert_eq!(
            verify(&flip(&old_root), &new_root),
            Err(ProofError::OldRootMismatch)
        );
        assert_eq!(
            verify(&old_root, &flip(&new_root)),
            Err(ProofError::NewRootMismatch)
        );

        // Every older size is consistent with the new checkpoint.
        let leaves = leaves(&store, new_size).await;
        for size in 0..=new_size {
            let proof = store.consistency_proof(size, new_size).await.unwrap();
            let root = merkle_root(&leaves[..usize::try_from(size).unwrap()]);
            verify_consistency(size, new_size, &root, &new_root, &proof.proof)
                .unwrap_or_else(|e| panic!("size {size}: {e}"));
        }
    }
);

store_test!(
    tampered_event_fails_its_inclusion_proof,
    |store: Store| async move {
        append_many(&store, 12).await;
        let signed = signed_checkpoint(&store, NOW_MS).await;
        let root = signed.checkpoint.root_hash;
        let zeros = match store.backend() {
            Backend::Sqlite => "zeroblob(32)",
            Backend::Postgres => "decode(repeat('00', 32), 'hex')",
        };
        let drop = unguarded(&store, "audit_events", "update");
        let sql = format!("{drop} UPDATE audit_events SET hash = {zeros} WHERE seq = 5;");
        execute(&store, &sql).await.unwrap();

        let proof = store.inclusion_proof(5, 12).await.unwrap();
        assert_eq!(
            proof.entry_hash,
            Hash::ZERO,
            "the proof carries the row as it is now"
        );
        assert_eq!(
            verify_inclusion(&proof.leaf_hash, 4, 12, &proof.proof, &root),
            Err(ProofError::RootMismatch)
        );
        // The other events still prove.
        let proof = store.inclusion_proof(6, 12).await.unwrap();
        verify_inclusion(&proof.leaf_hash, 5, 12, &proof.proof, &root).unwrap();
    }
);

store_test!(extend_merkle_is_incremental, |store: Store| async move {
    assert_eq!(store.extend_merkle(None).await.unwrap(), 0);
    append_many(&store, 37).await;
    assert_eq!(store.extend_merkle(Some(20)).await.unwrap(), 20);
    assert_eq!(store.merkle_size().await.unwrap(), 20);
    assert_eq!(store.extend_merkle(None).await.unwrap(), 37);
    append_many(&store, 64).await;
    // Beyond the audit head is capped at the head.
    assert_eq!(store.extend_merkle(Some(1_000)).await.unwrap(), 101);
    assert_eq!(
        store.extend_merkle(Some(50)).await.unwrap(),
        101,
        "never shrinks"
    );

    let signed = signed_checkpoint(&store, NOW_MS).await;
    assert_eq!(signed.checkpoint.tree_size, 101);
    assert_eq!(
        signed.checkpoint.root_hash,
        merkle_root(&leaves(&store, 101).await),
        "several catch-ups give the root of one"
    );
});

store_test!(
    concurrent_catch_ups_and_appends_build_one_tree,
    |store: Store| async move {
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..20 {
                    store.record_event(event("bulk", 0)).await.unwrap();
                    store.extend_merkle(None).await.unwrap();
                }
            }));
        }
        for _ in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..20 {
                    store.extend_merkle(None).await.unwrap();
                }
            }));
        }
        // Checkpoints take the Merkle head and then the audit head, appenders only the
        // audit head: no deadlock, and every checkpoint is of a consistent tree.
        for _ in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    signed_checkpoint(&store, NOW_MS).await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let signed = signed_checkpoint(&store, NOW_MS).await;
        let size = signed.checkpoint.tree_size;
        assert!(size >= 40, "all appends are covered: {size}");
        let leaves = leaves(&store, size).await;
        assert_eq!(signed.checkpoint.root_hash, merkle_root(&leaves));
        for checkpoint in store.list_checkpoints(0, 1000).await.unwrap() {
            let old = usize::try_from(checkpoint.checkpoint.tree_size).unwrap();
            assert_eq!(checkpoint.checkpoint.root_hash, merkle_root(&leaves[..old]));
        }
    }
);

store_test!(
    proof_requests_outside_the_tree_are_refused,
    |store: Store| async move {
        append_many(&store, 4).await;
        let error = store.inclusion_proof(1, 4).await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::BeyondMerkleTree {
                    tree_size: 4,
                    merkle_size: 0
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "tree size 4 is beyond the merkle tree, which covers 0 events so far"
        );
        store.extend_merkle(None).await.unwrap();
        assert!(matches!(
            store.inclusion_proof(0, 4).await,
            Err(StoreError::SeqNotInTree {
                seq: 0,
                tree_size: 4
            })
        ));
        assert!(matches!(
            store.inclusion_proof(4, 3).await,
            Err(StoreError::SeqNotInTree {
                seq: 4,
                tree_size: 3
            })
        ));
        assert!(matches!(
            store.consistency_proof(3, 2).await,
            Err(StoreError::Proof(ProofError::SizesOutOfOrder {
                old_size: 3,
                new_size: 2
            }))
        ));
        assert!(matches!(
            store.consistency_proof(2, 5).await,
            Err(StoreError::BeyondMerkleTree { tree_size: 5, .. })
        ));
        // The empty tree and equal sizes have empty proofs.
        assert_eq!(store.consistency_proof(0, 4).await.unwrap().proof, []);
        assert_eq!(store.consistency_proof(4, 4).await.unwrap().proof, []);
    }
);
