//! Personal free text never outlives erasure in plaintext: a unique sentinel sent through
//! every free-text field of every route (the OpenAPI document lists them; a field the
//! table below does not classify fails the test), the principals erased, then the whole
//! database (every table and column, and SQLite's file), an audit export and every
//! webhook payload a real receiver got are searched for it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_server::webhooks::Dispatcher;
use steward_store::testing::{execute, find_plaintext};
use tokio::net::TcpListener;

use crate::support::{TestServer, server_test};

/// How a request-body field of the OpenAPI document is treated.
enum Field {
    /// A person's free text: the scenario sends a sentinel through it, and after erasure
    /// it must be nowhere.
    Personal,
    /// Not a person's free text, with the reason.
    Operational(&'static str),
}

const ENUM: Field =
    Field::Operational("one value of a closed vocabulary; anything else is refused");
const ID: Field = Field::Operational("an identifier Steward or the caller's systems assigned");
const TASK: Field = Field::Operational(
    "the operation's description (SPEC §2): the agent's plan, analysed and shown to approvers, part of the permit's rules",
);
const REPORT: Field = Field::Operational(
    "the operation's record (report, notes, evidence, conditions): part of the permit's audit summary, structured by SPEC §6",
);

/// Every string or free-JSON property of every request body, by `METHOD path field`.
fn classification() -> BTreeMap<&'static str, Field> {
    use Field::{Operational, Personal};
    BTreeMap::from([
        ("POST /v1/analyze *", TASK),
        (
            "POST /v1/hooks/claude-code *",
            Operational(
                "a coding agent's tool call (tool name, command, path): the operation asked about, handled like `POST /v1/authorize`'s action",
            ),
        ),
        (
            "POST /v1/authorize action",
            Operational(
                "an operation name the worker asks about, matched against the permit's scope",
            ),
        ),
        ("POST /v1/authorize data_touched", ENUM),
        ("POST /v1/authorize environment", ENUM),
        ("POST /v1/authorize method", ENUM),
        ("POST /v1/authorize permit_id", ID),
        (
            "POST /v1/authorize region",
            Operational("a deployment region name"),
        ),
        (
            "POST /v1/authorize service",
            Operational("a service name, matched against the permit's scope"),
        ),
        ("POST /v1/authorize worker_id", ID),
        ("POST /v1/audit/holds permit_id", ID),
        (
            "POST /v1/audit/verify/checkpoint key_id",
            Operational("the id of the audit signing key, derived from the public key"),
        ),
        (
            "POST /v1/audit/verify/checkpoint root_hash",
            Operational("a Merkle root in hex, checked against the signature"),
        ),
        (
            "POST /v1/audit/verify/checkpoint signature",
            Operational("an Ed25519 signature in hex, checked against the server's key"),
        ),
        ("POST /v1/audit/holds reason", Personal),
        ("POST /v1/audit/holds worker_id", ID),
        ("POST /v1/audit/holds/{id}/release reason", Personal),
        ("POST /v1/emergencies incident_id", ID),
        ("POST /v1/emergencies reason", Personal),
        ("POST /v1/emergencies scope", TASK),
        ("POST /v1/emergencies worker_id", ID),
        ("POST /v1/emergencies/{id}/approve channel", ENUM),
        ("POST /v1/emergencies/{id}/approve comment", Personal),
        ("POST /v1/emergencies/{id}/approve role", ENUM),
        ("POST /v1/emergencies/{id}/resolve resolution", Personal),
        ("POST /v1/emergencies/{id}/review actions", Personal),
        ("POST /v1/emergencies/{id}/review root_cause", Personal),
        ("POST /v1/emergencies/{id}/review summary", Personal),
        ("POST /v1/permits allowed_methods", ENUM),
        ("POST /v1/permits evidence", REPORT),
        ("POST /v1/permits forbidden_methods", ENUM),
        ("POST /v1/permits task", TASK),
        ("POST /v1/permits worker_id", ID),
        ("POST /v1/permits/{id}/approvals channel", ENUM),
        ("POST /v1/permits/{id}/approvals comment", Personal),
        ("POST /v1/permits/{id}/approvals conditions", REPORT),
        ("POST /v1/permits/{id}/approvals decision", ENUM),
        ("POST /v1/permits/{id}/approvals role", ENUM),
        ("POST /v1/permits/{id}/close notes", REPORT),
        ("POST /v1/permits/{id}/complete outcome", ENUM),
        ("POST /v1/permits/{id}/complete report", REPORT),
        ("POST /v1/permits/{id}/renew role", ENUM),
        ("POST /v1/permits/{id}/resubmit evidence", REPORT),
        ("POST /v1/permits/{id}/revoke comment", Personal),
        ("POST /v1/permits/{id}/revoke reason", ENUM),
        ("POST /v1/permits/{id}/rollback notes", Personal),
        ("POST /v1/permits/{id}/rollback outcome", ENUM),
        ("POST /v1/principals kind", ENUM),
        ("POST /v1/principals name", Personal),
        ("POST /v1/principals roles", ENUM),
        ("POST /v1/tokens label", Personal),
        ("POST /v1/tokens principal_id", ID),
        ("POST /v1/webhooks event_types", ENUM),
        ("POST /v1/webhooks format", ENUM),
        (
            "POST /v1/webhooks secret",
            Operational(
                "a shared HMAC key: stored for signing, never returned, logged or written to the trail",
            ),
        ),
        ("POST /v1/webhooks url", Operational("an endpoint address")),
        (
            "POST /v1/workers display_name",
            Operational("an agent's name, not a person's"),
        ),
        ("POST /v1/workers domains", ENUM),
        ("POST /v1/workers owner_id", ID),
        ("POST /v1/workers principal_id", ID),
        ("POST /v1/workers/{id}/identity name", Personal),
        ("POST /v1/workers/{id}/outcomes permit_id", ID),
        ("POST /v1/workers/{id}/outcomes result", ENUM),
        ("POST /v1/workers/{id}/promotions comment", Personal),
        (
            "POST /v1/workers/{id}/initial-certification/approvals comment",
            Personal,
        ),
        (
            "POST /v1/workers/{id}/initial-certification/approvals role",
            ENUM,
        ),
        (
            "POST /v1/workers/{id}/initial-certification justification",
            Operational(
                "the case for the worker's level: the certification's record, shown to approvers like a task",
            ),
        ),
        (
            "POST /v1/workers/{id}/initial-certification prior_record",
            REPORT,
        ),
        (
            "POST /v1/clock/advance by",
            Operational("a duration (rehearsal mode)"),
        ),
        ("POST /v1/workers/{id}/promotions role", ENUM),
        ("POST /v1/workers/{id}/recertify reason", Personal),
        ("POST /v1/workers/{id}/reinstate reason", Personal),
        ("POST /v1/workers/{id}/revoke reason", Personal),
        ("POST /v1/workers/{id}/suspend reason", Personal),
        ("POST /v1/workers/{id}/tokens label", Personal),
    ])
}

