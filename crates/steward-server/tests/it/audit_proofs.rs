//! Signed checkpoints and Merkle proofs over HTTP, verified the way a client must: the
//! checkpoint's signature against `/v1/audit/public-key`, inclusion proofs against the
//! signed root with leaf hashes recomputed from the events, consistency proofs between
//! two checkpoints; plus role checks and bad query parameters.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_audit::{
    AuditEntry, Checkpoint, Hash, SignedCheckpoint, leaf_hash, parse_public_key, public_key,
    verify_checkpoint, verify_consistency, verify_inclusion,
};
use steward_policy::Role;
use steward_store::{CHECKPOINT_EVENT, PrincipalKind};

use crate::support::{TEST_AUDIT_KEY, TestServer, databases, server_test};

/// Creates `count` principals (without tokens) through the API: one `principal.created`
/// event each.
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

/// A checkpoint from its JSON view, for `verify_checkpoint`.
fn signed(view: &Value) -> SignedCheckpoint {
    let mut signature = [0; 64];
    hex::decode_to_slice(
        view["signature"].as_str().expect("signature"),
        &mut signature,
    )
    .expect("signature is hex");
    SignedCheckpoint {
        checkpoint: Checkpoint {
            tree_size: view["tree_size"].as_u64().expect("tree_size"),
            root_hash: hash(&view["root_hash"]),
            ts_ms: view["ts_ms"].as_i64().expect("ts_ms"),
        },
        key_id: view["key_id"].as_str().expect("key_id").to_owned(),
        signature,
    }
}

fn hash(value: &Value) -> Hash {
    value.as_str().expect("hex hash").parse().expect("hash")
}

fn hashes(value: &Value) -> Vec<Hash> {
    value.as_array().expect("array").iter().map(hash).collect()
}

