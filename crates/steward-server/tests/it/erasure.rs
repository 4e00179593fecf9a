//! `POST /v1/principals/{id}/erase`: GDPR erasure keeps the chain verifiable online and
//! in an export verified offline, event queries show erased markers, the plaintext is
//! nowhere in the database, non-admins are refused, and a second erasure is a no-op.

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_audit::{AuditEntry, public_key, verify_export};
use steward_policy::Role;
use steward_store::testing::find_plaintext;

use crate::support::{TEST_AUDIT_KEY, TestServer, server_test};

const NAME: &str = "Yannick Erasable";

/// The principal's `principal.created` event as stored, checked against its own hash, and
/// what the page shows of its personal values.
async fn created_event(s: &TestServer, id: &str) -> (Value, Value) {
    let (status, page) = s
        .get(
            "/v1/audit/events?type=principal.created&limit=1000",
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let event = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["data"]["principal_id"] == id)
        .cloned()
        .expect("the principal.created event");
    let entry: AuditEntry = serde_json::from_value(event.clone()).expect("an audit entry");
    assert_eq!(
        entry.computed_hash(),
        entry.hash,
        "items are served as stored"
    );
    let personal = page["personal"][entry.seq.to_string()].clone();
    (event, personal)
}

server_test!(
    erasure_keeps_the_chain_verifiable_and_the_plaintext_gone,
    |s| {
        let (id, _token) = s.human(NAME, &[Role::TechLead]).await;
        let (_, auditor) = s.human("erasure-auditor", &[Role::Auditor]).await;

        let (event, personal) = created_event(s, &id).await;
        assert_eq!(personal, json!({"subject": id, "values": {"name": NAME}}));
        assert_eq!(event["data"]["personal"]["alg"], "xchacha20poly1305");
        assert!(!event.to_string().contains(NAME));

        // Only an admin may erase; a refusal writes nothing.
        let before = s.audit_len().await;
        let (status, body) = s
            .post(&format!("/v1/principals/{id}/erase"), &auditor, json!({}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = s
            .post("/v1/principals/nobody/erase", &s.admin, json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(s.audit_len().await, before);

        let (status, erased) = s
            .post(&format!("/v1/principals/{id}/erase"), &s.admin, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        assert_eq!(erased["erased_now"], true);
        assert_eq!(erased["principal"]["name"], format!("erased:{id}"));
        assert_eq!(s.audit_len().await, before + 1);

        let (_, personal) = created_event(s, &id).await;
        assert_eq!(personal, json!({"subject": id, "erased": true}));
        let (status, page) = s
            .get("/v1/audit/events?type=principal.erased", &s.admin)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["items"][0]["data"], json!({"principal_id": id}));
        assert_eq!(
            find_plaintext(s.store(), NAME).await.unwrap(),
            Vec::<String>::new()
        );

        // Online verification and an export verified offline both still pass.
        let (status, result) = s.get("/v1/audit/verify", &auditor).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(result["ok"], true, "{result}");
        let (status, body) = s.post("/v1/audit/checkpoints", &s.admin, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, _, export) = s.get_raw("/v1/audit/export", &s.admin).await;
        assert_eq!(status, StatusCode::OK);
        let lines: Vec<&[u8]> = export
            .strip_suffix(b"\n")
            .expect("ends with a newline")
            .split(|b| *b == b'\n')
            .collect();
        let report = verify_export(&lines, &public_key(&TEST_AUDIT_KEY)).expect("export verifies");
        assert_eq!(report.events, s.audit_len().await);
        assert!(!String::from_utf8_lossy(&export).contains(NAME));

        // A second erasure changes and records nothing.
        let len = s.audit_len().await;
        let (status, again) = s
            .post(&format!("/v1/principals/{id}/erase"), &s.admin, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["erased_now"], false);
        assert_eq!(again["principal"], erased["principal"]);
        assert_eq!(s.audit_len().await, len);
    }
);
