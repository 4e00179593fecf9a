//! Group commit of `record_event`: concurrent producers interleaved with use-case
//! transactions keep `seq` gap-free and the chain and Merkle tree intact; a refused event
//! fails alone; a batch whose transaction cannot begin fails every caller and appends
//! nothing; the committer task ends with the last clone of its store.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use steward_audit::{leaf_hash, merkle_root, public_key, verify_checkpoint, verify_inclusion};
use steward_store::testing::{TestDb, committer_probe};
use steward_store::{ActorKind, AuditEntry, NewEvent, Store, StoreError, Subject, append_event};

use crate::audit::actor;
use crate::support::{admin, postgres_store, sqlite_store, store_test};

const NOW_MS: i64 = 1_800_000_000_000;
const KEY: [u8; 32] = [9; 32];

fn event(producer: usize, n: usize) -> NewEvent {
    NewEvent {
        ts_ms: NOW_MS + i64::try_from(n).expect("small n"),
        event_type: "authorize.allowed".to_owned(),
        actor: actor(ActorKind::Agent, &format!("agent-{producer}"), &["worker"]),
        subject: Subject {
            task_id: Some(format!("task-{producer}-{n}")),
            worker_id: Some(format!("worker-{producer}")),
            ..Subject::default()
        },
        level: None,
        data: json!({ "producer": producer, "n": n, "tool": "kubectl", "z": [1, {"b": 2, "a": 1}] }),
    }
}

/// Runs `producers` tasks each recording `each` events, and returns every entry.
fn spawn_producers(
    store: &Store,
    producers: usize,
    each: usize,
) -> Vec<tokio::task::JoinHandle<Vec<AuditEntry>>> {
    (0..producers)
        .map(|producer| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut entries = Vec::with_capacity(each);
                for n in 0..each {
                    entries.push(
                        store
                            .record_event(event(producer, n))
                            .await
                            .expect("record_event"),
                    );
                }
                entries
            })
        })
        .collect()
}

store_test!(
    concurrent_producers_and_use_cases_keep_the_chain_gap_free,
    |store: Store| async move {
        let (producers, each) = (24, 25);
        let (use_cases, transactions, per_tx) = (3, 8, 3);
        let recorded = spawn_producers(&store, producers, each);
        // Use cases append inside their own transactions meanwhile, several events each.
        let transacted: Vec<_> = (0..use_cases)
            .map(|case| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut entries = Vec::new();
                    for t in 0..transactions {
                        let mut tx = store.begin().await.unwrap();
                        for n in 0..per_tx {
                            let mut e = event(1000 + case, t * per_tx + n);
                            e.event_type = "permit.approved".to_owned();
                            entries.push(append_event(&mut tx, e).await.unwrap());
                        }
                        tx.commit().await.unwrap();
                        tokio::task::yield_now().await;
                    }
                    entries
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in recorded.into_iter().chain(transacted) {
            all.extend(task.await.unwrap());
        }

        let total = producers * each + use_cases * transactions * per_tx;
        let seqs: BTreeSet<u64> = all.iter().map(|entry| entry.seq).collect();
        assert_eq!(seqs.len(), total, "every caller got a distinct seq");
        assert_eq!(
            seqs,
            (1..=u64::try_from(total).unwrap()).collect::<BTreeSet<_>>(),
            "seq is gap-free from 1"
        );
        let head = store.verify_audit_chain().await.unwrap();
        assert_eq!(head.seq, u64::try_from(total).unwrap());

        // What each caller was given is exactly what is stored.
        let stored = store.events(1, 10_000).await.unwrap();
        all.sort_by_key(|entry| entry.seq);
        assert_eq!(stored, all);

        // The Merkle tree extends over group-committed events like any others.
        let signed = store
            .create_checkpoint(&admin(), &KEY, NOW_MS)
            .await
            .unwrap();
        verify_checkpoint(&signed, &public_key(&KEY)).unwrap();
        let size = signed.checkpoint.tree_size;
        assert_eq!(size, head.seq);
        let leaves: Vec<_> = stored.iter().map(|entry| leaf_hash(&entry.hash)).collect();
        assert_eq!(signed.checkpoint.root_hash, merkle_root(&leaves));
        let proof = store.inclusion_proof(size / 2, size).await.unwrap();
        verify_inclusion(
            &leaves[usize::try_from(size / 2 - 1).unwrap()],
            size / 2 - 1,
            size,
            &proof.proof,
            &signed.checkpoint.root_hash,
        )
        .unwrap();
        // And appending continues after the checkpoint event.
        let next = store.record_event(event(0, 999)).await.unwrap();
        assert_eq!(next.seq, size + 2);
        store.verify_audit_chain().await.unwrap();
    }
);

store_test!(
    events_queued_behind_a_use_case_commit_in_order,
    |store: Store| async move {
        // A use case holds the head; producers queue behind it, then all commit.
        let mut tx = store.begin().await.unwrap();
        let held = append_event(&mut tx, event(99, 0)).await.unwrap();
        let recorded = spawn_producers(&store, 40, 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            store.audit_head().await.unwrap().seq,
            0,
            "nothing commits past the held head"
        );
        tx.commit().await.unwrap();
        let mut seqs = Vec::new();
        for task in recorded {
            let entries = task.await.unwrap();
            seqs.extend(entries.iter().map(|entry| entry.seq));
        }
        seqs.sort_unstable();
        assert_eq!(held.seq, 1);
        assert_eq!(seqs, (2..=41).collect::<Vec<_>>());
        assert_eq!(store.verify_audit_chain().await.unwrap().seq, 41);
    }
);

store_test!(
    a_refused_event_fails_alone_and_the_chain_stays_intact,
    |store: Store| async move {
        store.record_event(event(0, 0)).await.unwrap();
        // Hold the head so that the good events and the refused one queue up together and
        // reach the committer as one batch.
        let mut tx = store.begin().await.unwrap();
        append_event(&mut tx, event(0, 1)).await.unwrap();
        let good = spawn_producers(&store, 10, 1);
        let refused = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut bad = event(7, 7);
                // audit_events.type has CHECK (length(type) > 0) in both dialects.
                bad.event_type = String::new();
                store.record_event(bad).await
            })
        };
        let more_good = spawn_producers(&store, 10, 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.commit().await.unwrap();

        let error = refused.await.unwrap().unwrap_err();
        assert!(
            matches!(error, StoreError::Database(_)),
            "the refused event gets the database's error: {error:?}"
        );
        assert!(
            error.to_string().contains("check") || error.to_string().contains("CHECK"),
            "{error}"
        );
        let mut seqs = Vec::new();
        for task in good.into_iter().chain(more_good) {
            seqs.extend(task.await.unwrap().iter().map(|entry| entry.seq));
        }
        seqs.sort_unstable();
        assert_eq!(
            seqs,
            (3..=22).collect::<Vec<_>>(),
            "every good event committed"
        );
        let head = store.verify_audit_chain().await.unwrap();
        assert_eq!(head.seq, 22);
        assert!(
            store
                .events(1, 100)
                .await
                .unwrap()
                .iter()
                .all(|entry| !entry.event_type.is_empty())
        );
    }
);

