//! The permit workflow over HTTP (SPEC §6): every permit type's lifecycle, segregation of
//! duties, missing evidence, illegal transitions, and racing approvals.

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::PrincipalKind;
use steward_store::testing::execute;

use crate::support::{TestServer, full_report, server_test};

/// The cast of a permit story: a master who requests, a worker (agent) with its owner.
struct Cast {
    master: String,
    master_id: String,
    worker_token: String,
    owner_token: String,
    worker_id: String,
}

async fn cast(s: &TestServer, level: u8) -> Cast {
    let (master_id, master) = s
        .principal("master-1", PrincipalKind::Agent, &[Role::Master])
        .await;
    // The owner also holds approver roles, so segregation of duties is what refuses them.
    let (owner_id, owner_token) = s
        .human(
            "owner-1",
            &[Role::EngineeringManager, Role::EngineeringDirector],
        )
        .await;
    let (agent_id, worker_token) = s
        .principal("worker-agent-1", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let worker_id = format!("wk-{level}");
    insert_worker(s, &worker_id, &owner_id, Some(&agent_id), level, "active").await;
    Cast {
        master,
        master_id,
        worker_token,
        owner_token,
        worker_id,
    }
}

/// Worker rows come from the worker registry; these tests only need one to exist.
async fn insert_worker(
    s: &TestServer,
    id: &str,
    owner: &str,
    principal: Option<&str>,
    level: u8,
    status: &str,
) {
    let principal = principal.map_or("NULL".to_owned(), |p| format!("'{p}'"));
    execute(
        s.store(),
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, stats, version, created_at, updated_at) VALUES ('{id}', '{id}', '{owner}', \
             {principal}, {level}, '{status}', '[]', 0, '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
        ),
    )
    .await
    .expect("insert worker");
}

fn all_evidence() -> Value {
    json!({
        "rollback_plan": {"steps": ["kubectl rollout undo deploy/api"],
                          "verification": ["kubectl rollout status deploy/api"], "estimated_minutes": 5},
        "test_results": "https://ci.example.com/runs/42",
        "code_review": "https://git.example.com/pr/7",
        "rollback_tested": "2026-11-20",
        "security_review": "SEC-12",
        "impact_analysis": "docs/impact.md",
        "rollback_rehearsed": "2026-11-21",
        "architecture_review": "ARCH-3",
        "risk_assessment": "RISK-9",
        "business_justification": "quarterly launch",
        "customer_communication_plan": "status page + email",
        "data_protection_impact_assessment": "DPIA-1",
    })
}

fn standard_task() -> Value {
    json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
           "operations": ["deploy"], "services_affected": ["api"]})
}

async fn request(s: &TestServer, c: &Cast, task: Value) -> Value {
    let (status, body) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": task, "worker_id": c.worker_id, "evidence": all_evidence()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Requests a permit and returns its id.
async fn request_id(s: &TestServer, c: &Cast, task: Value) -> String {
    let permit = request(s, c, task).await;
    permit["id"].as_str().expect("permit id").to_owned()
}

async fn approve(s: &TestServer, token: &str, id: &str, role: &str) -> (StatusCode, Value) {
    s.post(
        &format!("/v1/permits/{id}/approvals"),
        token,
        json!({"decision": "approve", "role": role}),
    )
    .await
}

/// start → complete → close → archive, asserting each state.
async fn execute_and_close(s: &TestServer, c: &Cast, id: &str) {
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/start"),
            &c.worker_token,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("executing")),
        "{body}"
    );
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/complete"),
            &c.worker_token,
            json!({"outcome": "success", "report": full_report("deploy")}),
        )
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("completed")),
        "{body}"
    );
    assert_eq!(body["outcome"], "success");
    let (status, body) = s
        .post(&format!("/v1/permits/{id}/close"), &c.master, json!({}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("closed")),
        "{body}"
    );
    assert_eq!(body["audit_summary"]["approvals_verified"], true);
    assert_eq!(body["audit_summary"]["constraints_met"], true);
    let (status, body) = s
        .post(&format!("/v1/permits/{id}/archive"), &c.master, json!({}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("archived")),
        "{body}"
    );
}

/// The permit's audit trail, as event types in order.
async fn trail(s: &TestServer, permit_id: &str) -> Vec<String> {
    s.store()
        .events(1, 10_000)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.subject.permit_id.as_deref() == Some(permit_id))
        .map(|e| e.event_type)
        .collect()
}

