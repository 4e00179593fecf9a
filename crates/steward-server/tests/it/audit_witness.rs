//! Issue 9, item 6: checkpoints witnessed outside the database. A truncation that also
//! removes the later checkpoints and Merkle nodes verifies clean from inside
//! (`GET /v1/audit/verify`), and is found against a checkpoint kept elsewhere
//! (`POST /v1/audit/verify/checkpoint`), also once new events make the tree larger again;
//! a healthy trail is consistent with every older witness; a forged witness is refused;
//! the checkpoint sink gets one line per checkpoint signed, in `GET …/latest`'s form.

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_audit::{PublishedCheckpoint, SignedCheckpoint, verify_checkpoint, verify_consistency};
use steward_policy::Role;
use steward_server::{AppState, AuditKey, CheckpointSink};
use steward_store::testing::truncate_audit_trail;

use crate::support::{TEST_AUDIT_KEY, TestServer, databases, server_test};

/// `count` events: principals created through the API.
async fn history(s: &TestServer, prefix: &str, count: usize) {
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

/// Signs a checkpoint through the API and returns it as `GET …/latest` then returns it:
/// the body an operator keeps.
async fn witness(s: &TestServer) -> Value {
    let (status, made) = s.post("/v1/audit/checkpoints", &s.admin, json!(null)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, latest) = s.get("/v1/audit/checkpoints/latest", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(made, latest);
    latest
}

async fn check_against(s: &TestServer, witnessed: &Value) -> Value {
    let (status, result) = s
        .post("/v1/audit/verify/checkpoint", &s.admin, witnessed.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    result
}

fn size(view: &Value) -> u64 {
    view["tree_size"].as_u64().expect("tree_size")
}

async fn stored_chain_ok(s: &TestServer) -> Value {
    let (status, result) = s.get("/v1/audit/verify", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    result
}

server_test!(
    issue_9_a_healthy_trail_is_consistent_with_older_witnesses,
    |s| {
        history(s, "a", 4).await;
        let first = witness(s).await;
        history(s, "b", 5).await;
        s.clock.advance_minutes(1);
        let second = witness(s).await;
        history(s, "c", 3).await;

        for witnessed in [&first, &second] {
            let result = check_against(s, witnessed).await;
            assert_eq!(result["ok"], true, "{result}");
            assert_eq!(result["witnessed"]["tree_size"], witnessed["tree_size"]);
            assert_eq!(result["witnessed"]["root_hash"], witnessed["root_hash"]);
            assert_eq!(
                result["current"]["tree_size"].as_u64(),
                Some(s.audit_len().await),
                "the current tree is caught up with the trail"
            );
            assert_eq!(
                (
                    &result["first_bad_seq"],
                    &result["kind"],
                    &result["problem"]
                ),
                (&Value::Null, &Value::Null, &Value::Null)
            );
            // The proof links the witnessed root to the current root, checked here too.
            let proof: Vec<steward_audit::Hash> = result["consistency_proof"]
                .as_array()
                .expect("proof")
                .iter()
                .map(|h| h.as_str().expect("hex").parse().expect("hash"))
                .collect();
            assert!(!proof.is_empty());
            verify_consistency(
                size(witnessed),
                size(&result["current"]),
                &witnessed["root_hash"]
                    .as_str()
                    .expect("root")
                    .parse()
                    .expect("hash"),
                &result["current"]["root_hash"]
                    .as_str()
                    .expect("root")
                    .parse()
                    .expect("hash"),
                &proof,
            )
            .expect("the server's proof verifies");
        }

        // The checkpoint event holds the whole signed checkpoint, in the published form.
        let recorded = s
            .store()
            .events(size(&second) + 1, 1)
            .await
            .expect("events")
            .remove(0);
        assert_eq!(recorded.event_type, "audit.checkpoint_created");
        assert_eq!(recorded.data, second, "{}", recorded.data);
        assert_eq!(stored_chain_ok(s).await["ok"], true);
    }
);

server_test!(
    issue_9_a_truncation_that_removed_checkpoints_is_found_against_a_witness,
    |s| {
        history(s, "a", 3).await;
        let early = witness(s).await;
        history(s, "b", 6).await;
        s.clock.advance_minutes(1);
        let witnessed = witness(s).await;
        history(s, "c", 4).await;
        s.clock.advance_minutes(1);
        let later = witness(s).await;
        history(s, "d", 2).await;

        // The attack: everything after `keep` goes, with its nodes and checkpoints, and the
        // heads are rewound. `keep` lies inside the witnessed tree, past the early checkpoint.
        let keep = size(&early) + 3;
        assert!(keep < size(&witnessed));
        truncate_audit_trail(s.store(), keep)
            .await
            .expect("truncate");

        // From inside the database nothing is wrong.
        let inside = stored_chain_ok(s).await;
        assert_eq!(
            (&inside["ok"], &inside["head_seq"]),
            (&json!(true), &json!(keep)),
            "{inside}"
        );
        let (status, latest) = s.get("/v1/audit/checkpoints/latest", &s.admin).await;
        assert_eq!((status, &latest), (StatusCode::OK, &early));

        // Against the witness kept elsewhere (GET latest's body, then the later one, as the
        // sink's last line would hold it): truncated, from the first missing seq.
        for kept in [&witnessed, &later] {
            let result = check_against(s, kept).await;
            assert_eq!(result["ok"], false, "{result}");
            assert_eq!(result["kind"], "truncated", "{result}");
            assert_eq!(result["first_bad_seq"], keep + 1, "{result}");
            assert_eq!(result["current"]["tree_size"], keep, "{result}");
            assert_eq!(result["consistency_proof"], json!([]));
            assert!(
                result["problem"]
                    .as_str()
                    .expect("problem")
                    .contains(&format!(
                        "events {} to {} were removed",
                        keep + 1,
                        size(kept)
                    )),
                "{result}"
            );
        }
        // The early checkpoint, which the truncation kept, is still consistent.
        assert_eq!(check_against(s, &early).await["ok"], true);

        // New events make the tree larger than the witness again, but it is another history.
        // The instance that signed `later` refuses to sign it (so no witness is handed a
        // checkpoint of the rewritten trail), and nothing is written.
        history(s, "forged", 12).await;
        s.clock.advance_minutes(1);
        let head = s.audit_len().await;
        assert!(head > size(&later));
        let (status, problem) = s.post("/v1/audit/checkpoints", &s.admin, json!(null)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        assert_eq!(problem["rule"], "trail_inconsistent", "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains(&format!("checkpoint of tree size {}", size(&later))),
            "{problem}"
        );
        assert_eq!(s.audit_len().await, head, "no checkpoint event");
        let (_, latest) = s.get("/v1/audit/checkpoints/latest", &s.admin).await;
        assert_eq!(latest, early);
        assert_eq!(stored_chain_ok(s).await["ok"], true);
        // Against the witnesses: inconsistent, from the first seq the early checkpoint (signed
        // before the witness, and still the current tree's prefix) no longer vouches for.
        for kept in [&witnessed, &later] {
            let result = check_against(s, kept).await;
            assert_eq!(result["ok"], false, "{result}");
            assert_eq!(result["kind"], "inconsistent", "{result}");
            assert_eq!(result["first_bad_seq"], size(&early) + 1, "{result}");
            assert!(size(&result["current"]) > size(kept), "{result}");
            assert!(
                result["problem"]
                    .as_str()
                    .expect("problem")
                    .contains("is not a prefix of the current tree"),
                "{result}"
            );
        }
    }
);

server_test!(issue_9_missing_merkle_nodes_are_damage_not_an_error, |s| {
    history(s, "a", 6).await;
    let witnessed = witness(s).await;
    history(s, "b", 3).await;
    steward_store::testing::execute(s.store(), "DELETE FROM audit_merkle_nodes")
        .await
        .expect("delete the nodes");
    let result = check_against(s, &witnessed).await;
    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["kind"], "inconsistent", "{result}");
    assert!(
        result["problem"]
            .as_str()
            .expect("problem")
            .contains("audit merkle node"),
        "{result}"
    );
});

server_test!(issue_9_a_witness_not_signed_by_the_server_is_refused, |s| {
    history(s, "a", 3).await;
    let witnessed = witness(s).await;

    // Another root under the real signature: the signature no longer matches.
    let mut forged = witnessed.clone();
    forged["root_hash"] = json!("00".repeat(32));
    let (status, problem) = s
        .post("/v1/audit/verify/checkpoint", &s.admin, forged)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["rule"], "checkpoint_signature");

    // Signed by another key.
    let other = steward_audit::sign_checkpoint(
        SignedCheckpoint::from(
            serde_json::from_value::<PublishedCheckpoint>(witnessed.clone()).expect("parse"),
        )
        .checkpoint,
        &[7; 32],
    );
    let (status, problem) = s
        .post(
            "/v1/audit/verify/checkpoint",
            &s.admin,
            serde_json::to_value(PublishedCheckpoint::from(&other)).expect("json"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["rule"], "checkpoint_signature");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("signed by key"),
        "{problem}"
    );

    // Malformed bodies name their field; extra fields are refused.
    let mut bad_root = witnessed.clone();
    bad_root["root_hash"] = json!("xyz");
    let (status, problem) = s
        .post("/v1/audit/verify/checkpoint", &s.admin, bad_root)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("root_hash")
    );
    let mut extra = witnessed.clone();
    extra["note"] = json!("x");
    let (status, problem) = s.post("/v1/audit/verify/checkpoint", &s.admin, extra).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");

    // Admins and auditors only.
    let (_, lead) = s.human("lead", &[Role::TechLead]).await;
    let (status, _) = s
        .post("/v1/audit/verify/checkpoint", &lead, witnessed.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, auditor) = s.human("auditor", &[Role::Auditor]).await;
    let (status, result) = s
        .post("/v1/audit/verify/checkpoint", &auditor, witnessed)
        .await;
    assert_eq!(
        (status, &result["ok"]),
        (StatusCode::OK, &json!(true)),
        "{result}"
    );
});

/// `steward serve --checkpoint-sink FILE`: one line per checkpoint this instance signs, in
/// `GET /v1/audit/checkpoints/latest`'s form; an unchanged checkpoint is not repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_9_the_checkpoint_sink_gets_one_line_per_checkpoint_signed() {
    for (n, db) in databases().await.into_iter().enumerate() {
        let path = std::env::temp_dir().join(format!(
            "steward-sink-{}-{n}-{}.jsonl",
            std::process::id(),
            db.store().backend().as_str()
        ));
        let _ = std::fs::remove_file(&path);
        let sink = CheckpointSink::open(&path).expect("open the sink");
        let s = TestServer::start_configured(db, Some(AuditKey::new(TEST_AUDIT_KEY)), |state| {
            state.with_checkpoint_sink(sink)
        })
        .await;
        history(&s, "a", 2).await;
        let first = witness(&s).await;
        // Nothing new: the latest checkpoint is returned (200) and not published again.
        let (status, again) = s.post("/v1/audit/checkpoints", &s.admin, json!(null)).await;
        assert_eq!((status, &again), (StatusCode::OK, &first));
        history(&s, "b", 2).await;
        let second = witness(&s).await;

        let text = std::fs::read_to_string(&path).expect("sink file");
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        assert_eq!(lines, [first, second.clone()], "{text}");
        assert!(text.ends_with('\n'));
        let public = steward_audit::public_key(&TEST_AUDIT_KEY);
        for line in &lines {
            let published: PublishedCheckpoint =
                serde_json::from_value(line.clone()).expect("published form");
            verify_checkpoint(&SignedCheckpoint::from(published), &public)
                .expect("each line verifies");
        }
        // The sink's last line is a witness the API accepts.
        assert_eq!(check_against(&s, &second).await["ok"], true);
        s.stop().await;
        let _ = std::fs::remove_file(&path);
    }
}

/// A sink that can no longer be written does not stop signing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_9_a_failing_sink_never_stops_a_checkpoint() {
    let db = databases().await.remove(0);
    // `/dev/full` opens for appending and fails every write.
    let sink = CheckpointSink::open(std::path::Path::new("/dev/full")).expect("open");
    let s = TestServer::start_configured(
        db,
        Some(AuditKey::new(TEST_AUDIT_KEY)),
        |state: AppState| state.with_checkpoint_sink(sink),
    )
    .await;
    history(&s, "a", 2).await;
    let (status, made) = s.post("/v1/audit/checkpoints", &s.admin, json!(null)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(size(&made), s.audit_len().await - 1);
    s.stop().await;
}