/// With its pool closed, a store's committer cannot begin a transaction: every waiting
/// caller gets an error, and the trail, reopened, is as before.
async fn closed_pool_fails_every_caller(db: TestDb) {
    let store = db.store().clone();
    for n in 0..3 {
        store.record_event(event(0, n)).await.expect("record_event");
    }
    store.close().await;
    let callers = (0..20).map(|producer| {
        let store = store.clone();
        tokio::spawn(async move { store.record_event(event(producer, 100)).await })
    });
    let callers: Vec<_> = callers.collect();
    for caller in callers {
        let error = caller
            .await
            .expect("caller task")
            .expect_err("a closed pool fails the caller");
        assert!(
            matches!(
                error,
                StoreError::Database(sqlx::Error::PoolClosed) | StoreError::GroupCommit { .. }
            ),
            "{error:?}"
        );
    }
    let reopened = Store::connect(db.url()).await.expect("reopen");
    let head = reopened.verify_audit_chain().await.expect("chain verifies");
    assert_eq!(head.seq, 3, "nothing of the failed batches was appended");
    // The reopened store appends right after.
    assert_eq!(
        reopened
            .record_event(event(0, 4))
            .await
            .expect("record_event")
            .seq,
        4
    );
    reopened.verify_audit_chain().await.expect("chain verifies");
    reopened.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_cannot_begin_fails_every_caller() {
    closed_pool_fails_every_caller(sqlite_store().await).await;
    if let Some(db) = postgres_store().await {
        closed_pool_fails_every_caller(db).await;
    }
}

/// The committer starts on the first `record_event` and ends once the last clone of the
/// store is gone.
async fn committer_ends_with_the_store(db: TestDb) {
    let store = db.store().clone();
    assert!(
        !committer_probe(&store).is_running(),
        "no task before the first record_event"
    );
    store.record_event(event(0, 0)).await.expect("record_event");
    let probe = committer_probe(&store);
    assert!(probe.is_running());
    let clone = store.clone();
    drop(store);
    clone.record_event(event(0, 1)).await.expect("record_event");
    assert!(probe.is_running(), "a clone keeps the committer");
    drop(clone);
    drop(db);
    tokio::time::timeout(Duration::from_secs(5), async {
        while probe.is_running() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the committer task ends when the last store is dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_stops_the_committer() {
    committer_ends_with_the_store(sqlite_store().await).await;
    if let Some(db) = postgres_store().await {
        committer_ends_with_the_store(db).await;
    }
}