server_test!(read_only_permit_is_auto_approved_and_issued, |s| {
    let c = cast(s, 1).await;
    let p = request(s, &c, json!({"id": "logs", "description": "read production logs", "read_only": true, "environment": "production"})).await;
    assert_eq!(p["permit_type"], "read_only");
    assert_eq!(p["state"], "active", "{p}");
    assert!(p["expires_at_ms"].as_i64().unwrap() > p["valid_from_ms"].as_i64().unwrap());
    let id = p["id"].as_str().unwrap();
    execute_and_close(s, &c, id).await;
    assert_eq!(
        trail(s, id).await,
        [
            "permit.requested",
            "permit.review_started",
            "permit.approved",
            "permit.issued",
            "permit.started",
            "permit.completed",
            "permit.closed",
            "permit.archived"
        ]
    );
    s.store()
        .verify_audit_chain()
        .await
        .expect("chain verifies");
});

server_test!(standard_production_lifecycle, |s| {
    let c = cast(s, 2).await;
    let p = request(s, &c, standard_task()).await;
    assert_eq!(
        (p["permit_type"].as_str(), p["state"].as_str()),
        (Some("standard_production"), Some("under_review"))
    );
    assert_eq!(p["constraints"]["max_error_rate"], 0.01);
    assert_eq!(p["constraints"]["auto_rollback"], true);
    let id = p["id"].as_str().unwrap();
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    let (status, body) = approve(s, &tl, id, "tech_lead").await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("active")),
        "{body}"
    );
    assert_eq!(body["approvals"][0]["role"], "tech_lead");
    assert_eq!(body["approvals"][0]["channel"], "api");
    execute_and_close(s, &c, id).await;
});

server_test!(advanced_production_needs_a_director_among_two, |s| {
    let c = cast(s, 3).await;
    let p = request(s, &c, json!({"id": "alter", "environment": "production",
        "operations": ["ALTER TABLE orders ADD COLUMN note text"], "services_affected": ["orders"]})).await;
    assert_eq!(p["permit_type"], "advanced_production");
    let id = p["id"].as_str().unwrap();
    let (_, arch) = s.human("arch", &[Role::ArchitectureLead]).await;
    let (_, sec) = s.human("sec", &[Role::SecurityLead]).await;
    let (_, dir) = s.human("dir", &[Role::EngineeringDirector]).await;
    assert_eq!(
        approve(s, &arch, id, "architecture_lead").await.1["state"],
        "under_review"
    );
    // Two approvers, but the required director is missing: still under review.
    assert_eq!(
        approve(s, &sec, id, "security_lead").await.1["state"],
        "under_review"
    );
    let (status, body) = approve(s, &dir, id, "engineering_director").await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("active")),
        "{body}"
    );
    execute_and_close(s, &c, id).await;
});

server_test!(master_production_needs_three_executives_and_the_cab, |s| {
    let c = cast(s, 4).await;
    let p = request(
        s,
        &c,
        json!({"id": "regions", "environment": "production", "operations": ["deploy"],
        "regions": ["us-east-1", "eu-west-1"], "services_affected": ["api"]}),
    )
    .await;
    assert_eq!(p["permit_type"], "master_production");
    assert_eq!(p["requirements"]["change_advisory_board_required"], true);
    let id = p["id"].as_str().unwrap();
    for (name, role) in [
        ("vp", Role::VpEngineering),
        ("cto", Role::Cto),
        ("ciso", Role::Ciso),
    ] {
        let (_, token) = s.human(name, &[role]).await;
        let (status, body) = approve(s, &token, id, role.as_str()).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (StatusCode::OK, Some("under_review")),
            "{body}"
        );
    }
    let (_, coo) = s.human("coo", &[Role::Coo]).await;
    let (status, body) = s
        .post(&format!("/v1/permits/{id}/cab-signoff"), &coo, json!({}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("active")),
        "{body}"
    );
    assert_eq!(body["cab_signed_off"], true);
    execute_and_close(s, &c, id).await;
});

