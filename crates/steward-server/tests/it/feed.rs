//! The audit feed (`steward_server::feed`): followers get every event from their starting
//! seq, once and in order, whether it was committed before they started, while they
//! waited, while they fell behind the broadcast, or through another instance sharing the
//! PostgreSQL database.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use steward_server::feed::AuditFeed;
use steward_store::{Actor, ActorKind, NewEvent, Store, Subject};

use crate::support::databases;

const WAIT: Duration = Duration::from_secs(10);

fn event(n: u64) -> NewEvent {
    NewEvent {
        ts_ms: 1_800_000_000_000,
        event_type: "test.feed".to_owned(),
        actor: Actor {
            kind: ActorKind::Agent,
            id: "feeder".to_owned(),
            roles: Vec::new(),
            channel: None,
        },
        subject: Subject::default(),
        level: None,
        data: json!({ "n": n }),
    }
}

async fn append(store: &Store, from: u64, count: u64) {
    for n in from..from + count {
        store.record_event(event(n)).await.expect("record event");
    }
}

/// The next `count` seqs the stream yields, or a failure naming how many arrived.
async fn take_seqs(
    stream: &mut (impl futures_util::Stream<Item = std::sync::Arc<steward_store::AuditEntry>> + Unpin),
    count: usize,
) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(count);
    while seqs.len() < count {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Some(entry)) => seqs.push(entry.seq),
            Ok(None) => panic!("the feed ended after {} events", seqs.len()),
            Err(_) => panic!("only {} of {count} events arrived: {seqs:?}", seqs.len()),
        }
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_gets_stored_then_live_events_once_in_order() {
    for db in databases().await {
        let store = db.store().clone();
        append(&store, 0, 5).await;
        let feed = AuditFeed::new(store.clone());
        let mut from_start = Box::pin(feed.follow(1));
        let next = feed.next_seq().await.expect("head");
        let mut only_new = Box::pin(feed.follow(next));
        assert_eq!(take_seqs(&mut from_start, 5).await, vec![1, 2, 3, 4, 5]);

        // Appended while both wait, concurrently with their reading.
        let writer = tokio::spawn({
            let store = store.clone();
            async move { append(&store, 5, 40).await }
        });
        let expected: Vec<u64> = (6..=45).collect();
        assert_eq!(take_seqs(&mut from_start, 40).await, expected);
        assert_eq!(take_seqs(&mut only_new, 40).await, expected);
        writer.await.expect("writer");

        // Nothing more is yielded until something is appended.
        assert!(
            tokio::time::timeout(Duration::from_millis(600), from_start.next())
                .await
                .is_err(),
            "no event was appended, yet the feed yielded one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_falls_behind_the_broadcast_loses_nothing() {
    for db in databases().await {
        let store = db.store().clone();
        // A broadcast of 4 events: a follower that does not read while 60 are appended
        // falls behind it and must read the rest from the database.
        let feed = AuditFeed::with_capacity(store.clone(), 4);
        let mut slow = Box::pin(feed.follow(1));
        append(&store, 0, 1).await;
        assert_eq!(take_seqs(&mut slow, 1).await, vec![1]);
        append(&store, 1, 60).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let expected: Vec<u64> = (2..=61).collect();
        assert_eq!(take_seqs(&mut slow, 60).await, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_through_another_instance_reaches_the_followers() {
    for db in databases().await {
        if !db.url().starts_with("postgres") {
            continue;
        }
        // Two instances: two stores (two pools) over one PostgreSQL database.
        let other = Store::connect(db.url()).await.expect("second instance");
        let feed = AuditFeed::new(db.store().clone());
        let next = feed.next_seq().await.expect("head");
        let mut follower = Box::pin(feed.follow(next));
        append(&other, 0, 3).await;
        assert_eq!(
            take_seqs(&mut follower, 3).await,
            vec![next, next + 1, next + 2]
        );
    }
}
