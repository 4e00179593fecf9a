//! Monitoring over HTTP (SPEC §7): telemetry triggers at their windows, the revocation
//! with `constraint_breach`, rollbacks against their SLA with escalation exactly once, and
//! rollback plans checked at permit request.

use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_server::Clock;
use steward_store::PrincipalKind;
use steward_store::testing::execute;

use crate::support::{TestServer, server_test};

struct Cast {
    master: String,
    worker_token: String,
    owner_token: String,
    approver_id: String,
    approver: String,
    worker_id: String,
}

async fn cast(s: &TestServer, level: u8) -> Cast {
    let (_, master) = s
        .principal("mon-master", PrincipalKind::Agent, &[Role::Master])
        .await;
    let (owner_id, owner_token) = s.human("mon-owner", &[Role::EngineeringManager]).await;
    let (agent_id, worker_token) = s
        .principal("mon-agent", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let (approver_id, approver) = s.human("mon-tl", &[Role::TechLead]).await;
    let worker_id = format!("mon-wk-{level}");
    execute(
        s.store(),
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, stats, version, created_at, updated_at) VALUES ('{worker_id}', 'w', \
             '{owner_id}', '{agent_id}', {level}, 'active', '[]', 0, '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
        ),
    )
    .await
    .expect("insert worker");
    Cast {
        master,
        worker_token,
        owner_token,
        approver_id,
        approver,
        worker_id,
    }
}

fn plan() -> Value {
    json!({"steps": ["kubectl rollout undo deploy/api"],
           "verification": ["kubectl rollout status deploy/api"], "estimated_minutes": 5})
}

fn deploy() -> Value {
    json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
           "operations": ["deploy"], "services_affected": ["api"]})
}

/// A level-2 permit request body with `extra` members merged in.
fn request_body(c: &Cast, extra: Value) -> Value {
    let mut body = json!({"task": deploy(), "worker_id": c.worker_id, "evidence": {
        "rollback_plan": plan(), "test_results": "ci#42", "code_review": "pr#7"}});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

/// Requests, approves and starts a level-2 permit; returns its id.
async fn executing(s: &TestServer, c: &Cast, extra: Value) -> String {
    let (status, p) = s
        .post("/v1/permits", &c.master, request_body(c, extra))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().expect("id").to_owned();
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/approvals"),
            &c.approver,
            json!({"decision": "approve", "role": "tech_lead"}),
        )
        .await;
    assert_eq!(body["state"], "active", "{status} {body}");
    let (_, body) = s
        .post(
            &format!("/v1/permits/{id}/start"),
            &c.worker_token,
            json!({}),
        )
        .await;
    assert_eq!(body["state"], "executing", "{body}");
    id
}

fn advance_seconds(clock: &Clock, seconds: i64) {
    if let Clock::Manual(ms) = clock {
        ms.fetch_add(seconds * 1_000, Ordering::SeqCst);
    }
}

async fn telemetry(s: &TestServer, token: &str, id: &str, sample: Value) -> (StatusCode, Value) {
    s.post(&format!("/v1/permits/{id}/telemetry"), token, sample)
        .await
}

/// Posts a sample that must be accepted; returns whether a trigger fired.
async fn fired(s: &TestServer, c: &Cast, id: &str, sample: Value) -> bool {
    let (status, body) = telemetry(s, &c.worker_token, id, sample).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["fired"].as_bool().expect("fired")
}

/// The audit events about a permit, as (type, data).
async fn events(s: &TestServer, id: &str) -> Vec<(String, Value)> {
    let (status, page) = s
        .get(
            &format!("/v1/audit/events?permit_id={id}&limit=1000"),
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_owned(),
                e["data"].clone(),
            )
        })
        .collect()
}

fn count(events: &[(String, Value)], kind: &str) -> usize {
    events.iter().filter(|(t, _)| t == kind).count()
}

fn of<'a>(events: &'a [(String, Value)], kind: &str) -> &'a Value {
    &events
        .iter()
        .find(|(t, _)| t == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {events:?}"))
        .1
}

