//! `POST /v1/authorize` over HTTP (SPEC §7): each rule denies in the SPEC's order, what is
//! audited, scope violations revoke, revocations and suspensions are seen by the very next
//! decision — also on a second instance sharing the database — and bad input.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::{Policy, Role};
use steward_server::{AppState, router, serve};
use steward_store::testing::execute;
use steward_store::{PrincipalKind, Store};

use crate::support::{TestServer, server_test};

/// A worker at some level with its agent, its owner (a master agent) and an approver.
pub(crate) struct Cast {
    pub worker_id: String,
    pub worker_token: String,
    pub master: String,
    pub approver: String,
}

pub(crate) async fn cast(s: &TestServer, name: &str, level: u8, status: &str) -> Cast {
    let (master_id, master) = s
        .principal(
            &format!("{name}-master"),
            PrincipalKind::Agent,
            &[Role::Master],
        )
        .await;
    let (agent_id, worker_token) = s
        .principal(
            &format!("{name}-agent"),
            PrincipalKind::Agent,
            &[Role::Worker],
        )
        .await;
    let (_, approver) = s
        .human(&format!("{name}-approver"), &[Role::TechLead])
        .await;
    let worker_id = format!("wk-{name}");
    execute(
        s.store(),
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, stats, version, created_at, updated_at) VALUES ('{worker_id}', \
             '{worker_id}', '{master_id}', '{agent_id}', {level}, '{status}', '[]', 0, \
             '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
        ),
    )
    .await
    .expect("insert worker");
    Cast {
        worker_id,
        worker_token,
        master,
        approver,
    }
}