/// The string, string-array and free-JSON properties of every request body in the
/// OpenAPI document, as `METHOD path field` (`*` for a body that is itself free JSON).
fn request_text_fields(doc: &Value) -> BTreeSet<String> {
    let schemas = &doc["components"]["schemas"];
    let resolve = |schema: &Value| -> Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or_default();
                schemas[name].clone()
            }
            None => schema.clone(),
        }
    };
    let is_text = |property: &Value| -> bool {
        let types: Vec<&str> = match &property["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let items_text = property["items"]["type"] == "string"
            || property["items"]["type"]
                .as_array()
                .is_some_and(|ts| ts.iter().any(|t| t == "string"));
        types.contains(&"string")
            || types.contains(&"object")
            || (types.contains(&"array") && items_text)
            || property.get("$ref").is_some()
            || (types.is_empty() && property.get("oneOf").is_none())
    };
    let mut fields = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Some(body) = operation.get("requestBody") else {
                continue;
            };
            let schema = resolve(&body["content"]["application/json"]["schema"]);
            let method = method.to_uppercase();
            match schema["properties"].as_object() {
                Some(properties) => {
                    for (name, property) in properties {
                        let property = resolve(property);
                        if is_text(&property) {
                            fields.insert(format!("{method} {path} {name}"));
                        }
                    }
                }
                None => {
                    fields.insert(format!("{method} {path} *"));
                }
            }
        }
    }
    fields
}

/// The sentinels sent, by field.
struct Sentinels {
    prefix: String,
    sent: Mutex<BTreeSet<String>>,
    uses: AtomicUsize,
}

impl Sentinels {
    fn new() -> Sentinels {
        Sentinels {
            prefix: format!(
                "SNTL{}x{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("after 1970")
                    .as_nanos()
            ),
            sent: Mutex::new(BTreeSet::new()),
            uses: AtomicUsize::new(0),
        }
    }

