//! Authorize (SPEC §7) and the access matrix and hard blocks (§4): a worker acting beyond
//! its level, under another worker's permit or name, outside its permit's window or over
//! its budget. A deny is audited (one `authorize.denied` event, or `permit.hard_blocked`)
//! and changes nothing else: not the permit, not its tokens, not the worker.

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::PrincipalKind;

use super::duties::{evidence, insert_worker};
use super::{Fingerprint, assert_refused, assert_unchanged};
use crate::support::{TestServer, server_test};

/// A worker of `level` with its agent's token and its master's (the owner).
struct Worker {
    id: String,
    agent: String,
    master: String,
}

async fn worker(s: &TestServer, name: &str, level: u8) -> Worker {
    let (master_id, master) = s
        .principal(
            &format!("{name}-master"),
            PrincipalKind::Agent,
            &[Role::Master],
        )
        .await;
    let (agent_id, agent) = s
        .principal(
            &format!("{name}-agent"),
            PrincipalKind::Agent,
            &[Role::Worker],
        )
        .await;
    let id = format!("wk-{name}");
    insert_worker(s, &id, &master_id, &agent_id, level).await;
    Worker { id, agent, master }
}

/// A standard-production permit for `w` (deploy `api`, 1 000 tokens) approved by
/// `approver`: active, or from `window_start_ms` when given.
async fn permit(
    s: &TestServer,
    w: &Worker,
    approver: &str,
    window_start_ms: Option<i64>,
) -> String {
    let mut body = json!({
        "task": {"id": "deploy-api", "description": "deploy api", "environment": "production",
                 "operations": ["deploy"], "services_affected": ["api"], "estimated_tokens": 1000},
        "worker_id": w.id,
        "evidence": evidence(),
    });
    if let Some(at) = window_start_ms {
        body["window_start_ms"] = json!(at);
    }
    let (status, p) = s.post("/v1/permits", &w.master, body).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().expect("permit id").to_owned();
    let (status, p) = s
        .post(
            &format!("/v1/permits/{id}/approvals"),
            approver,
            json!({"decision": "approve", "role": "tech_lead"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    id
}

fn deploy(worker: &str, permit: Option<&str>) -> Value {
    json!({"worker_id": worker, "environment": "production", "action": "deploy",
           "service": "api", "method": "POST", "permit_id": permit})
}

/// Asks as `token`; asserts a deny by `rule`, audited by exactly one new
/// `authorize.denied` event, and no change anywhere else.
async fn assert_denied(s: &TestServer, token: &str, op: Value, rule: &str) {
    let before = Fingerprint::of(s.store()).await;
    let head = s.audit_len().await;
    let (status, body) = s.post("/v1/authorize", token, op.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["allow"].as_bool(), body["rule"].as_str()),
        (Some(false), Some(rule)),
        "{op}: {body}"
    );
    assert_eq!(body["audit_seq"], head + 1, "{body}");
    let events = s.store().events(head + 1, 10).await.expect("events");
    assert_eq!(events.len(), 1, "one event: {events:?}");
    assert_eq!(events[0].event_type, "authorize.denied");
    assert_eq!(events[0].data["rule"], rule);
    let audit = ["audit_events", "audit_head"];
    assert_unchanged(
        &before.without(&audit),
        &Fingerprint::of(s.store()).await.without(&audit),
        rule,
    );
}

// SPEC §4: the access matrix and the hard blocks, at run time and at request time.
server_test!(attack_scope_the_access_matrix_holds, |s| {
    let l0 = worker(s, "l0", 0).await;
    let l1 = worker(s, "l1", 1).await;
    let l2 = worker(s, "l2", 2).await;
    assert_denied(
        s,
        &l0.agent,
        deploy(&l0.id, None),
        "non_union_outside_development",
    )
    .await;
    let mut staging = deploy(&l0.id, None);
    staging["environment"] = json!("staging");
    assert_denied(s, &l0.agent, staging, "non_union_outside_development").await;
    assert_denied(s, &l1.agent, deploy(&l1.id, None), "read_only_level").await;
    let mut pii = deploy(&l2.id, None);
    pii["data_touched"] = json!(["pii"]);
    assert_denied(s, &l2.agent, pii, "sensitive_data_needs_level_3").await;
    let mut critical = deploy(&l2.id, None);
    critical["critical"] = json!(true);
    assert_denied(s, &l2.agent, critical, "critical_needs_level_3").await;
    assert_denied(s, &l2.agent, deploy(&l2.id, None), "permit_required").await;

    // A permit for work above the worker's level is a hard block: refused, recorded as
    // `permit.hard_blocked`, and no permit exists.
    let before = Fingerprint::of(s.store()).await;
    let head = s.audit_len().await;
    let (status, body) = s
        .post(
            "/v1/permits",
            &l0.master,
            json!({"task": {"id": "deploy-api", "environment": "production",
                            "operations": ["deploy"], "services_affected": ["api"]},
                   "worker_id": l0.id, "evidence": evidence()}),
        )
        .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("hard_block"),
    );
    let events = s.store().events(head + 1, 10).await.expect("events");
    assert_eq!(
        events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["permit.hard_blocked"]
    );
    let audit = ["audit_events", "audit_head"];
    assert_unchanged(
        &before.without(&audit),
        &Fingerprint::of(s.store()).await.without(&audit),
        "a hard-blocked request",
    );
    assert!(Fingerprint::of(s.store()).await.rows("permits").is_empty());
});

// Another worker's permit, another worker's name, a master that does not own the worker.
server_test!(
    attack_scope_no_worker_acts_under_anothers_permit_or_name,
    |s| {
        let a = worker(s, "a", 2).await;
        let b = worker(s, "b", 2).await;
        let (_, approver) = s.human("approver", &[Role::TechLead]).await;
        let a_permit = permit(s, &a, &approver, None).await;

        // B under A's permit: denied, and A's permit is not revoked or spent.
        let mut op = deploy(&b.id, Some(&a_permit));
        op["tokens"] = json!(10);
        assert_denied(s, &b.agent, op, "permit_of_another_worker").await;

        // B (or B's master) asking in A's name: refused before any decision, nothing written.
        let before = Fingerprint::of(s.store()).await;
        for token in [&b.agent, &b.master] {
            let (status, body) = s
                .post("/v1/authorize", token, deploy(&a.id, Some(&a_permit)))
                .await;
            assert_refused(status, &body, StatusCode::FORBIDDEN, Some("not_a_party"));
            assert_unchanged(
                &before,
                &Fingerprint::of(s.store()).await,
                "in another's name",
            );
        }
        // A's own request still works: nothing was taken from it.
        let (status, body) = s
            .post("/v1/authorize", &a.agent, deploy(&a.id, Some(&a_permit)))
            .await;
        assert_eq!(
            (status, body["allow"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{body}"
        );
    }
);

// Before the window, past it, and over the budget: denied, nothing spent.
server_test!(attack_scope_outside_the_window_or_over_budget, |s| {
    let w = worker(s, "w", 2).await;
    let (_, approver) = s.human("approver", &[Role::TechLead]).await;
    let later = s.clock.now().millis() + 3_600_000;
    let not_yet = permit(s, &w, &approver, Some(later)).await;
    assert_denied(
        s,
        &w.agent,
        deploy(&w.id, Some(&not_yet)),
        "permit_not_active",
    )
    .await;

    let live = permit(s, &w, &approver, None).await;
    let mut greedy = deploy(&w.id, Some(&live));
    greedy["tokens"] = json!(1_001);
    assert_denied(s, &w.agent, greedy, "token_budget").await;
    // Racing spends never overdraw: ten asks of 150 from a 1 000 budget, six allowed.
    let mut op = deploy(&w.id, Some(&live));
    op["tokens"] = json!(150);
    let asks: Vec<_> = (0..10)
        .map(|_| {
            let (url, token, op) = (s.url.clone(), w.agent.clone(), op.clone());
            tokio::spawn(async move {
                let resp = reqwest::Client::new()
                    .post(format!("{url}/v1/authorize"))
                    .bearer_auth(token)
                    .json(&op)
                    .send()
                    .await
                    .expect("sent");
                resp.json::<Value>().await.expect("json")
            })
        })
        .collect();
    let mut allowed = 0;
    for ask in asks {
        let body = ask.await.expect("task");
        if body["allow"] == json!(true) {
            allowed += 1;
        } else {
            assert_eq!(body["rule"], "token_budget", "{body}");
        }
    }
    assert_eq!(allowed, 6);
    let rows = steward_store::testing::fetch_text(
        s.store(),
        &format!("SELECT CAST(tokens_used AS TEXT) FROM permits WHERE id = '{live}'"),
    )
    .await
    .expect("tokens");
    assert_eq!(rows, vec![vec![Some("900".to_owned())]]);

    // Past the permit's end (the expiry sweep has not run yet): denied, nothing spent.
    s.clock.advance_minutes(25 * 60);
    assert_denied(s, &w.agent, deploy(&w.id, Some(&live)), "outside_window").await;
});

// Issue 9: an empty scope is no wildcard. A level-2 request naming no operations or no
// services is refused with nothing written; a permit whose stored lists are empty (one
// issued before the rule, or edited in the database) covers reads only, so a `DROP TABLE`
// or a deploy under it is a scope violation that revokes it.
server_test!(attack_scope_an_empty_scope_is_no_wildcard, |s| {
    let w = worker(s, "wild", 2).await;
    let (_, approver) = s.human("approver", &[Role::TechLead]).await;
    for (task, missing) in [
        (
            json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
                   "services_affected": ["api"]}),
            json!(["operations"]),
        ),
        (
            json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
                   "operations": ["deploy"], "services_affected": []}),
            json!(["services_affected"]),
        ),
        (
            json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
                   "operations": [" "]}),
            json!(["operations", "services_affected"]),
        ),
    ] {
        let before = Fingerprint::of(s.store()).await;
        let (status, body) = s
            .post(
                "/v1/permits",
                &w.master,
                json!({"task": task, "worker_id": w.id, "evidence": evidence()}),
            )
            .await;
        assert_refused(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("missing_scope"),
        );
        assert_eq!(body["missing"], missing, "{body}");
        assert_unchanged(&before, &Fingerprint::of(s.store()).await, "missing scope");
    }

    for (name, action) in [("drop", "DROP TABLE customers"), ("deploy", "deploy")] {
        let id = permit(s, &w, &approver, None).await;
        steward_store::testing::execute(
            s.store(),
            &format!(
                "UPDATE permits SET constraints = '{{\"worker_id\": \"{}\", \
                 \"environment\": \"production\", \"allowed_operations\": [], \
                 \"allowed_services\": [], \"allowed_regions\": [], \
                 \"forbidden_methods\": [], \"token_budget\": 1000}}', \
                 version = version + 1 WHERE id = '{id}'",
                w.id
            ),
        )
        .await
        .expect("empty the permit's lists");
        let before = Fingerprint::of(s.store()).await;
        let mut op = deploy(&w.id, Some(&id));
        op["action"] = json!(action);
        let (status, body) = s.post("/v1/authorize", &w.agent, op).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (
                body["allow"].as_bool(),
                body["rule"].as_str(),
                body["revoked"].as_bool()
            ),
            (Some(false), Some("scope_violation"), Some(true)),
            "{name}: {body}"
        );
        // Nothing else moved: the permit is revoked and the trail says so.
        let changed = ["permits", "audit_events", "audit_head"];
        assert_unchanged(
            &before.without(&changed),
            &Fingerprint::of(s.store()).await.without(&changed),
            name,
        );
        let (_, p) = s.get(&format!("/v1/permits/{id}"), &w.master).await;
        assert_eq!(
            (p["state"].as_str(), p["revocation_reason"].as_str()),
            (Some("revoked"), Some("scope_expansion")),
            "{p}"
        );
    }
});
