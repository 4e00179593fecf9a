//! The worker registry and certification lifecycle over HTTP: register, outcomes,
//! eligibility, human promotion approvals, probation, suspend, reinstate, revoke with its
//! permit cascade, and every refusal with its status, problem `rule`, and nothing written.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::{PrincipalKind, testing};

use crate::support::{TestServer, full_report, server_test};

const DAY_MINUTES: i64 = 24 * 60;

/// The people of a certification story, with their tokens.
struct Cast {
    master: String,
    worker_id: String,
    worker_token: String,
    owner_id: String,
    owner: String,
    manager: String,
    director: String,
    security: String,
    auditor: String,
}

/// Registers a worker owned by a human engineering manager, with its own agent identity.
async fn cast(s: &TestServer) -> Cast {
    let (_, master) = s
        .principal("master-1", PrincipalKind::Agent, &[Role::Master])
        .await;
    let (identity, worker_token) = s
        .principal("worker-bot", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let (owner_id, owner) = s.human("olga", &[Role::EngineeringManager]).await;
    let (_, manager) = s.human("mia", &[Role::EngineeringManager]).await;
    let (_, director) = s.human("dan", &[Role::EngineeringDirector]).await;
    let (_, security) = s.human("sue", &[Role::SecurityLead]).await;
    let (_, auditor) = s.human("audrey", &[Role::Auditor]).await;
    let (status, body) = s
        .post(
            "/v1/workers",
            &s.admin,
            json!({"display_name": "deploy-bot", "owner_id": owner_id,
                   "principal_id": identity, "domains": ["payments"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Cast {
        master,
        worker_id: body["id"].as_str().expect("id").to_owned(),
        worker_token,
        owner_id,
        owner,
        manager,
        director,
        security,
        auditor,
    }
}

/// An outcome without evidence: history, but a success does not count.
async fn outcome(s: &TestServer, token: &str, id: &str, result: &str, level: u8) -> Value {
    let (status, body) = s
        .post(
            &format!("/v1/workers/{id}/outcomes"),
            token,
            json!({"result": result, "level": level}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Asks, as the worker, to run `op` (a body of `POST /v1/authorize` without the worker),
/// recorded; returns the decision's audit seq.
async fn authorized(s: &TestServer, c: &Cast, op: Value) -> u64 {
    let mut op = op;
    op["worker_id"] = json!(c.worker_id);
    op["record"] = json!(true);
    let (status, body) = s.post("/v1/authorize", &c.worker_token, op).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allow"], true, "{body}");
    body["audit_seq"]
        .as_u64()
        .expect("a recorded decision has its seq")
}

/// A build in development: level-0 work.
fn dev_build() -> Value {
    json!({"environment": "development", "action": "build", "method": "POST"})
}

/// `n` successes the worker reports about itself, each backed by an authorized operation
/// (`op`); returns the last answer.
async fn successes(s: &TestServer, c: &Cast, op: Value, n: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..n {
        let seq = authorized(s, c, op.clone()).await;
        let (status, body) = s
            .post(
                &format!("/v1/workers/{}/outcomes", c.worker_id),
                &c.worker_token,
                json!({"result": "success", "authorize_seq": seq}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["outcome"]["basis"], "authorized_operation", "{body}");
        last = body;
    }
    last
}

/// An active standard-production permit for the worker (deploy `api` in production),
/// requested by an admin and approved by an engineering manager who does not own it.
async fn deploy_permit(s: &TestServer, c: &Cast) -> String {
    let (status, p) = s
        .post(
            "/v1/permits",
            &s.admin,
            json!({
                "task": {"id": "deploy-api", "description": "deploy api", "environment": "production",
                         "operations": ["deploy"], "services_affected": ["api"]},
                "worker_id": c.worker_id,
                "evidence": {"rollback_plan": {"steps": ["rollback"], "verification": ["status"], "estimated_minutes": 5},
                             "test_results": "ci/42", "code_review": "pr/7"},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().expect("permit id").to_owned();
    let (status, p) = s
        .post(
            &format!("/v1/permits/{id}/approvals"),
            &c.manager,
            json!({"decision": "approve", "role": "engineering_manager"}),
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
fn deploy_under(permit: &str) -> Value {
    json!({"environment": "production", "action": "deploy", "service": "api",
           "method": "POST", "permit_id": permit})
}

async fn approve(
    s: &TestServer,
    token: &str,
    id: &str,
    level: u8,
    role: &str,
) -> (StatusCode, Value) {
    s.post(
        &format!("/v1/workers/{id}/promotions"),
        token,
        json!({"level": level, "role": role, "comment": "reviewed the history"}),
    )
    .await
}

async fn act(s: &TestServer, token: &str, id: &str, action: &str) -> (StatusCode, Value) {
    s.post(
        &format!("/v1/workers/{id}/{action}"),
        token,
        json!({"reason": format!("test: {action}")}),
    )
    .await
}

/// Asserts a problem with the `expected` status and `rule`.
#[track_caller]
fn assert_refused(status: StatusCode, body: &Value, expected: StatusCode, rule: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["rule"], rule, "{body}");
}

/// Inserts a live permit for `worker_id` directly: the permit workflow is not what these
/// tests are about.
async fn insert_permit(s: &TestServer, id: &str, worker_id: &str, requester: &str, state: &str) {
    testing::execute(
        s.store(),
        &format!(
            "INSERT INTO permits (id, task_id, task, analysis, permit_type, level, worker_id, \
             requester_id, state, evidence, constraints, created_at, updated_at) VALUES \
             ('{id}', 'task-{id}', '{{}}', '{{}}', 'standard_production', 2, '{worker_id}', \
             '{requester}', '{state}', '{{}}', '{{}}', 0, 0)"
        ),
    )
    .await
    .expect("insert permit");
}

async fn permit_state(s: &TestServer, id: &str) -> (String, Option<String>) {
    let rows = testing::fetch_text(
        s.store(),
        &format!("SELECT state, revocation_reason FROM permits WHERE id = '{id}'"),
    )
    .await
    .expect("permit row");
    let row = &rows[0];
    (row[0].clone().expect("state"), row[1].clone())
}

server_test!(full_certification_lifecycle, |s| {
    let c = cast(s).await;
    let id = c.worker_id.clone();
    let (status, worker) = s.get(&format!("/v1/workers/{id}"), &c.auditor).await;
    assert_eq!(status, StatusCode::OK, "{worker}");
    assert_eq!(worker["level"], 0);
    assert_eq!(worker["status"], "active");
    assert_eq!(worker["owner_id"], c.owner_id.as_str());
    assert_eq!(worker["recertification"]["state"], "not_required");

    // History: 20 successful non-union operations Steward authorized, reported by the
    // worker itself.
    let last = successes(s, &c, dev_build(), 20).await;
    assert_eq!(
        last["worker"]["stats"]["successes_by_level"],
        json!([20, 0, 0, 0, 0])
    );
    let (status, elig) = s
        .get(&format!("/v1/workers/{id}/eligibility?level=2"), &c.auditor)
        .await;
    assert_eq!(status, StatusCode::OK, "{elig}");
    assert_eq!(elig["eligible"], false);
    assert_eq!(
        elig["unmet"],
        json!(["30+ days at a lower level (has 0 days at level 0)"])
    );
    assert_eq!(
        elig["approvals"]["approver_roles"],
        json!(["engineering_manager"])
    );

    // Not eligible yet: refused, nothing recorded.
    let before = s.audit_len().await;
    let (status, body) = approve(s, &c.manager, &id, 2, "engineering_manager").await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_eligible",
    );
    assert_eq!(body["target_level"], 2);
    assert_eq!(
        body["unmet"],
        json!(["30+ days at a lower level (has 0 days at level 0)"])
    );
    assert_eq!(s.audit_len().await, before);

    s.clock.advance_minutes(30 * DAY_MINUTES);
    let (_, elig) = s
        .get(&format!("/v1/workers/{id}/eligibility?level=2"), &c.auditor)
        .await;
    assert_eq!(elig["eligible"], true, "{elig}");

    // The owner may not approve its own worker's promotion.
    let (status, body) = approve(s, &c.owner, &id, 2, "engineering_manager").await;
    assert_refused(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "segregation_of_duties",
    );
    assert_eq!(s.audit_len().await, before);

    // One other engineering manager promotes to 2, with 30 days of probation.
    let now = s.clock.now().millis();
    let (status, body) = approve(s, &c.manager, &id, 2, "engineering_manager").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["promoted"], true);
    assert_eq!(body["missing"], json!({"approvals": 0, "roles": []}));
    assert_eq!(body["approvals"][0]["role"], "engineering_manager");
    assert_eq!(body["approvals"][0]["comment"], "reviewed the history");
    let worker = &body["worker"];
    assert_eq!(worker["level"], 2);
    assert_eq!(worker["status"], "probationary");
    assert_eq!(worker["oversight_recommended"], true);
    assert_eq!(worker["probation_until_ms"], now + 30 * 86_400_000);
    assert_eq!(worker["recertification"]["state"], "current");
    assert_eq!(worker["recertification"]["due_in_days"], 365);
    assert_eq!(s.audit_len().await, before + 2, "approval and promotion");

    // Probation is a period: ending it early is refused.
    let (status, body) = s
        .request(
            Method::POST,
            &format!("/v1/workers/{id}/end-probation"),
            Some(&c.manager),
            None,
        )
        .await;
    assert_refused(status, &body, StatusCode::CONFLICT, "probation_not_over");

    // Suspend, suspend again (no change), reinstate, reinstate again (illegal).
    let (status, body) = act(s, &c.manager, &id, "suspend").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "suspended");
    let len = s.audit_len().await;
    let (status, body) = act(s, &c.manager, &id, "suspend").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        s.audit_len().await,
        len,
        "an idempotent repeat records nothing"
    );
    let (status, body) = act(s, &c.manager, &id, "reinstate").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    let len = s.audit_len().await;
    let (status, body) = act(s, &c.manager, &id, "reinstate").await;
    assert_refused(status, &body, StatusCode::CONFLICT, "illegal_transition");
    assert_eq!(body["current_status"], "active");
    assert_eq!(body["attempted_action"], "reinstate");
    assert_eq!(s.audit_len().await, len);

    // Revocation revokes the worker's live permits in the same transaction.
    insert_permit(s, "p-live", &id, &c.owner_id, "active").await;
    insert_permit(s, "p-pending", &id, &c.owner_id, "requested").await;
    let (status, body) = act(s, &c.manager, &id, "revoke").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an engineering manager may not revoke: {body}"
    );
    assert_eq!(s.audit_len().await, len);
    let (status, body) = act(s, &c.security, &id, "revoke").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "revoked");
    assert_eq!(body["revoked_permits"], json!(["p-live"]));
    assert_eq!(
        s.audit_len().await,
        len + 2,
        "worker.revoked and permit.revoked"
    );
    assert_eq!(
        permit_state(s, "p-live").await,
        (
            "revoked".to_owned(),
            Some("certification_revoked".to_owned())
        )
    );
    assert_eq!(
        permit_state(s, "p-pending").await,
        ("requested".to_owned(), None)
    );
    let events = s.store().events(len + 1, 10).await.expect("events");
    assert_eq!(events[1].event_type, "permit.revoked");
    assert_eq!(events[1].data["from_state"], "active");

    // After revocation: outcomes are still recorded as history and change no status;
    // every status move but revoke is illegal; promotion is refused.
    let body = outcome(s, &c.owner, &id, "failure", 2).await;
    assert_eq!(body["worker"]["status"], "revoked");
    assert_eq!(body["worker"]["stats"]["failures_at_level"], 1);
    assert_eq!(body["suspended"], Value::Null);
    let len = s.audit_len().await;
    for action in ["suspend", "reinstate", "recertify"] {
        let (status, body) = act(s, &s.admin, &id, action).await;
        assert_refused(status, &body, StatusCode::CONFLICT, "illegal_transition");
        assert_eq!(body["current_status"], "revoked");
        assert_eq!(body["attempted_action"], action);
    }
    let (status, body) = act(s, &c.security, &id, "revoke").await;
    assert_eq!(status, StatusCode::OK, "revoking again is a no-op: {body}");
    let (status, body) = approve(s, &c.director, &id, 3, "engineering_director").await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_eligible",
    );
    assert_eq!(s.audit_len().await, len);
    s.store()
        .verify_audit_chain()
        .await
        .expect("chain verifies");
});

server_test!(level_three_needs_a_director_and_a_security_lead, |s| {
    let c = cast(s).await;
    let id = c.worker_id.clone();
    successes(s, &c, dev_build(), 20).await;
    s.clock.advance_minutes(30 * DAY_MINUTES);
    let (status, body) = approve(s, &c.manager, &id, 2, "engineering_manager").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    s.clock.advance_minutes(30 * DAY_MINUTES);
    let (status, body) = s
        .request(
            Method::POST,
            &format!("/v1/workers/{id}/end-probation"),
            Some(&c.manager),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    // 25 level-2 operations: authorized under a standard-production permit.
    let permit = deploy_permit(s, &c).await;
    let last = successes(s, &c, deploy_under(&permit), 25).await;
    assert_eq!(last["outcome"]["level"], 2, "the permit's level");
    assert_eq!(last["worker"]["stats"]["successes_at_level"], 25);
    s.clock.advance_minutes(60 * DAY_MINUTES);
    let (_, elig) = s
        .get(&format!("/v1/workers/{id}/eligibility?level=3"), &c.auditor)
        .await;
    assert_eq!(elig["eligible"], true, "{elig}");
    assert_eq!(
        elig["approvals"]["required_roles"],
        json!(["engineering_director", "security_lead"])
    );

    let (status, body) = approve(s, &c.director, &id, 3, "engineering_director").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["promoted"], false);
    assert_eq!(body["worker"]["level"], 2);
    assert_eq!(
        body["missing"],
        json!({"approvals": 1, "roles": ["security_lead"]})
    );

    // One vote per person.
    let len = s.audit_len().await;
    let (status, body) = approve(s, &c.director, &id, 3, "engineering_director").await;
    assert_refused(status, &body, StatusCode::CONFLICT, "one_vote_per_person");
    // A role that does not approve level 3, held or not.
    let (status, body) = approve(s, &c.manager, &id, 3, "engineering_manager").await;
    assert_refused(status, &body, StatusCode::FORBIDDEN, "role_not_eligible");
    let (status, body) = approve(s, &c.manager, &id, 3, "security_lead").await;
    assert_refused(status, &body, StatusCode::FORBIDDEN, "role_not_eligible");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("does not hold"),
        "{body}"
    );
    assert_eq!(s.audit_len().await, len);

    let (status, body) = approve(s, &c.security, &id, 3, "security_lead").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["promoted"], true);
    assert_eq!(body["approvals"].as_array().expect("approvals").len(), 2);
    assert_eq!(body["worker"]["level"], 3);
    assert_eq!(body["worker"]["status"], "probationary");
    assert_eq!(
        body["worker"]["probation_until_ms"],
        s.clock.now().millis() + 60 * 86_400_000
    );
    assert_eq!(body["worker"]["recertification"]["due_in_days"], 90);
});

server_test!(outcomes_suspend_automatically, |s| {
    let c = cast(s).await;
    let id = c.worker_id.clone();

    // Level 1 needs one engineering manager and nothing else.
    let (status, body) = approve(s, &c.manager, &id, 1, "engineering_manager").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["worker"]["status"], "active");

    // Three consecutive failed union operations suspend.
    for _ in 0..2 {
        let body = outcome(s, &c.worker_token, &id, "failure", 1).await;
        assert_eq!(body["suspended"], Value::Null);
    }
    let body = outcome(s, &c.worker_token, &id, "failure", 1).await;
    assert_eq!(body["worker"]["status"], "suspended");
    assert_eq!(
        body["suspended"],
        json!({"cause": "consecutive_union_failures", "count": 3,
               "message": "suspended automatically: 3 consecutive failed union operations"})
    );
    let last = s
        .store()
        .events(1, 1000)
        .await
        .expect("events")
        .pop()
        .expect("event");
    assert_eq!(last.event_type, "worker.suspended");
    assert_eq!(last.data["automatic"], true);

    // A safety violation suspends at once.
    let (status, body) = act(s, &c.manager, &id, "reinstate").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body = outcome(s, &c.owner, &id, "safety_violation", 0).await;
    assert_eq!(body["worker"]["status"], "suspended");
    assert_eq!(body["suspended"]["cause"], "safety_violation");
    assert_eq!(body["worker"]["stats"]["safety_violations"], 1);
});

server_test!(outcome_reporting_checks_who_reports, |s| {
    let c = cast(s).await;
    let (_, other_bot) = s
        .principal("other-bot", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let len = s.audit_len().await;
    let path = format!("/v1/workers/{}/outcomes", c.worker_id);
    let body = json!({"result": "success", "level": 0});

    // A worker identity reports only for its own worker.
    let (status, problem) = s.post(&path, &other_bot, body.clone()).await;
    assert_refused(status, &problem, StatusCode::FORBIDDEN, "outcome_reporter");
    // Neither owner nor worker: an auditor, a master that does not own it.
    let (status, problem) = s.post(&path, &c.auditor, body.clone()).await;
    assert_refused(status, &problem, StatusCode::FORBIDDEN, "outcome_reporter");
    let (status, problem) = s.post(&path, &c.master, body.clone()).await;
    assert_refused(status, &problem, StatusCode::FORBIDDEN, "outcome_reporter");
    // Bad bodies name the field.
    let (status, problem) = s
        .post(&path, &c.master, json!({"result": "meh", "level": 0}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "result");
    let (status, problem) = s
        .post(&path, &c.master, json!({"result": "success", "level": 5}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "level");
    let (status, problem) = s
        .post(
            &path,
            &c.master,
            json!({"result": "success", "level": 0, "extra": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "extra");
    let (status, _) = s.post("/v1/workers/nope/outcomes", &c.master, body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(s.audit_len().await, len);
});

/// The worker's row and the audit head: what a refused report must leave as it was.
async fn record_of(s: &TestServer, id: &str) -> (Value, u64) {
    let (status, worker) = s.get(&format!("/v1/workers/{id}"), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{worker}");
    (worker, s.audit_len().await)
}

// Issue 9, item 2: only the worker's owner, or the worker about itself (success or
// failure only), writes its track record; and only successes tied to work Steward saw (a
// closed permit the worker executed, an allowed decision) count towards promotion, each
// once, at Steward's level.
server_test!(
    issue_9_only_the_owner_or_the_worker_writes_its_track_record,
    |s| {
        let c = cast(s).await;
        let id = c.worker_id.clone();
        let path = format!("/v1/workers/{id}/outcomes");
        let before = record_of(s, &id).await;

        // A master that does not own the worker can neither suspend it nor feed it successes.
        let (status, body) = s
            .post(
                &path,
                &c.master,
                json!({"result": "safety_violation", "level": 0}),
            )
            .await;
        assert_refused(status, &body, StatusCode::FORBIDDEN, "outcome_reporter");
        let (status, body) = s
            .post(&path, &c.master, json!({"result": "success", "level": 2}))
            .await;
        assert_refused(status, &body, StatusCode::FORBIDDEN, "outcome_reporter");
        // The worker reports only success or failure about itself.
        for result in ["safety_violation", "incident"] {
            let (status, body) = s
                .post(
                    &path,
                    &c.worker_token,
                    json!({"result": result, "level": 0}),
                )
                .await;
            assert_refused(status, &body, StatusCode::FORBIDDEN, "self_report_limited");
        }
        assert_eq!(record_of(s, &id).await, before, "nothing changed");

        // Its owner's word alone is recorded, but a success without evidence does not count.
        for _ in 0..20 {
            let body = outcome(s, &c.owner, &id, "success", 0).await;
            assert_eq!(body["outcome"]["basis"], "reported");
            assert_eq!(body["outcome"]["counts_towards_promotion"], false);
        }
        s.clock.advance_minutes(30 * DAY_MINUTES);
        let (status, elig) = s
            .get(&format!("/v1/workers/{id}/eligibility?level=2"), &c.auditor)
            .await;
        assert_eq!(status, StatusCode::OK, "{elig}");
        assert_eq!(elig["eligible"], false);
        assert_eq!(
            elig["unmet"],
            json!([
                "20+ successful operations that Steward saw (has 0; 20 successes reported \
                without a closed permit or an authorized operation do not count)"
            ])
        );
        assert_eq!(elig["outcomes"]["counted_successes"], 0);
        assert_eq!(elig["outcomes"]["uncounted_successes"], 20);
        assert!(
            elig["outcomes"]["rule"]
                .as_str()
                .expect("rule")
                .contains("closed permit the worker executed"),
            "{elig}"
        );
        let (status, body) = approve(s, &c.manager, &id, 2, "engineering_manager").await;
        assert_refused(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_eligible",
        );

        // Evidence that does not hold is refused, and changes nothing.
        let (_, other_bot) = s
            .principal("other-bot", PrincipalKind::Agent, &[Role::Worker])
            .await;
        let (status, other) = s
        .post(
            "/v1/workers",
            &c.master,
            json!({"display_name": "other", "principal_id": s.store().principal_by_name("other-bot").await.expect("bot").id}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{other}");
        let (status, theirs) = s
            .post(
                "/v1/authorize",
                &other_bot,
                json!({"worker_id": other["id"], "environment": "development", "action": "build",
                   "method": "POST", "record": true}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{theirs}");
        let (status, denied) = s
            .post(
                "/v1/authorize",
                &c.worker_token,
                json!({"worker_id": id, "environment": "production", "action": "deploy",
                   "method": "POST"}),
            )
            .await;
        assert_eq!(
            (status, &denied["allow"]),
            (StatusCode::OK, &json!(false)),
            "{denied}"
        );
        let mine = authorized(s, &c, dev_build()).await;
        let before = record_of(s, &id).await;
        for (body, rule) in [
            (
                json!({"result": "success", "authorize_seq": theirs["audit_seq"]}),
                "outcome_evidence",
            ),
            (
                json!({"result": "success", "authorize_seq": denied["audit_seq"]}),
                "outcome_evidence",
            ),
            (
                json!({"result": "success", "authorize_seq": 1_000_000}),
                "outcome_evidence",
            ),
            (
                json!({"result": "success", "authorize_seq": mine, "level": 3}),
                "outcome_evidence",
            ),
            (
                json!({"result": "success", "permit_id": "no-such-permit"}),
                "outcome_evidence",
            ),
        ] {
            let (status, problem) = s.post(&path, &c.worker_token, body.clone()).await;
            assert_refused(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, rule);
            assert_eq!(record_of(s, &id).await, before, "{body} changed nothing");
        }
        let (status, problem) = s
            .post(
                &path,
                &c.worker_token,
                json!({"result": "success", "authorize_seq": mine, "permit_id": "p"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");

        // An allowed decision of the worker counts once, at its level (development: 0).
        let (status, body) = s
            .post(
                &path,
                &c.worker_token,
                json!({"result": "success", "authorize_seq": mine}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["outcome"],
            json!({"id": body["outcome"]["id"], "result": "success", "level": 0,
               "basis": "authorized_operation", "counts_towards_promotion": true,
               "permit_id": null, "authorize_seq": mine})
        );
        assert_eq!(
            body["worker"]["stats"]["successes_by_level"],
            json!([1, 0, 0, 0, 0])
        );
        let before = record_of(s, &id).await;
        let (status, problem) = s
            .post(
                &path,
                &c.owner,
                json!({"result": "success", "authorize_seq": mine}),
            )
            .await;
        assert_refused(
            status,
            &problem,
            StatusCode::CONFLICT,
            "evidence_already_used",
        );
        assert_eq!(record_of(s, &id).await, before);

        // A permit counts once it was executed and closed, at the permit's level. (The
        // worker is made level 2 directly: promotion is not what this part is about.)
        testing::execute(
            s.store(),
            &format!("UPDATE workers SET level = 2, version = version + 1 WHERE id = '{id}'"),
        )
        .await
        .expect("level 2");
        let permit = deploy_permit(s, &c).await;
        let permit_path = |action: &str| format!("/v1/permits/{permit}/{action}");
        let (status, problem) = s
            .post(
                &path,
                &c.owner,
                json!({"result": "success", "permit_id": permit}),
            )
            .await;
        assert_refused(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "outcome_evidence",
        );
        let (status, body) = s
            .post(&permit_path("start"), &c.worker_token, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = s
            .post(
                &permit_path("complete"),
                &c.worker_token,
                json!({"outcome": "success", "report": full_report("deploy")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, problem) = s
            .post(
                &path,
                &c.owner,
                json!({"result": "success", "permit_id": permit}),
            )
            .await;
        assert_refused(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "outcome_evidence",
        );
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains("`completed`"),
            "{problem}"
        );
        let (status, body) = s.post(&permit_path("close"), &s.admin, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = s
            .post(
                &path,
                &c.worker_token,
                json!({"result": "success", "permit_id": permit}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["outcome"]["basis"], "closed_permit");
        assert_eq!(body["outcome"]["level"], 2);
        assert_eq!(
            body["worker"]["stats"]["successes_by_level"],
            json!([1, 0, 1, 0, 0])
        );
        let (status, problem) = s
            .post(
                &path,
                &c.owner,
                json!({"result": "failure", "permit_id": permit}),
            )
            .await;
        assert_refused(
            status,
            &problem,
            StatusCode::CONFLICT,
            "evidence_already_used",
        );

        let (_, elig) = s
            .get(&format!("/v1/workers/{id}/eligibility?level=3"), &c.auditor)
            .await;
        assert_eq!(elig["outcomes"]["counted_successes"], 2);
        assert_eq!(elig["outcomes"]["uncounted_successes"], 20);
        s.store()
            .verify_audit_chain()
            .await
            .expect("chain verifies");
    }
);

server_test!(registration_refusals_write_nothing, |s| {
    let c = cast(s).await;
    let (master_id, _) = s
        .principal("master-2", PrincipalKind::Agent, &[Role::Master])
        .await;
    let len = s.audit_len().await;

    // Wrong role.
    let (status, body) = s
        .post("/v1/workers", &c.auditor, json!({"display_name": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("admin, master")
    );
    // Unknown field, named.
    let (status, body) = s
        .post(
            "/v1/workers",
            &s.admin,
            json!({"display_name": "x", "levle": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "levle");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("unknown field `levle`")
    );
    // Empty name, empty domain.
    let (status, body) = s
        .post("/v1/workers", &s.admin, json!({"display_name": " "}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "display_name");
    let (status, body) = s
        .post(
            "/v1/workers",
            &s.admin,
            json!({"display_name": "x", "domains": ["a", ""]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "domains[1]");
    // An owner that does not exist, an identity that is not a worker agent.
    let (status, body) = s
        .post(
            "/v1/workers",
            &s.admin,
            json!({"display_name": "x", "owner_id": "ghost"}),
        )
        .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reference",
    );
    assert_eq!(body["field"], "owner_id");
    let (status, body) = s
        .post(
            "/v1/workers",
            &s.admin,
            json!({"display_name": "x", "principal_id": master_id}),
        )
        .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reference",
    );
    assert_eq!(body["field"], "principal_id");
    // A master registers only workers it owns.
    let (status, body) = s
        .post(
            "/v1/workers",
            &c.master,
            json!({"display_name": "x", "owner_id": c.owner_id}),
        )
        .await;
    assert_refused(status, &body, StatusCode::FORBIDDEN, "own_workers_only");
    assert_eq!(s.audit_len().await, len);

    // A master's own worker: the owner defaults to the caller.
    let (status, body) = s
        .post("/v1/workers", &c.master, json!({"display_name": "mine"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, me) = s
        .get(
            &format!("/v1/workers/{}", body["id"].as_str().expect("id")),
            &c.master,
        )
        .await;
    assert_eq!(me["display_name"], "mine");
    assert_eq!(s.audit_len().await, len + 1);
});

server_test!(promotion_and_status_refusals, |s| {
    let c = cast(s).await;
    let id = c.worker_id.clone();
    let len = s.audit_len().await;

    // Bad bodies name the field.
    let (status, body) = approve(s, &c.manager, &id, 0, "engineering_manager").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "level");
    let (status, body) = approve(s, &c.manager, &id, 2, "boss").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "role");
    let (status, body) = s
        .post(
            &format!("/v1/workers/{id}/promotions"),
            &c.manager,
            json!({"level": 1, "role": "engineering_manager", "urgent": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "urgent");
    // A role the caller does not hold.
    let (status, body) = approve(s, &c.auditor, &id, 1, "engineering_manager").await;
    assert_refused(status, &body, StatusCode::FORBIDDEN, "role_not_eligible");
    // The worker's own identity, and agents in general, never approve.
    let (status, body) = approve(s, &c.worker_token, &id, 1, "worker").await;
    assert_refused(status, &body, StatusCode::FORBIDDEN, "role_not_eligible");
    // Unknown worker.
    let (status, _) = approve(s, &c.manager, "nope", 1, "engineering_manager").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Status routes: wrong roles, missing reason, unknown field, level 0 recertify.
    let (status, body) = act(s, &c.auditor, &id, "suspend").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = act(s, &c.master, &id, "revoke").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = s
        .post(
            &format!("/v1/workers/{id}/suspend"),
            &c.manager,
            json!({"reason": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "reason");
    let (status, body) = s
        .post(&format!("/v1/workers/{id}/suspend"), &c.manager, json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = s
        .post(
            &format!("/v1/workers/{id}/suspend"),
            &c.manager,
            json!({"reason": "x", "until": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "until");
    let (status, body) = act(s, &c.manager, &id, "recertify").await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "recertification_not_required",
    );
    let (status, body) = act(s, &c.manager, &id, "reinstate").await;
    assert_refused(status, &body, StatusCode::CONFLICT, "illegal_transition");
    let (status, _) = act(s, &c.manager, "nope", "suspend").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(s.audit_len().await, len);
    let (status, worker) = s.get(&format!("/v1/workers/{id}"), &c.auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(worker["version"], 1, "nothing changed: {worker}");
});

server_test!(expiry_and_recertification, |s| {
    let c = cast(s).await;
    let id = c.worker_id.clone();
    let (status, body) = approve(s, &c.manager, &id, 1, "engineering_manager").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Inside the 14-day grace: allowed with a warning.
    s.clock.advance_minutes(370 * DAY_MINUTES);
    let (_, worker) = s.get(&format!("/v1/workers/{id}"), &c.auditor).await;
    assert_eq!(
        worker["recertification"],
        json!({"state": "in_grace", "due_in_days": null, "grace_left_days": 9})
    );
    // Past grace: the status becomes `expired` (a timer's job; here, the store's).
    s.clock.advance_minutes(10 * DAY_MINUTES);
    let expired = s
        .store()
        .expire_overdue_certifications(&crate::support::seeder(), s.clock.now().millis())
        .await
        .expect("expire");
    assert_eq!(expired.len(), 1);
    let (_, worker) = s.get(&format!("/v1/workers/{id}"), &c.auditor).await;
    assert_eq!(worker["status"], "expired");
    assert_eq!(worker["recertification"]["state"], "expired");

    // Agents do not recertify; a human does, and the certification is active again.
    let (_, bot) = s
        .principal("ops-bot", PrincipalKind::Agent, &[Role::EngineeringManager])
        .await;
    let len = s.audit_len().await;
    let (status, body) = act(s, &bot, &id, "recertify").await;
    assert_refused(status, &body, StatusCode::FORBIDDEN, "human_only");
    assert_eq!(s.audit_len().await, len);
    let (status, body) = act(s, &c.director, &id, "recertify").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    assert_eq!(body["recertification"]["due_in_days"], 365);
});

server_test!(listing_pages_and_filters, |s| {
    let c = cast(s).await;
    for n in 0..3 {
        let (status, body) = s
            .post(
                "/v1/workers",
                &c.master,
                json!({"display_name": format!("w{n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, page) = s.get("/v1/workers?limit=3", &c.auditor).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().expect("items").len(), 3);
    let next = page["next"].as_str().expect("next");
    let (_, rest) = s
        .get(&format!("/v1/workers?limit=3&after={next}"), &c.auditor)
        .await;
    assert_eq!(rest["items"].as_array().expect("items").len(), 1);
    assert_eq!(rest["next"], Value::Null);

    let (_, suspended) = s.get("/v1/workers?status=suspended", &c.auditor).await;
    assert_eq!(suspended["items"], json!([]));
    let (_, level0) = s.get("/v1/workers?level=0&status=active", &c.auditor).await;
    assert_eq!(level0["items"].as_array().expect("items").len(), 4);

    for (query, field) in [
        ("status=sleepy", "status"),
        ("limit=0", "limit"),
        ("level=9", "level"),
    ] {
        let (status, body) = s.get(&format!("/v1/workers?{query}"), &c.auditor).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let (status, body) = s.get("/v1/workers?colour=red", &c.auditor).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().expect("detail").contains("colour"),
        "{body}"
    );
    let (status, body) = s
        .get(
            &format!("/v1/workers/{}/eligibility", c.worker_id),
            &c.auditor,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "level");
    let (status, _) = s
        .get("/v1/workers/nope/eligibility?level=1", &c.auditor)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, doc) = s.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v1/workers",
        "/v1/workers/{id}",
        "/v1/workers/{id}/eligibility",
        "/v1/workers/{id}/promotions",
        "/v1/workers/{id}/suspend",
        "/v1/workers/{id}/reinstate",
        "/v1/workers/{id}/revoke",
        "/v1/workers/{id}/recertify",
        "/v1/workers/{id}/end-probation",
        "/v1/workers/{id}/outcomes",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
});