    /// The sentinel for `field` (`METHOD path field`), recorded as sent.
    fn of(&self, field: &str) -> String {
        let mut sent = self.sent.lock().expect("lock");
        sent.insert(field.to_owned());
        let tag: String = field
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        // Unique per use, so names stay unique.
        format!(
            "{} {tag} {}",
            self.prefix,
            self.uses.fetch_add(1, Ordering::SeqCst)
        )
    }
}

/// A webhook receiver on a loopback port that keeps every body.
async fn receiver() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(bodies): State<Arc<Mutex<Vec<Bytes>>>>, body: Bytes| async move {
                    bodies.lock().expect("lock").push(body);
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(bodies.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, bodies)
}

#[track_caller]
fn ok(status: StatusCode, body: &Value) {
    assert!(status.is_success(), "{status}: {body}");
}

/// `POST` that must succeed; returns the body.
async fn post(s: &TestServer, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = s.post(path, token, body).await;
    ok(status, &answer);
    answer
}

/// A principal created through the API with a sentinel name, and a token with a sentinel
/// label: (id, secret).
async fn person(s: &TestServer, t: &Sentinels, kind: &str, roles: &[&str]) -> (String, String) {
    let created = post(
        s,
        "/v1/principals",
        &s.admin,
        json!({"kind": kind, "name": t.of("POST /v1/principals name"), "roles": roles}),
    )
    .await;
    let id = created["id"].as_str().expect("principal id").to_owned();
    let token = post(
        s,
        "/v1/tokens",
        &s.admin,
        json!({"principal_id": id, "label": t.of("POST /v1/tokens label")}),
    )
    .await;
    (
        id,
        token["token"].as_str().expect("token secret").to_owned(),
    )
}

fn standard_task(id: &str) -> Value {
    json!({"id": id, "description": "deploy api", "environment": "production",
           "operations": ["deploy"], "services_affected": ["api"]})
}

fn evidence() -> Value {
    json!({
        "rollback_plan": {"steps": ["kubectl rollout undo deploy/api"],
                          "verification": ["kubectl rollout status deploy/api"], "estimated_minutes": 5},
        "test_results": "https://ci.example.com/runs/42",
        "code_review": "https://git.example.com/pr/7",
        "rollback_tested": "2026-11-20",
        "security_review": "SEC-12",
        "impact_analysis": "docs/impact.md",
    })
}

