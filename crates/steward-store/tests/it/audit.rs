//! The audit trail in the database: gap-free seq under concurrency, rollback leaves no
//! gap, and verification names the first tampered seq.

use serde_json::json;
use steward_audit::{ChainError, ChainErrorKind};
use steward_policy::Level;
use steward_store::{
    Actor, ActorKind, AuditEntry, Backend, EventQuery, Hash, NewEvent, Store, StoreError, Subject,
    TypeFilter, append_event,
};

use steward_store::testing::{execute_outside, postgres_store_at, sqlite_store_at, truncate_sql};

use crate::support::{execute, fetch_text, sqlite_store, store_test};

/// An actor of `kind` named `id` holding `roles`, with no channel (the JSON API).
pub(crate) fn actor(kind: ActorKind, id: &str, roles: &[&str]) -> Actor {
    Actor {
        kind,
        id: id.to_owned(),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        channel: None,
    }
}

/// The SQL that lifts the `audit_events`-style guard trigger `{table}_no_{op}` (`op`:
/// `update` or `delete`), as an attacker with database access would.
pub(crate) fn unguarded(store: &Store, table: &str, op: &str) -> String {
    match store.backend() {
        Backend::Sqlite => format!("DROP TRIGGER {table}_no_{op};"),
        Backend::Postgres => format!("DROP TRIGGER {table}_no_{op} ON {table};"),
    }
}

/// Event `n` of a test sequence, recorded by `actor_id`.
pub(crate) fn event(actor_id: &str, n: u64) -> NewEvent {
    NewEvent {
        ts_ms: 1_767_225_600_000 + i64::try_from(n).expect("small n"),
        event_type: "test.appended".to_owned(),
        actor: actor(ActorKind::Agent, actor_id, &["master"]),
        subject: Subject {
            task_id: Some(format!("task-{n}")),
            ..Subject::default()
        },
        level: Level::new(2),
        data: json!({ "n": n, "ratio": 0.1 + n as f64 / 3.0, "nested": { "b": [1, "x"], "a": null } }),
    }
}

/// Appends `count` events in one transaction (one commit, so one fsync).
pub(crate) async fn append_many(store: &Store, count: u64) {
    let mut tx = store.begin().await.expect("begin");
    for n in 0..count {
        append_event(&mut tx, event("bulk", n))
            .await
            .expect("append");
    }
    tx.commit().await.expect("commit");
}

/// Appends `event` in a transaction of its own, as a use case does, and commits.
async fn append_committed(store: &Store, event: NewEvent) -> AuditEntry {
    let mut tx = store.begin().await.expect("begin");
    let appended = append_event(&mut tx, event).await.expect("append");
    tx.commit().await.expect("commit");
    appended
}

fn no_update_sql(store: &Store, seq: u64) -> String {
    let drop = unguarded(store, "audit_events", "update");
    format!("{drop} UPDATE audit_events SET data = '{{\"n\":999}}' WHERE seq = {seq};")
}

fn delete_sql(store: &Store, seq: u64) -> String {
    let drop = unguarded(store, "audit_events", "delete");
    format!("{drop} DELETE FROM audit_events WHERE seq = {seq};")
}

/// The `seq`s of the entries `query_events` returns.
async fn seqs(store: &Store, query: EventQuery, from_seq: u64, limit: u32) -> Vec<u64> {
    let entries = store.query_events(&query, from_seq, limit).await;
    entries.expect("query").iter().map(|e| e.seq).collect()
}

store_test!(empty_trail_verifies, |store: Store| async move {
    let head = store.verify_audit_chain().await.unwrap();
    assert_eq!(head.seq, 0);
    assert_eq!(head.hash, Hash::ZERO);
});

store_test!(
    appended_entries_read_back_identical,
    |store: Store| async move {
        let first = store.record_event(event("a", 1)).await.unwrap();
        let second = store.record_event(event("a", 2)).await.unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(first.prev_hash, Hash::ZERO);
        assert_eq!(second.prev_hash, first.hash);
        assert_eq!(first.computed_hash(), first.hash);

        let stored = store.events(1, 10).await.unwrap();
        assert_eq!(stored, [first.clone(), second.clone()]);
        assert_eq!(
            store.events(2, 10).await.unwrap(),
            std::slice::from_ref(&second)
        );
        assert_eq!(store.events(1, 1).await.unwrap(), [first]);
        assert_eq!(store.events(3, 10).await.unwrap(), []);

        let head = store.verify_audit_chain().await.unwrap();
        assert_eq!((head.seq, head.hash), (2, second.hash));
    }
);

