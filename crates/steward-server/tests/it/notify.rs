//! Outbound webhooks against a real receiver (an axum server on a loopback port inside the
//! test), and `/metrics` after a known workload; on SQLite and on PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use steward_policy::Role;
use steward_server::AppState;
use steward_server::webhooks::Dispatcher;
use steward_store::testing::execute;
use steward_store::{Actor, ActorKind, NewEvent, PrincipalKind, Subject};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use crate::support::{TestServer, full_report, server_test};

const SECRET: &str = "whsec-0123456789abcdef";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    headers: HeaderMap,
    body: Bytes,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

#[derive(Debug, Default)]
struct Behaviour {
    hits: Mutex<Vec<Hit>>,
    /// Answer 500 to this many requests first.
    fail_first: usize,
    /// Never answer (until the test ends).
    hang: bool,
    answered: AtomicUsize,
}

/// A webhook receiver on a loopback port.
struct Receiver {
    url: String,
    state: Arc<Behaviour>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(fail_first: usize, hang: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Receiver::on(listener, fail_first, hang)
    }

    fn on(listener: TcpListener, fail_first: usize, hang: bool) -> Receiver {
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let state = Arc::new(Behaviour {
            fail_first,
            hang,
            ..Behaviour::default()
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, state, task }
    }

    async fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().await.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<Arc<Behaviour>>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumStatus {
    state.hits.lock().await.push(Hit { headers, body });
    if state.hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let n = state.answered.fetch_add(1, Ordering::SeqCst);
    if n < state.fail_first {
        AxumStatus::INTERNAL_SERVER_ERROR
    } else {
        AxumStatus::OK
    }
}

/// Receivers here listen on loopback: the server accepts them as webhook targets only
/// with `--webhook-allow-private` (issue 9, item 7).
fn allow_private(state: AppState) -> AppState {
    state.with_webhook_allow_private(true)
}

fn dispatcher(s: &TestServer) -> Dispatcher {
    Dispatcher::new(s.store().clone(), s.clock.clone()).allowing_private(true)
}

async fn subscribe(s: &TestServer, url: &str, types: Value, format: &str) -> String {
    let (status, body) = s
        .post(
            "/v1/webhooks",
            &s.admin,
            json!({"url": url, "event_types": types, "format": format, "secret": SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.get("secret").is_none(), "a given secret is not echoed");
    body["id"].as_str().expect("webhook id").to_owned()
}

/// Creates a principal through the API: one `principal.created` event.
async fn make_principal(s: &TestServer, name: &str) {
    let (status, body) = s
        .post(
            "/v1/principals",
            &s.admin,
            json!({"kind": "human", "name": name, "roles": []}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn deliveries(s: &TestServer, id: &str) -> Vec<Value> {
    let (status, body) = s
        .get(&format!("/v1/webhooks/{id}/deliveries"), &s.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("a list").clone()
}

fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

server_test!(
    a_delivery_is_signed_with_the_subscription_secret,
    configure = allow_private,
    |s| {
        let receiver = Receiver::start(0, false).await;
        let id = subscribe(s, &receiver.url, json!(["principal.*"]), "json").await;
        make_principal(s, "alice").await;
        let seq = s.audit_len().await;

        let report = dispatcher(s).run_once().await.expect("dispatch");
        assert_eq!((report.fanned_out, report.delivered), (1, 1), "{report:?}");
        let hits = receiver.hits().await;
        assert_eq!(hits.len(), 1);
        let hit = &hits[0];
        let timestamp = hit.header("x-steward-timestamp");
        let mut signed = timestamp.as_bytes().to_vec();
        signed.push(b'.');
        signed.extend_from_slice(&hit.body);
        assert_eq!(
            hit.header("x-steward-signature"),
            format!("sha256={}", hmac_hex(SECRET, &signed))
        );
        assert_ne!(
            hit.header("x-steward-signature"),
            format!("sha256={}", hmac_hex("another-secret-0000", &signed)),
            "the signature depends on the secret"
        );
        assert_eq!(timestamp, "1800000000", "seconds from the injectable clock");
        assert_eq!(hit.header("x-steward-event"), "principal.created");
        assert_eq!(hit.header("x-steward-delivery"), seq.to_string());
        let body = hit.json();
        assert_eq!(
            (body["seq"].as_u64(), body["type"].as_str()),
            (Some(seq), Some("principal.created"))
        );
        // Personal values travel as stored: encrypted for their subject.
        assert!(body["data"]["personal"]["ciphertext"].is_string(), "{body}");
        assert!(!body.to_string().contains("alice"), "{body}");

        let log = deliveries(s, &id).await;
        assert_eq!(log.len(), 1);
        assert_eq!(
            (
                log[0]["status"].as_str(),
                log[0]["attempts"].as_i64(),
                log[0]["last_status_code"].as_i64()
            ),
            (Some("delivered"), Some(1), Some(200))
        );
        // Nothing shows the secret again: not the listing, not the audit trail.
        let (_, listing) = s.get("/v1/webhooks", &s.admin).await;
        assert_eq!(listing[0]["id"], id.as_str());
        assert!(!listing.to_string().contains(SECRET), "{listing}");
        let trail = s.store().events(1, 10_000).await.expect("events");
        let created = trail
            .iter()
            .find(|e| e.event_type == "webhook.created")
            .expect("webhook.created");
        assert_eq!(
            created.data["origin"],
            receiver.url.trim_end_matches("/hook")
        );
        assert!(
            !serde_json::to_string(&trail)
                .expect("json")
                .contains(SECRET)
        );

        // A second tick finds nothing new to send.
        let report = dispatcher(s).run_once().await.expect("dispatch");
        assert_eq!(
            (report.fanned_out, report.delivered, report.failed),
            (0, 0, 0)
        );
        assert_eq!(receiver.hits().await.len(), 1);
    }
);

server_test!(
    a_generated_secret_is_shown_once_and_bad_input_is_refused,
    configure = allow_private,
    |s| {
        let (status, body) = s
            .post(
                "/v1/webhooks",
                &s.admin,
                json!({"url": "https://hooks.example.com/x", "event_types": ["*"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(
            body["secret"].as_str().is_some_and(|v| v.len() >= 16),
            "{body}"
        );
        assert_eq!(body["format"], "json");
        let (_, listing) = s.get("/v1/webhooks", &s.admin).await;
        assert!(listing[0].get("secret").is_none(), "{listing}");

        let before = s.audit_len().await;
        for (payload, field) in [
            (json!({"url": "ftp://x", "event_types": ["*"]}), "url"),
            (
                json!({"url": "https://x", "event_types": []}),
                "event_types",
            ),
            (
                json!({"url": "https://x", "event_types": ["permit.*", "Permit"]}),
                "event_types[1]",
            ),
            (
                json!({"url": "https://x", "event_types": ["*"], "secret": "short"}),
                "secret",
            ),
        ] {
            let (status, body) = s.post("/v1/webhooks", &s.admin, payload).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["field"], field, "{body}");
        }
        let (status, body) = s
            .post(
                "/v1/webhooks",
                &s.admin,
                json!({"url": "https://x", "event_types": ["*"], "format": "xml"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(s.audit_len().await, before, "nothing written");

        let (_, auditor) = s.human("auditor-1", &[Role::Auditor]).await;
        let (status, _) = s
            .post(
                "/v1/webhooks",
                &auditor,
                json!({"url": "https://x/y", "event_types": ["*"]}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s.get("/v1/webhooks", &auditor).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s.get("/v1/webhooks/nope/deliveries", &auditor).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

server_test!(
    a_receiver_failing_twice_gets_three_attempts_with_backoff,
    configure = allow_private,
    |s| {
        let receiver = Receiver::start(2, false).await;
        let id = subscribe(s, &receiver.url, json!(["principal.created"]), "json").await;
        make_principal(s, "bob").await;
        let d = dispatcher(s);

        let report = d.run_once().await.expect("dispatch");
        assert_eq!(report.failed, 1);
        let log = deliveries(s, &id).await;
        assert_eq!(
            (
                log[0]["status"].as_str(),
                log[0]["attempts"].as_i64(),
                log[0]["last_status_code"].as_i64()
            ),
            (Some("pending"), Some(1), Some(500))
        );
        let now = s.clock.now().millis();
        assert_eq!(
            log[0]["next_attempt_at_ms"].as_i64(),
            Some(now + 30_000),
            "first backoff: 30 s"
        );

        // Not due yet: nothing is sent.
        let report = d.run_once().await.expect("dispatch");
        assert_eq!((report.delivered, report.failed), (0, 0));
        assert_eq!(receiver.hits().await.len(), 1);

        s.clock.advance_minutes(1);
        let report = d.run_once().await.expect("dispatch");
        assert_eq!(report.failed, 1);
        let log = deliveries(s, &id).await;
        assert_eq!(log[0]["attempts"], 2);
        assert_eq!(
            log[0]["next_attempt_at_ms"].as_i64(),
            Some(s.clock.now().millis() + 60_000),
            "second backoff: 1 min"
        );

        s.clock.advance_minutes(1);
        let report = d.run_once().await.expect("dispatch");
        assert_eq!((report.delivered, report.failed), (1, 0));
        let log = deliveries(s, &id).await;
        assert_eq!(log.len(), 1);
        assert_eq!(
            (
                log[0]["status"].as_str(),
                log[0]["attempts"].as_i64(),
                log[0]["last_status_code"].as_i64()
            ),
            (Some("delivered"), Some(3), Some(200))
        );
        assert_eq!(
            log[0]["delivered_at_ms"].as_i64(),
            Some(s.clock.now().millis())
        );
        let hits = receiver.hits().await;
        assert_eq!(hits.len(), 3);
        let ids: Vec<&str> = hits
            .iter()
            .map(|h| h.header("x-steward-delivery"))
            .collect();
        assert!(
            ids.iter().all(|i| *i == ids[0]),
            "a retry repeats the idempotency id: {ids:?}"
        );
    }
);

server_test!(
    a_delivery_is_given_up_after_the_last_attempt,
    configure = allow_private,
    |s| {
        let receiver = Receiver::start(usize::MAX, false).await;
        let id = subscribe(s, &receiver.url, json!(["principal.created"]), "json").await;
        make_principal(s, "carol").await;
        let d = dispatcher(s);
        for _ in 0..steward_store::webhook::MAX_ATTEMPTS {
            d.run_once().await.expect("dispatch");
            s.clock.advance_minutes(61);
        }
        let log = deliveries(s, &id).await;
        assert_eq!(
            (log[0]["status"].as_str(), log[0]["attempts"].as_i64()),
            (
                Some("failed"),
                Some(i64::from(steward_store::webhook::MAX_ATTEMPTS))
            )
        );
        assert_eq!(
            log[0]["last_error"],
            "the receiver answered 500 Internal Server Error"
        );
        d.run_once().await.expect("dispatch");
        assert_eq!(receiver.hits().await.len(), 10, "no attempt after `failed`");
    }
);

server_test!(
    slack_format_summarises_the_event,
    configure = allow_private,
    |s| {
        let receiver = Receiver::start(0, false).await;
        subscribe(s, &receiver.url, json!(["permit.requested"]), "slack").await;
        let c = cast(s).await;
        let permit = request_permit(s, &c, "wk-2", standard_task("deploy-api")).await;
        let permit_id = permit["id"].as_str().expect("id");
        dispatcher(s).run_once().await.expect("dispatch");
        let hits = receiver.hits().await;
        assert_eq!(hits.len(), 1);
        let body = hits[0].json();
        let text = body["text"].as_str().expect("text");
        assert_eq!(
            text,
            format!(
                "Steward: *permit.requested*: permit `{permit_id}`, worker `wk-2`, task `deploy-api`, level 2 by agent `{}`",
                c.master_id
            )
        );
        assert_eq!(body["blocks"][0]["type"], "section");
        assert_eq!(
            body["blocks"][0]["text"],
            json!({"type": "mrkdwn", "text": text})
        );
        assert_eq!(body["blocks"][1]["type"], "context");
        assert!(
            body.as_object()
                .expect("object")
                .keys()
                .all(|k| k == "text" || k == "blocks")
        );
    }
);

server_test!(
    a_dead_receiver_never_slows_the_workflow_and_catches_up,
    configure = allow_private,
    |s| {
        // A receiver that accepts the connection and never answers.
        let hanging = Receiver::start(0, true).await;
        let hanging_id = subscribe(s, &hanging.url, json!(["principal.created"]), "json").await;
        // A receiver that is down: its port refuses connections until it comes back.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let down = subscribe(
            s,
            &format!("http://{addr}/hook"),
            json!(["permit.*"]),
            "json",
        )
        .await;
        make_principal(s, "dave").await;

        let slow =
            Dispatcher::with_timeout(s.store().clone(), s.clock.clone(), Duration::from_secs(120))
                .allowing_private(true);
        let in_flight = tokio::spawn(async move { slow.run_once().await });
        // Wait until the hanging receiver holds the request.
        for _ in 0..200 {
            if !hanging.hits().await.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(hanging.hits().await.len(), 1, "the delivery is in flight");

        // The workflow goes on while that delivery hangs and the other receiver is down.
        let c = cast(s).await;
        let workflow = async {
            let permit = request_permit(s, &c, "wk-2", standard_task("deploy-api")).await;
            let id = permit["id"].as_str().expect("id").to_owned();
            let (status, body) = approve(s, &c.tech_lead, &id).await;
            assert_eq!(
                (status, body["state"].as_str()),
                (StatusCode::OK, Some("active")),
                "{body}"
            );
            id
        };
        let permit_id = tokio::time::timeout(Duration::from_secs(30), workflow)
            .await
            .expect("request and approval completed while a delivery hung");
        assert!(
            !in_flight.is_finished(),
            "the hanging delivery is still in flight"
        );
        in_flight.abort();
        let (status, _) = s
            .delete(&format!("/v1/webhooks/{hanging_id}"), &s.admin)
            .await;
        assert_eq!(status, StatusCode::OK);

        // The permit events wait in the down receiver's log…
        let report = dispatcher(s).run_once().await.expect("dispatch");
        assert!(report.failed >= 1, "{report:?}");
        let log = deliveries(s, &down).await;
        let types: Vec<&str> = log
            .iter()
            .filter_map(|d| d["event_type"].as_str())
            .collect();
        assert_eq!(
            types,
            [
                "permit.requested",
                "permit.review_started",
                "permit.approval_recorded",
                "permit.approved",
                "permit.issued"
            ]
        );
        assert!(
            log.iter()
                .all(|d| d["status"] == "pending" && d["last_status_code"].is_null())
        );
        assert!(
            log.iter().all(|d| d["last_error"]
                .as_str()
                .is_some_and(|e| !e.contains(&addr.to_string()))),
            "errors do not carry the URL: {log:?}"
        );

        // …and go out once it is back.
        let back = Receiver::on(TcpListener::bind(addr).await.expect("rebind"), 0, false);
        s.clock.advance_minutes(5);
        dispatcher(s).run_once().await.expect("dispatch");
        let hits = back.hits().await;
        let types: Vec<&str> = hits.iter().map(|h| h.header("x-steward-event")).collect();
        assert_eq!(types.len(), 5, "{types:?}");
        assert!(
            hits.iter()
                .all(|h| h.json()["subject"]["permit_id"] == permit_id.as_str())
        );
        assert!(
            deliveries(s, &down)
                .await
                .iter()
                .all(|d| d["status"] == "delivered")
        );
    }
);

server_test!(
    a_deleted_subscription_stops_its_deliveries,
    configure = allow_private,
    |s| {
        let receiver = Receiver::start(1, false).await;
        let id = subscribe(s, &receiver.url, json!(["principal.created"]), "json").await;
        make_principal(s, "erin").await;
        dispatcher(s).run_once().await.expect("dispatch");
        assert_eq!(receiver.hits().await.len(), 1, "one failed attempt");

        let (status, body) = s.delete(&format!("/v1/webhooks/{id}"), &s.admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["deleted_at_ms"].as_i64().is_some());
        make_principal(s, "frank").await;
        s.clock.advance_minutes(5);
        let report = dispatcher(s).run_once().await.expect("dispatch");
        assert_eq!(
            (report.fanned_out, report.delivered, report.failed),
            (0, 0, 0)
        );
        assert_eq!(
            receiver.hits().await.len(),
            1,
            "nothing sent after deletion"
        );
        let log = deliveries(s, &id).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["status"], "cancelled");

        let (status, _) = s.get("/v1/webhooks", &s.admin).await;
        assert_eq!(status, StatusCode::OK);
        let events = s.store().events(1, 10_000).await.expect("events");
        let deleted = events
            .iter()
            .filter(|e| e.event_type == "webhook.deleted")
            .count();
        let (status, _) = s.delete(&format!("/v1/webhooks/{id}"), &s.admin).await;
        assert_eq!(status, StatusCode::OK, "deleting again is idempotent");
        let again = s.store().events(1, 10_000).await.expect("events");
        assert_eq!(
            (
                deleted,
                again
                    .iter()
                    .filter(|e| e.event_type == "webhook.deleted")
                    .count()
            ),
            (1, 1)
        );
        let (status, _) = s.delete("/v1/webhooks/nope", &s.admin).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

server_test!(
    racing_dispatchers_send_each_delivery_once,
    configure = allow_private,
    |s| {
        let receiver = Receiver::start(0, false).await;
        subscribe(s, &receiver.url, json!(["principal.created"]), "json").await;
        for i in 0..20 {
            make_principal(s, &format!("p{i}")).await;
        }
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let d = dispatcher(s);
                tokio::spawn(async move { d.run_once().await })
            })
            .collect();
        let mut delivered = 0;
        for racer in racers {
            delivered += racer.await.expect("join").expect("dispatch").delivered;
        }
        dispatcher(s).run_once().await.expect("dispatch");
        let hits = receiver.hits().await;
        let mut seqs: Vec<&str> = hits
            .iter()
            .map(|h| h.header("x-steward-delivery"))
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!((hits.len(), seqs.len()), (20, 20), "each sent exactly once");
        assert!(delivered <= 20);
    }
);

// ----- /metrics -----

struct Cast {
    master: String,
    master_id: String,
    worker_token: String,
    tech_lead: String,
}

/// A master, an owner, workers `wk-0` (level 0) and `wk-2` (level 2, with its agent), and
/// a tech lead.
async fn cast(s: &TestServer) -> Cast {
    let (master_id, master) = s
        .principal("master-1", PrincipalKind::Agent, &[Role::Master])
        .await;
    let (owner_id, _) = s.human("owner-1", &[Role::EngineeringManager]).await;
    let (agent_id, worker_token) = s
        .principal("worker-agent-1", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let (_, tech_lead) = s.human("tl-1", &[Role::TechLead]).await;
    for (id, level, agent) in [("wk-2", 2, Some(agent_id.as_str())), ("wk-0", 0, None)] {
        let principal = agent.map_or("NULL".to_owned(), |p| format!("'{p}'"));
        execute(
            s.store(),
            &format!(
                "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
                 level_granted_at, stats, version, created_at, updated_at) VALUES ('{id}', '{id}', '{owner_id}', \
                 {principal}, {level}, 'active', '[]', 0, '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
            ),
        )
        .await
        .expect("insert worker");
    }
    Cast {
        master,
        master_id,
        worker_token,
        tech_lead,
    }
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

async fn request_permit(s: &TestServer, c: &Cast, worker: &str, task: Value) -> Value {
    let (status, body) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": task, "worker_id": worker, "evidence": evidence()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn approve(s: &TestServer, token: &str, id: &str) -> (StatusCode, Value) {
    s.post(
        &format!("/v1/permits/{id}/approvals"),
        token,
        json!({"decision": "approve", "role": "tech_lead"}),
    )
    .await
}

/// start → complete with `outcome` → close with `actual_level`.
async fn run_and_close(s: &TestServer, c: &Cast, id: &str, outcome: &str, actual_level: u8) {
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/start"),
            &c.worker_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/complete"),
            &c.worker_token,
            json!({"outcome": outcome, "report": full_report("deploy")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/close"),
            &c.master,
            json!({"actual_level": actual_level}),
        )
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("closed")),
        "{body}"
    );
}

/// What other changes record (authorize, monitoring, emergency, timers), appended the way
/// they append them.
async fn record(
    s: &TestServer,
    event_type: &str,
    level: u8,
    permit: &str,
    ts_ms: i64,
    data: Value,
) {
    s.store()
        .record_event(NewEvent {
            ts_ms,
            event_type: event_type.into(),
            actor: Actor {
                kind: ActorKind::System,
                id: "steward".into(),
                roles: Vec::new(),
                channel: None,
            },
            subject: Subject {
                task_id: None,
                worker_id: Some("wk-2".into()),
                permit_id: Some(permit.into()),
            },
            level: Some(steward_policy::Level::new(level).expect("level")),
            data,
        })
        .await
        .expect("record event");
}

/// Checks every line of a Prometheus text exposition and returns its samples as
/// `name{labels}` → value.
fn parse_exposition(text: &str) -> std::collections::BTreeMap<String, f64> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut typed: std::collections::BTreeMap<String, String> = Default::default();
    let mut helped = std::collections::BTreeSet::new();
    let mut samples = std::collections::BTreeMap::new();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(valid_name(name) && !help.is_empty(), "{line}");
            assert!(
                helped.insert(name.to_owned()),
                "one HELP per family: {line}"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(valid_name(name), "{line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(helped.contains(name), "HELP before TYPE: {line}");
            assert!(
                typed.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{line}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "unexpected line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("sample value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        assert!(valid_name(name), "{line}");
        // labels: key="value" pairs, values with \\ \" \n escapes only.
        let mut rest = labels;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").expect("key=\"");
            assert!(valid_name(key), "{line}");
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().expect("closing quote") {
                    (_, '\\') => {
                        let (_, e) = chars.next().expect("escape");
                        assert!(['\\', '"', 'n'].contains(&e), "{line}");
                    }
                    (i, '"') => break i,
                    _ => {}
                }
            };
            rest = after[end + 1..]
                .strip_prefix(',')
                .unwrap_or(&after[end + 1..]);
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "sample before its TYPE: {line}");
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "duplicate series {series}"
        );
    }
    samples
}

server_test!(
    metrics_report_a_known_workload,
    configure = allow_private,
    |s| {
        let c = cast(s).await;
        let t0 = s.clock.now().millis();
        let (status, analysis) = s
            .post("/v1/analyze", &c.master, standard_task("deploy-api"))
            .await;
        assert_eq!(status, StatusCode::OK);
        let worker_type = analysis["certification_decision"]["worker_type"]
            .as_str()
            .expect("worker type")
            .to_owned();

        // A: level 2, approved after 10 minutes, succeeds, observed as level 1 (over).
        let a = request_permit(s, &c, "wk-2", standard_task("deploy-api")).await;
        assert_eq!(
            (a["level"].as_u64(), a["state"].as_str()),
            (Some(2), Some("under_review"))
        );
        let a = a["id"].as_str().expect("id").to_owned();
        s.clock.advance_minutes(10);
        let (status, body) = approve(s, &c.tech_lead, &a).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (StatusCode::OK, Some("active")),
            "{body}"
        );
        run_and_close(s, &c, &a, "success", 1).await;

        // B: level 2, rejected.
        let b = request_permit(s, &c, "wk-2", standard_task("deploy-api-2")).await;
        let b = b["id"].as_str().expect("id").to_owned();
        let (status, body) = s
            .post(
                &format!("/v1/permits/{b}/approvals"),
                &c.tech_lead,
                json!({"decision": "reject", "role": "tech_lead"}),
            )
            .await;
        assert_eq!(
            (status, body["state"].as_str()),
            (StatusCode::OK, Some("rejected")),
            "{body}"
        );

        // C: read-only level 1, issued at once, rolled back, observed as level 3 (under).
        let task = json!({"id": "logs", "description": "read production logs", "read_only": true, "environment": "production"});
        let p = request_permit(s, &c, "wk-2", task).await;
        assert_eq!(
            (p["level"].as_u64(), p["state"].as_str()),
            (Some(1), Some("active")),
            "{p}"
        );
        run_and_close(s, &c, p["id"].as_str().expect("id"), "rolled_back", 3).await;

        // A level-0 worker in production: a hard block, recorded though nothing else is.
        let (status, body) = s
        .post("/v1/permits", &c.master, json!({"task": standard_task("deploy-api-3"), "worker_id": "wk-0", "evidence": evidence()}))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

        // An out-of-range actual level is refused.
        let (status, body) = s
            .post(
                &format!("/v1/permits/{b}/close"),
                &c.master,
                json!({"actual_level": 5}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // Events of other changes, with the types and levels they use.
        record(s, "rollback.opened", 2, &a, t0 + 3_600_000, json!({})).await;
        record(s, "rollback.completed", 2, &a, t0 + 3_690_000, json!({})).await;
        record(s, "rollback.escalated", 2, &a, t0 + 3_700_000, json!({})).await;
        record(s, "permit.escalated", 3, &b, t0, json!({})).await;
        record(
            s,
            "authorize.denied",
            2,
            &a,
            t0,
            json!({"rule": "scope_violation"}),
        )
        .await;
        record(
            s,
            "authorize.allowed",
            2,
            &a,
            t0,
            json!({"worker_type": "union"}),
        )
        .await;
        // An emergency permit, as the emergency path would create it.
        execute(
            s.store(),
            &format!(
                "INSERT INTO permits (id, task_id, task, analysis, permit_type, level, worker_id, \
             requester_id, state, evidence, constraints, created_at, updated_at) VALUES \
             ('em-1', 'incident-7', '{{}}', '{{}}', 'emergency', 4, 'wk-2', '{}', 'active', \
             '{{}}', '{{}}', {t0}, {t0})",
                c.master_id
            ),
        )
        .await
        .expect("insert emergency permit");

        let (status, _) = s.get("/metrics", "not-a-token").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = s.get("/metrics", &c.master).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, auditor) = s.human("auditor-1", &[Role::Auditor]).await;
        let (status, ctype, bytes) = s.get_raw("/metrics", &auditor).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            ctype.as_deref(),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = String::from_utf8(bytes).expect("utf-8");
        let samples = parse_exposition(&text);

        let wt = worker_type.as_str();
        let expected: Vec<(String, f64)> = vec![
        (format!(r#"steward_decisions_total{{kind="analysis",decision="scored",level="2",worker_type="{wt}"}}"#), 1.0),
        (format!(r#"steward_decisions_total{{kind="permit",decision="approved",level="2",worker_type="{wt}"}}"#), 1.0),
        (format!(r#"steward_decisions_total{{kind="permit",decision="rejected",level="2",worker_type="{wt}"}}"#), 1.0),
        (r#"steward_decisions_total{kind="authorize",decision="allowed",level="2",worker_type="union"}"#.into(), 1.0),
        (r#"steward_approval_time_seconds_bucket{level="2",le="300"}"#.into(), 0.0),
        (r#"steward_approval_time_seconds_bucket{level="2",le="900"}"#.into(), 1.0),
        (r#"steward_approval_time_seconds_bucket{level="2",le="+Inf"}"#.into(), 1.0),
        (r#"steward_approval_time_seconds_sum{level="2"}"#.into(), 600.0),
        (r#"steward_approval_time_seconds_count{level="2"}"#.into(), 1.0),
        (r#"steward_approval_time_seconds_bucket{level="1",le="60"}"#.into(), 1.0),
        (r#"steward_approval_time_seconds_sum{level="1"}"#.into(), 0.0),
        (r#"steward_permit_outcomes_total{level="2",outcome="success"}"#.into(), 1.0),
        (r#"steward_permit_outcomes_total{level="1",outcome="rolled_back"}"#.into(), 1.0),
        (r#"steward_permit_success_ratio{level="2"}"#.into(), 1.0),
        (r#"steward_permit_success_ratio{level="1"}"#.into(), 0.0),
        (r#"steward_hard_blocks_total{source="permit_request",level="2",rule="non_union_outside_development"}"#.into(), 1.0),
        (r#"steward_hard_blocks_total{source="authorize",level="2",rule="scope_violation"}"#.into(), 1.0),
        (r#"steward_emergency_permits{level="4",state="active"}"#.into(), 1.0),
        (r#"steward_sla_breaches_total{kind="approval",level="3"}"#.into(), 1.0),
        (r#"steward_sla_breaches_total{kind="rollback",level="2"}"#.into(), 1.0),
        (r#"steward_rollbacks_total{status="opened",level="2"}"#.into(), 1.0),
        (r#"steward_rollbacks_total{status="completed",level="2"}"#.into(), 1.0),
        (r#"steward_rollback_duration_seconds_bucket{level="2",le="60"}"#.into(), 0.0),
        (r#"steward_rollback_duration_seconds_bucket{level="2",le="120"}"#.into(), 1.0),
        (r#"steward_rollback_duration_seconds_sum{level="2"}"#.into(), 90.0),
        (r#"steward_certification_feedback_total{level="2",verdict="over_certified"}"#.into(), 1.0),
        (r#"steward_certification_feedback_total{level="2",verdict="under_certified"}"#.into(), 0.0),
        (r#"steward_certification_feedback_total{level="1",verdict="under_certified"}"#.into(), 1.0),
        (r#"steward_over_certification_ratio{level="2"}"#.into(), 1.0),
        (r#"steward_under_certification_ratio{level="1"}"#.into(), 1.0),
        (r#"steward_under_certification_ratio{level="2"}"#.into(), 0.0),
    ];
        for (series, value) in &expected {
            assert_eq!(samples.get(series), Some(value), "{series}\n{text}");
        }
        // Histogram buckets are cumulative, and `+Inf` equals `_count`.
        for (family, level) in [
            ("steward_approval_time_seconds", "1"),
            ("steward_approval_time_seconds", "2"),
            ("steward_rollback_duration_seconds", "2"),
        ] {
            let prefix = format!(r#"{family}_bucket{{level="{level}",le=""#);
            let mut buckets: Vec<(f64, f64)> = samples
                .iter()
                .filter_map(|(k, v)| {
                    let le = k.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                    Some((
                        if le == "+Inf" {
                            f64::INFINITY
                        } else {
                            le.parse().ok()?
                        },
                        *v,
                    ))
                })
                .collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(buckets.len() > 2, "{prefix}");
            assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
            let count = samples[&format!(r#"{family}_count{{level="{level}"}}"#)];
            assert_eq!(
                buckets.last().map(|b| (b.0, b.1)),
                Some((f64::INFINITY, count))
            );
        }
        // Every metric of SPEC §10 has a family, samples or not.
        for family in [
            "steward_decisions_total",
            "steward_approval_time_seconds",
            "steward_permit_outcomes_total",
            "steward_permit_success_ratio",
            "steward_hard_blocks_total",
            "steward_emergency_permits",
            "steward_sla_breaches_total",
            "steward_rollbacks_total",
            "steward_rollback_duration_seconds",
            "steward_certification_feedback_total",
            "steward_over_certification_ratio",
            "steward_under_certification_ratio",
        ] {
            assert!(text.contains(&format!("\n# TYPE {family} ")), "{family}");
        }
        // The close event carries the feedback.
        let closed: Vec<_> = s
            .store()
            .events(1, 10_000)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.event_type == "permit.closed")
            .collect();
        assert_eq!(closed[0].data["actual_level"], 1);
        assert_eq!(closed[0].data["certification_feedback"], "over_certified");
    }
);

// Issue 9, item 6: a subscription to `audit.checkpoint` is a checkpoint witness. It gets
// each signed checkpoint as `GET /v1/audit/checkpoints/latest` returns it, under that
// event name, and the checkpoint verifies with the server's key; a `*` subscription still
// gets the `audit.checkpoint_created` event, whose data is the same checkpoint.
server_test!(
    issue_9_a_checkpoint_witness_receives_each_signed_checkpoint,
    configure = allow_private,
    |s| {
        let witness = Receiver::start(0, false).await;
        let everything = Receiver::start(0, false).await;
        subscribe(s, &witness.url, json!(["audit.checkpoint"]), "json").await;
        subscribe(s, &everything.url, json!(["*"]), "json").await;
        make_principal(s, "alice").await;
        let (status, made) = s.post("/v1/audit/checkpoints", &s.admin, json!(null)).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        let (_, latest) = s.get("/v1/audit/checkpoints/latest", &s.admin).await;
        let seq = s.audit_len().await;

        dispatcher(s).run_once().await.expect("dispatch");
        let hits = witness.hits().await;
        assert_eq!(hits.len(), 1, "only the checkpoint: {hits:?}");
        assert_eq!(hits[0].header("x-steward-event"), "audit.checkpoint");
        assert_eq!(hits[0].header("x-steward-delivery"), seq.to_string());
        assert_eq!(hits[0].json(), latest);
        let published: steward_audit::PublishedCheckpoint =
            serde_json::from_slice(&hits[0].body).expect("the published form");
        steward_audit::verify_checkpoint(
            &published.into(),
            &steward_audit::public_key(&crate::support::TEST_AUDIT_KEY),
        )
        .expect("the delivered checkpoint verifies");
        // What the witness received is a witness the API accepts.
        let (status, result) = s
            .post("/v1/audit/verify/checkpoint", &s.admin, hits[0].json())
            .await;
        assert_eq!(
            (status, &result["ok"]),
            (StatusCode::OK, &json!(true)),
            "{result}"
        );

        let event = everything
            .hits()
            .await
            .into_iter()
            .find(|hit| hit.header("x-steward-event") == "audit.checkpoint_created")
            .expect("the checkpoint event");
        assert_eq!(event.json()["data"], latest);

        // `audit.checkpoint` is a documented, accepted name; a near miss matches nothing.
        let (status, body) = s
            .post(
                "/v1/webhooks",
                &s.admin,
                json!({"url": witness.url, "event_types": ["audit.checkpoint", "audit.*"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
);

server_test!(
    every_webhook_response_is_documented_by_its_schema,
    configure = allow_private,
    |s| {
        // Issue 10, item 4: subscriptions and deliveries are documented field by field.
        let (_, doc) = s.get("/openapi.json", &s.admin).await;
        let documented = |value: &Value, schema: &str, path: &str| {
            let schema = json!({"$ref": format!("#/components/schemas/{schema}")});
            crate::reports::assert_documented(&doc, value, &schema, path);
        };
        let receiver = Receiver::start(0, false).await;
        let (status, created) = s
            .post(
                "/v1/webhooks",
                &s.admin,
                json!({"url": receiver.url, "event_types": ["principal.*"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert!(
            created["secret"].is_string(),
            "generated, shown once: {created}"
        );
        documented(&created, "CreatedWebhook", "created");
        let id = created["id"].as_str().expect("id").to_owned();
        make_principal(s, "bob").await;
        dispatcher(s).run_once().await.expect("dispatch");
        let (status, listing) = s.get("/v1/webhooks", &s.admin).await;
        assert_eq!(status, StatusCode::OK, "{listing}");
        for hook in listing.as_array().expect("a list") {
            documented(hook, "WebhookView", "listed");
        }
        let log = deliveries(s, &id).await;
        assert_eq!(log.len(), 1, "{log:?}");
        documented(&log[0], "DeliveryView", "delivery");
        let (status, deleted) = s.delete(&format!("/v1/webhooks/{id}"), &s.admin).await;
        assert_eq!(status, StatusCode::OK, "{deleted}");
        assert!(deleted["deleted_at_ms"].is_i64(), "{deleted}");
        documented(&deleted, "WebhookView", "deleted");
    }
);
