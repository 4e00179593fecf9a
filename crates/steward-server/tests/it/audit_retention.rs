//! Audit retention over HTTP (SPEC §4, §9), on both backends: pruning removes expired
//! level-2 history while level-4 and emergency-permit events stay; afterwards the online
//! check and the export verified offline both pass through the signed manifest, and a
//! tampered manifest (in the database or in the export) is damage at its first seq;
//! legal holds by worker, permit and range each stop pruning until released; a server
//! without a signing key refuses to prune.

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_audit::{
    ManifestErrorKind, VerifyErrorKind, public_key, verify_export, verify_inclusion,
};
use steward_policy::{Level, Role};
use steward_store::testing::execute;
use steward_store::{Actor, ActorKind, Backend, Hash, NewEvent, Subject};

use crate::support::{TEST_AUDIT_KEY, TestServer, server_test};

/// Appends one event stamped with the server's clock.
async fn record(s: &TestServer, level: u8, worker: Option<&str>, permit: Option<&str>) -> u64 {
    let entry = s
        .store()
        .record_event(NewEvent {
            ts_ms: s.clock.now().millis(),
            event_type: "test.operation".to_owned(),
            actor: Actor {
                kind: ActorKind::Agent,
                id: "agent-1".to_owned(),
                roles: Vec::new(),
                channel: None,
            },
            subject: Subject {
                worker_id: worker.map(str::to_owned),
                permit_id: permit.map(str::to_owned),
                ..Subject::default()
            },
            level: Level::new(level),
            data: json!({ "level": level }),
        })
        .await
        .expect("append");
    entry.seq
}

/// A worker row and a permit row of `permit_type` for it, as the registry and the
/// permit workflow would leave them.
async fn insert_worker_and_permit(s: &TestServer, worker: &str, permit: &str, permit_type: &str) {
    let (owner, _) = s.human(&format!("owner-{worker}"), &[Role::Master]).await;
    execute(
        s.store(),
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, \
             domains, level_granted_at, stats, version, created_at, updated_at) VALUES \
             ('{worker}', '{worker}', '{owner}', NULL, 2, 'active', '[]', 0, '{{}}', 1, 0, 0)"
        ),
    )
    .await
    .expect("insert worker");
    execute(
        s.store(),
        &format!(
            "INSERT INTO permits (id, task_id, task, analysis, permit_type, level, worker_id, \
             requester_id, state, evidence, constraints, created_at, updated_at) VALUES \
             ('{permit}', 'task-{permit}', '{{}}', '{{}}', '{permit_type}', 2, '{worker}', \
             '{owner}', 'active', '{{}}', '{{}}', 0, 0)"
        ),
    )
    .await
    .expect("insert permit");
}