store_test!(
    rolled_back_append_leaves_no_gap,
    |store: Store| async move {
        let mut tx = store.begin().await.unwrap();
        let ghost = append_event(&mut tx, event("ghost", 0)).await.unwrap();
        assert_eq!(ghost.seq, 1);
        tx.rollback().await.unwrap();

        // Dropping a transaction without commit rolls back too.
        {
            let mut tx = store.begin().await.unwrap();
            append_event(&mut tx, event("ghost", 1)).await.unwrap();
        }

        let real = store.record_event(event("real", 2)).await.unwrap();
        assert_eq!(real.seq, 1);
        assert_eq!(real.prev_hash, Hash::ZERO);
        assert_eq!(store.verify_audit_chain().await.unwrap().seq, 1);
    }
);

store_test!(
    concurrent_appends_are_gap_free_and_chained,
    |store: Store| async move {
        const TASKS: u64 = 8;
        const EACH: u64 = 50;
        let mut handles = Vec::new();
        for task in 0..TASKS {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                for n in 0..EACH {
                    store
                        .record_event(event(&format!("task-{task}"), n))
                        .await
                        .unwrap();
                }
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }

        let entries = store.events(1, 1000).await.unwrap();
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=TASKS * EACH).collect::<Vec<_>>());
        for task in 0..TASKS {
            let id = format!("task-{task}");
            assert_eq!(
                entries.iter().filter(|e| e.actor.id == id).count() as u64,
                EACH
            );
        }
        let head = store.verify_audit_chain().await.unwrap();
        assert_eq!(head.seq, TASKS * EACH);
        assert_eq!(head.hash, entries[entries.len() - 1].hash);
    }
);

store_test!(audit_events_are_append_only, |store: Store| async move {
    store.record_event(event("a", 1)).await.unwrap();
    for sql in [
        "UPDATE audit_events SET data = '{}' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 1",
    ] {
        let refused = execute(&store, sql).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("append-only")),
            "{sql}: {refused:?}"
        );
    }
    store.verify_audit_chain().await.unwrap();
});

store_test!(verify_names_the_tampered_seq, |store: Store| async move {
    for n in 1..=5 {
        store.record_event(event("a", n)).await.unwrap();
    }
    execute(&store, &no_update_sql(&store, 3)).await.unwrap();

    let error = store.verify_audit_chain().await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::AuditChain(ChainError {
                index: 2,
                seq: 3,
                kind: ChainErrorKind::HashMismatch
            })
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "audit chain broken at seq 3: hash mismatch (entry altered)"
    );
});

store_test!(
    verify_detects_deletion_in_the_middle_and_at_the_end,
    |store: Store| async move {
        for n in 1..=5 {
            store.record_event(event("a", n)).await.unwrap();
        }
        execute(&store, &delete_sql(&store, 5)).await.unwrap();
        let error = store.verify_audit_chain().await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::AuditHeadMismatch {
                    head_seq: 5,
                    last_seq: 4
                }
            ),
            "{error:?}"
        );

        execute(&store, "DELETE FROM audit_events WHERE seq = 2")
            .await
            .unwrap();
        let error = store.verify_audit_chain().await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::AuditChain(ChainError {
                    seq: 3,
                    kind: ChainErrorKind::SeqGap,
                    ..
                })
            ),
            "{error:?}"
        );
    }
);

store_test!(verify_spans_pages, |store: Store| async move {
    // More than one page (1000 rows) so the link across the page boundary is checked.
    append_many(&store, 2_050).await;
    assert_eq!(store.verify_audit_chain().await.unwrap().seq, 2_050);

    execute(&store, &no_update_sql(&store, 1_001))
        .await
        .unwrap();
    let error = store.verify_audit_chain().await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::AuditChain(ChainError {
                index: 1_000,
                seq: 1_001,
                kind: ChainErrorKind::HashMismatch
            })
        ),
        "{error:?}"
    );
});

fn typed(event_type: &str, worker: Option<&str>, level: u8, ts_ms: i64) -> NewEvent {
    NewEvent {
        ts_ms,
        event_type: event_type.to_owned(),
        actor: actor(ActorKind::Human, &format!("actor-{level}"), &["admin"]),
        subject: Subject {
            task_id: Some(format!("task-{ts_ms}")),
            worker_id: worker.map(str::to_owned),
            permit_id: (level == 3).then(|| "permit-3".to_owned()),
        },
        level: Level::new(level),
        data: json!({}),
    }
}