server_test!(destructive_work_needs_all_three_roles, |s| {
    let c = cast(s, 3).await;
    let p = request(s, &c, json!({"id": "wipe", "environment": "production", "operations": ["TRUNCATE TABLE sessions"], "services_affected": ["sessions"]})).await;
    assert_eq!(p["permit_type"], "destructive");
    let id = p["id"].as_str().unwrap();
    for (name, role) in [("data", Role::DataLead), ("sec", Role::SecurityLead)] {
        let (_, token) = s.human(name, &[role]).await;
        assert_eq!(
            approve(s, &token, id, role.as_str()).await.1["state"],
            "under_review"
        );
    }
    let (_, dir) = s.human("dir", &[Role::EngineeringDirector]).await;
    assert_eq!(
        approve(s, &dir, id, "engineering_director").await.1["state"],
        "active"
    );
    // Destructive permits are single use: no renewal.
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/renew"),
            &c.master,
            json!({"hours": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["rule"], "permit_window");
    execute_and_close(s, &c, id).await;
});

server_test!(segregation_of_duties_is_enforced_on_the_server, |s| {
    let c = cast(s, 2).await;
    let id = request_id(s, &c, standard_task()).await;

    // The worker's owner holds engineering_manager, but owns the worker.
    let (status, body) = approve(s, &c.owner_token, &id, "engineering_manager").await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("segregation_of_duties")),
        "{body}"
    );
    // The requester cannot approve its own request, whatever it holds.
    let (self_id, self_token) = s
        .human("self-approver", &[Role::Master, Role::TechLead])
        .await;
    let (status, body) = s
        .post(
            "/v1/permits",
            &self_token,
            json!({"task": standard_task(), "worker_id": c.worker_id, "evidence": all_evidence()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let own = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["requester_id"], self_id);
    let (status, body) = approve(s, &self_token, &own, "tech_lead").await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("segregation_of_duties")),
        "{body}"
    );
    // The worker itself (the executor) cannot approve.
    let (status, body) = approve(s, &c.worker_token, &id, "tech_lead").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A role the approver does not hold, and a role that may not approve this permit.
    let (_, dev) = s.human("dev", &[Role::SeniorEngineer]).await;
    let (status, body) = approve(s, &dev, &id, "tech_lead").await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("role_not_eligible")),
        "{body}"
    );
    let (_, cto) = s.human("cto", &[Role::Cto]).await;
    let (status, body) = approve(s, &cto, &id, "cto").await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("role_not_eligible")),
        "{body}"
    );
    // Refusals wrote nothing on the permit: no approval recorded, still under review.
    assert_eq!(
        trail(s, &id).await,
        ["permit.requested", "permit.review_started"]
    );
    let (_, shown) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
    assert_eq!(
        (
            shown["state"].as_str(),
            shown["approvals"].as_array().map(Vec::len)
        ),
        (Some("under_review"), Some(0))
    );

    // The same person twice under two roles counts once: on a level-3 permit needing two.
    let c3 = Cast {
        worker_id: "wk-3b".into(),
        ..c
    };
    let (owner3, _) = s.human("owner-3", &[]).await;
    insert_worker(s, "wk-3b", &owner3, None, 3, "active").await;
    let p = request(s, &c3, json!({"id": "alter", "environment": "production", "operations": ["ALTER TABLE t ADD COLUMN c int"], "services_affected": ["orders"]})).await;
    let id3 = p["id"].as_str().unwrap();
    let (_, both) = s
        .human("both", &[Role::EngineeringDirector, Role::SecurityLead])
        .await;
    assert_eq!(
        approve(s, &both, id3, "engineering_director").await.0,
        StatusCode::OK
    );
    let (status, body) = approve(s, &both, id3, "security_lead").await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::CONFLICT, Some("one_vote_per_person")),
        "{body}"
    );
    let (_, shown) = s.get(&format!("/v1/permits/{id3}"), &c3.master).await;
    assert_eq!(shown["state"], "under_review");
    assert_eq!(shown["approvals"].as_array().unwrap().len(), 1);
    let _ = c3.master_id;
});

server_test!(missing_evidence_is_listed_and_nothing_is_written, |s| {
    let c = cast(s, 3).await;
    let before = s.audit_len().await;
    let (status, body) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": {"id": "alter", "environment": "production",
            "operations": ["ALTER TABLE t ADD COLUMN c int"], "services_affected": ["orders"]}, "worker_id": c.worker_id,
            "evidence": {"rollback_plan": {"steps": ["down migration"]}, "test_results": ""}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["rule"], "missing_evidence");
    assert_eq!(
        body["missing"],
        json!([
            "test_results",
            "code_review",
            "rollback_tested",
            "security_review",
            "impact_analysis"
        ])
    );
    assert_eq!(s.audit_len().await, before);
    let (_, list) = s.get("/v1/permits", &c.master).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
});

