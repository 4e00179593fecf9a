//! Segregation of duties (SPEC §6.3): nobody decides on work they requested, own or will
//! execute, in any kind of decision (approve, reject, request changes, renew); each human
//! is one vote whatever roles they hold, and required roles need distinct people.

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::PrincipalKind;
use steward_store::testing::execute;

use super::{Fingerprint, assert_refused, assert_unchanged};
use crate::support::{TestServer, server_test};

/// A worker row at `level` owned by `owner`, authenticating as `agent`.
pub(super) async fn insert_worker(s: &TestServer, id: &str, owner: &str, agent: &str, level: u8) {
    execute(
        s.store(),
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, stats, version, created_at, updated_at) VALUES ('{id}', '{id}', \
             '{owner}', '{agent}', {level}, 'active', '[]', 0, '{{\"successes_at_level\":0,\
             \"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\
             \"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
        ),
    )
    .await
    .expect("insert worker");
}

/// Every piece of evidence any level asks for.
pub(super) fn evidence() -> Value {
    json!({
        "rollback_plan": {"steps": ["kubectl rollout undo deploy/api"],
                          "verification": ["kubectl rollout status deploy/api"], "estimated_minutes": 5},
        "test_results": "ci/42", "code_review": "pr/7", "rollback_tested": "2026-11-20",
        "security_review": "SEC-12", "impact_analysis": "docs/impact.md",
        "rollback_rehearsed": "2026-11-21", "architecture_review": "ARCH-3",
        "risk_assessment": "RISK-9", "business_justification": "launch",
        "customer_communication_plan": "status page",
        "data_protection_impact_assessment": "DPIA-1",
    })
}

async fn request(s: &TestServer, requester: &str, worker: &str, task: Value) -> String {
    let (status, body) = s
        .post(
            "/v1/permits",
            requester,
            json!({"task": task, "worker_id": worker, "evidence": evidence()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("permit id").to_owned()
}

async fn decide(
    s: &TestServer,
    token: &str,
    permit: &str,
    decision: &str,
    role: &str,
) -> (StatusCode, Value) {
    s.post(
        &format!("/v1/permits/{permit}/approvals"),
        token,
        json!({"decision": decision, "role": role}),
    )
    .await
}

// The requester, the worker's owner and the worker itself decide nothing on the permit,
// whatever the decision and whatever roles they hold; an outsider's approval then works.
server_test!(attack_duties_the_parties_decide_nothing, |s| {
    let (owner_id, owner) = s
        .human("owner", &[Role::EngineeringManager, Role::TechLead])
        .await;
    let (agent_id, agent) = s
        .principal(
            "deploy-agent",
            PrincipalKind::Agent,
            &[Role::Worker, Role::TechLead],
        )
        .await;
    let (_, requester) = s
        .human(
            "requester",
            &[Role::Master, Role::TechLead, Role::SeniorEngineer],
        )
        .await;
    let (_, outsider) = s.human("outsider", &[Role::TechLead]).await;
    insert_worker(s, "wk-duty", &owner_id, &agent_id, 2).await;
    let task = json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
                      "operations": ["deploy"], "services_affected": ["api"]});
    let permit = request(s, &requester, "wk-duty", task).await;

    let before = Fingerprint::of(s.store()).await;
    for (who, token) in [
        ("owner", &owner),
        ("worker", &agent),
        ("requester", &requester),
    ] {
        for decision in ["approve", "reject", "request_changes"] {
            for role in ["tech_lead", "engineering_manager", "senior_engineer"] {
                let (status, body) = decide(s, token, &permit, decision, role).await;
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{who} {decision} as {role}: {body}"
                );
                assert_refused(status, &body, StatusCode::FORBIDDEN, None);
                let rule = body["rule"].as_str().unwrap_or_default();
                assert!(
                    ["segregation_of_duties", "role_not_eligible"].contains(&rule),
                    "{who} {decision} as {role}: {body}"
                );
                assert_unchanged(&before, &Fingerprint::of(s.store()).await, who);
            }
            // Under a role they hold and that may approve, it is segregation that refuses.
            let (status, body) = decide(s, token, &permit, decision, "tech_lead").await;
            if who != "worker" {
                assert_refused(
                    status,
                    &body,
                    StatusCode::FORBIDDEN,
                    Some("segregation_of_duties"),
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
            }
        }
    }

    // An outsider approves; renewing it is an approval too, refused to the same parties.
    let (status, body) = decide(s, &outsider, &permit, "approve", "tech_lead").await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("active")),
        "{body}"
    );
    let before = Fingerprint::of(s.store()).await;
    for (who, token) in [("owner", &owner), ("requester", &requester)] {
        let (status, body) = s
            .post(
                &format!("/v1/permits/{permit}/renew"),
                token,
                json!({"hours": 4, "role": "tech_lead"}),
            )
            .await;
        assert_refused(
            status,
            &body,
            StatusCode::FORBIDDEN,
            Some("segregation_of_duties"),
        );
        assert_unchanged(&before, &Fingerprint::of(s.store()).await, who);
    }
});

// One human is one vote: a person holding every role a destructive permit needs cannot
// fill the quorum alone, and a second vote under another role changes nothing.
server_test!(attack_duties_one_person_one_vote_for_distinct_roles, |s| {
    let (owner_id, _) = s.human("owner", &[]).await;
    let (agent_id, _) = s
        .principal("db-agent", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let (_, master) = s
        .principal("master", PrincipalKind::Agent, &[Role::Master])
        .await;
    let (_, everything) = s
        .human(
            "everything",
            &[
                Role::DataLead,
                Role::SecurityLead,
                Role::EngineeringDirector,
            ],
        )
        .await;
    insert_worker(s, "wk-db", &owner_id, &agent_id, 3).await;
    let task = json!({"id": "purge", "description": "drop the old sessions table",
                      "environment": "production", "operations": ["DROP TABLE sessions_old"],
                      "services_affected": ["db"]});
    let permit = request(s, &master, "wk-db", task).await;
    let (_, shown) = s.get(&format!("/v1/permits/{permit}"), &master).await;
    assert_eq!(shown["permit_type"], "destructive", "{shown}");

    let (status, body) = decide(s, &everything, &permit, "approve", "data_lead").await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("under_review")),
        "{body}"
    );
    let before = Fingerprint::of(s.store()).await;
    for role in ["security_lead", "engineering_director", "data_lead"] {
        let (status, body) = decide(s, &everything, &permit, "approve", role).await;
        assert_refused(
            status,
            &body,
            StatusCode::CONFLICT,
            Some("one_vote_per_person"),
        );
        assert_unchanged(&before, &Fingerprint::of(s.store()).await, role);
    }
    let (_, shown) = s.get(&format!("/v1/permits/{permit}"), &master).await;
    assert_eq!(shown["state"], "under_review");
    assert_eq!(shown["approvals"].as_array().map(Vec::len), Some(1));

    // Racing the same person's votes under every role still counts one.
    let (a, b, c) = tokio::join!(
        decide(s, &everything, &permit, "approve", "security_lead"),
        decide(s, &everything, &permit, "approve", "engineering_director"),
        decide(s, &everything, &permit, "approve", "data_lead"),
    );
    for (status, body) in [a, b, c] {
        assert_refused(
            status,
            &body,
            StatusCode::CONFLICT,
            Some("one_vote_per_person"),
        );
    }
    assert_unchanged(&before, &Fingerprint::of(s.store()).await, "racing votes");
});