server_test!(
    no_personal_free_text_survives_erasure_in_the_database_an_export_or_a_webhook,
    // The webhook receiver listens on loopback (issue 9, item 7: allowed only on request).
    configure = |state: steward_server::AppState| state.with_webhook_allow_private(true),
    |s| {
        let t = Sentinels::new();

        // The OpenAPI document is the list of routes: every free-text field is classified.
        let (status, doc) = s.get("/openapi.json", &s.admin).await;
        assert_eq!(status, StatusCode::OK);
        let table = classification();
        let found = request_text_fields(&doc);
        let classified: BTreeSet<String> = table.keys().map(|k| (*k).to_owned()).collect();
        let unclassified: Vec<&String> = found.difference(&classified).collect();
        let gone: Vec<&String> = classified.difference(&found).collect();
        assert!(
            unclassified.is_empty() && gone.is_empty(),
            "request fields the privacy test does not classify (add them to `classification`, and send a sentinel through each personal one): {unclassified:?}; classified fields the OpenAPI document no longer has: {gone:?}"
        );

        // A webhook receiver gets every event.
        let (hook, bodies) = receiver().await;
        post(
            s,
            "/v1/webhooks",
            &s.admin,
            json!({"url": hook, "event_types": ["*"], "secret": "whsec-0123456789abcdef"}),
        )
        .await;

        let subscribed_at = s.audit_len().await;

        // The cast, every name and token label a sentinel.
        let (admin_id, admin) = person(s, &t, "human", &["admin"]).await;
        let (master_id, master) = person(s, &t, "agent", &["master"]).await;
        let (owner_id, owner) = person(s, &t, "human", &["engineering_manager"]).await;
        let (tl_id, tl) = person(s, &t, "human", &["tech_lead"]).await;
        let (ic_id, ic) = person(s, &t, "human", &["incident_commander"]).await;
        let worker = "wk-sentinel";
        execute(
            s.store(),
            &format!(
                "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
                 level_granted_at, stats, version, created_at, updated_at) VALUES ('{worker}', '{worker}', \
                 '{owner_id}', NULL, 2, 'active', '[]', 0, '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
            ),
        )
        .await
        .expect("insert worker");
        let identity = post(
            s,
            &format!("/v1/workers/{worker}/identity"),
            &owner,
            json!({"name": t.of("POST /v1/workers/{id}/identity name")}),
        )
        .await;
        let agent_id = identity["principal"]["id"]
            .as_str()
            .or_else(|| identity["principal_id"].as_str())
            .or_else(|| identity["id"].as_str())
            .unwrap_or_else(|| panic!("the identity's principal id: {identity}"))
            .to_owned();
        let minted = post(
            s,
            &format!("/v1/workers/{worker}/tokens"),
            &owner,
            json!({"label": t.of("POST /v1/workers/{id}/tokens label")}),
        )
        .await;
        let agent = minted["token"].as_str().expect("worker token").to_owned();

        // A permit approved with a comment, then revoked with one.
        let permit = post(
            s,
            "/v1/permits",
            &master,
            json!({"task": standard_task("task-a"), "worker_id": worker, "evidence": evidence()}),
        )
        .await;
        let a = permit["id"].as_str().expect("permit id").to_owned();
        post(
            s,
            &format!("/v1/permits/{a}/approvals"),
            &tl,
            json!({"decision": "approve", "role": "tech_lead",
                   "comment": t.of("POST /v1/permits/{id}/approvals comment")}),
        )
        .await;
        post(
            s,
            &format!("/v1/permits/{a}/revoke"),
            &master,
            json!({"reason": "manual", "comment": t.of("POST /v1/permits/{id}/revoke comment")}),
        )
        .await;

        // A permit whose monitoring fires: its rollback is reported with notes.
        let permit = post(
            s,
            "/v1/permits",
            &master,
            json!({"task": standard_task("task-b"), "worker_id": worker, "evidence": evidence()}),
        )
        .await;
        let b = permit["id"].as_str().expect("permit id").to_owned();
        post(
            s,
            &format!("/v1/permits/{b}/approvals"),
            &tl,
            json!({"decision": "approve", "role": "tech_lead"}),
        )
        .await;
        post(s, &format!("/v1/permits/{b}/start"), &agent, json!({})).await;
        post(
            s,
            &format!("/v1/permits/{b}/telemetry"),
            &agent,
            json!({"error_rate": 0.5}),
        )
        .await;
        s.clock.advance_minutes(3);
        let fired = post(
            s,
            &format!("/v1/permits/{b}/telemetry"),
            &agent,
            json!({"error_rate": 0.5}),
        )
        .await;
        assert_eq!(fired["fired"], true, "{fired}");
        post(
            s,
            &format!("/v1/permits/{b}/rollback"),
            &agent,
            json!({"outcome": "succeeded", "notes": t.of("POST /v1/permits/{id}/rollback notes")}),
        )
        .await;

        // An emergency: declared, approved, resolved and reviewed, each with free text.
        let declared = post(
            s,
            "/v1/emergencies",
            &master,
            json!({"incident_id": "INC-1", "worker_id": worker,
                   "scope": {"environment": "production", "operations": ["restart"],
                             "services_affected": ["checkout"]},
                   "reason": t.of("POST /v1/emergencies reason"), "minutes": 30}),
        )
        .await;
        let e = declared["id"].as_str().expect("emergency id").to_owned();
        post(
            s,
            &format!("/v1/emergencies/{e}/approve"),
            &ic,
            json!({"role": "incident_commander",
                   "comment": t.of("POST /v1/emergencies/{id}/approve comment")}),
        )
        .await;
        post(
            s,
            &format!("/v1/emergencies/{e}/resolve"),
            &ic,
            json!({"resolution": t.of("POST /v1/emergencies/{id}/resolve resolution")}),
        )
        .await;
        post(
            s,
            &format!("/v1/emergencies/{e}/review"),
            &ic,
            json!({"summary": t.of("POST /v1/emergencies/{id}/review summary"),
                   "root_cause": t.of("POST /v1/emergencies/{id}/review root_cause"),
                   "actions": [t.of("POST /v1/emergencies/{id}/review actions")]}),
        )
        .await;

        // A legal hold, placed and released.
        let hold = post(
            s,
            "/v1/audit/holds",
            &admin,
            json!({"worker_id": worker, "reason": t.of("POST /v1/audit/holds reason")}),
        )
        .await;
        let hold = hold["id"].as_str().expect("hold id").to_owned();
        post(
            s,
            &format!("/v1/audit/holds/{hold}/release"),
            &admin,
            json!({"reason": t.of("POST /v1/audit/holds/{id}/release reason")}),
        )
        .await;

        // A promotion approval is refused (the worker is not eligible): its comment must not
        // be kept either.
        let (status, body) = s
            .post(
                &format!("/v1/workers/{worker}/promotions"),
                &owner,
                json!({"level": 3, "role": "engineering_manager",
                       "comment": t.of("POST /v1/workers/{id}/promotions comment")}),
            )
            .await;
        assert!(status.is_client_error(), "{status}: {body}");
        // Likewise an initial certification's approval (none was asked for).
        let (status, body) = s
            .post(
                &format!("/v1/workers/{worker}/initial-certification/approvals"),
                &owner,
                json!({"role": "engineering_manager",
                       "comment": t.of("POST /v1/workers/{id}/initial-certification/approvals comment")}),
            )
            .await;
        assert!(status.is_client_error(), "{status}: {body}");

        // The certification's story, each step with a reason.
        for (path, field) in [
            ("suspend", "POST /v1/workers/{id}/suspend reason"),
            ("reinstate", "POST /v1/workers/{id}/reinstate reason"),
            ("recertify", "POST /v1/workers/{id}/recertify reason"),
        ] {
            post(
                s,
                &format!("/v1/workers/{worker}/{path}"),
                &admin,
                json!({"reason": t.of(field)}),
            )
            .await;
        }
        post(
            s,
            &format!("/v1/workers/{worker}/revoke"),
            &admin,
            json!({"reason": t.of("POST /v1/workers/{id}/revoke reason")}),
        )
        .await;

        // Every personal field of the table was exercised.
        let sent = t.sent.lock().expect("lock").clone();
        for (field, class) in &table {
            match class {
                Field::Personal => {
                    assert!(sent.contains(*field), "no sentinel went through `{field}`");
                }
                Field::Operational(why) => {
                    assert!(!why.is_empty(), "`{field}` is operational: say why");
                }
            }
        }

        // Webhooks deliver everything (before erasure: they carry what the trail holds).
        let dispatcher = Dispatcher::new(s.store().clone(), s.clock.clone()).allowing_private(true);
        for _ in 0..50 {
            let report = dispatcher.run_once().await.expect("dispatch");
            if report.fanned_out == 0 && report.delivered == 0 && report.failed == 0 {
                break;
            }
        }
        let delivered = bodies.lock().expect("lock").clone();
        let seqs: BTreeSet<u64> = delivered
            .iter()
            .filter_map(|b| serde_json::from_slice::<Value>(b).ok()?["seq"].as_u64())
            .collect();
        let expected: BTreeSet<u64> = (subscribed_at + 1..=s.audit_len().await).collect();
        assert_eq!(
            seqs, expected,
            "every event after the subscription was delivered"
        );

        // Erase every principal that wrote or carried a sentinel.
        for id in [&admin_id, &master_id, &owner_id, &tl_id, &ic_id, &agent_id] {
            let (status, body) = s
                .post(&format!("/v1/principals/{id}/erase"), &s.admin, json!({}))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }

        // Nowhere: the database, an export, the webhook payloads.
        assert_eq!(
            find_plaintext(s.store(), &t.prefix).await.expect("scan"),
            Vec::<String>::new(),
            "plaintext personal text left in the database"
        );
        let (status, _, export) = s.get_raw("/v1/audit/export", &s.admin).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !String::from_utf8_lossy(&export).contains(&t.prefix),
            "plaintext personal text in the export"
        );
        for body in &delivered {
            let text = String::from_utf8_lossy(body);
            assert!(
                !text.contains(&t.prefix),
                "plaintext personal text in a webhook payload: {text}"
            );
        }
        // And the sealed values were there to be read before: an auditor reads them
        // through `personal`, and after erasure sees the erased marker.
        let (status, page) = s
            .get("/v1/audit/events?type=emergency.approved", &s.admin)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let seq = page["items"][0]["seq"]
            .as_u64()
            .expect("emergency.approved");
        assert_eq!(
            page["personal"][seq.to_string()],
            json!({"subject": ic_id, "erased": true}),
            "{page}"
        );
    }
);