/// An active standard-production permit for `c`'s worker: deploy `api` in production,
/// never DELETE, a 1 000-token budget.
async fn active_permit(s: &TestServer, c: &Cast) -> String {
    let (status, p) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({
                "task": {"id": "deploy-api", "description": "deploy api", "environment": "production",
                         "operations": ["deploy"], "services_affected": ["api"], "estimated_tokens": 1000},
                "worker_id": c.worker_id,
                "forbidden_methods": ["DELETE"],
                "evidence": {"rollback_plan": {"steps": ["rollback"], "verification": ["status"], "estimated_minutes": 5}, "test_results": "ci/42", "code_review": "pr/7"},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().expect("permit id").to_owned();
    let (status, p) = s
        .post(
            &format!("/v1/permits/{id}/approvals"),
            &c.approver,
            json!({"decision": "approve", "role": "tech_lead"}),
        )
        .await;
    assert_eq!(
        (status, p["state"].as_str()),
        (StatusCode::OK, Some("active")),
        "{p}"
    );
    id
}

/// A deploy of `api` in production under `permit`.
fn deploy(c: &Cast, permit: Option<&str>) -> Value {
    let mut op = json!({"worker_id": c.worker_id, "environment": "production", "action": "deploy",
                        "service": "api", "method": "POST"});
    if let Some(permit) = permit {
        op["permit_id"] = json!(permit);
    }
    op
}

/// Asks as the worker's own agent; returns the decision.
pub(crate) async fn ask(s: &TestServer, c: &Cast, op: Value) -> Value {
    let (status, body) = s.post("/v1/authorize", &c.worker_token, op).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `(allow, rule)` of a decision.
pub(crate) fn verdict(body: &Value) -> (bool, &str) {
    (
        body["allow"].as_bool().expect("allow"),
        body["rule"].as_str().expect("rule"),
    )
}

/// The type and data of audit event `seq`.
pub(crate) async fn event(s: &TestServer, seq: &Value) -> (String, Value) {
    let seq = seq.as_u64().expect("audit_seq");
    let e = s.store().events(seq, 1).await.expect("events").remove(0);
    assert_eq!(e.seq, seq);
    (e.event_type, e.data)
}

server_test!(each_rule_denies_in_spec_order, |s| {
    // Certification first: a suspended level-0 worker doing sensitive production work
    // without a permit breaks four rules; the certification is the one reported.
    let c = cast(s, "susp", 0, "suspended").await;
    let mut op = deploy(&c, None);
    op["data_touched"] = json!(["pii"]);
    assert_eq!(
        verdict(&ask(s, &c, op).await),
        (false, "certification_not_in_force")
    );

    // The access matrix before sensitive data and the permit.
    let c = cast(s, "l0", 0, "active").await;
    let mut op = deploy(&c, None);
    op["environment"] = json!("staging");
    op["sensitive_data"] = json!(true);
    assert_eq!(
        verdict(&ask(s, &c, op).await),
        (false, "non_union_outside_development")
    );
    let c = cast(s, "l1", 1, "active").await;
    assert_eq!(
        verdict(&ask(s, &c, deploy(&c, None)).await),
        (false, "read_only_level")
    );
    let c = cast(s, "l2", 2, "active").await;
    let mut op = deploy(&c, None);
    op["critical"] = json!(true);
    assert_eq!(
        verdict(&ask(s, &c, op).await),
        (false, "critical_needs_level_3")
    );

    // Sensitive data (named by data type, classified by the policy) before the permit.
    let mut op = deploy(&c, None);
    op["data_touched"] = json!(["customer email addresses"]);
    assert_eq!(
        verdict(&ask(s, &c, op).await),
        (false, "sensitive_data_needs_level_3")
    );

    // The permit: required, the worker's own, inside its window, covering the operation.
    assert_eq!(
        verdict(&ask(s, &c, deploy(&c, None)).await),
        (false, "permit_required")
    );
    let other = cast(s, "other", 2, "active").await;
    let others_permit = active_permit(s, &other).await;
    let body = ask(s, &c, deploy(&c, Some(&others_permit))).await;
    assert_eq!(verdict(&body), (false, "permit_of_another_worker"));
    let permit = active_permit(s, &c).await;
    let body = ask(s, &c, deploy(&c, Some(&permit))).await;
    assert_eq!(verdict(&body), (true, "allowed"));

    // Token budget last: 1 000 tokens, spent across decisions.
    let mut op = deploy(&c, Some(&permit));
    op["tokens"] = json!(600);
    let body = ask(s, &c, op.clone()).await;
    assert_eq!(verdict(&body), (true, "allowed"));
    assert_eq!(
        (body["tokens_used"].as_u64(), body["token_budget"].as_u64()),
        (Some(600), Some(1000))
    );
    let body = ask(s, &c, op).await;
    assert_eq!(verdict(&body), (false, "token_budget"));
    assert_eq!(body["tokens_used"], 600, "a refused spend spends nothing");
    let (kind, data) = event(s, &body["audit_seq"]).await;
    assert_eq!(
        (kind.as_str(), data["rule"].as_str()),
        ("authorize.denied", Some("token_budget"))
    );

    // The window: a day later the 24-hour permit is over.
    s.clock.advance_minutes(25 * 60);
    let body = ask(s, &c, deploy(&c, Some(&permit))).await;
    assert_eq!(verdict(&body), (false, "outside_window"));
});

server_test!(allows_below_level_2_are_not_audited_and_above_are, |s| {
    let dev = cast(s, "dev", 0, "active").await;
    let before = s.audit_len().await;
    let mut op = deploy(&dev, None);
    op["environment"] = json!("development");
    let body = ask(s, &dev, op).await;
    assert_eq!(verdict(&body), (true, "allowed"));
    assert_eq!(body["audit_seq"], Value::Null);
    assert_eq!(
        s.audit_len().await,
        before,
        "a level-0 allow writes no event"
    );

    let c = cast(s, "prod", 2, "active").await;
    let permit = active_permit(s, &c).await;
    let before = s.audit_len().await;
    let body = ask(s, &c, deploy(&c, Some(&permit))).await;
    assert_eq!(verdict(&body), (true, "allowed"));
    assert_eq!(
        s.audit_len().await,
        before + 1,
        "a level-2 allow writes one event"
    );
    let (kind, data) = event(s, &body["audit_seq"]).await;
    assert_eq!(kind, "authorize.allowed");
    assert_eq!(data["rule"], "allowed");
    assert_eq!(data["permit_id"], json!(permit));
    assert_eq!(data["operation"]["action"], "deploy");
    assert_eq!(data["operation"]["service"], "api");

    // Every deny is audited, with the operation and the rule.
    let before = s.audit_len().await;
    let mut op = deploy(&dev, None);
    op["environment"] = json!("production");
    let body = ask(s, &dev, op).await;
    assert_eq!(verdict(&body), (false, "non_union_outside_development"));
    assert_eq!(s.audit_len().await, before + 1);
    let (kind, data) = event(s, &body["audit_seq"]).await;
    assert_eq!(kind, "authorize.denied");
    assert_eq!(data["rule"], "non_union_outside_development");
    assert_eq!(data["operation"]["environment"], "production");
});

server_test!(a_scope_violation_denies_and_revokes_the_permit, |s| {
    let c = cast(s, "scope", 2, "active").await;
    let permit = active_permit(s, &c).await;
    assert_eq!(
        verdict(&ask(s, &c, deploy(&c, Some(&permit))).await),
        (true, "allowed")
    );

    // A forbidden method is outside the permit's scope.
    let mut op = deploy(&c, Some(&permit));
    op["method"] = json!("DELETE");
    let body = ask(s, &c, op).await;
    assert_eq!(verdict(&body), (false, "scope_violation"));
    assert_eq!(body["revoked"], true);
    let (kind, _) = event(s, &body["audit_seq"]).await;
    assert_eq!(kind, "authorize.denied");
    let (_, p) = s.get(&format!("/v1/permits/{permit}"), &c.master).await;
    assert_eq!(
        (p["state"].as_str(), p["revocation_reason"].as_str()),
        (Some("revoked"), Some("scope_expansion"))
    );

    // The very next decision, even for an operation in scope, denies.
    let body = ask(s, &c, deploy(&c, Some(&permit))).await;
    assert_eq!(verdict(&body), (false, "permit_not_active"));
});

server_test!(a_revocation_through_the_api_is_denied_at_once, |s| {
    let c = cast(s, "rev", 2, "active").await;
    let permit = active_permit(s, &c).await;
    // Warm the cache with the live permit.
    assert_eq!(
        verdict(&ask(s, &c, deploy(&c, Some(&permit))).await),
        (true, "allowed")
    );
    let (status, body) = s
        .post(
            &format!("/v1/permits/{permit}/revoke"),
            &s.admin,
            json!({"reason": "manual"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body = ask(s, &c, deploy(&c, Some(&permit))).await;
    assert_eq!(verdict(&body), (false, "permit_not_active"));
});

server_test!(a_suspended_worker_is_denied_at_once, |s| {
    let c = cast(s, "sus", 2, "active").await;
    let permit = active_permit(s, &c).await;
    assert_eq!(
        verdict(&ask(s, &c, deploy(&c, Some(&permit))).await),
        (true, "allowed")
    );
    let (status, body) = s
        .post(
            &format!("/v1/workers/{}/suspend", c.worker_id),
            &s.admin,
            json!({"reason": "incident 7"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body = ask(s, &c, deploy(&c, Some(&permit))).await;
    assert_eq!(verdict(&body), (false, "certification_not_in_force"));
});

/// A second Steward instance on the same database, with its own cache and connections.
struct Instance {
    url: String,
    shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn second_instance(s: &TestServer) -> Instance {
    let store = Store::connect(s.db.url()).await.expect("second store");
    let state = AppState::new(
        store,
        Arc::new(Policy::builtin()),
        // The same manual clock: a clone shares its time.
        s.clock.clone(),
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, router(state), async move {
        let _ = rx.await;
    }));
    Instance { url, shutdown }
}

async fn ask_at(url: &str, token: &str, op: &Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/authorize"))
        .bearer_auth(token)
        .json(op)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

server_test!(
    a_revocation_on_one_instance_is_denied_by_the_next_decision_on_another,
    |s| {
        let c = cast(s, "two", 2, "active").await;
        let permit = active_permit(s, &c).await;
        let b = second_instance(s).await;
        let op = deploy(&c, Some(&permit));
        // Both instances have the live permit in their caches.
        assert_eq!(verdict(&ask(s, &c, op.clone()).await), (true, "allowed"));
        assert_eq!(
            verdict(&ask_at(&b.url, &c.worker_token, &op).await),
            (true, "allowed")
        );
        // Revoked on A; the very next decision on B denies, with no wait.
        let (status, body) = s
            .post(
                &format!("/v1/permits/{permit}/revoke"),
                &s.admin,
                json!({"reason": "security_incident"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            verdict(&ask_at(&b.url, &c.worker_token, &op).await),
            (false, "permit_not_active")
        );
        // And the other way round: a suspension on B is denied next on A.
        let worker = cast(s, "two-b", 2, "active").await;
        let op = deploy(&worker, None);
        let mut dev = op.clone();
        dev["environment"] = json!("development");
        assert_eq!(
            verdict(&ask(s, &worker, dev.clone()).await),
            (true, "allowed")
        );
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/workers/{}/suspend", b.url, worker.worker_id))
            .bearer_auth(&s.admin)
            .json(&json!({"reason": "incident 9"}))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            verdict(&ask(s, &worker, dev).await),
            (false, "certification_not_in_force")
        );
        let _ = b.shutdown.send(());
    }
);

server_test!(only_the_worker_its_owner_or_an_admin_may_ask, |s| {
    let c = cast(s, "who", 2, "active").await;
    let other = cast(s, "who-else", 2, "active").await;
    let op = deploy(&c, None);
    // Its owner (the master) and an admin may ask.
    for token in [&c.master, &s.admin] {
        let (status, body) = s.post("/v1/authorize", token, op.clone()).await;
        assert_eq!(
            (status, verdict(&body)),
            (StatusCode::OK, (false, "permit_required")),
            "{body}"
        );
    }
    // Another worker's agent, another master and an approver may not; nothing is written.
    let before = s.audit_len().await;
    for token in [&other.worker_token, &other.master, &c.approver] {
        let (status, body) = s.post("/v1/authorize", token, op.clone()).await;
        assert_eq!(
            (status, body["rule"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_a_party")),
            "{body}"
        );
    }
    assert_eq!(s.audit_len().await, before);
});

server_test!(
    bad_authorize_input_names_the_field_and_writes_nothing,
    |s| {
        let c = cast(s, "bad", 2, "active").await;
        let before = s.audit_len().await;
        let cases = [
            (
                json!({"worker_id": c.worker_id, "environment": "prod", "action": "deploy", "method": "POST"}),
                "environment",
            ),
            (
                json!({"worker_id": c.worker_id, "environment": "production", "action": "deploy", "method": "POST", "sensitve_data": true}),
                "sensitve_data",
            ),
            (
                json!({"worker_id": c.worker_id, "environment": "production", "action": "deploy", "method": "POST", "tokens": -1}),
                "tokens",
            ),
            (
                json!({"worker_id": c.worker_id, "environment": "production", "action": "deploy"}),
                "method",
            ),
        ];
        for (op, field) in cases {
            let (status, body) = s.post("/v1/authorize", &c.worker_token, op).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert!(
                body["detail"].as_str().unwrap_or_default().contains(field),
                "{field}: {body}"
            );
        }
        let (status, body) = s
            .post(
                "/v1/authorize",
                &c.worker_token,
                deploy(&c, Some("no-such-permit")),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let mut op = deploy(&c, None);
        op["worker_id"] = json!("no-such-worker");
        let (status, _) = s.post("/v1/authorize", &s.admin, op).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(s.audit_len().await, before);
    }
);

// Authorize is not rate limited by default (issue 9, item 9): a burst far above what the
// configured limit below allows is all answered.
server_test!(authorize_is_not_rate_limited_by_default, |s| {
    let dev = cast(s, "dev", 0, "active").await;
    let mut op = deploy(&dev, None);
    op["environment"] = json!("development");
    for _ in 0..60 {
        assert_eq!(verdict(&ask(s, &dev, op.clone()).await), (true, "allowed"));
    }
});

fn authorize_limited(state: AppState) -> AppState {
    state.with_rate_limits(steward_server::RateLimitConfig {
        authorize_per_second: 2,
        ..steward_server::RateLimitConfig::default()
    })
}

// Configured, the per-token authorize limit answers 429 with Retry-After past its burst,
// and counts per token: the master's token keeps its own allowance.
server_test!(
    authorize_is_rate_limited_per_token_when_configured,
    configure = authorize_limited,
    |s| {
        let dev = cast(s, "dev", 0, "active").await;
        let mut op = deploy(&dev, None);
        op["environment"] = json!("development");
        let mut limited = None;
        for _ in 0..60 {
            let (status, body, headers) = s
                .post_with_headers("/v1/authorize", Some(&dev.worker_token), &op)
                .await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                limited = Some((status, body, headers));
                break;
            }
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (status, body, headers) = limited.expect("a burst of 60 at 2 a second is limited");
        crate::limits::assert_rate_limited(status, &body, &headers, "authorize");
        let (status, body) = s.post("/v1/authorize", &dev.master, op.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
);
