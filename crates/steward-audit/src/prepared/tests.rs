//! `PreparedBody` seals exactly as `EntryBody::hash_after` does, for any body.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::canonical::canonical_json;
use crate::entry::{ActorKind, EntryBody};

fn check(body: EntryBody<'_>, prev: Hash) {
    let prepared = PreparedBody::new(
        body.ts_ms,
        body.event_type,
        body.actor,
        body.subject,
        body.level,
        &canonical_json(body.data),
    );
    assert_eq!(prepared.hash_at(body.seq, &prev), body.hash_after(&prev));
}

#[test]
fn prepared_hash_equals_entry_hash() {
    let actor = Actor {
        kind: ActorKind::Agent,
        id: "agent-1".to_owned(),
        roles: vec!["master".to_owned(), "worker".to_owned()],
        channel: None,
    };
    let subject = Subject {
        task_id: Some("t".to_owned()),
        worker_id: None,
        permit_id: Some(String::new()),
    };
    let prev = Hash::from_bytes([7; 32]);
    let data = json!({"z": 1, "a": [true, null, 0.5], "é": "\u{1}"});
    let body = EntryBody {
        seq: 1,
        ts_ms: 0,
        event_type: "permit.approved",
        actor: &actor,
        subject: &subject,
        level: Some(3),
        data: &data,
    };
    check(body, Hash::ZERO);
    let (empty_subject, empty_data) = (Subject::default(), json!({}));
    let body = EntryBody {
        seq: u64::MAX,
        ts_ms: -5,
        event_type: "x",
        actor: &actor,
        subject: &empty_subject,
        level: None,
        data: &empty_data,
    };
    check(body, prev);
    // A different seq or prev gives a different hash.
    let prepared = PreparedBody::new(0, "x", &actor, &subject, None, "{}");
    assert_ne!(prepared.hash_at(1, &prev), prepared.hash_at(2, &prev));
    assert_ne!(prepared.hash_at(1, &prev), prepared.hash_at(1, &Hash::ZERO));
}

proptest! {
    #[test]
    fn prepared_hash_equals_entry_hash_for_any_body(
        seq in any::<u64>(),
        ts_ms in any::<i64>(),
        event_type in ".{0,12}",
        id in ".{0,8}",
        roles in proptest::collection::vec(".{0,6}", 0..3),
        task_id in proptest::option::of(".{0,6}"),
        level in proptest::option::of(0u8..5),
        text in ".{0,16}",
        number in any::<i64>(),
        prev in any::<[u8; 32]>(),
    ) {
        let actor = Actor { kind: ActorKind::Human, id, roles, channel: None };
        let subject = Subject { task_id, worker_id: None, permit_id: None };
        let data = json!({ "text": text, "n": number });
        let body = EntryBody { seq, ts_ms, event_type: &event_type, actor: &actor, subject: &subject, level, data: &data };
        check(body, Hash::from_bytes(prev));
    }
}