store_test!(
    query_events_applies_every_filter,
    |store: Store| async move {
        for (event_type, worker, level, ts) in [
            ("permit.approved", Some("w-1"), 3, 1_000),
            ("permit.requested", Some("w-2"), 2, 2_000),
            ("permits.other", Some("w-1"), 1, 3_000),
            ("worker.registered", Some("w-1"), 0, 4_000),
            ("permit.approved", None, 4, 5_000),
        ] {
            store
                .record_event(typed(event_type, worker, level, ts))
                .await
                .expect("record");
        }
        assert_eq!(
            seqs(&store, EventQuery::default(), 1, 100).await,
            [1, 2, 3, 4, 5]
        );
        let prefix = EventQuery {
            event_type: Some(TypeFilter::Prefix("permit.".to_owned())),
            ..EventQuery::default()
        };
        assert_eq!(
            seqs(&store, prefix.clone(), 1, 100).await,
            [1, 2, 5],
            "not `permits.`"
        );
        assert_eq!(seqs(&store, prefix, 2, 1).await, [2], "keyset pages");
        let exact = EventQuery {
            event_type: Some(TypeFilter::Exact("permit.approved".to_owned())),
            worker_id: Some("w-1".to_owned()),
            ..EventQuery::default()
        };
        assert_eq!(seqs(&store, exact, 1, 100).await, [1]);
        let by_permit = EventQuery {
            permit_id: Some("permit-3".to_owned()),
            task_id: Some("task-1000".to_owned()),
            actor_id: Some("actor-3".to_owned()),
            ..EventQuery::default()
        };
        assert_eq!(seqs(&store, by_permit, 1, 100).await, [1]);
        let by_level = EventQuery {
            level: Level::new(4),
            ..EventQuery::default()
        };
        assert_eq!(seqs(&store, by_level, 1, 100).await, [5]);
        let window = EventQuery {
            from_ts_ms: Some(2_000),
            to_ts_ms: Some(4_000),
            ..EventQuery::default()
        };
        assert_eq!(
            seqs(&store, window, 1, 100).await,
            [2, 3],
            "from inclusive, to exclusive"
        );
    }
);

/// The index entries of `worker`, as `seq`s in order (the folded part only).
async fn indexed(store: &Store, worker: &str) -> Vec<String> {
    let sql = format!(
        "SELECT CAST(seq AS TEXT) FROM audit_worker_events WHERE worker_id = '{worker}' \
         ORDER BY seq"
    );
    let rows = fetch_text(store, &sql).await.expect("index entries");
    rows.into_iter().flatten().flatten().collect()
}

store_test!(
    a_query_by_worker_sees_every_event_up_to_the_head_folded_or_not,
    |store: Store| async move {
        let record = |worker: Option<&'static str>, ts: i64| {
            let store = store.clone();
            async move {
                let event = typed("permit.requested", worker, 2, ts);
                store.record_event(event).await.expect("record").seq
            }
        };
        for (worker, ts) in [
            (Some("w-1"), 1),
            (Some("w-2"), 2),
            (None, 3),
            (Some("w-1"), 4),
        ] {
            record(worker, ts).await;
        }
        assert_eq!(store.fold_metrics().await.expect("fold"), 4);
        assert_eq!(indexed(&store, "w-1").await, ["1", "4"]);
        // Appends do not maintain the index: these wait for the next fold.
        for (worker, ts) in [(Some("w-1"), 5), (Some("w-2"), 6), (Some("w-1"), 7)] {
            record(worker, ts).await;
        }
        assert_eq!(indexed(&store, "w-1").await, ["1", "4"], "not folded yet");

        let by_worker = |worker: &str, event_type: Option<&str>| EventQuery {
            worker_id: Some(worker.to_owned()),
            event_type: event_type.map(|t| TypeFilter::Exact(t.to_owned())),
            ..EventQuery::default()
        };
        assert_eq!(
            seqs(&store, by_worker("w-1", None), 1, 100).await,
            [1, 4, 5, 7]
        );
        assert_eq!(
            indexed(&store, "w-1").await,
            ["1", "4", "5", "7"],
            "folded by the query"
        );
        assert_eq!(store.fold_metrics().await.expect("fold"), 0, "nothing left");
        // Pages across what an earlier fold and the query's fold indexed, and filters.
        assert_eq!(seqs(&store, by_worker("w-1", None), 2, 2).await, [4, 5]);
        assert_eq!(seqs(&store, by_worker("w-1", None), 6, 2).await, [7]);
        assert_eq!(seqs(&store, by_worker("w-2", None), 1, 100).await, [2, 6]);
        let requested = by_worker("w-2", Some("permit.requested"));
        assert_eq!(seqs(&store, requested, 3, 100).await, [6]);
        let other_type = by_worker("w-2", Some("permit.approved"));
        assert!(seqs(&store, other_type, 1, 100).await.is_empty());
        assert!(
            seqs(&store, by_worker("w-3", None), 1, 100)
                .await
                .is_empty()
        );
        // An event appended after the query's fold is found by the next query.
        let late = record(Some("w-2"), 8).await;
        assert_eq!(
            seqs(&store, by_worker("w-2", None), 1, 100).await,
            [2, 6, late]
        );
    }
);

