//! `GET /v1/audit/export` verified offline with only the public key (a whole export, a
//! resumed one on its own and appended, a damaged one naming its seq), and the filters
//! of `GET /v1/audit/events`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_audit::{ChainErrorKind, VerifyErrorKind, public_key, verify_export};
use steward_policy::Role;

use steward_store::{NewEvent, append_event};

use crate::support::{TEST_AUDIT_KEY, TestServer, seeder, server_test};

async fn create_principals(s: &TestServer, prefix: &str, count: usize) {
    for n in 0..count {
        let (status, body) = s
            .post(
                "/v1/principals",
                &s.admin,
                json!({"kind": "agent", "name": format!("{prefix}-{n}"), "roles": []}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

async fn checkpoint(s: &TestServer) -> u64 {
    let (status, body) = s.post("/v1/audit/checkpoints", &s.admin, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["tree_size"].as_u64().expect("tree_size")
}

/// The export's lines, split on newlines (the body ends with one).
async fn export(s: &TestServer, query: &str) -> Vec<Vec<u8>> {
    let (status, ctype, body) = s
        .get_raw(&format!("/v1/audit/export{query}"), &s.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ctype.as_deref(), Some("application/x-ndjson"));
    let text = body.strip_suffix(b"\n").expect("ends with a newline");
    text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

server_test!(an_export_verifies_offline_and_damage_names_its_seq, |s| {
    create_principals(s, "a", 5).await;
    let first = checkpoint(s).await;
    create_principals(s, "b", 4).await;
    let second = checkpoint(s).await;
    create_principals(s, "c", 2).await;
    let head = s.audit_len().await;
    let key = public_key(&TEST_AUDIT_KEY);

    let lines = export(s, "").await;
    let report = verify_export(&lines, &key).expect("intact export");
    assert_eq!((report.events, report.checkpoints), (head, 2));
    assert_eq!(report.last_seq, Some(head));
    assert!(report.roots_checked);
    let checkpoint_lines: Vec<u64> = lines
        .iter()
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .filter_map(|v| v["checkpoint"]["checkpoint"]["tree_size"].as_u64())
        .collect();
    assert_eq!(checkpoint_lines, [first, second]);

    // Edit the data of event 3: the export is damaged at seq 3.
    let mut damaged = lines.clone();
    let mut event: Value = serde_json::from_slice(&damaged[3]).expect("event line");
    assert_eq!(event["seq"], 3);
    event["ts_ms"] = json!(event["ts_ms"].as_i64().expect("ts") + 1);
    damaged[3] = event.to_string().into_bytes();
    let error = verify_export(&damaged, &key).expect_err("damaged");
    assert_eq!(error.seq, Some(3));
    assert_eq!(
        error.kind,
        VerifyErrorKind::Chain(ChainErrorKind::HashMismatch)
    );

    // Resumed from the event after the first checkpoint: verifies on its own (without
    // recomputing roots), and appended to the export it continues.
    let from = first + 1;
    let resumed = export(s, &format!("?from_seq={from}")).await;
    let alone = verify_export(&resumed, &key).expect("resumed export alone");
    assert_eq!((alone.first_seq, alone.last_seq), (Some(from), Some(head)));
    assert!(!alone.roots_checked);
    let cut = lines
        .iter()
        .position(|l| serde_json::from_slice::<Value>(l).is_ok_and(|v| v["checkpoint"].is_object()))
        .expect("first checkpoint line");
    let mut joined = lines[..=cut].to_vec();
    joined.extend(resumed);
    let both = verify_export(&joined, &key).expect("export and continuation");
    assert_eq!((both.events, both.checkpoints), (head, 2));

    // Nothing new: an export from the end holds only its header.
    let empty = export(s, &format!("?from_seq={}", head + 1)).await;
    assert_eq!(empty.len(), 1);
    verify_export(&empty, &key).expect("an empty continuation verifies");
});

server_test!(export_refuses_bad_parameters_and_non_auditors, |s| {
    let (status, body) = s.get("/v1/audit/export?from_seq=x", &s.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "from_seq", "{body}");
    let (status, body) = s.get("/v1/audit/export?from_seq=999999", &s.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "from_seq", "{body}");
    let (status, body) = s.get("/v1/audit/export?seq=1", &s.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "seq", "{body}");
    let (_, operator) = s.human("op", &[Role::Master]).await;
    let (status, _) = s.get("/v1/audit/export", &operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
});

server_test!(event_filters_return_only_matching_events, |s| {
    create_principals(s, "f", 3).await;
    checkpoint(s).await;
    let page = |query: &'static str| async move {
        let (status, body) = s.get(&format!("/v1/audit/events?{query}"), &s.admin).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["type"].as_str().expect("type").to_owned())
            .collect::<Vec<_>>()
    };
    let created = page("type=principal.created").await;
    assert!(created.len() >= 3 && created.iter().all(|t| t == "principal.created"));
    let audit = page("type=audit.*").await;
    assert!(!audit.is_empty() && audit.iter().all(|t| t.starts_with("audit.")));
    assert_eq!(page("type=permit.*").await, Vec::<String>::new());
    assert_eq!(page("actor_id=nobody").await, Vec::<String>::new());
    assert_eq!(page("from_ts_ms=0&to_ts_ms=1").await, Vec::<String>::new());
    let (status, body) = s
        .get("/v1/audit/events?type=principal.created&limit=1", &s.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1));
    let next = body["next_from_seq"].as_u64().expect("next_from_seq");
    let (_, body) = s
        .get(
            &format!("/v1/audit/events?type=principal.created&from_seq={next}"),
            &s.admin,
        )
        .await;
    assert!(
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| e["seq"].as_u64() >= Some(next))
    );

    for (query, field) in [
        ("type=Permit", "type"),
        ("type=.*", "type"),
        ("type=permit.*.x", "type"),
        ("level=5", "level"),
        ("level=x", "level"),
        ("worker_id=", "worker_id"),
        ("from_ts_ms=x", "from_ts_ms"),
        ("from_ts_ms=5&to_ts_ms=4", "to_ts_ms"),
        ("type=a&type=b", "type"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = s.get(&format!("/v1/audit/events?{query}"), &s.admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
});

/// Appends `count` events in one transaction, straight into the store.
async fn append_many(s: &TestServer, count: usize) {
    let mut tx = s.store().begin().await.expect("begin");
    for n in 0..count {
        let event = NewEvent {
            data: json!({ "n": n }),
            ..NewEvent::now("test.bulk", seeder().actor())
        };
        append_event(&mut tx, event).await.expect("append");
    }
    tx.commit().await.expect("commit");
}

server_test!(
    an_export_longer_than_a_page_keeps_checkpoints_in_place,
    |s| {
        // The server reads 500 events per page: checkpoints on both sides of page ends.
        append_many(s, 480).await;
        let first = checkpoint(s).await;
        append_many(s, 560).await;
        let second = checkpoint(s).await;
        append_many(s, 10).await;
        let head = s.audit_len().await;
        assert!(head > 1000, "three pages at least");

        let lines = export(s, "").await;
        let report = verify_export(&lines, &public_key(&TEST_AUDIT_KEY)).expect("intact");
        assert_eq!((report.events, report.checkpoints), (head, 2));
        assert!(report.roots_checked);
        for tree_size in [first, second] {
            let after = lines
                .iter()
                .position(|l| {
                    serde_json::from_slice::<Value>(l).is_ok_and(|v| v["seq"] == tree_size)
                })
                .expect("the checkpointed event");
            let next: Value = serde_json::from_slice(&lines[after + 1]).expect("json");
            assert_eq!(next["checkpoint"]["checkpoint"]["tree_size"], tree_size);
        }
        let resumed = export(s, "?from_seq=501").await;
        let alone = verify_export(&resumed, &public_key(&TEST_AUDIT_KEY)).expect("resumed");
        assert_eq!(alone.checkpoints, 1);
    }
);