server_test!(requests_that_cannot_be_permitted_are_refused, |s| {
    let c = cast(s, 1).await;
    // The worker's level is too low for the task: a hard block.
    let (status, body) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": standard_task(), "worker_id": c.worker_id, "evidence": all_evidence()}),
        )
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("hard_block")),
        "{body}"
    );
    assert_eq!(body["hard_blocks"][0]["rule"], "insufficient_certification");
    // Development work needs no permit.
    let (status, body) = s
        .post("/v1/permits", &c.master, json!({"task": {"id": "dev", "environment": "development", "description": "x"}, "worker_id": c.worker_id}))
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_permit_needed"))
    );
    // Bad input names the field; an unknown worker is 404; a non-master is 403.
    let (status, body) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": {"id": "t", "enviroment": "production"}, "worker_id": c.worker_id}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("task.enviroment")),
        "{body}"
    );
    let (status, body) = s
        .post("/v1/permits", &c.master, json!({"task": standard_task(), "worker_id": c.worker_id, "evidence": {"rollback_plna": "x"}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["field"].as_str().unwrap().starts_with("evidence"),
        "{body}"
    );
    let (status, _) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": standard_task(), "worker_id": "nope", "evidence": all_evidence()}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, auditor) = s.human("auditor", &[Role::Auditor]).await;
    let (status, _) = s
        .post(
            "/v1/permits",
            &auditor,
            json!({"task": standard_task(), "worker_id": c.worker_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = s
        .post("/v1/permits", &c.master, json!({"task": standard_task(), "worker_id": c.worker_id, "evidence": all_evidence(), "hours": 500}))
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("permit_window")),
        "{body}"
    );
});

server_test!(illegal_transitions_are_409_naming_state_and_action, |s| {
    let c = cast(s, 2).await;
    let id = request_id(s, &c, standard_task()).await;
    let before = s.audit_len().await;
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/start"),
            &c.worker_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["rule"], "illegal_transition");
    assert_eq!(body["current_state"], "under_review");
    assert_eq!(body["attempted_action"], "start");
    assert_eq!(
        body["detail"],
        "cannot start a permit in state `under_review`"
    );
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/complete"),
            &c.worker_token,
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(
        (status, body["attempted_action"].as_str()),
        (StatusCode::CONFLICT, Some("complete"))
    );
    assert_eq!(s.audit_len().await, before);

    // Reject is final.
    let (_, em) = s.human("em", &[Role::EngineeringManager]).await;
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/approvals"),
            &em,
            json!({"decision": "reject", "role": "engineering_manager", "comment": "no"}),
        )
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("rejected"))
    );
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    let (status, body) = approve(s, &tl, &id, "tech_lead").await;
    assert_eq!(
        (status, body["current_state"].as_str()),
        (StatusCode::CONFLICT, Some("rejected"))
    );
    let (status, body) = s
        .post(&format!("/v1/permits/{id}/archive"), &c.master, json!({}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("archived"))
    );
    let (status, _) = s
        .post(
            &format!("/v1/permits/{id}/revoke"),
            &c.master,
            json!({"reason": "manual"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
});

server_test!(request_changes_then_resubmit_resets_approvals, |s| {
    let c = cast(s, 3).await;
    let id = request_id(
        s,
        &c,
        json!({"id": "alter", "environment": "production", "operations": ["ALTER TABLE t ADD COLUMN c int"], "services_affected": ["orders"]}),
    )
    .await;
    let (_, dir) = s.human("dir", &[Role::EngineeringDirector]).await;
    let (_, sec) = s.human("sec", &[Role::SecurityLead]).await;
    assert_eq!(
        approve(s, &dir, &id, "engineering_director").await.0,
        StatusCode::OK
    );
    let (status, body) = s
        .post(&format!("/v1/permits/{id}/approvals"), &sec, json!({"decision": "request_changes", "role": "security_lead", "comment": "add a dry run"}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("changes_requested")),
        "{body}"
    );
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/resubmit"),
            &c.master,
            json!({"evidence": all_evidence()}),
        )
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("under_review")),
        "{body}"
    );
    assert_eq!(body["round"], 2);
    assert_eq!(body["approvals"], json!([]));
    // The director's earlier approval no longer counts: one more is not enough.
    assert_eq!(
        approve(s, &sec, &id, "security_lead").await.1["state"],
        "under_review"
    );
    let (status, body) = approve(s, &dir, &id, "engineering_director").await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("active")),
        "{body}"
    );
});

server_test!(revoke_is_terminal_and_idempotent, |s| {
    let c = cast(s, 2).await;
    let id = request_id(s, &c, standard_task()).await;
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    approve(s, &tl, &id, "tech_lead").await;
    let (status, _) = s
        .post(
            &format!("/v1/permits/{id}/start"),
            &c.worker_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/revoke"),
            &c.master,
            json!({"reason": "because"}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("reason")),
        "{body}"
    );
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/revoke"),
            &c.master,
            json!({"reason": "constraint_breach", "comment": "error rate"}),
        )
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("revoked")),
        "{body}"
    );
    let events = s.audit_len().await;
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/revoke"),
            &c.master,
            json!({"reason": "manual"}),
        )
        .await;
    assert_eq!(
        (status, body["revocation_reason"].as_str()),
        (StatusCode::OK, Some("constraint_breach"))
    );
    assert_eq!(
        s.audit_len().await,
        events,
        "a second revoke records nothing"
    );
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/start"),
            &c.worker_token,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["current_state"].as_str()),
        (StatusCode::CONFLICT, Some("revoked"))
    );
});

