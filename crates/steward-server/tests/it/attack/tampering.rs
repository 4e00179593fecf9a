//! Direct database edits of the audit trail (SPEC §9): the triggers refuse updates and
//! deletes, also of the recorded signing key, and a row forged past them is found by
//! `GET /v1/audit/verify` at its `seq`. (Forged manifests and checkpoints kept outside
//! the database belong to the audit-sealing change.)

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::Backend;
use steward_store::testing::execute;

use steward_audit::Damage;

use super::{Fingerprint, assert_unchanged, column};
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
    let system = steward_store::Caller::system("steward");
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

/// 32 (or `n`) zero bytes as an SQL literal of the backend.
fn zeros(s: &TestServer, n: usize) -> String {
    match s.store().backend() {
        Backend::Sqlite => format!("zeroblob({n})"),
        Backend::Postgres => format!("decode(repeat('00', {n}), 'hex')"),
    }
}

/// An `INSERT` of a manifest for `first..=last` that was never signed: the hashes are
/// the stored events' (so it links), the signature and roots are zeros.
fn forged_manifest(s: &TestServer, first: u64, last: u64) -> String {
    let prev = if first == 1 {
        zeros(s, 32)
    } else {
        format!("(SELECT hash FROM audit_events WHERE seq = {})", first - 1)
    };
    format!(
        "INSERT INTO audit_manifests (first_seq, last_seq, event_count, prev_hash, first_hash, \
         last_hash, range_root, tree_size, tree_root, ts, key_id, signature) VALUES \
         ({first}, {last}, {count}, {prev}, \
         (SELECT hash FROM audit_events WHERE seq = {first}), \
         (SELECT hash FROM audit_events WHERE seq = {last}), {z32}, {last}, {z32}, 0, \
         '0000000000000000', {z64})",
        count = last - first + 1,
        z32 = zeros(s, 32),
        z64 = zeros(s, 64),
    )
}

