//! Audit retention in the database: pruning removes the leading expired range into a
//! signed manifest and the trail still verifies through it; proofs for surviving events
//! still verify against checkpoints made before; a tampered manifest row is damage at
//! its range; legal holds stop pruning until released; the delete trigger refuses any
//! delete a manifest does not cover.

use serde_json::json;
use steward_audit::{
    DAY_MS, Damage, HoldScope, KeepReason, public_key, verify_inclusion, verify_manifest,
};
use steward_policy::Level;
use steward_store::{
    ActorKind, Backend, EventQuery, HoldFilter, LegalHold, NewEvent, NewLegalHold, PRUNED_EVENT,
    PruneReport, Store, StoreError, Subject,
};

use crate::audit::{actor, unguarded};
use crate::support::{admin, execute, fetch_text, store_test};

const KEY: [u8; 32] = [11; 32];
const T0: i64 = 1_800_000_000_000;

fn event(level: u8) -> NewEvent {
    NewEvent {
        ts_ms: T0,
        event_type: "test.operation".to_owned(),
        actor: actor(ActorKind::Agent, "agent-1", &[]),
        subject: Subject {
            worker_id: Some(format!("worker-l{level}")),
            ..Subject::default()
        },
        level: Level::new(level),
        data: json!({ "level": level }),
    }
}

/// Places a legal hold on `scope` as [`admin`].
async fn place_hold(
    store: &Store,
    scope: HoldScope,
    reason: &str,
    now: i64,
) -> Result<LegalHold, StoreError> {
    let reason = reason.to_owned();
    let hold = NewLegalHold { scope, reason };
    store.create_legal_hold(&admin(), hold, now).await
}

/// The legal holds `filter` selects.
async fn holds(store: &Store, filter: HoldFilter) -> Vec<LegalHold> {
    store.list_legal_holds(filter).await.expect("list")
}

/// Prunes what is due at `now`, signing with `KEY` as [`admin`].
async fn prune(store: &Store, now: i64) -> PruneReport {
    store.prune_audit(&admin(), &KEY, now).await.expect("prune")
}

/// Seq 1–5 at level 2, 6–7 at level 4, 8–9 at level 2, all stamped `T0`; then a signed
/// checkpoint of those nine (its own event is seq 10).
async fn seed(store: &Store) -> u64 {
    for level in [2, 2, 2, 2, 2, 4, 4, 2, 2] {
        store.record_event(event(level)).await.expect("append");
    }
    let signed = store
        .create_checkpoint(&admin(), &KEY, T0)
        .await
        .expect("checkpoint");
    assert_eq!(signed.checkpoint.tree_size, 9);
    9
}