server_test!(renewal_follows_the_permit_type, |s| {
    let c = cast(s, 2).await;
    let id = request_id(s, &c, standard_task()).await;
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    let p = approve(s, &tl, &id, "tech_lead").await.1;
    let expires = p["expires_at_ms"].as_i64().unwrap();
    // standard_production renews with one approval: the master alone cannot.
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/renew"),
            &c.master,
            json!({"hours": 4}),
        )
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("role_required")),
        "{body}"
    );
    let (_, em) = s.human("em", &[Role::EngineeringManager]).await;
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/renew"),
            &em,
            json!({"hours": 4, "role": "engineering_manager"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["renewals"], 1);
    assert_eq!(
        body["expires_at_ms"].as_i64().unwrap(),
        expires + 4 * 3_600_000
    );
});

server_test!(starting_outside_the_window_is_refused, |s| {
    let c = cast(s, 2).await;
    let id = request_id(s, &c, standard_task()).await;
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    approve(s, &tl, &id, "tech_lead").await;
    s.clock.advance_minutes(25 * 60);
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/start"),
            &c.worker_token,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::CONFLICT, Some("outside_window")),
        "{body}"
    );
});

server_test!(later_window_issues_when_due, |s| {
    let c = cast(s, 2).await;
    let start = s.clock.now().millis() + 3_600_000;
    let (status, p) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": standard_task(), "worker_id": c.worker_id,
            "evidence": all_evidence(), "window_start_ms": start}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = p["id"].as_str().unwrap();
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    assert_eq!(
        approve(s, &tl, id, "tech_lead").await.1["state"],
        "approved"
    );
    assert!(
        s.store()
            .issue_due_permits(s.clock.now().millis())
            .await
            .unwrap()
            .is_empty()
    );
    s.clock.advance_minutes(61);
    let issued = s
        .store()
        .issue_due_permits(s.clock.now().millis())
        .await
        .unwrap();
    assert_eq!(issued, [id.to_owned()]);
    let (_, p) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
    assert_eq!(p["state"], "active");
    // Issued late (the clock jumped past the start): the window runs from the issue.
    assert_eq!(p["valid_from_ms"].as_i64().unwrap(), start + 60_000);
});

server_test!(fifty_concurrent_approvals_issue_exactly_once, |s| {
    let c = cast(s, 3).await;
    let id = request_id(
        s,
        &c,
        json!({"id": "alter", "environment": "production", "operations": ["ALTER TABLE t ADD COLUMN c int"], "services_affected": ["orders"]}),
    )
    .await;
    let mut approvers = Vec::new();
    for i in 0..50 {
        let role = if i % 2 == 0 {
            Role::EngineeringDirector
        } else {
            Role::ArchitectureLead
        };
        let (_, token) = s.human(&format!("approver-{i}"), &[role]).await;
        approvers.push((token, role));
    }
    let mut tasks = Vec::new();
    for (token, role) in approvers {
        let url = format!("{}/v1/permits/{id}/approvals", s.url);
        tasks.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"decision": "approve", "role": role.as_str()}))
                .send()
                .await
                .expect("sent");
            let status = resp.status();
            let body: Value = resp.json().await.expect("json");
            (status, body)
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        let (status, body) = task.await.expect("joined");
        match status {
            StatusCode::OK => accepted += 1,
            StatusCode::CONFLICT => assert!(
                matches!(
                    body["rule"].as_str(),
                    Some("illegal_transition" | "concurrent_update")
                ),
                "{body}"
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let (_, p) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
    assert_eq!(p["state"], "active");
    let trail = trail(s, &id).await;
    assert_eq!(
        trail.iter().filter(|t| *t == "permit.issued").count(),
        1,
        "{trail:?}"
    );
    assert_eq!(trail.iter().filter(|t| *t == "permit.approved").count(), 1);
    let recorded = trail
        .iter()
        .filter(|t| *t == "permit.approval_recorded")
        .count();
    assert_eq!(
        recorded, accepted,
        "every accepted approval is recorded, no other"
    );
    assert_eq!(p["approvals"].as_array().unwrap().len(), accepted);
    assert!(accepted >= 2);
    s.store()
        .verify_audit_chain()
        .await
        .expect("chain verifies");
});