/// The event `seq`, read back and checked against its own hash.
async fn event(s: &TestServer, seq: u64) -> AuditEntry {
    let (status, body) = s
        .get(
            &format!("/v1/audit/events?from_seq={seq}&limit=1"),
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entry: AuditEntry = serde_json::from_value(body["items"][0].clone()).expect("entry");
    assert_eq!(entry.seq, seq);
    assert_eq!(entry.computed_hash(), entry.hash);
    entry
}

/// Checks the server's public key and the checkpoint's signature with it.
async fn verify_signed(s: &TestServer, token: &str, view: &Value) -> SignedCheckpoint {
    let (status, key) = s.get("/v1/audit/public-key", token).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let public = parse_public_key(key["key"].as_str().expect("key")).expect("public key");
    assert_eq!(public, public_key(&TEST_AUDIT_KEY));
    assert_eq!(key["key_id"], view["key_id"]);
    let checkpoint = signed(view);
    verify_checkpoint(&checkpoint, &public).expect("signature verifies");
    checkpoint
}

/// Fetches and verifies the inclusion proof of `seq` in the tree of `tree_size` events
/// (`None`: the default, the latest checkpoint) against `root`.
async fn prove(s: &TestServer, seq: u64, tree_size: Option<u64>, expect_size: u64, root: &Hash) {
    let path = match tree_size {
        Some(size) => format!("/v1/audit/proofs/inclusion?seq={seq}&tree_size={size}"),
        None => format!("/v1/audit/proofs/inclusion?seq={seq}"),
    };
    let (status, body) = s.get(&path, &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["seq"], seq);
    assert_eq!(body["leaf_index"], seq - 1);
    assert_eq!(body["tree_size"], expect_size);
    let entry = event(s, seq).await;
    let leaf = leaf_hash(&entry.hash);
    assert_eq!(hash(&body["leaf_hash"]), leaf);
    verify_inclusion(&leaf, seq - 1, expect_size, &hashes(&body["proof"]), root)
        .unwrap_or_else(|e| panic!("seq {seq} in {expect_size}: {e}"));
}

server_test!(checkpoint_and_inclusion_proofs_verify_client_side, |s| {
    create_principals(s, "p", 5).await;
    let size = s.audit_len().await;

    let (status, view) = s
        .request(Method::POST, "/v1/audit/checkpoints", Some(&s.admin), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["tree_size"], size);
    assert_eq!(view["ts_ms"], s.clock.now().millis());
    let (_, worker) = s
        .principal("bot", PrincipalKind::Agent, &[Role::Worker])
        .await;
    // Any authenticated caller may read the public key.
    let checkpoint = verify_signed(s, &worker, &view).await;
    let root = checkpoint.checkpoint.root_hash;

    // The checkpoint's own event comes after the tree it signs.
    let recorded = event(s, size + 1).await;
    assert_eq!(recorded.event_type, CHECKPOINT_EVENT);
    assert_eq!(recorded.data["tree_size"], size);
    assert_eq!(recorded.data["root_hash"], view["root_hash"]);

    for seq in 1..=size {
        prove(s, seq, None, size, &root).await;
    }
    // A proof checked against the wrong event's leaf fails.
    let (_, body) = s.get("/v1/audit/proofs/inclusion?seq=2", &s.admin).await;
    let other = leaf_hash(&event(s, 3).await.hash);
    assert!(verify_inclusion(&other, 1, size, &hashes(&body["proof"]), &root).is_err());

    // The principal "bot" and its token were recorded since: a second POST signs a new
    // tree; a third, with only checkpoint events since, returns the same one with 200.
    let (status, second) = s
        .request(Method::POST, "/v1/audit/checkpoints", Some(&s.admin), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let (status, third) = s
        .request(Method::POST, "/v1/audit/checkpoints", Some(&s.admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(third, second);
});

server_test!(consistency_between_two_checkpoints_verifies, |s| {
    create_principals(s, "old", 3).await;
    let (status, old) = s
        .request(Method::POST, "/v1/audit/checkpoints", Some(&s.admin), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{old}");
    create_principals(s, "new", 4).await;
    let (status, new) = s
        .request(Method::POST, "/v1/audit/checkpoints", Some(&s.admin), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{new}");
    let old_signed = verify_signed(s, &s.admin, &old).await.checkpoint;
    let new_signed = verify_signed(s, &s.admin, &new).await.checkpoint;

    let (status, latest) = s.get("/v1/audit/checkpoints/latest", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(latest, new);
    let (status, page) = s.get("/v1/audit/checkpoints", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"], json!([old.clone(), new.clone()]));
    assert_eq!(page["next_after"], new["tree_size"]);
    let (_, page) = s
        .get(
            &format!("/v1/audit/checkpoints?after={}&limit=5", old["tree_size"]),
            &s.admin,
        )
        .await;
    assert_eq!(page["items"], json!([new.clone()]));
    let (status, shown) = s
        .get(
            &format!("/v1/audit/checkpoints/{}", old["tree_size"]),
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown, old);

    let (old_size, new_size) = (old_signed.tree_size, new_signed.tree_size);
    let (status, body) = s
        .get(
            &format!("/v1/audit/proofs/consistency?old_size={old_size}&new_size={new_size}"),
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["old_size"].as_u64(), body["new_size"].as_u64()),
        (Some(old_size), Some(new_size))
    );
    let proof = hashes(&body["proof"]);
    verify_consistency(
        old_size,
        new_size,
        &old_signed.root_hash,
        &new_signed.root_hash,
        &proof,
    )
    .expect("consistent");
    assert!(
        verify_consistency(
            old_size,
            new_size,
            &new_signed.root_hash,
            &new_signed.root_hash,
            &proof
        )
        .is_err()
    );

    // Events of the old tree prove against the old root too, and the default tree is
    // the latest checkpoint's.
    prove(s, 2, Some(old_size), old_size, &old_signed.root_hash).await;
    prove(s, 2, None, new_size, &new_signed.root_hash).await;
});

server_test!(audit_proof_routes_check_roles, |s| {
    let (_, worker) = s
        .principal("bot", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let (_, master) = s
        .principal("orchestrator", PrincipalKind::Agent, &[Role::Master])
        .await;
    let (_, auditor) = s.human("audrey", &[Role::Auditor]).await;

    for token in [&worker, &master] {
        let (status, body) = s
            .request(Method::POST, "/v1/audit/checkpoints", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("admin, auditor"),
            "{body}"
        );
        for path in [
            "/v1/audit/checkpoints",
            "/v1/audit/checkpoints/latest",
            "/v1/audit/checkpoints/1",
            "/v1/audit/proofs/inclusion?seq=1&tree_size=1",
            "/v1/audit/proofs/consistency?old_size=1&new_size=2",
        ] {
            let (status, body) = s.get(path, token).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        }
        let (status, body) = s.get("/v1/audit/public-key", token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(
        s.store().latest_checkpoint().await.unwrap(),
        None,
        "nothing signed"
    );
    let (status, body) = s
        .request(Method::GET, "/v1/audit/public-key", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // An auditor may sign a checkpoint and read proofs.
    let (status, view) = s
        .request(Method::POST, "/v1/audit/checkpoints", Some(&auditor), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let (status, body) = s.get("/v1/audit/proofs/inclusion?seq=1", &auditor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let recorded = s
        .store()
        .events(view["tree_size"].as_u64().unwrap() + 1, 1)
        .await
        .unwrap();
    assert_eq!(recorded[0].actor.roles, ["auditor"]);
});

server_test!(bad_proof_queries_are_400_naming_the_parameter, |s| {
    // No checkpoint yet: the default tree size does not exist.
    let (status, body) = s.get("/v1/audit/proofs/inclusion?seq=1", &s.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no audit checkpoint"),
        "{body}"
    );
    let (status, body) = s.get("/v1/audit/checkpoints/latest", &s.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    create_principals(s, "p", 2).await;
    let head = s.audit_len().await;
    // A size the maintenance loop has not reached yet is caught up on demand.
    let (status, body) = s
        .get(
            &format!("/v1/audit/proofs/inclusion?seq=1&tree_size={head}"),
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let cases = [
        ("/v1/audit/proofs/inclusion", "seq", "`seq` is required"),
        (
            "/v1/audit/proofs/inclusion?tree_size=2",
            "seq",
            "`seq` is required",
        ),
        (
            "/v1/audit/proofs/inclusion?seq=abc&tree_size=2",
            "seq",
            "`seq` must be a non-negative integer, got `abc`",
        ),
        (
            "/v1/audit/proofs/inclusion?seq=-1&tree_size=2",
            "seq",
            "`seq` must be a non-negative integer",
        ),
        (
            "/v1/audit/proofs/inclusion?seq=0&tree_size=2",
            "seq",
            "`seq` must be 1 to the tree size 2, got 0",
        ),
        (
            "/v1/audit/proofs/inclusion?seq=3&tree_size=2",
            "seq",
            "`seq` must be 1 to the tree size 2, got 3",
        ),
        (
            "/v1/audit/proofs/inclusion?seq=1&tree_size=x",
            "tree_size",
            "`tree_size` must be a non-negative integer",
        ),
        (
            "/v1/audit/proofs/inclusion?seq=1&tree_size=999",
            "tree_size",
            "`tree_size` 999 is beyond the audit trail",
        ),
        (
            "/v1/audit/proofs/inclusion?seq=1&seq=2&tree_size=2",
            "seq",
            "`seq` is given more than once",
        ),
        (
            "/v1/audit/proofs/inclusion?seq=1&size=2",
            "size",
            "unknown query parameter `size`; expected `seq` or `tree_size`",
        ),
        (
            "/v1/audit/proofs/consistency?new_size=2",
            "old_size",
            "`old_size` is required",
        ),
        (
            "/v1/audit/proofs/consistency?old_size=1",
            "new_size",
            "`new_size` is required",
        ),
        (
            "/v1/audit/proofs/consistency?old_size=3&new_size=2",
            "old_size",
            "`old_size` 3 is larger than `new_size` 2",
        ),
        (
            "/v1/audit/proofs/consistency?old_size=1&new_size=999",
            "new_size",
            "`new_size` 999 is beyond the audit trail",
        ),
        (
            "/v1/audit/checkpoints?limit=0",
            "limit",
            "`limit` must be 1 to 1000, got 0",
        ),
        (
            "/v1/audit/checkpoints?after=no",
            "after",
            "`after` must be a non-negative integer",
        ),
        (
            "/v1/audit/checkpoints?before=1",
            "before",
            "unknown query parameter `before`",
        ),
        (
            "/v1/audit/checkpoints/abc",
            "tree_size",
            "`tree_size` must be a non-negative integer",
        ),
    ];
    for (path, field, detail) in cases {
        let (status, body) = s.get(path, &s.admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["field"], field, "{path}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(detail),
            "{path}: `{detail}` not in {body}"
        );
    }
    let (status, body) = s.get("/v1/audit/checkpoints/999", &s.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["detail"], "checkpoint of tree size `999` not found");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_signing_key_no_checkpoint_is_signed() {
    for db in databases().await {
        let s = TestServer::start_with_key(db, None).await;
        create_principals(&s, "p", 2).await;
        let before = s.audit_len().await;
        let (status, body) = s
            .request(Method::POST, "/v1/audit/checkpoints", Some(&s.admin), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["rule"], "no_signing_key", "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("no audit signing key"),
            "{body}"
        );
        let (status, body) = s.get("/v1/audit/public-key", &s.admin).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(s.audit_len().await, before, "nothing recorded");
        // Proofs need no key: they are served against any size the trail has reached.
        let (status, body) = s
            .get(
                &format!("/v1/audit/proofs/inclusion?seq=1&tree_size={before}"),
                &s.admin,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        s.stop().await;
    }
}
