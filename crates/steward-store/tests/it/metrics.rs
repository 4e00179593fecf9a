//! `/metrics` counters folded incrementally from the trail: each event counts once,
//! whoever folds and however often, and counts never go down.

use serde_json::json;
use steward_policy::Level;
use steward_store::{ActorKind, Count, NewEvent, Store, Subject};

use crate::audit::actor;
use crate::support::store_test;

fn denial(rule: &str, n: i64) -> NewEvent {
    NewEvent {
        ts_ms: 1_767_225_600_000 + n,
        event_type: "authorize.denied".to_owned(),
        actor: actor(ActorKind::Agent, "wk", &["worker"]),
        subject: Subject::default(),
        level: Level::new(2),
        data: json!({ "rule": rule, "worker_type": "union" }),
    }
}

/// The hard-block count of `rule` at level 2.
async fn blocked(store: &Store, rule: &str) -> i64 {
    let snapshot = store.metrics_snapshot().await.expect("snapshot");
    snapshot
        .hard_blocks
        .iter()
        .filter(|c: &&Count| c.label == rule && c.level == Some(2))
        .map(|c| c.count)
        .sum()
}

store_test!(
    metrics_count_each_event_once_however_often_they_are_folded,
    |store: Store| async move {
        for n in 0..25 {
            store
                .record_event(denial("scope_violation", n))
                .await
                .unwrap();
        }
        // Two folds at once (two instances on one database do this): one reads the
        // events, the other finds them folded.
        let other = store.clone();
        let (a, b) = tokio::join!(store.fold_metrics(), other.fold_metrics());
        let read = a.unwrap() + b.unwrap();
        assert!((25..=50).contains(&read), "{read}");
        assert_eq!(blocked(&store, "scope_violation").await, 25);
        assert_eq!(store.fold_metrics().await.unwrap(), 0, "nothing new");
        assert_eq!(blocked(&store, "scope_violation").await, 25);

        for n in 25..32 {
            store
                .record_event(denial("scope_violation", n))
                .await
                .unwrap();
        }
        store
            .record_event(denial("certification", 99))
            .await
            .unwrap();
        assert_eq!(blocked(&store, "scope_violation").await, 32);
        assert_eq!(blocked(&store, "certification").await, 1);
        let decisions = store.metrics_snapshot().await.unwrap().decisions;
        assert_eq!(
            decisions
                .iter()
                .filter(|c| c.event_type == "authorize.denied" && c.label == "union")
                .map(|c| c.count)
                .sum::<i64>(),
            33,
            "{decisions:?}"
        );
    }
);