store_test!(
    pruning_keeps_the_trail_verifiable_through_manifests,
    |store: Store| async move {
        let size = seed(&store).await;
        let key = public_key(&KEY);
        let before = store.inclusion_proof(6, size).await.expect("proof");
        let root = store
            .checkpoint(size)
            .await
            .expect("stored")
            .checkpoint
            .root_hash;

        // At 89 days nothing is due; at 91 days the level-2 run 1–5 is, up to the first
        // level-4 event.
        let early = store.plan_prune(T0 + 89 * DAY_MS).await.expect("plan");
        assert!(early.ranges.is_empty());
        assert!(matches!(
            early.stop,
            Some(steward_store::PruneStop {
                seq: 1,
                reason: KeepReason::Retained { .. }
            })
        ));
        let now = T0 + 91 * DAY_MS;
        let plan = store.plan_prune(now).await.expect("plan");
        assert_eq!(plan.event_count(), 5);
        assert!(plan.manifests.is_empty());
        assert_eq!(
            store.pruned_head().await.expect("head").seq,
            0,
            "a plan writes nothing"
        );
        let head_before = store.audit_head().await.expect("head").seq;
        let indexed_pruned =
            "SELECT CAST(COUNT(*) AS TEXT) FROM audit_worker_events WHERE seq <= 5";
        store.fold_metrics().await.expect("fold");
        let counted = fetch_text(&store, indexed_pruned).await.expect("count");
        assert_eq!(counted, [[Some("5".to_owned())]], "indexed by worker");

        let report = prune(&store, now).await;
        assert_eq!(report.ranges, plan.ranges);
        assert_eq!(report.stop, plan.stop);
        let [signed] = report.manifests.as_slice() else {
            panic!("one manifest: {report:?}");
        };
        assert_eq!(
            (signed.manifest.first_seq, signed.manifest.last_seq),
            (1, 5)
        );
        verify_manifest(signed, &key).expect("signed with the key");
        assert_eq!(
            store.list_manifests(0, 10).await.expect("list"),
            std::slice::from_ref(signed)
        );

        // The events are gone; the pruning is audited with its manifest.
        let stored = store.events(1, 100).await.expect("events");
        assert_eq!(stored.first().map(|e| e.seq), Some(6));
        let last = stored.last().expect("the pruned event");
        assert_eq!(
            (last.seq, last.event_type.as_str()),
            (head_before + 1, PRUNED_EVENT)
        );
        assert_eq!(last.data["manifest"]["manifest"]["last_seq"], 5);
        // So are their entries in the per-worker index.
        let counted = fetch_text(&store, indexed_pruned).await.expect("count");
        assert_eq!(
            counted,
            [[Some("0".to_owned())]],
            "pruned from the worker index"
        );
        let by_worker = EventQuery {
            worker_id: Some("worker-l2".to_owned()),
            ..EventQuery::default()
        };
        let left = store.query_events(&by_worker, 1, 100).await.expect("query");
        assert!(left.iter().all(|e| e.seq > 5), "{left:?}");

        // Online verification spans the pruned range, with and without the key.
        let verified = store.verify_audit_trail(Some(&key)).await.expect("intact");
        assert_eq!(verified.seq, head_before + 1);
        store
            .verify_audit_chain()
            .await
            .expect("intact without key");

        // A proof for a surviving event still verifies against the checkpoint made
        // before pruning; a pruned event has none.
        let after = store.inclusion_proof(6, size).await.expect("proof");
        assert_eq!(after, before);
        verify_inclusion(
            &after.leaf_hash,
            after.leaf_index,
            size,
            &after.proof,
            &root,
        )
        .expect("verifies");
        assert!(matches!(
            store.inclusion_proof(3, size).await,
            Err(StoreError::NotFound { .. })
        ));

        // Nothing more is due: a second run writes nothing.
        let again = prune(&store, now).await;
        assert!(again.ranges.is_empty());
        assert_eq!(store.audit_head().await.expect("head").seq, head_before + 1);
    }
);

store_test!(
    without_a_checkpoint_nothing_is_pruned,
    |store: Store| async move {
        store.record_event(event(0)).await.expect("append");
        let report = prune(&store, T0 + 4000 * DAY_MS).await;
        assert!(report.ranges.is_empty());
        assert_eq!(
            report.stop,
            Some(steward_store::PruneStop {
                seq: 1,
                reason: KeepReason::Unsigned
            })
        );
    }
);

store_test!(
    deletes_outside_a_manifest_and_manifest_edits_are_refused,
    |store: Store| async move {
        seed(&store).await;
        let refused = execute(&store, "DELETE FROM audit_events WHERE seq = 2").await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("append-only")),
            "a delete no manifest covers is refused"
        );
        prune(&store, T0 + 91 * DAY_MS).await;
        let refused = execute(&store, "DELETE FROM audit_events WHERE seq = 6").await;
        assert!(refused.is_err_and(|e| e.to_string().contains("append-only")));
        let refused = execute(&store, "UPDATE audit_manifests SET ts = 0").await;
        assert!(refused.is_err_and(|e| e.to_string().contains("permanent")));
        let refused = execute(&store, "DELETE FROM audit_manifests").await;
        assert!(refused.is_err_and(|e| e.to_string().contains("permanent")));
    }
);