server_test!(racing_starts_never_both_win, |s| {
    let c = cast(s, 2).await;
    let id = request_id(s, &c, standard_task()).await;
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    approve(s, &tl, &id, "tech_lead").await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let url = format!("{}/v1/permits/{id}/start", s.url);
        let token = c.worker_token.clone();
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .expect("sent")
                .status()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.expect("joined") == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(
        trail(s, &id)
            .await
            .iter()
            .filter(|t| *t == "permit.started")
            .count(),
        1
    );
});

server_test!(maintenance_loop_issues_due_permits, |s| {
    let c = cast(s, 2).await;
    let start = s.clock.now().millis() + 3_600_000;
    let (_, p) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": standard_task(), "worker_id": c.worker_id,
            "evidence": all_evidence(), "window_start_ms": start}),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    assert_eq!(
        approve(s, &tl, &id, "tech_lead").await.1["state"],
        "approved"
    );
    let loop_task = tokio::spawn(steward_server::run_maintenance(
        steward_server::AppState::new(
            s.store().clone(),
            std::sync::Arc::new(steward_policy::Policy::builtin()),
            s.clock.clone(),
            None,
        ),
    ));
    s.clock.advance_minutes(60);
    let mut state = String::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        state = s.get(&format!("/v1/permits/{id}"), &c.master).await.1["state"]
            .as_str()
            .unwrap()
            .to_owned();
        if state == "active" {
            break;
        }
    }
    loop_task.abort();
    assert_eq!(state, "active");
    assert_eq!(
        trail(s, &id).await.last().map(String::as_str),
        Some("permit.issued")
    );
});

server_test!(a_suspended_worker_cannot_have_its_permit_approved, |s| {
    let c = cast(s, 2).await;
    let id = request_id(s, &c, standard_task()).await;
    execute(
        s.store(),
        &format!(
            "UPDATE workers SET status = 'suspended' WHERE id = '{}'",
            c.worker_id
        ),
    )
    .await
    .unwrap();
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    let (status, body) = approve(s, &tl, &id, "tech_lead").await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("hard_block")),
        "{body}"
    );
    assert_eq!(body["hard_blocks"][0]["rule"], "certification_suspended");
    assert_eq!(
        trail(s, &id).await,
        ["permit.requested", "permit.review_started"]
    );
});

server_test!(
    an_approval_racing_a_revoke_never_both_win_inconsistently,
    |s| {
        let c = cast(s, 3).await;
        let (_, dir) = s.human("dir", &[Role::EngineeringDirector]).await;
        let (_, sec) = s.human("sec", &[Role::SecurityLead]).await;
        for round in 0..8 {
            let task = json!({"id": format!("race-{round}"), "environment": "production",
            "operations": ["ALTER TABLE t ADD COLUMN c int"], "services_affected": ["orders"]});
            let id = request_id(s, &c, task).await;
            assert_eq!(
                approve(s, &dir, &id, "engineering_director").await.0,
                StatusCode::OK
            );
            // The second approval issues the permit; the requester revokes at the same moment.
            let approval = {
                let (url, token) = (format!("{}/v1/permits/{id}/approvals", s.url), sec.clone());
                tokio::spawn(async move {
                    reqwest::Client::new()
                        .post(url)
                        .bearer_auth(token)
                        .json(&json!({"decision": "approve", "role": "security_lead"}))
                        .send()
                        .await
                        .expect("sent")
                        .status()
                })
            };
            let revoke = {
                let (url, token) = (
                    format!("{}/v1/permits/{id}/revoke", s.url),
                    c.master.clone(),
                );
                tokio::spawn(async move {
                    reqwest::Client::new()
                        .post(url)
                        .bearer_auth(token)
                        .json(&json!({"reason": "approver_request"}))
                        .send()
                        .await
                        .expect("sent")
                        .status()
                })
            };
            let (approved, revoked) = (approval.await.unwrap(), revoke.await.unwrap());
            assert_eq!(
                approved,
                StatusCode::OK,
                "the approval never loses: nothing to revoke before it"
            );
            let (_, p) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
            let trail = trail(s, &id).await;
            match revoked {
                // The revoke came after the issue: the permit is revoked, after being issued.
                StatusCode::OK => {
                    assert_eq!(p["state"], "revoked");
                    let issued = trail
                        .iter()
                        .position(|t| t == "permit.issued")
                        .expect("issued");
                    let gone = trail
                        .iter()
                        .position(|t| t == "permit.revoked")
                        .expect("revoked");
                    assert!(issued < gone, "{trail:?}");
                }
                // The revoke came first, while the permit was under review: refused, no trace.
                StatusCode::CONFLICT => {
                    assert_eq!(p["state"], "active");
                    assert!(!trail.iter().any(|t| t == "permit.revoked"), "{trail:?}");
                }
                other => panic!("unexpected revoke status {other}"),
            }
            assert_eq!(trail.iter().filter(|t| *t == "permit.issued").count(), 1);
        }
        s.store()
            .verify_audit_chain()
            .await
            .expect("chain verifies");
    }
);

