//! Direct database edits of the audit trail (SPEC §9): the triggers refuse updates and
//! deletes, also of the recorded signing key, and a row forged past them is found by
//! `GET /v1/audit/verify` at its `seq`. (Forged manifests and checkpoints kept outside
//! the database belong to the audit-sealing change.)

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::testing::execute;
use steward_store::{Actor, ActorKind, Backend};

use super::{Fingerprint, assert_unchanged};
use crate::support::{TEST_AUDIT_KEY, TestServer, server_test};

/// A few events to tamper with: principals and their tokens.
async fn some_history(s: &TestServer) {
    for name in ["ann", "ben", "cat"] {
        s.human(name, &[Role::TechLead]).await;
    }
}

async fn verification(s: &TestServer) -> Value {
    let (status, result) = s.get("/v1/audit/verify", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    result
}

server_test!(attack_tampering_updates_and_deletes_are_refused, |s| {
    some_history(s).await;
    let public = steward_audit::public_key(&TEST_AUDIT_KEY);
    let system = Actor {
        kind: ActorKind::System,
        id: "steward".into(),
        roles: Vec::new(),
        channel: None,
    };
    s.store()
        .claim_signing_key(&system, &public, 0)
        .await
        .expect("record the key");
    let before = Fingerprint::of(s.store()).await;
    for sql in [
        "UPDATE audit_events SET data = '{\"forged\":true}' WHERE seq = 2",
        "UPDATE audit_events SET actor_id = 'someone-else'",
        "DELETE FROM audit_events WHERE seq = 3",
        "DELETE FROM audit_events",
        "UPDATE audit_signing_key SET key_id = '0000000000000000'",
        "DELETE FROM audit_signing_key",
    ] {
        let error = execute(s.store(), sql).await.expect_err(sql);
        let message = error.to_string();
        assert!(
            message.contains("append-only") || message.contains("is permanent"),
            "{sql}: {message}"
        );
        assert_unchanged(&before, &Fingerprint::of(s.store()).await, sql);
    }
    let result = verification(s).await;
    assert_eq!(result["ok"], true, "{result}");
});

// Past the triggers, a row whose actor was replaced is found at its seq.
server_test!(
    attack_tampering_a_rewritten_actor_is_found_at_its_seq,
    |s| {
        some_history(s).await;
        let bypass = match s.store().backend() {
            Backend::Sqlite => "DROP TRIGGER audit_events_no_update;",
            Backend::Postgres => "DROP TRIGGER audit_events_no_update ON audit_events;",
        };
        execute(
            s.store(),
            &format!("{bypass} UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 3;"),
        )
        .await
        .expect("forge");
        let result = verification(s).await;
        assert_eq!(
            (&result["ok"], &result["first_bad_seq"]),
            (&json!(false), &json!(3)),
            "{result}"
        );
    }
);

// A forged event appended after the head, with the head moved onto it, is found at its
// seq: it cannot link to the real chain.
server_test!(
    attack_tampering_an_appended_forgery_is_found_at_its_seq,
    |s| {
        some_history(s).await;
        let head = s.audit_len().await;
        execute(
        s.store(),
        "INSERT INTO audit_events (seq, ts, type, actor_kind, actor_id, actor_roles, task_id, \
         worker_id, permit_id, level, data, prev_hash, hash) \
         SELECT seq + 1, ts, 'principal.created', actor_kind, actor_id, actor_roles, task_id, \
         worker_id, permit_id, level, data, hash, prev_hash FROM audit_events \
         WHERE seq = (SELECT max(seq) FROM audit_events); \
         UPDATE audit_head SET seq = seq + 1, \
         hash = (SELECT prev_hash FROM audit_events WHERE seq = (SELECT max(seq) - 1 FROM audit_events));",
    )
    .await
    .expect("forge");
        let result = verification(s).await;
        assert_eq!(
            (&result["ok"], &result["first_bad_seq"]),
            (&json!(false), &json!(head + 1)),
            "{result}"
        );
    }
);