server_test!(
    error_rate_breach_rolls_back_revokes_and_denies_further_operations,
    |s| {
        let c = cast(s, 2).await;
        let id = executing(s, &c, json!({})).await;

        // 119 s above the 1 % limit: not yet.
        assert!(!fired(s, &c, &id, json!({"error_rate": 0.05})).await);
        advance_seconds(&s.clock, 60);
        assert!(
            !fired(
                s,
                &c,
                &id,
                json!({"error_rate": 0.03, "p99_ms": 120.0, "health": "ok"})
            )
            .await
        );
        advance_seconds(&s.clock, 59);
        assert!(!fired(s, &c, &id, json!({"error_rate": 0.02})).await);
        let (_, shown) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
        assert_eq!(shown["state"], "executing");

        // 120 s: the trigger fires, the permit is revoked and a rollback is open.
        advance_seconds(&s.clock, 1);
        let (status, body) = telemetry(s, &c.worker_token, &id, json!({"error_rate": 0.025})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["fired"], true);
        assert_eq!(body["permit_state"], "revoked");
        assert_eq!(body["breaches"][0]["trigger"], "error_rate");
        assert_eq!(body["breaches"][0]["sustained_ms"], 120_000);
        let rollback = &body["rollback"];
        assert_eq!(rollback["status"], "open");
        assert_eq!(rollback["sla_minutes"], 30);
        assert_eq!(rollback["trigger"], "error_rate");
        assert_eq!(rollback["breach"]["observed"], 0.025);
        assert_eq!(rollback["breach"]["limit"], 0.01);
        assert_eq!(rollback["breach"]["window_seconds"], 120);

        let (_, shown) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
        assert_eq!(shown["state"], "revoked");
        assert_eq!(shown["revocation_reason"], "constraint_breach");

        let trail = events(s, &id).await;
        assert_eq!(count(&trail, "telemetry.recorded"), 4);
        assert_eq!(count(&trail, "telemetry.breach"), 1);
        assert_eq!(of(&trail, "telemetry.breach")["trigger"], "error_rate");
        let opened = of(&trail, "rollback.opened");
        assert_eq!(opened["sla_minutes"], 30);
        assert_eq!(opened["notify"]["approver_ids"], json!([c.approver_id]));
        let revoked = of(&trail, "permit.revoked");
        assert_eq!(revoked["reason"], "constraint_breach");
        assert_eq!(revoked["trigger"], "error_rate");
        assert_eq!(revoked["observed"], 0.025);
        assert_eq!(revoked["window_seconds"], 120);
        // The order of the trail: breach, rollback opened, then the revocation.
        let kinds: Vec<&str> = trail.iter().map(|(t, _)| t.as_str()).collect();
        let at = |k: &str| kinds.iter().position(|t| *t == k).unwrap();
        assert!(at("telemetry.breach") < at("rollback.opened"));
        assert!(at("rollback.opened") < at("permit.revoked"));

        // Further operations are denied: no more telemetry, no restart, and the run-time check
        // answers rollback_required for this permit as stored.
        let (status, body) = telemetry(s, &c.worker_token, &id, json!({"error_rate": 0.0})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["rule"], "permit_not_live");
        assert_eq!(body["current_state"], "revoked");
        let (status, _) = s
            .post(
                &format!("/v1/permits/{id}/start"),
                &c.worker_token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let op = json!({"worker_id": c.worker_id, "environment": "production",
                        "action": "deploy", "service": "api", "method": "POST",
                        "permit_id": id});
        let (status, decision) = s.post("/v1/authorize", &c.worker_token, op).await;
        assert_eq!(status, StatusCode::OK, "{decision}");
        assert_eq!(
            (decision["allow"].as_bool(), decision["rule"].as_str()),
            (Some(false), Some("rollback_required")),
            "{decision}"
        );
        assert!(
            decision["audit_seq"].is_u64(),
            "a deny is audited: {decision}"
        );

        // The worker reports the rollback 12 minutes later: within the 30-minute SLA.
        s.clock.advance_minutes(12);
        let (status, done) = s
            .post(
                &format!("/v1/permits/{id}/rollback"),
                &c.worker_token,
                json!({"outcome": "succeeded", "notes": "rolled back to v3.1.8"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["status"], "succeeded");
        assert_eq!(done["within_sla"], true);
        assert_eq!(done["duration_ms"], 12 * 60_000);
        let trail = events(s, &id).await;
        let completed = of(&trail, "rollback.completed");
        assert_eq!(completed["within_sla"], true);
        assert_eq!(completed["duration_seconds"], 720.0);
        assert_eq!(completed["outcome"], "succeeded");
        // Reported once; nothing to escalate later.
        let (status, body) = s
            .post(
                &format!("/v1/permits/{id}/rollback"),
                &c.worker_token,
                json!({"outcome": "failed"}),
            )
            .await;
        assert_eq!(
            (status, body["rule"].as_str()),
            (StatusCode::CONFLICT, Some("rollback_reported"))
        );
        s.clock.advance_minutes(60);
        let now = s.clock.now().millis();
        assert_eq!(
            s.store().sweep_rollbacks(now).await.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(count(&events(s, &id).await, "rollback.escalated"), 0);
    }
);

server_test!(
    latency_and_health_check_triggers_fire_at_their_defaults,
    |s| {
        let c = cast(s, 2).await;
        let slow = executing(s, &c, json!({})).await;
        assert!(!fired(s, &c, &slow, json!({"p99_ms": 900.0})).await);
        advance_seconds(&s.clock, 299);
        assert!(!fired(s, &c, &slow, json!({"p99_ms": 750.0})).await);
        advance_seconds(&s.clock, 1);
        let (_, body) = telemetry(s, &c.worker_token, &slow, json!({"p99_ms": 501.0})).await;
        assert_eq!(
            (
                body["fired"].as_bool(),
                body["rollback"]["trigger"].as_str()
            ),
            (Some(true), Some("latency_p99")),
            "{body}"
        );
        assert_eq!(body["rollback"]["breach"]["window_seconds"], 300);

        let sick = executing(s, &c, json!({})).await;
        // A passing check resets the count; three failures in a row fire.
        for health in ["fail", "fail", "ok", "fail", "fail"] {
            assert!(!fired(s, &c, &sick, json!({"health": health})).await);
        }
        let (_, body) = telemetry(s, &c.worker_token, &sick, json!({"health": "fail"})).await;
        assert_eq!(body["fired"], true, "{body}");
        assert_eq!(body["rollback"]["trigger"], "health_checks");
        assert_eq!(body["rollback"]["breach"]["observed"], 3.0);
        let (_, shown) = s.get(&format!("/v1/permits/{sick}"), &c.master).await;
        assert_eq!(shown["revocation_reason"], "constraint_breach");

        // Listing: both rollbacks open, none overdue yet.
        let (status, list) = s.get("/v1/rollbacks?status=open", &s.admin).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        let (_, list) = s.get("/v1/rollbacks?status=overdue", &s.admin).await;
        assert_eq!(list["items"], json!([]));
    }
);

server_test!(per_permit_trigger_settings_are_checked_and_used, |s| {
    let c = cast(s, 2).await;
    let (status, body) = s
        .post(
            "/v1/permits",
            &c.master,
            request_body(&c, json!({"max_error_rate": 2.0})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("max_error_rate")),
        "{body}"
    );
    let (status, body) = s
        .post(
            "/v1/permits",
            &c.master,
            request_body(&c, json!({"health_check_failure_limit": 0})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("health_check_failure_limit")),
        "{body}"
    );

    let id = executing(
        s,
        &c,
        json!({"max_error_rate": 0.1, "error_rate_window_seconds": 30}),
    )
    .await;
    let (_, shown) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
    assert_eq!(shown["constraints"]["error_rate_window_seconds"], 30);
    assert_eq!(shown["constraints"]["health_check_failure_limit"], 3);
    // 5 % is within this permit's 10 % limit, however long it lasts.
    assert!(!fired(s, &c, &id, json!({"error_rate": 0.05})).await);
    advance_seconds(&s.clock, 600);
    assert!(!fired(s, &c, &id, json!({"error_rate": 0.05})).await);
    assert!(!fired(s, &c, &id, json!({"error_rate": 0.2})).await);
    advance_seconds(&s.clock, 30);
    assert!(fired(s, &c, &id, json!({"error_rate": 0.2})).await);
});

server_test!(telemetry_refusals_write_nothing, |s| {
    let c = cast(s, 2).await;
    let id = executing(s, &c, json!({})).await;
    let (_, stranger) = s
        .principal("stranger", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let before = s.audit_len().await;
    let (status, body) = telemetry(s, &c.worker_token, &id, json!({"error_rate": 1.5})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("error_rate")),
        "{body}"
    );
    let (status, body) = telemetry(s, &c.worker_token, &id, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = telemetry(s, &c.worker_token, &id, json!({"health": "maybe"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Someone unrelated: 403; the approver is not the worker's side either.
    let (status, body) = telemetry(s, &stranger, &id, json!({"health": "fail"})).await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_executor")),
        "{body}"
    );
    let (status, _) = telemetry(s, &c.approver, &id, json!({"health": "fail"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = telemetry(s, &c.master, "no-such-permit", json!({"health": "ok"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // No rollback to report yet.
    let (status, _) = s
        .post(
            &format!("/v1/permits/{id}/rollback"),
            &c.worker_token,
            json!({"outcome": "succeeded"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(s.audit_len().await, before);
    // The owner and the master may post for their worker.
    assert!(!fired(s, &c, &id, json!({"health": "ok"})).await);
    let (status, _) = telemetry(s, &c.owner_token, &id, json!({"health": "ok"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = telemetry(s, &c.master, &id, json!({"health": "ok"})).await;
    assert_eq!(status, StatusCode::OK);
    // A worker alone may not list rollbacks.
    let (status, _) = s.get("/v1/rollbacks", &c.worker_token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
});

server_test!(a_missed_rollback_sla_escalates_exactly_once, |s| {
    let c = cast(s, 2).await;
    let id = executing(s, &c, json!({})).await;
    for _ in 0..3 {
        fired(s, &c, &id, json!({"health": "fail"})).await;
    }
    let (_, rollback) = s.get(&format!("/v1/permits/{id}/rollback"), &s.admin).await;
    assert_eq!(rollback["status"], "open", "{rollback}");
    let rollback_id = rollback["id"].as_str().unwrap().to_owned();

    // At the SLA exactly: not yet overdue.
    s.clock.advance_minutes(30);
    let now = s.clock.now().millis();
    assert_eq!(
        s.store().sweep_rollbacks(now).await.unwrap(),
        Vec::<String>::new()
    );
    advance_seconds(&s.clock, 1);
    let now = s.clock.now().millis();
    let (_, list) = s.get("/v1/rollbacks?status=overdue", &s.admin).await;
    assert_eq!(list["items"][0]["id"], rollback_id.as_str(), "{list}");
    // Two sweeps (two instances, or two ticks): one escalation.
    let (a, b) = tokio::join!(
        s.store().sweep_rollbacks(now),
        s.store().sweep_rollbacks(now)
    );
    let mut all = a.unwrap();
    all.extend(b.unwrap());
    assert_eq!(all, vec![rollback_id.clone()]);
    assert_eq!(
        s.store().sweep_rollbacks(now + 60_000).await.unwrap(),
        Vec::<String>::new()
    );
    let trail = events(s, &id).await;
    assert_eq!(count(&trail, "rollback.escalated"), 1);
    let escalated = of(&trail, "rollback.escalated");
    assert_eq!(
        escalated["escalated_to"]["roles"],
        json!(["incident_commander", "engineering_director"])
    );
    assert_eq!(
        escalated["escalated_to"]["approver_ids"],
        json!([c.approver_id])
    );
    assert_eq!(escalated["overdue_seconds"], 1.0);

    // The late report records the miss and does not escalate again.
    let (status, done) = s
        .post(
            &format!("/v1/permits/{id}/rollback"),
            &c.owner_token,
            json!({"outcome": "failed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (done["status"].as_str(), done["within_sla"].as_bool()),
        (Some("failed"), Some(false))
    );
    assert!(done["escalated_at_ms"].is_i64());
    let trail = events(s, &id).await;
    assert_eq!(count(&trail, "rollback.escalated"), 1);
    assert_eq!(of(&trail, "rollback.completed")["within_sla"], false);
});

server_test!(a_late_report_escalates_when_no_sweep_did, |s| {
    let c = cast(s, 2).await;
    let id = executing(s, &c, json!({})).await;
    for _ in 0..3 {
        fired(s, &c, &id, json!({"health": "fail"})).await;
    }
    s.clock.advance_minutes(45);
    let (_, done) = s
        .post(
            &format!("/v1/permits/{id}/rollback"),
            &c.worker_token,
            json!({"outcome": "succeeded"}),
        )
        .await;
    assert_eq!(done["within_sla"], false, "{done}");
    let trail = events(s, &id).await;
    assert_eq!(count(&trail, "rollback.escalated"), 1);
    assert_eq!(of(&trail, "rollback.escalated")["status"], "succeeded");
    let now = s.clock.now().millis();
    assert_eq!(
        s.store().sweep_rollbacks(now).await.unwrap(),
        Vec::<String>::new()
    );
});

server_test!(invalid_rollback_plans_are_refused_naming_fields, |s| {
    let c = cast(s, 2).await;
    let before = s.audit_len().await;
    let mut body = request_body(&c, json!({}));
    body["evidence"]["rollback_plan"] =
        json!({"steps": [""], "estimated_minutes": 45, "automation_level": "manual"});
    let (status, problem) = s.post("/v1/permits", &c.master, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["rule"], "invalid_rollback_plan");
    let paths: Vec<&str> = problem["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "evidence.rollback_plan.steps[0]",
            "evidence.rollback_plan.verification",
            "evidence.rollback_plan.estimated_minutes",
            "evidence.rollback_plan.automation_level",
        ]
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("over the level-2 rollback SLA of 30 min"),
        "{problem}"
    );
    // A plan that is only a string is not a plan.
    let mut body = request_body(&c, json!({}));
    body["evidence"]["rollback_plan"] = json!("kubectl rollout undo");
    let (status, problem) = s.post("/v1/permits", &c.master, body).await;
    assert_eq!(
        (status, problem["problems"][0]["path"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("evidence.rollback_plan")
        )
    );
    assert_eq!(s.audit_len().await, before, "nothing written");
    let (_, list) = s.get("/v1/permits", &s.admin).await;
    assert_eq!(list["items"], json!([]));

    // A resubmission is held to the same rules.
    let (status, p) = s
        .post("/v1/permits", &c.master, request_body(&c, json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap();
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/approvals"),
            &c.approver,
            json!({"decision": "request_changes", "role": "tech_lead", "comment": "verify the rollout"}),
        )
        .await;
    assert_eq!(body["state"], "changes_requested", "{status} {body}");
    let mut evidence = request_body(&c, json!({}))["evidence"].clone();
    evidence["rollback_plan"] =
        json!({"steps": ["kubectl rollout undo deploy/api"], "estimated_minutes": 5});
    let (status, problem) = s
        .post(
            &format!("/v1/permits/{id}/resubmit"),
            &c.master,
            json!({"evidence": evidence}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["problems"][0]["path"],
        "evidence.rollback_plan.verification"
    );
    let (_, shown) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
    assert_eq!(shown["state"], "changes_requested");
});

server_test!(the_upstream_example_plans_are_accepted, |s| {
    let examples: Value = serde_json::from_str(include_str!(
        "../../../steward-permits/src/rollback_plan/upstream-examples.json"
    ))
    .unwrap();
    let c2 = cast(s, 2).await;
    let mut body = request_body(&c2, json!({}));
    body["evidence"]["rollback_plan"] = examples["kubernetes_deployment"].clone();
    let (status, p) = s.post("/v1/permits", &c2.master, body).await;
    assert_eq!(
        (status, p["level"].as_u64()),
        (StatusCode::CREATED, Some(2)),
        "{p}"
    );

    // A level-3 schema migration with the upstream database plan and its tested date.
    let (_, master3) = s
        .principal("m3", PrincipalKind::Agent, &[Role::Master])
        .await;
    execute(
        s.store(),
        "INSERT INTO workers (id, display_name, owner_id, level, status, domains, level_granted_at, \
         stats, version, created_at, updated_at) SELECT 'mon-wk-3', 'w3', owner_id, 3, 'active', '[]', 0, \
         stats, 1, 0, 0 FROM workers WHERE id = 'mon-wk-2'",
    )
    .await
    .expect("level-3 worker");
    let task = json!({"id": "alter", "environment": "production",
        "operations": ["ALTER TABLE orders ADD COLUMN note text"], "services_affected": ["orders"]});
    let evidence = |tested: &str| {
        json!({
        "rollback_plan": examples["database_migration"], "test_results": "ci#1", "code_review": "pr#2",
        "rollback_tested": tested, "security_review": "SEC-1", "impact_analysis": "docs/impact.md"})
    };
    let (status, problem) = s
        .post(
            "/v1/permits",
            &master3,
            json!({"task": task, "worker_id": "mon-wk-3", "evidence": evidence("2030-01-01")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["problems"],
        json!([{"path": "evidence.rollback_tested", "message": "`2030-01-01` is in the future"}])
    );
    let (status, p) = s
        .post(
            "/v1/permits",
            &master3,
            json!({"task": task, "worker_id": "mon-wk-3", "evidence": evidence("2026-12-01")}),
        )
        .await;
    assert_eq!(
        (status, p["level"].as_u64()),
        (StatusCode::CREATED, Some(3)),
        "{p}"
    );
});

server_test!(
    the_sweep_revokes_a_permit_whose_rollback_opened_without_it,
    |s| {
        // As if Steward stopped between opening the rollback and revoking the permit.
        let c = cast(s, 2).await;
        let id = executing(s, &c, json!({})).await;
        let now = s.clock.now().millis();
        execute(
            s.store(),
            &format!(
                "INSERT INTO rollbacks (id, permit_id, worker_id, level, trigger_kind, breach, \
             sla_minutes, opened_at, due_at, status) VALUES ('rb-1', '{id}', '{}', 2, \
             'error_rate', '{{\"observed\": 0.5, \"limit\": 0.01, \"window_seconds\": 120}}', 30, \
             {now}, {}, 'open')",
                c.worker_id,
                now + 30 * 60_000
            ),
        )
        .await
        .expect("insert rollback");
        assert_eq!(
            s.store().sweep_rollbacks(now).await.unwrap(),
            Vec::<String>::new()
        );
        let (_, shown) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
        assert_eq!(shown["state"], "revoked");
        assert_eq!(shown["revocation_reason"], "constraint_breach");
        let trail = events(s, &id).await;
        assert_eq!(of(&trail, "permit.revoked")["rollback_id"], "rb-1");
        // Idempotent: a second sweep changes nothing.
        let before = s.audit_len().await;
        s.store().sweep_rollbacks(now).await.unwrap();
        assert_eq!(s.audit_len().await, before);
    }
);

server_test!(every_monitoring_response_is_documented_by_its_schema, |s| {
    // Issue 10, item 4: telemetry outcomes and rollbacks are documented field by field.
    let (_, doc) = s.get("/openapi.json", &s.admin).await;
    let documented = |value: &Value, schema: &str, path: &str| {
        let schema = json!({"$ref": format!("#/components/schemas/{schema}")});
        crate::reports::assert_documented(&doc, value, &schema, path);
    };
    let c = cast(s, 2).await;
    let id = executing(s, &c, json!({})).await;
    let (status, quiet) = telemetry(s, &c.worker_token, &id, json!({"health": "fail"})).await;
    assert_eq!(status, StatusCode::OK, "{quiet}");
    assert_eq!(quiet["fired"], false, "{quiet}");
    documented(&quiet, "TelemetryOutcomeView", "quiet");
    fired(s, &c, &id, json!({"health": "fail"})).await;
    let (status, fire) = telemetry(s, &c.worker_token, &id, json!({"health": "fail"})).await;
    assert_eq!(status, StatusCode::OK, "{fire}");
    assert_eq!(fire["fired"], true, "{fire}");
    assert!(fire["rollback"].is_object(), "{fire}");
    assert!(!fire["breaches"].as_array().expect("breaches").is_empty());
    documented(&fire, "TelemetryOutcomeView", "fired");
    // Past the SLA the sweep escalates; the rollback then names whom.
    s.clock.advance_minutes(31);
    let now = s.clock.now().millis();
    assert_eq!(s.store().sweep_rollbacks(now).await.unwrap().len(), 1);
    let (status, rollback) = s.get(&format!("/v1/permits/{id}/rollback"), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{rollback}");
    assert!(rollback["escalated_to"].is_object(), "{rollback}");
    documented(&rollback, "RollbackRecordView", "shown");
    let (status, page) = s.get("/v1/rollbacks?limit=5", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    documented(&page, "RollbackPageView", "page");
    let (status, done) = s
        .post(
            &format!("/v1/permits/{id}/rollback"),
            &c.worker_token,
            json!({"outcome": "succeeded", "notes": "undone"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "succeeded", "{done}");
    documented(&done, "RollbackRecordView", "reported");
});