store_test!(
    a_tampered_manifest_row_is_damage_at_its_first_seq,
    |store: Store| async move {
        seed(&store).await;
        prune(&store, T0 + 91 * DAY_MS).await;
        // Past the trigger, as an attacker with database access would: change one byte
        // of the manifest's last hash.
        let flipped = match store.backend() {
            Backend::Sqlite => {
                "CAST(substr(last_hash, 1, 31) || \
                 CASE WHEN substr(last_hash, 32, 1) = X'00' THEN X'01' ELSE X'00' END AS BLOB)"
            }
            Backend::Postgres => "set_byte(last_hash, 0, get_byte(last_hash, 0) # 1)",
        };
        let drop = unguarded(&store, "audit_manifests", "update");
        let sql = format!("{drop} UPDATE audit_manifests SET last_hash = {flipped}");
        execute(&store, &sql).await.expect("tamper");
        let key = public_key(&KEY);
        let error = store
            .verify_audit_trail(Some(&key))
            .await
            .expect_err("damaged");
        assert!(
            matches!(&error, StoreError::AuditDamaged { seq: 1, kind: Damage::ManifestForged, problem } if problem.contains("does not verify")),
            "{error:?}"
        );
        // Without the key the edit still breaks the link to event 6.
        let error = store.verify_audit_chain().await.expect_err("damaged");
        assert!(
            matches!(&error, StoreError::AuditChain(e) if e.seq == 6),
            "{error:?}"
        );
    }
);

store_test!(
    a_gap_without_a_manifest_is_damage,
    |store: Store| async move {
        seed(&store).await;
        let drop = unguarded(&store, "audit_events", "delete");
        let sql = format!("{drop} DELETE FROM audit_events WHERE seq <= 3");
        execute(&store, &sql).await.expect("tamper");
        let error = store.verify_audit_chain().await.expect_err("damaged");
        assert!(
            matches!(&error, StoreError::AuditChain(e) if e.seq == 4),
            "{error:?}"
        );
        // Pruning refuses to build a manifest over a broken trail.
        let refused = store.prune_audit(&admin(), &KEY, T0 + 91 * DAY_MS).await;
        assert!(refused.is_err(), "{refused:?}");
        assert!(store.list_manifests(0, 10).await.expect("list").is_empty());
    }
);

store_test!(
    a_range_hold_stops_pruning_until_released,
    |store: Store| async move {
        seed(&store).await;
        let now = T0 + 91 * DAY_MS;
        let range = HoldScope::Range {
            first_seq: 3,
            last_seq: 4,
        };
        let hold = place_hold(&store, range, "case 2027-14", now)
            .await
            .expect("hold");
        let held = prune(&store, now).await;
        assert_eq!(held.event_count(), 2, "1 and 2 go, 3 is held");
        assert_eq!(
            held.stop,
            Some(steward_store::PruneStop {
                seq: 3,
                reason: KeepReason::Held {
                    hold_id: hold.id.clone()
                }
            })
        );
        assert_eq!(
            holds(&store, HoldFilter::Active).await,
            std::slice::from_ref(&hold)
        );

        let released = store
            .release_legal_hold(&admin(), &hold.id, "case closed", now)
            .await
            .expect("release");
        assert_eq!(
            released.released.as_ref().map(|r| r.reason.as_str()),
            Some("case closed")
        );
        assert!(matches!(
            store
                .release_legal_hold(&admin(), &hold.id, "again", now)
                .await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(holds(&store, HoldFilter::Active).await.is_empty());
        assert_eq!(holds(&store, HoldFilter::All).await.len(), 1);

        let freed = prune(&store, now).await;
        assert_eq!(
            freed.ranges,
            [steward_store::PruneRange {
                first_seq: 3,
                last_seq: 5
            }]
        );
        assert_eq!(
            freed.manifests[0].manifest.prev_hash,
            held.manifests[0].manifest.last_hash
        );
        store
            .verify_audit_trail(Some(&public_key(&KEY)))
            .await
            .expect("two manifests verify");

        let worker = HoldScope::Worker("no-such-worker".to_owned());
        let unknown = place_hold(&store, worker, "typo", now).await;
        assert!(matches!(
            unknown,
            Err(StoreError::NotFound { what: "worker", .. })
        ));
    }
);