async fn checkpoint(s: &TestServer) -> u64 {
    let (status, body) = s.post("/v1/audit/checkpoints", &s.admin, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["tree_size"].as_u64().expect("tree_size")
}

async fn prune(s: &TestServer, dry_run: bool) -> Value {
    let (status, body) = s
        .post("/v1/audit/prune", &s.admin, json!({ "dry_run": dry_run }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn export_lines(s: &TestServer) -> Vec<Vec<u8>> {
    let (status, _, body) = s.get_raw("/v1/audit/export", &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.strip_suffix(b"\n").expect("ends with a newline");
    text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

server_test!(pruning_keeps_online_and_offline_verification, |s| {
    insert_worker_and_permit(s, "wk-e", "pm-e", "emergency").await;
    let first_l2 = record(s, 2, None, None).await;
    for _ in 0..3 {
        record(s, 2, None, None).await;
    }
    // An emergency permit's events are kept as level 4, whatever their own level.
    let emergency = record(s, 2, Some("wk-e"), Some("pm-e")).await;
    let level4 = record(s, 4, None, None).await;
    record(s, 2, None, None).await;
    let size = checkpoint(s).await;
    let (status, proof) = s
        .get(
            &format!("/v1/audit/proofs/inclusion?seq={level4}&tree_size={size}"),
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{proof}");
    let (_, signed) = s
        .get(&format!("/v1/audit/checkpoints/{size}"), &s.admin)
        .await;
    let root: Hash = signed["root_hash"]
        .as_str()
        .expect("root")
        .parse()
        .expect("hex");
    assert!(first_l2 > 1, "setup events come first");

    // 100 days on the level-2 events are due, but the setup events (no level: a year)
    // before them are not: pruning only takes a leading range.
    s.clock.advance_minutes(100 * 24 * 60);
    let early = prune(s, true).await;
    assert_eq!(early["event_count"], 0);
    assert_eq!(early["stopped_at"]["seq"], 1);
    assert_eq!(early["stopped_at"]["reason"], "retained");

    s.clock.advance_minutes(300 * 24 * 60);
    let len = s.audit_len().await;
    let plan = prune(s, true).await;
    assert_eq!(plan["event_count"], emergency - 1);
    assert_eq!(plan["stopped_at"]["seq"], emergency);
    assert_eq!(plan["stopped_at"]["reason"], "retained");
    assert_eq!(plan["manifests"], json!([]));
    assert_eq!(s.audit_len().await, len, "a dry run writes nothing");

    let done = prune(s, false).await;
    assert_eq!(done["ranges"], plan["ranges"]);
    assert_eq!(done["manifests"][0]["first_seq"], 1);
    assert_eq!(done["manifests"][0]["last_seq"], emergency - 1);
    let (_, manifests) = s.get("/v1/audit/manifests", &s.admin).await;
    assert_eq!(manifests["items"], done["manifests"]);
    let (_, pruned) = s.get("/v1/audit/events?type=audit.pruned", &s.admin).await;
    assert_eq!(
        pruned["items"][0]["data"]["manifest"]["manifest"]["last_seq"],
        emergency - 1
    );
    let (_, kept) = s.get("/v1/audit/events?level=4", &s.admin).await;
    assert_eq!(kept["items"][0]["seq"], level4, "level 4 is kept");
    let (_, events) = s.get("/v1/audit/events", &s.admin).await;
    assert_eq!(
        events["items"][0]["seq"], emergency,
        "pruned events are gone"
    );

    // Online: the stored chain verifies through the signed manifest.
    let (_, verified) = s.get("/v1/audit/verify", &s.admin).await;
    assert_eq!(verified["ok"], true, "{verified}");
    // The proof of a surviving event against the checkpoint made before pruning holds.
    let (status, again) = s
        .get(
            &format!("/v1/audit/proofs/inclusion?seq={level4}&tree_size={size}"),
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, proof);
    let hashes = |v: &Value| -> Vec<Hash> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|h| h.as_str().expect("hex").parse().expect("hash"))
            .collect()
    };
    let leaf: Hash = again["leaf_hash"]
        .as_str()
        .expect("leaf")
        .parse()
        .expect("hex");
    verify_inclusion(&leaf, level4 - 1, size, &hashes(&again["proof"]), &root)
        .expect("inclusion verifies");

    // Offline: the export carries the manifest and verifies with only the public key,
    // Merkle roots included.
    let key = public_key(&TEST_AUDIT_KEY);
    let lines = export_lines(s).await;
    let report = verify_export(&lines, &key).expect("intact export");
    assert_eq!((report.manifests, report.pruned_events), (1, emergency - 1));
    assert_eq!(report.first_seq, Some(1));
    assert!(report.roots_checked);

    // An export resumed inside the pruned history starts at its manifest; one resumed
    // right after it links to the manifest's last hash, and appended, both verify.
    let (_, _, body) = s.get_raw("/v1/audit/export?from_seq=2", &s.admin).await;
    let resumed: Vec<&[u8]> = body
        .strip_suffix(b"\n")
        .expect("lines")
        .split(|b| *b == b'\n')
        .collect();
    let report = verify_export(&resumed, &key).expect("resumed inside pruned history");
    assert_eq!((report.first_seq, report.manifests), (Some(1), 1));
    let after = emergency;
    let (_, _, body) = s
        .get_raw(&format!("/v1/audit/export?from_seq={after}"), &s.admin)
        .await;
    let tail: Vec<&[u8]> = body
        .strip_suffix(b"\n")
        .expect("lines")
        .split(|b| *b == b'\n')
        .collect();
    let report = verify_export(&tail, &key).expect("resumed after pruned history");
    assert_eq!((report.first_seq, report.manifests), (Some(after), 0));
    let mut joined: Vec<Vec<u8>> = lines[..2].to_vec();
    joined.extend(tail.iter().map(|line| line.to_vec()));
    let report = verify_export(&joined, &key).expect("manifest, then the resumed export");
    assert!(report.roots_checked);

    // A flipped byte in the export's manifest line is damage at seq 1.
    let mut damaged = lines.clone();
    let mut manifest: Value = serde_json::from_slice(&damaged[1]).expect("manifest line");
    let ts = manifest["manifest"]["manifest"]["ts_ms"]
        .as_i64()
        .expect("ts");
    manifest["manifest"]["manifest"]["ts_ms"] = json!(ts ^ 1);
    damaged[1] = manifest.to_string().into_bytes();
    let error = verify_export(&damaged, &key).expect_err("damaged");
    assert_eq!(error.seq, Some(1));
    assert!(matches!(
        error.kind,
        VerifyErrorKind::Manifest(ManifestErrorKind::Signature { .. })
    ));

    // A byte changed in the stored manifest row: the online check names seq 1.
    let sql = match s.store().backend() {
        Backend::Sqlite => {
            "DROP TRIGGER audit_manifests_no_update; UPDATE audit_manifests SET ts = ts + 1"
        }
        Backend::Postgres => {
            "DROP TRIGGER audit_manifests_no_update ON audit_manifests; \
             UPDATE audit_manifests SET ts = ts + 1"
        }
    };
    execute(s.store(), sql).await.expect("tamper");
    let (_, verified) = s.get("/v1/audit/verify", &s.admin).await;
    assert_eq!(verified["ok"], false, "{verified}");
    assert_eq!(verified["first_bad_seq"], 1);
    let error = verify_export(&export_lines(s).await, &key).expect_err("damaged");
    assert_eq!(error.seq, Some(1));
});

server_test!(legal_holds_stop_pruning_until_released, |s| {
    insert_worker_and_permit(s, "wk-h", "pm-h", "standard_production").await;
    let (_, compliance) = s.human("compliance-1", &[Role::ComplianceOfficer]).await;
    let (_, auditor) = s.human("auditor-1", &[Role::Auditor]).await;
    let by_worker = record(s, 2, Some("wk-h"), None).await;
    let by_permit = record(s, 2, None, Some("pm-h")).await;
    let in_range = record(s, 2, None, None).await;
    record(s, 2, None, None).await;
    checkpoint(s).await;
    s.clock.advance_minutes(400 * 24 * 60);

    // Role and input checks: nothing written on refusal.
    let len = s.audit_len().await;
    let (status, _) = s
        .post(
            "/v1/audit/holds",
            &auditor,
            json!({"worker_id": "wk-h", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = s
        .post(
            "/v1/audit/holds",
            &compliance,
            json!({"worker_id": "wk-h", "permit_id": "pm-h", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = s
        .post(
            "/v1/audit/holds",
            &compliance,
            json!({"first_seq": 5, "last_seq": 4, "reason": "x"}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("last_seq"))
    );
    let (status, body) = s
        .post(
            "/v1/audit/holds",
            &compliance,
            json!({"worker_id": "wk-h", "reason": " "}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("reason"))
    );
    let (status, _) = s
        .post(
            "/v1/audit/holds",
            &compliance,
            json!({"worker_id": "nobody", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(s.audit_len().await, len);

    let mut holds = Vec::new();
    for scope in [
        json!({"worker_id": "wk-h"}),
        json!({"permit_id": "pm-h"}),
        json!({"first_seq": in_range, "last_seq": in_range}),
    ] {
        let mut body = scope;
        body["reason"] = json!("litigation 2027-014");
        let (status, hold) = s.post("/v1/audit/holds", &compliance, body).await;
        assert_eq!(status, StatusCode::CREATED, "{hold}");
        assert_eq!(hold["state"], "active");
        holds.push(hold["id"].as_str().expect("id").to_owned());
    }
    let (_, listed) = s.get("/v1/audit/holds", &auditor).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(3));

    // Each hold in turn is where pruning stops; releasing it lets pruning go on.
    for (hold, stop) in holds.iter().zip([by_worker, by_permit, in_range]) {
        let report = prune(s, false).await;
        assert_eq!(report["stopped_at"]["seq"], stop, "{report}");
        assert_eq!(report["stopped_at"]["reason"], "held");
        assert_eq!(report["stopped_at"]["hold_id"], hold.as_str());
        let (status, released) = s
            .post(
                &format!("/v1/audit/holds/{hold}/release"),
                &compliance,
                json!({"reason": "case closed"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{released}");
        assert_eq!(released["state"], "released");
    }
    let (status, _) = s
        .post(
            &format!("/v1/audit/holds/{}/release", holds[0]),
            &compliance,
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let report = prune(s, false).await;
    assert_eq!(report["stopped_at"]["reason"], "unsigned", "{report}");
    let (_, manifests) = s.get("/v1/audit/manifests", &auditor).await;
    assert_eq!(manifests["items"].as_array().map(Vec::len), Some(4));
    let (_, verified) = s.get("/v1/audit/verify", &s.admin).await;
    assert_eq!(verified["ok"], true, "{verified}");

    // Placing and releasing holds is audited.
    for kind in ["audit.hold_created", "audit.hold_released"] {
        let (_, events) = s
            .get(&format!("/v1/audit/events?type={kind}"), &s.admin)
            .await;
        assert_eq!(events["items"].as_array().map(Vec::len), Some(3), "{kind}");
    }
    let (_, active) = s.get("/v1/audit/holds", &auditor).await;
    assert_eq!(active["items"], json!([]));
    let (_, all) = s.get("/v1/audit/holds?all=true", &auditor).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(3));
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_needs_the_signing_key_and_an_admin() {
    for db in crate::support::databases().await {
        let s = TestServer::start_with_key(db, None).await;
        let (status, body) = s
            .post("/v1/audit/prune", &s.admin, json!({"dry_run": false}))
            .await;
        assert_eq!(
            (status, body["rule"].as_str()),
            (StatusCode::CONFLICT, Some("no_signing_key"))
        );
        // A dry run signs nothing, so it works without the key.
        let (status, body) = s
            .post("/v1/audit/prune", &s.admin, json!({"dry_run": true}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, auditor) = s.human("auditor-1", &[Role::Auditor]).await;
        let (status, _) = s.post("/v1/audit/prune", &auditor, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = s
            .post("/v1/audit/prune", &s.admin, json!({"dry_run": "yes"}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        s.stop().await;
    }
}

server_test!(openapi_documents_the_retention_routes, |s| {
    let (status, doc) = s
        .request(reqwest::Method::GET, "/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for (path, method) in [
        ("/v1/audit/prune", "post"),
        ("/v1/audit/manifests", "get"),
        ("/v1/audit/holds", "post"),
        ("/v1/audit/holds", "get"),
        ("/v1/audit/holds/{id}/release", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert!(doc["components"]["schemas"]["ManifestView"].is_object());
});
