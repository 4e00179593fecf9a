//! The emergency path over HTTP (SPEC §8): declare, approve within 15 minutes, renew,
//! resolve, review; segregation of duties; automatic revocation by the sweep, also by a
//! new server started on the same database after the expiry passed.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_permits::Timestamp;
use steward_policy::{Policy, Role};
use steward_server::{AppState, Clock, router, run_maintenance, serve};
use steward_store::testing::execute;
use steward_store::{PrincipalKind, Store};

use crate::support::{TestServer, server_test};

/// The cast of an incident: a master who declares, a worker (agent) whose owner also
/// holds `incident_commander` (so segregation of duties is what refuses them), an
/// incident commander and an on-call lead.
struct Cast {
    master: String,
    owner: String,
    ic: String,
    lead: String,
    worker_id: String,
}

async fn cast(s: &TestServer) -> Cast {
    let (_, master) = s
        .principal("em-master", PrincipalKind::Agent, &[Role::Master])
        .await;
    let (owner_id, owner) = s
        .human("em-owner", &[Role::IncidentCommander, Role::OnCallLead])
        .await;
    let (_, ic) = s.human("em-ic", &[Role::IncidentCommander]).await;
    let (_, lead) = s.human("em-lead", &[Role::OnCallLead]).await;
    let (agent_id, _) = s
        .principal("em-worker-agent", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let worker_id = "wk-em".to_owned();
    execute(
        s.store(),
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, stats, version, created_at, updated_at) VALUES ('{worker_id}', '{worker_id}', \
             '{owner_id}', '{agent_id}', 2, 'active', '[]', 0, '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
        ),
    )
    .await
    .expect("insert worker");
    Cast {
        master,
        owner,
        ic,
        lead,
        worker_id,
    }
}

fn declaration(c: &Cast, minutes: i64) -> Value {
    json!({
        "incident_id": "INC-4711",
        "worker_id": c.worker_id,
        "scope": {"environment": "production", "operations": ["restart"],
                  "services_affected": ["checkout"]},
        "reason": "checkout is down; restart the pods",
        "minutes": minutes,
    })
}