/// The export, whole: it must answer 200 whatever the damage.
async fn export_lines(s: &TestServer) -> Vec<Vec<u8>> {
    let (status, _, body) = s.get_raw("/v1/audit/export", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let text = body.strip_suffix(b"\n").unwrap_or(&body);
    text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

/// The damage the offline check of the export finds: its seq and kind.
async fn offline_damage(s: &TestServer) -> (Option<u64>, Damage) {
    let key = steward_audit::public_key(&TEST_AUDIT_KEY);
    let error = steward_audit::verify_export(&export_lines(s).await, &key).expect_err("damaged");
    (error.seq, Damage::from(&error.kind))
}

// A forged manifest in the middle of the trail no longer opens a hole: the manifests
// table takes only a manifest right after the one before it, and the delete trigger
// only a manifest contiguous with the one before it, even past the first trigger.
server_test!(
    attack_tampering_a_forged_manifest_in_the_middle_opens_no_hole,
    |s| {
        some_history(s).await;
        let len = s.audit_len().await;
        let before = Fingerprint::of(s.store()).await;
        let error = execute(s.store(), &forged_manifest(s, 3, 4))
            .await
            .expect_err("a manifest out of place is refused");
        assert!(
            error.to_string().contains("right after the one before it"),
            "{error}"
        );
        assert_unchanged(
            &before,
            &Fingerprint::of(s.store()).await,
            "forged manifest",
        );

        // Past the insert trigger, the delete trigger still refuses the hole.
        let bypass = match s.store().backend() {
            Backend::Sqlite => "DROP TRIGGER audit_manifests_contiguous;".to_owned(),
            Backend::Postgres => {
                "DROP TRIGGER audit_manifests_contiguous ON audit_manifests;".to_owned()
            }
        };
        execute(
            s.store(),
            &format!("{bypass} {};", forged_manifest(s, 3, 4)),
        )
        .await
        .expect("forge past the insert trigger");
        let error = execute(
            s.store(),
            "DELETE FROM audit_events WHERE seq BETWEEN 3 AND 4",
        )
        .await
        .expect_err("the delete is refused");
        assert!(error.to_string().contains("append-only"), "{error}");
        assert_eq!(s.audit_len().await, len, "no event deleted");

        // The forged row itself is damage, named at the seq it claims to stand for.
        let result = verification(s).await;
        assert_eq!(result["ok"], false, "{result}");
        assert_eq!(result["first_bad_seq"], 3, "{result}");
        assert_eq!(result["kind"], "manifest_forged", "{result}");
        assert_eq!(offline_damage(s).await, (Some(3), Damage::ManifestForged));
    }
);

// A forged manifest from seq 1 is contiguous, so the triggers let its events be deleted;
// the signature gives it away. The API, the export (never a 500) and the offline check
// all name seq 1 and the kind.
server_test!(
    attack_tampering_a_forged_manifest_from_seq_1_is_reported_as_forged,
    |s| {
        some_history(s).await;
        execute(
            s.store(),
            &format!(
                "{}; DELETE FROM audit_events WHERE seq <= 3;",
                forged_manifest(s, 1, 3)
            ),
        )
        .await
        .expect("forge and delete");
        let result = verification(s).await;
        assert_eq!(
            (&result["ok"], &result["first_bad_seq"], &result["kind"]),
            (&json!(false), &json!(1), &json!("manifest_forged")),
            "{result}"
        );
        assert!(
            result["problem"]
                .as_str()
                .is_some_and(|p| p.contains("does not verify")),
            "{result}"
        );
        assert_eq!(offline_damage(s).await, (Some(1), Damage::ManifestForged));
    }
);

// Merkle nodes deleted or rewritten: proofs would fail or lie. Named at the first event
// the node covers, with the kind.
server_test!(
    attack_tampering_missing_or_altered_merkle_nodes_are_named,
    |s| {
        some_history(s).await;
        let (status, body) = s.post("/v1/audit/checkpoints", &s.admin, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(verification(s).await["ok"], true);

        // The right edge's largest node (level of the size's top bit, index 0) covers
        // the events from seq 1.
        let size = column(
            s.store(),
            "SELECT CAST(tree_size AS TEXT) FROM audit_merkle_head",
        )
        .await;
        let size: u64 = size[0].parse().expect("tree size");
        let level = 63 - size.leading_zeros();
        execute(
            s.store(),
            &format!(
                "UPDATE audit_merkle_nodes SET hash = {} WHERE level = {level} AND idx = 0",
                zeros(s, 32)
            ),
        )
        .await
        .expect("alter a node");
        let result = verification(s).await;
        assert_eq!(
            (&result["ok"], &result["first_bad_seq"], &result["kind"]),
            (&json!(false), &json!(1), &json!("merkle_nodes_altered")),
            "{result}"
        );

        execute(
            s.store(),
            &format!("DELETE FROM audit_merkle_nodes WHERE level = {level} AND idx = 0"),
        )
        .await
        .expect("delete a node");
        let result = verification(s).await;
        assert_eq!(
            (&result["ok"], &result["first_bad_seq"], &result["kind"]),
            (&json!(false), &json!(1), &json!("merkle_nodes_missing")),
            "{result}"
        );
    }
);

// A node inside the tree (not on its right edge), rewritten: found at its event.
server_test!(
    attack_tampering_an_altered_inner_merkle_node_is_named_at_its_event,
    |s| {
        some_history(s).await;
        let (status, body) = s.post("/v1/audit/checkpoints", &s.admin, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(verification(s).await["ok"], true);
        // The leaf of event 2 (level 0, index 1): under a larger node once the tree has
        // four events, so no root check or right edge sees it.
        execute(
            s.store(),
            &format!(
                "UPDATE audit_merkle_nodes SET hash = {} WHERE level = 0 AND idx = 1",
                zeros(s, 32)
            ),
        )
        .await
        .expect("alter a leaf node");
        let result = verification(s).await;
        assert_eq!(
            (&result["ok"], &result["first_bad_seq"], &result["kind"]),
            (&json!(false), &json!(2), &json!("merkle_nodes_altered")),
            "{result}"
        );
    }
);

// A checkpoint row edited in the database: its signature no longer verifies, online
// (named at its tree size) and in the export.
server_test!(
    attack_tampering_an_edited_checkpoint_is_reported_as_forged,
    |s| {
        some_history(s).await;
        let (status, body) = s.post("/v1/audit/checkpoints", &s.admin, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let size = body["tree_size"].as_u64().expect("tree_size");
        execute(
            s.store(),
            &format!(
                "UPDATE audit_checkpoints SET root_hash = {} WHERE tree_size = {size}",
                zeros(s, 32)
            ),
        )
        .await
        .expect("edit the checkpoint");
        let result = verification(s).await;
        assert_eq!(
            (&result["ok"], &result["first_bad_seq"], &result["kind"]),
            (&json!(false), &json!(size), &json!("checkpoint_forged")),
            "{result}"
        );
        assert_eq!(
            offline_damage(s).await,
            (Some(size), Damage::CheckpointForged)
        );
    }
);