server_test!(a_worker_reads_only_its_own_permits, |s| {
    let c = cast(s, 2).await;
    let id = request_id(s, &c, standard_task()).await;
    let (status, own) = s.get(&format!("/v1/permits/{id}"), &c.worker_token).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["id"], id.as_str());
    let (_, list) = s.get("/v1/permits", &c.worker_token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Another agent with the worker role, not this permit's worker, sees nothing of it.
    let (_, other) = s
        .principal("worker-agent-2", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let (status, _) = s.get(&format!("/v1/permits/{id}"), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, list) = s.get("/v1/permits", &other).await;
    assert_eq!(
        (status, list["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let (status, body) = s
        .get(&format!("/v1/permits?worker_id={}", c.worker_id), &other)
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("own_worker_only"))
    );
    // An auditor reads everything.
    let (_, auditor) = s.human("auditor", &[Role::Auditor]).await;
    assert_eq!(
        s.get(&format!("/v1/permits/{id}"), &auditor).await.0,
        StatusCode::OK
    );
});

server_test!(a_completed_operation_without_its_report_is_refused, |s| {
    let c = cast(s, 2).await;
    let id = request_id(s, &c, standard_task()).await;
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    approve(s, &tl, &id, "tech_lead").await;
    s.post(
        &format!("/v1/permits/{id}/start"),
        &c.worker_token,
        json!({}),
    )
    .await;
    let before = s.audit_len().await;
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/complete"),
            &c.worker_token,
            json!({"outcome": "success", "report": {"operation_type": "deploy", "resources_accessed": ["api"]}}),
        )
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("incomplete_report")),
        "{body}"
    );
    assert_eq!(
        body["missing"],
        json!([
            "duration_seconds",
            "input_parameters",
            "output_results",
            "resources_modified",
            "error_conditions"
        ])
    );
    assert_eq!(s.audit_len().await, before, "nothing written");
    // A rollback at level 2 also reports its rollback record.
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/complete"),
            &c.worker_token,
            json!({"outcome": "rolled_back", "report": full_report("deploy")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["missing"][0], "rollback.trigger_reason");
    // With the report, the completion is recorded with what Steward knows added.
    let (status, _) = s
        .post(
            &format!("/v1/permits/{id}/complete"),
            &c.worker_token,
            json!({"outcome": "success", "report": full_report("deploy")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let event = s.store().events(before + 1, 1).await.unwrap().remove(0);
    assert_eq!(event.event_type, "permit.completed");
    assert_eq!(event.data["certification_level"], 2);
    assert_eq!(event.data["approvals"][0]["role"], "tech_lead");
    assert_eq!(event.data["report"]["duration_seconds"], 42);
});

server_test!(
    approvers_see_their_queue_overdue_requests_and_when_a_request_expires,
    |s| {
        let c = cast(s, 2).await;
        let id = request_id(s, &c, standard_task()).await;
        let (_, tl) = s.human("tessa", &[Role::TechLead]).await;
        let ids = |page: &Value| -> Vec<String> {
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned())
                .collect()
        };

        // The queue: an eligible approver sees it; the worker's owner (segregation of duties)
        // and the requesting agent (not human) do not.
        let (status, page) = s.get("/v1/permits?awaiting_me=true", &tl).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(ids(&page), vec![id.clone()]);
        let (_, page) = s.get("/v1/permits?awaiting_me=true", &c.owner_token).await;
        assert!(ids(&page).is_empty(), "{page}");
        let (_, page) = s.get("/v1/permits?awaiting_me=true", &c.master).await;
        assert!(ids(&page).is_empty(), "{page}");

        // Under review: when approvals are due and when the request expires (not "never"),
        // and the requester by name.
        let (_, p) = s.get(&format!("/v1/permits/{id}"), &tl).await;
        let created = p["created_at_ms"].as_i64().unwrap();
        assert_eq!(p["review"]["approval_due_at_ms"], created + 24 * 3_600_000);
        assert_eq!(p["review"]["expires_at_ms"], created + 48 * 3_600_000);
        assert_eq!(p["review"]["overdue"], false);
        assert_eq!(p["requester_name"], "master-1");
        let (_, page) = s.get("/v1/permits?overdue=true", &tl).await;
        assert!(ids(&page).is_empty(), "{page}");

        // Past the 24 h SLA: overdue and escalated to the next level's approvers.
        s.clock.advance_minutes(25 * 60);
        let (_, page) = s.get("/v1/permits?overdue=true", &tl).await;
        assert_eq!(ids(&page), vec![id.clone()]);
        assert_eq!(page["items"][0]["review"]["overdue"], true);
        assert_eq!(
            page["items"][0]["review"]["escalated_to"],
            json!(["engineering_director", "security_lead", "architecture_lead"])
        );
        let (status, body) = s.get("/v1/permits?overdue=true&state=active", &tl).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("overdue")),
            "{body}"
        );

        // Past 48 h it expires; a late approval says so in words a person understands.
        s.clock.advance_minutes(24 * 60);
        s.store()
            .run_timers(s.clock.now().millis())
            .await
            .expect("timers");
        let (status, body) = approve(s, &tl, &id, "tech_lead").await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("the request expired")
                && detail.contains("a new permit request is needed"),
            "{detail}"
        );
        assert!(
            !detail.contains("quorum_met"),
            "no internal names: {detail}"
        );
        let (_, page) = s.get("/v1/permits?awaiting_me=true", &tl).await;
        assert!(
            ids(&page).is_empty(),
            "an expired request leaves the queue: {page}"
        );
    }
);