async fn declare(s: &TestServer, c: &Cast, minutes: i64) -> Value {
    let (status, body) = s
        .post("/v1/emergencies", &c.master, declaration(c, minutes))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn approve(s: &TestServer, token: &str, id: &str, role: &str) -> (StatusCode, Value) {
    s.post(
        &format!("/v1/emergencies/{id}/approve"),
        token,
        json!({"role": role, "comment": "go"}),
    )
    .await
}

/// Declares and approves an emergency of `minutes`; returns it.
async fn active(s: &TestServer, c: &Cast, minutes: i64) -> Value {
    let declared = declare(s, c, minutes).await;
    let id = declared["id"].as_str().expect("id");
    let (status, body) = approve(s, &c.ic, id, "incident_commander").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn now(s: &TestServer) -> i64 {
    s.clock.now().millis()
}

/// The audit events about `permit_id`, in order: (type, level, data).
async fn events_of(store: &Store, permit_id: &str) -> Vec<(String, Option<u8>, Value)> {
    store
        .events(1, 1000)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.subject.permit_id.as_deref() == Some(permit_id))
        .map(|e| (e.event_type, e.level, e.data))
        .collect()
}

server_test!(
    emergency_full_path_declare_approve_renew_resolve_review,
    |s| {
        let c = cast(s).await;
        let t0 = now(s);
        let declared = declare(s, &c, 30).await;
        let id = declared["id"].as_str().expect("id").to_owned();
        let permit_id = declared["permit_id"]
            .as_str()
            .expect("permit id")
            .to_owned();
        assert_eq!(declared["status"], "awaiting_approval", "{declared}");
        assert_eq!(declared["approval_deadline_ms"], t0 + 15 * 60_000);
        assert_eq!(declared["permit"]["permit_type"], "emergency");
        assert_eq!(declared["permit"]["level"], 3);
        assert_eq!(declared["permit"]["state"], "under_review");
        assert_eq!(declared["permit"]["constraints"]["enhanced_audit"], true);
        assert_eq!(declared["permit"]["constraints"]["incident_id"], "INC-4711");
        assert_eq!(
            declared["permit"]["constraints"]["allowed_services"],
            json!(["checkout"])
        );

        s.clock.advance_minutes(5);
        let (status, approved) = approve(s, &c.lead, &id, "on_call_lead").await;
        assert_eq!(status, StatusCode::OK, "{approved}");
        let t_approve = now(s);
        assert_eq!(approved["status"], "active");
        assert_eq!(approved["approved_role"], "on_call_lead");
        assert_eq!(approved["permit"]["state"], "active");
        assert_eq!(approved["permit"]["valid_from_ms"], t_approve);
        assert_eq!(approved["permit"]["expires_at_ms"], t_approve + 30 * 60_000);

        let (status, renewed) = s
            .post(
                &format!("/v1/emergencies/{id}/renew"),
                &c.ic,
                json!({"minutes": 20}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{renewed}");
        assert_eq!(renewed["permit"]["renewals"], 1);
        assert_eq!(renewed["permit"]["expires_at_ms"], t_approve + 50 * 60_000);

        // Under the emergency permit the worker may act, and every decision is audited
        // (enhanced auditing), the allow included.
        let op = json!({"worker_id": c.worker_id, "environment": "production",
                        "action": "restart", "service": "checkout", "method": "POST",
                        "permit_id": permit_id});
        let (status, decision) = s.post("/v1/authorize", &s.admin, op.clone()).await;
        assert_eq!(status, StatusCode::OK, "{decision}");
        assert_eq!(decision["allow"], true, "{decision}");
        assert!(decision["audit_seq"].is_u64(), "{decision}");

        s.clock.advance_minutes(10);
        let (status, resolved) = s
            .post(
                &format!("/v1/emergencies/{id}/resolve"),
                &c.lead,
                json!({"resolution": "pods restarted, checkout back"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{resolved}");
        let t_resolve = now(s);
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(resolved["permit"]["state"], "revoked");
        assert_eq!(resolved["permit"]["revocation_reason"], "incident_resolved");
        assert_eq!(resolved["review_due_at_ms"], t_resolve + 24 * 3_600_000);
        assert_eq!(resolved["review_status"], "pending");
        // Once resolved, the permit no longer covers anything.
        let (status, decision) = s.post("/v1/authorize", &s.admin, op).await;
        assert_eq!(status, StatusCode::OK, "{decision}");
        assert_eq!(decision["allow"], false, "{decision}");

        let (_, overdue) = s.get("/v1/emergencies?overdue=true", &c.ic).await;
        assert_eq!(overdue["items"], json!([]), "{overdue}");
        s.clock.advance_minutes(24 * 60 - 1);
        let (_, shown) = s.get(&format!("/v1/emergencies/{id}"), &c.ic).await;
        assert_eq!(shown["review_status"], "pending", "{shown}");
        s.clock.advance_minutes(1);
        let (_, overdue) = s.get("/v1/emergencies?overdue=true", &c.ic).await;
        let items = overdue["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{overdue}");
        assert_eq!(items[0]["id"], id.as_str());
        assert_eq!(items[0]["review_overdue"], true);

        let (status, filed) = s
        .post(
            &format!("/v1/emergencies/{id}/review"),
            &c.ic,
            json!({"summary": "bad deploy; restarted", "root_cause": "config", "actions": ["canary"]}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{filed}");
        assert_eq!(filed["review_status"], "filed");
        assert_eq!(filed["review"]["summary"], "bad deploy; restarted");
        let (_, overdue) = s.get("/v1/emergencies?overdue=true", &c.ic).await;
        assert_eq!(overdue["items"], json!([]), "{overdue}");
        let (_, others) = s.get("/v1/emergencies?overdue=false", &c.ic).await;
        assert_eq!(others["items"].as_array().map(Vec::len), Some(1));
        let (status, again) = s
            .post(
                &format!("/v1/emergencies/{id}/review"),
                &c.ic,
                json!({"summary": "again"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");
        assert_eq!(again["rule"], "review_already_filed");

        // Every step is in the trail; the emergency's own events at level 4.
        let events = events_of(s.store(), &permit_id).await;
        let types: Vec<&str> = events.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(
            types,
            [
                "emergency.declared",
                "permit.requested",
                "permit.review_started",
                "permit.approval_recorded",
                "permit.approved",
                "permit.issued",
                "emergency.approved",
                "permit.renewed",
                "emergency.renewed",
                "authorize.allowed",
                "emergency.resolved",
                "permit.revoked",
                "authorize.denied",
                "emergency.review_filed",
            ]
        );
        for (t, level, _) in &events {
            let want = if t.starts_with("emergency.") { 4 } else { 3 };
            assert_eq!(*level, Some(want), "{t}");
        }
        // The justification is the declarer's free text: sealed for them (issue 9, item 4).
        assert_eq!(events[0].2.get("emergency_justification"), None);
        assert_eq!(events[0].2["personal"]["alg"], "xchacha20poly1305");
        assert!(!events[0].2.to_string().contains("checkout is down"));
        assert_eq!(events[0].2["incident_id"], "INC-4711");
        assert!(events[6].2["authorized_by"].is_string(), "{:?}", events[6]);
        assert_eq!(
            events[13].2["post_incident_review_id"],
            filed["review"]["id"]
        );
        let revoked = &events[11].2;
        assert_eq!(revoked["reason"], "incident_resolved");
        assert_eq!(revoked["emergency_id"], id.as_str());
        assert!(s.store().verify_audit_chain().await.is_ok());
    }
);

server_test!(emergency_owner_and_declarer_may_not_approve, |s| {
    let c = cast(s).await;
    let declared = declare(s, &c, 30).await;
    let id = declared["id"].as_str().expect("id");
    let before = s.audit_len().await;

    let (status, body) = approve(s, &c.owner, id, "incident_commander").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["rule"], "segregation_of_duties");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("owns the worker"),
        "{body}"
    );
    // An incident commander who declared may not approve their own emergency.
    let (status, own) = s.post("/v1/emergencies", &c.ic, declaration(&c, 10)).await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    let own_id = own["id"].as_str().expect("id");
    let after_own = s.audit_len().await;
    let (status, body) = approve(s, &c.ic, own_id, "incident_commander").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["rule"], "segregation_of_duties");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("requested"),
        "{body}"
    );
    // A role the approver does not hold, and the master (not human), are refused too.
    let (status, body) = approve(s, &c.lead, id, "incident_commander").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["rule"], "role_not_eligible");
    let (status, body) = approve(s, &c.master, id, "incident_commander").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(s.audit_len().await, after_own);
    assert!(after_own > before);
    let (_, shown) = s.get(&format!("/v1/emergencies/{id}"), &c.ic).await;
    assert_eq!(shown["status"], "awaiting_approval");
    assert_eq!(shown["permit"]["approvals"], json!([]));
});

server_test!(emergency_approval_after_fifteen_minutes_is_refused, |s| {
    let c = cast(s).await;
    let declared = declare(s, &c, 30).await;
    let id = declared["id"].as_str().expect("id");
    s.clock.advance_minutes(15);
    let before = s.audit_len().await;
    let (status, body) = approve(s, &c.ic, id, "incident_commander").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["rule"], "approval_window_closed");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("15 minutes"),
        "{body}"
    );
    assert_eq!(s.audit_len().await, before);
    // The sweep then expires the request: no permit was ever granted, so no review is due.
    let swept = s.store().sweep_emergencies(now(s)).await.expect("sweep");
    assert_eq!(swept.lapsed.len(), 1, "{swept:?}");
    let (_, shown) = s.get(&format!("/v1/emergencies/{id}"), &c.ic).await;
    assert_eq!(shown["status"], "lapsed", "{shown}");
    assert_eq!(shown["permit"]["state"], "expired");
    assert_eq!(shown["review_status"], "not_due");
    let (status, body) = s
        .post(
            &format!("/v1/emergencies/{id}/review"),
            &c.ic,
            json!({"summary": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["rule"], "review_not_due");
});

server_test!(emergency_longer_than_sixty_minutes_is_refused, |s| {
    let c = cast(s).await;
    let before = s.audit_len().await;
    for minutes in [61, 0, -1] {
        let (status, body) = s
            .post("/v1/emergencies", &c.master, declaration(&c, minutes))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "minutes", "{body}");
        assert_eq!(body["rule"], "emergency_duration");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("1 to 60 minutes"),
            "{body}"
        );
    }
    // Malformed input names the field too.
    let mut bad = declaration(&c, 30);
    bad["scope"]["bogus"] = json!(1);
    let (status, body) = s.post("/v1/emergencies", &c.master, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let mut bad = declaration(&c, 30);
    bad["incident_id"] = json!("  ");
    let (status, body) = s.post("/v1/emergencies", &c.master, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "incident_id");
    // A worker-only principal may not declare (nor read).
    let (_, worker_token) = s
        .principal("stranger-agent", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let before_stranger = s.audit_len().await;
    let (status, body) = s
        .post("/v1/emergencies", &worker_token, declaration(&c, 30))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["rule"], "not_a_declarer");
    assert_eq!(s.audit_len().await, before_stranger);
    let (status, _) = s.get("/v1/emergencies", &worker_token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, list) = s.get("/v1/emergencies", &c.ic).await;
    assert_eq!(list["items"], json!([]));
    assert!(s.audit_len().await >= before);
});

server_test!(emergency_is_revoked_at_expiry_by_the_sweep, |s| {
    let c = cast(s).await;
    let approved = active(s, &c, 30).await;
    let id = approved["id"].as_str().expect("id");
    let expires = approved["permit"]["expires_at_ms"]
        .as_i64()
        .expect("expiry");
    s.clock.advance_minutes(29);
    let swept = s.store().sweep_emergencies(now(s)).await.expect("sweep");
    assert!(swept.is_empty(), "{swept:?}");
    s.clock.advance_minutes(1);
    let swept = s.store().sweep_emergencies(now(s)).await.expect("sweep");
    assert_eq!(swept.expired.len(), 1, "{swept:?}");
    assert_eq!(swept.ended, vec![id.to_owned()]);
    let (_, shown) = s.get(&format!("/v1/emergencies/{id}"), &c.ic).await;
    assert_eq!(shown["status"], "ended", "{shown}");
    assert_eq!(shown["permit"]["state"], "revoked");
    assert_eq!(shown["permit"]["revocation_reason"], "time_expiration");
    assert_eq!(shown["end_reason"], "time_expiration");
    assert_eq!(shown["ended_at_ms"], expires);
    assert_eq!(shown["review_due_at_ms"], expires + 24 * 3_600_000);
    // A second sweep finds nothing more to do, and an expired emergency cannot be renewed.
    let swept = s.store().sweep_emergencies(now(s)).await.expect("sweep");
    assert!(swept.is_empty(), "{swept:?}");
    let (status, body) = s
        .post(
            &format!("/v1/emergencies/{id}/renew"),
            &c.ic,
            json!({"minutes": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["rule"], "permit_not_live");
    let events = events_of(s.store(), approved["permit_id"].as_str().expect("permit")).await;
    let revoked: Vec<&Value> = events
        .iter()
        .filter(|(t, _, _)| t == "permit.revoked")
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["reason"], "time_expiration");
    assert!(
        events
            .iter()
            .any(|(t, l, _)| t == "emergency.ended" && *l == Some(4))
    );
});

server_test!(emergency_auto_revoke_and_restart, |s| {
    let c = cast(s).await;
    let approved = active(s, &c, 20).await;
    let id = approved["id"].as_str().expect("id").to_owned();
    let expires = approved["permit"]["expires_at_ms"]
        .as_i64()
        .expect("expiry");

    // The expiry passes while no instance runs the maintenance loop: nothing in memory
    // revokes the permit, so it is still active in the database.
    s.clock.advance_minutes(45);
    let (_, shown) = s.get(&format!("/v1/emergencies/{id}"), &c.ic).await;
    assert_eq!(shown["permit"]["state"], "active", "{shown}");

    // A new Steward on the same database: its own store connection, its own clock, its
    // maintenance loop. The loop's first tick runs at startup and revokes the permit.
    let store = Store::connect(s.db.url()).await.expect("connect");
    let state = AppState::new(
        store.clone(),
        Arc::new(Policy::builtin()),
        Clock::manual(Timestamp(now(s))),
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router(state.clone()), async move {
        let _ = stopped.await;
    }));
    let maintenance = tokio::spawn(run_maintenance(state));
    let client = reqwest::Client::new();
    let mut seen = Value::Null;
    for _ in 0..200 {
        seen = client
            .get(format!("{url}/v1/emergencies/{id}"))
            .bearer_auth(&c.ic)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        if seen["end_reason"] == "time_expiration" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    maintenance.abort();
    let _ = stop.send(());
    let _ = server.await;
    assert_eq!(seen["permit"]["state"], "revoked", "{seen}");
    assert_eq!(seen["permit"]["revocation_reason"], "time_expiration");
    // The end is the permit's expiry, not the restart: the review deadline does not move.
    assert_eq!(seen["ended_at_ms"], expires, "{seen}");
    assert_eq!(seen["review_due_at_ms"], expires + 24 * 3_600_000);
    let events = events_of(&store, seen["permit_id"].as_str().expect("permit")).await;
    let revocations = events
        .iter()
        .filter(|(t, _, _)| t == "permit.revoked")
        .count();
    assert_eq!(revocations, 1);
    store.close().await;
});

server_test!(emergency_resolution_revokes_the_permit, |s| {
    let c = cast(s).await;
    let approved = active(s, &c, 60).await;
    let id = approved["id"].as_str().expect("id");
    // The general permit workflow may not decide or renew an emergency permit: that
    // would bypass the approval window and the incident-commander rule.
    let permit_id = approved["permit_id"].as_str().expect("permit id");
    let pending = declare(s, &c, 10).await;
    let pending_permit = pending["permit_id"].as_str().expect("permit id");
    let before = s.audit_len().await;
    let (status, body) = s
        .post(
            &format!("/v1/permits/{pending_permit}/approvals"),
            &c.ic,
            json!({"decision": "approve", "role": "incident_commander"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["rule"], "emergency_path");
    let (status, body) = s
        .post(
            &format!("/v1/permits/{permit_id}/renew"),
            &c.lead,
            json!({"hours": 1, "role": "on_call_lead"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["rule"], "emergency_path");
    assert_eq!(s.audit_len().await, before);

    // Only an incident commander or on-call lead resolves.
    let (status, body) = s
        .post(
            &format!("/v1/emergencies/{id}/resolve"),
            &c.master,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    s.clock.advance_minutes(3);
    let (status, resolved) = s
        .post(&format!("/v1/emergencies/{id}/resolve"), &c.ic, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["permit"]["state"], "revoked");
    assert_eq!(resolved["permit"]["revocation_reason"], "incident_resolved");
    assert_eq!(resolved["end_reason"], "incident_resolved");
    let (status, body) = s
        .post(&format!("/v1/emergencies/{id}/resolve"), &c.ic, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["rule"], "emergency_resolved");
    // Nothing left for the sweep.
    let swept = s.store().sweep_emergencies(now(s)).await.expect("sweep");
    assert!(swept.is_empty(), "{swept:?}");

    // Resolved before approval: the request expires, and there is nothing to review.
    let declared = declare(s, &c, 10).await;
    let pending = declared["id"].as_str().expect("id");
    let (status, resolved) = s
        .post(
            &format!("/v1/emergencies/{pending}/resolve"),
            &c.lead,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["permit"]["state"], "expired");
    assert_eq!(resolved["review_status"], "not_due");
    let (status, body) = approve(s, &c.ic, pending, "incident_commander").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
});

server_test!(
    emergency_renewals_are_limited_to_three_and_four_hours,
    |s| {
        let c = cast(s).await;
        let approved = active(s, &c, 60).await;
        let id = approved["id"].as_str().expect("id");
        let renew = |token: String, minutes: i64| {
            let path = format!("/v1/emergencies/{id}/renew");
            async move { s.post(&path, &token, json!({"minutes": minutes})).await }
        };
        // Not an incident commander: refused, whatever else they are.
        let before = s.audit_len().await;
        let (status, body) = renew(c.lead.clone(), 30).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["rule"], "incident_commander_only");
        // The owner holds incident_commander but owns the worker.
        let (status, body) = renew(c.owner.clone(), 30).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["rule"], "segregation_of_duties");
        assert_eq!(s.audit_len().await, before);

        for n in 1..=3 {
            let (status, body) = renew(c.ic.clone(), 60).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["permit"]["renewals"], n);
        }
        let (_, shown) = s.get(&format!("/v1/emergencies/{id}"), &c.ic).await;
        assert_eq!(shown["permit"]["total_hours"], 4.0);
        let before = s.audit_len().await;
        let (status, body) = renew(c.ic.clone(), 1).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["rule"], "emergency_renewal");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("at most 3 times"),
            "{body}"
        );
        assert_eq!(s.audit_len().await, before);

        // Beyond 4 h in total on a fresh emergency: 60 + 181 minutes.
        let other = active(s, &c, 60).await;
        let other_id = other["id"].as_str().expect("id");
        let before = s.audit_len().await;
        let (status, body) = s
            .post(
                &format!("/v1/emergencies/{other_id}/renew"),
                &c.ic,
                json!({"minutes": 181}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["rule"], "emergency_renewal");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("at most 4 h in total"),
            "{body}"
        );
        let (status, body) = s
            .post(
                &format!("/v1/emergencies/{other_id}/renew"),
                &c.ic,
                json!({"minutes": 0}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "minutes");
        assert_eq!(s.audit_len().await, before);
    }
);

server_test!(emergency_sweeps_racing_on_two_instances_revoke_once, |s| {
    let c = cast(s).await;
    let approved = active(s, &c, 10).await;
    let permit_id = approved["permit_id"]
        .as_str()
        .expect("permit id")
        .to_owned();
    s.clock.advance_minutes(11);
    // A second instance: its own connection pool on the same database.
    let other = Store::connect(s.db.url()).await.expect("connect");
    let at = now(s);
    let (a, b) = tokio::join!(s.store().sweep_emergencies(at), other.sweep_emergencies(at));
    a.expect("first sweep");
    b.expect("second sweep");
    let events = events_of(s.store(), &permit_id).await;
    let count = |ty: &str| events.iter().filter(|(t, _, _)| t == ty).count();
    assert_eq!(count("permit.revoked"), 1, "{events:?}");
    assert_eq!(count("emergency.ended"), 1, "{events:?}");
    assert!(s.store().verify_audit_chain().await.is_ok());
    other.close().await;
    let (_, doc) = s
        .request(reqwest::Method::GET, "/openapi.json", None, None)
        .await;
    for path in [
        "/v1/emergencies",
        "/v1/emergencies/{id}/approve",
        "/v1/emergencies/{id}/renew",
        "/v1/emergencies/{id}/review",
    ] {
        assert!(doc["paths"][path]["post"].is_object(), "{path}");
    }
});

server_test!(every_emergency_response_is_documented_by_its_schema, |s| {
    // Issue 10, item 4: an emergency is documented field by field (its permit too), not
    // as a bare object.
    let (_, doc) = s.get("/openapi.json", &s.admin).await;
    let view = json!({"$ref": "#/components/schemas/EmergencyView"});
    let documented =
        |value: &Value, path: &str| crate::reports::assert_documented(&doc, value, &view, path);
    let c = cast(s).await;
    let declared = declare(s, &c, 30).await;
    assert_eq!(declared["status"], "awaiting_approval", "{declared}");
    documented(&declared, "declared");
    let id = declared["id"].as_str().expect("id").to_owned();
    let (status, approved) = approve(s, &c.ic, &id, "incident_commander").await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["permit"]["constraints"]["enhanced_audit"], true);
    documented(&approved, "approved");
    let (status, renewed) = s
        .post(
            &format!("/v1/emergencies/{id}/renew"),
            &c.ic,
            json!({"minutes": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    documented(&renewed, "renewed");
    let (status, resolved) = s
        .post(
            &format!("/v1/emergencies/{id}/resolve"),
            &c.lead,
            json!({"resolution": "restarted"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert!(resolved["permit"]["revocation"].is_object(), "{resolved}");
    documented(&resolved, "resolved");
    let (status, filed) = s
        .post(
            &format!("/v1/emergencies/{id}/review"),
            &c.ic,
            json!({"summary": "bad deploy", "root_cause": "config", "actions": ["canary"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{filed}");
    assert!(filed["review"].is_object(), "{filed}");
    documented(&filed, "filed");
    let (status, shown) = s.get(&format!("/v1/emergencies/{id}"), &c.ic).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    documented(&shown, "shown");
    let (status, page) = s.get("/v1/emergencies?limit=5", &c.ic).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    crate::reports::assert_documented(
        &doc,
        &page,
        &json!({"$ref": "#/components/schemas/EmergencyPageView"}),
        "page",
    );
});