store_test!(
    an_actors_channel_is_recorded_in_the_events_data_and_hashed,
    |store: Store| async move {
        let mut through_web = event("approver", 1);
        through_web.actor.channel = Some(steward_store::Channel::Web);
        let appended = append_committed(&store, through_web).await;
        // The group-committed path records it too.
        let mut through_mcp = event("agent", 2);
        through_mcp.actor.channel = Some(steward_store::Channel::Mcp);
        let recorded = store.record_event(through_mcp).await.expect("record");
        // An event without a channel (the JSON API) keeps its data as given.
        let plain = store.record_event(event("api", 3)).await.expect("record");

        let stored = store.events(1, 10).await.expect("events");
        assert_eq!(stored, vec![appended, recorded, plain]);
        assert_eq!(stored[0].data["channel"], "web");
        assert_eq!(stored[1].data["channel"], "mcp");
        assert!(stored[2].data.get("channel").is_none());
        assert!(stored.iter().all(|entry| entry.actor.channel.is_none()));
        // The channel is covered by the hash: the chain verifies as stored.
        assert_eq!(store.verify_audit_chain().await.expect("verify").seq, 3);
    }
);

store_test!(
    a_transactions_events_are_chained_at_once_and_written_at_its_commit,
    |store: Store| async move {
        let first = store.record_event(event("before", 0)).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let mut appended = Vec::new();
        for n in 1..=3 {
            appended.push(append_event(&mut tx, event("tx", n)).await.unwrap());
        }
        let seqs: Vec<u64> = appended.iter().map(|entry| entry.seq).collect();
        assert_eq!(seqs, [2, 3, 4]);
        assert_eq!(appended[0].prev_hash, first.hash);
        assert_eq!(appended[2].prev_hash, appended[1].hash);
        assert!(appended.iter().all(|e| e.computed_hash() == e.hash));
        // Nothing is visible before the commit.
        assert_eq!(store.audit_head().await.unwrap().seq, 1);
        assert_eq!(store.events(2, 10).await.unwrap(), []);
        tx.commit().await.unwrap();
        assert_eq!(store.events(2, 10).await.unwrap(), appended);
        let head = store.verify_audit_chain().await.unwrap();
        assert_eq!((head.seq, head.hash), (4, appended[2].hash));
    }
);

store_test!(
    a_failed_transaction_moves_nothing_and_the_next_append_continues,
    |store: Store| async move {
        let first = store.record_event(event("before", 0)).await.unwrap();
        // Rolled back, explicitly and by drop.
        let mut tx = store.begin().await.unwrap();
        append_event(&mut tx, event("ghost", 1)).await.unwrap();
        append_event(&mut tx, event("ghost", 2)).await.unwrap();
        tx.rollback().await.unwrap();
        {
            let mut tx = store.begin().await.unwrap();
            append_event(&mut tx, event("ghost", 3)).await.unwrap();
        }
        // A commit whose audit rows the database refuses (an empty type breaks a CHECK)
        // fails whole.
        let mut tx = store.begin().await.unwrap();
        let good = append_event(&mut tx, event("refused", 4)).await.unwrap();
        let mut bad = event("refused", 5);
        bad.event_type = String::new();
        append_event(&mut tx, bad).await.unwrap();
        assert_eq!(good.seq, 2);
        assert!(tx.commit().await.is_err());
        assert_eq!(store.events(2, 10).await.unwrap(), []);

        // The next use case continues right after the last committed event.
        let next = append_committed(&store, event("real", 6)).await;
        assert_eq!((next.seq, next.prev_hash), (2, first.hash));
        let grouped = store.record_event(event("grouped", 7)).await.unwrap();
        assert_eq!((grouped.seq, grouped.prev_hash), (3, next.hash));
        assert_eq!(store.verify_audit_chain().await.unwrap().seq, 3);
    }
);