server_test!(every_permit_response_is_documented_by_its_schema, |s| {
    // Issue 10, item 4: permits are documented field by field, not as a bare object.
    let (_, doc) = s.get("/openapi.json", &s.admin).await;
    let view = json!({"$ref": "#/components/schemas/PermitView"});
    let documented =
        |value: &Value, path: &str| crate::reports::assert_documented(&doc, value, &view, path);
    let c = cast(s, 2).await;
    let p = request(s, &c, standard_task()).await;
    documented(&p, "requested");
    let id = p["id"].as_str().expect("id").to_owned();
    // While it waits for a decision, a reader sees its review clock.
    let (status, waiting) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
    assert_eq!(status, StatusCode::OK, "{waiting}");
    assert!(waiting["review"].is_object(), "{waiting}");
    documented(&waiting, "waiting");
    let (_, tl) = s.human("tl", &[Role::TechLead]).await;
    let (_, approved) = approve(s, &tl, &id, "tech_lead").await;
    assert_eq!(approved["state"], "active", "{approved}");
    documented(&approved, "approved");
    // A renewal waiting for its approval, then done.
    let (_, em) = s.human("em", &[Role::EngineeringManager]).await;
    let (status, renewed) = s
        .post(
            &format!("/v1/permits/{id}/renew"),
            &em,
            json!({"hours": 4, "role": "engineering_manager"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    documented(&renewed, "renewed");
    let (status, shown) = s.get(&format!("/v1/permits/{id}"), &c.master).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["approvals"][0]["principal_name"], "tl", "{shown}");
    documented(&shown, "shown");
    let (status, page) = s.get("/v1/permits?limit=5", &c.master).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    crate::reports::assert_documented(
        &doc,
        &page,
        &json!({"$ref": "#/components/schemas/PermitPageView"}),
        "page",
    );
    // Started, completed with a report, closed with its summary.
    for (step, token, body) in [
        ("start", &c.worker_token, json!({})),
        (
            "complete",
            &c.worker_token,
            json!({"outcome": "success", "report": full_report("deploy")}),
        ),
        ("close", &c.master, json!({})),
    ] {
        let (status, after) = s
            .post(&format!("/v1/permits/{id}/{step}"), token, body)
            .await;
        assert_eq!(status, StatusCode::OK, "{step}: {after}");
        documented(&after, step);
    }
    // A revoked permit carries how it was revoked.
    let other = request_id(s, &c, standard_task()).await;
    approve(s, &tl, &other, "tech_lead").await;
    let (status, revoked) = s
        .post(
            &format!("/v1/permits/{other}/revoke"),
            &c.master,
            json!({"reason": "manual"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revocation"].is_object(), "{revoked}");
    documented(&revoked, "revoked");
    // The schema's required members are ones a permit always has.
    let schema = &doc["components"]["schemas"]["PermitView"];
    for member in schema["required"].as_array().expect("required") {
        let name = member.as_str().expect("name");
        assert!(
            p.get(name).is_some(),
            "`{name}` is required but a requested permit lacks it"
        );
    }
});