/// SQLite keeps the audit head in memory; a head moved by another process (here a
/// truncation) is never chained to: the one transaction that meets it fails, and the
/// head is read again. A read of the head that finds it moved has the same effect
/// without the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_moved_outside_the_process_fails_one_transaction_and_never_the_chain() {
    let db = sqlite_store().await;
    let store = db.store().clone();
    let first = store.record_event(event("a", 1)).await.unwrap();
    for n in 2..=3 {
        store.record_event(event("a", n)).await.unwrap();
    }
    // The truncation rewinds the Merkle tree too, so it must have been extended.
    store.extend_merkle(None).await.unwrap();
    let truncate = truncate_sql(Backend::Sqlite, 1);
    execute_outside(db.url(), &truncate).await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let stale = append_event(&mut tx, event("b", 4)).await.unwrap();
    assert_eq!(stale.seq, 4, "chained to the head this process committed");
    assert!(tx.commit().await.is_err());
    let next = append_committed(&store, event("b", 5)).await;
    assert_eq!((next.seq, next.prev_hash), (2, first.hash));
    assert_eq!(store.verify_audit_chain().await.unwrap().seq, 2);

    // Moved again; this time a read of the head notices first.
    store.extend_merkle(None).await.unwrap();
    execute_outside(db.url(), &truncate).await.unwrap();
    assert_eq!(store.audit_head().await.unwrap().seq, 1);
    let again = store.record_event(event("c", 6)).await.unwrap();
    assert_eq!((again.seq, again.prev_hash), (2, first.hash));
    assert_eq!(store.verify_audit_chain().await.unwrap().seq, 2);
}

/// Two stores of one process on one SQLite file (a second instance) share the writer
/// queue and the in-memory head: their appends interleave gap-free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_sqlite_file_share_the_head() {
    let db = sqlite_store().await;
    let a = db.store().clone();
    let b = Store::connect(db.url()).await.unwrap();
    let mut tasks = Vec::new();
    for (i, store) in [a.clone(), b.clone(), a.clone(), b].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..25 {
                if n % 2 == 0 {
                    store
                        .record_event(event(&format!("s{i}"), n))
                        .await
                        .unwrap();
                } else {
                    let mut tx = store.begin().await.unwrap();
                    for _ in 0..2 {
                        append_event(&mut tx, event(&format!("s{i}"), n))
                            .await
                            .unwrap();
                    }
                    tx.commit().await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(a.verify_audit_chain().await.unwrap().seq, 4 * (13 + 2 * 12));
}

/// Migration 0026 for a trail made before it: the events the fold cursor had passed are
/// indexed by worker at the upgrade, the rest by the next fold, so a query by worker
/// finds every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trail_from_before_the_folded_worker_index_is_queried_whole_after_the_upgrade() {
    let old = [Some(sqlite_store_at(25).await), postgres_store_at(25).await];
    for db in old.into_iter().flatten() {
        let events = [
            (Some("w-1"), 1),
            (Some("w-2"), 2),
            (None, 3),
            (Some("w-1"), 4),
        ];
        for (worker, ts) in events {
            let event = typed("permit.requested", worker, 2, ts);
            db.store().record_event(event).await.expect("record");
        }
        // An older Steward had folded the first two events into its counters.
        execute(db.store(), "UPDATE metric_fold SET seq = 2 WHERE id = 1")
            .await
            .expect("cursor");
        let store = Store::connect(db.url()).await.expect("upgrade");
        assert_eq!(
            indexed(&store, "w-1").await,
            ["1"],
            "what the cursor passed"
        );
        let by_worker = EventQuery {
            worker_id: Some("w-1".to_owned()),
            ..EventQuery::default()
        };
        assert_eq!(seqs(&store, by_worker, 1, 100).await, [1, 4]);
        store.close().await;
    }
}
