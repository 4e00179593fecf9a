//! The agent gate for masters (issue 12 §1) over HTTP: waiting on a permit
//! (`GET /v1/permits/{id}/wait`) until it is approved, rejected, sent back, expired or
//! revoked, or the poll's time is up, also across instances; the caller-scoped event
//! stream (`GET /v1/events`); and worker identities and tokens managed by the owner.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::PrincipalKind;
use steward_store::testing::execute;

use crate::support::{TestServer, databases, server_test};

/// A master (agent) with its token, and a level-2 worker it owns.
struct Master {
    id: String,
    token: String,
    worker: String,
}

async fn master(s: &TestServer, name: &str) -> Master {
    let (id, token) = s
        .principal(name, PrincipalKind::Agent, &[Role::Master])
        .await;
    let worker = format!("wk-{name}");
    level_2_worker(s, &worker, &id, None).await;
    Master { id, token, worker }
}

/// A worker certified at level 2. Workers reach level 2 after 30 days and 20 operations
/// (SPEC §5); these tests need one that already has, so the row is written directly.
async fn level_2_worker(s: &TestServer, id: &str, owner: &str, identity: Option<&str>) {
    let identity = identity.map_or("NULL".to_owned(), |p| format!("'{p}'"));
    execute(
        s.store(),
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, recertify_by, stats, version, created_at, updated_at) VALUES \
             ('{id}', '{id}', '{owner}', {identity}, 2, 'active', '[]', 0, 4000000000000, \
             '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
        ),
    )
    .await
    .expect("insert worker");
}

/// SPEC §3.6 G2: a level-2 production deploy of one service.
fn deploy_task() -> Value {
    json!({"id": "deploy-api", "description": "deploy api v2.1", "environment": "production",
           "operations": ["deploy"], "services_affected": ["api"], "customer_facing": true})
}

fn evidence() -> Value {
    json!({
        "rollback_plan": {"steps": ["kubectl rollout undo deploy/api"],
                          "verification": ["kubectl rollout status deploy/api"], "estimated_minutes": 5},
        "test_results": "https://ci.example.com/runs/42",
        "code_review": "https://git.example.com/pr/7",
    })
}

/// Requests the deploy for `m`'s worker, with `extra` merged into the body; the id.
async fn request(s: &TestServer, m: &Master, extra: Value) -> String {
    let mut body = json!({"task": deploy_task(), "worker_id": m.worker, "evidence": evidence()});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    let (status, permit) = s.post("/v1/permits", &m.token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{permit}");
    assert_eq!(permit["state"], "under_review", "{permit}");
    permit["id"].as_str().expect("id").to_owned()
}

async fn decide(s: &TestServer, token: &str, id: &str, decision: &str) -> Value {
    let (status, body) = s
        .post(
            &format!("/v1/permits/{id}/approvals"),
            token,
            json!({"decision": decision, "role": "tech_lead", "comment": "seen"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A wait started in the background, so the test can act while it waits.
fn start_wait(
    url: &str,
    token: &str,
    id: &str,
    query: &str,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let request = reqwest::Client::new()
        .get(format!("{url}/v1/permits/{id}/wait?{query}"))
        .bearer_auth(token);
    tokio::spawn(async move {
        let response = request.send().await.expect("wait sent");
        let status = response.status();
        let body = response.json::<Value>().await.expect("wait answer is JSON");
        (status, body)
    })
}

/// Asserts the wait is still waiting (it started and did not answer at once).
async fn assert_waiting(handle: &tokio::task::JoinHandle<(StatusCode, Value)>) {
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !handle.is_finished(),
        "the wait answered before anything happened"
    );
}

async fn answer(handle: tokio::task::JoinHandle<(StatusCode, Value)>) -> Value {
    let (status, body) = tokio::time::timeout(Duration::from_secs(20), handle)
        .await
        .expect("the wait answered within 20 s")
        .expect("wait task");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

server_test!(a_wait_returns_when_the_permit_is_approved_and_issued, |s| {
    let m = master(s, "m1").await;
    let (_, lead) = s.human("lead", &[Role::TechLead]).await;
    let id = request(s, &m, json!({})).await;

    // Waiting for `active`: the approval issues the permit at once, and the wait answers.
    let waiting = start_wait(&s.url, &m.token, &id, "until=active&timeout=30");
    assert_waiting(&waiting).await;
    decide(s, &lead, &id, "approve").await;
    let got = answer(waiting).await;
    assert_eq!(got["outcome"], "reached", "{got}");
    assert_eq!(got["until"], "active");
    assert_eq!(got["permit"]["id"], id.as_str());
    assert_eq!(got["permit"]["state"], "active");
    assert_eq!(got["link"], format!("http://127.0.0.1:8080/permits/{id}"));
    // Already there: a new wait answers at once, even with a long timeout.
    let (status, again) = s
        .get(&format!("/v1/permits/{id}/wait?timeout=60"), &m.token)
        .await;
    assert_eq!(
        (status, again["outcome"].as_str()),
        (StatusCode::OK, Some("reached"))
    );

    // A later window: `decided` is reached at approval, `active` only when it is issued.
    let start = s.clock.now().millis() + 3_600_000;
    let later = request(s, &m, json!({"window_start_ms": start})).await;
    let decided = start_wait(&s.url, &m.token, &later, "until=decided");
    let active = start_wait(&s.url, &m.token, &later, "until=active&timeout=30");
    assert_waiting(&decided).await;
    decide(s, &lead, &later, "approve").await;
    let got = answer(decided).await;
    assert_eq!(
        (got["outcome"].as_str(), got["permit"]["state"].as_str()),
        (Some("reached"), Some("approved")),
        "{got}"
    );
    assert!(!active.is_finished(), "approved is not active yet");
    s.clock.advance_minutes(61);
    let issued = s
        .store()
        .issue_due_permits(s.clock.now().millis())
        .await
        .expect("issue");
    assert_eq!(issued, std::slice::from_ref(&later));
    let got = answer(active).await;
    assert_eq!(
        (got["outcome"].as_str(), got["permit"]["state"].as_str()),
        (Some("reached"), Some("active")),
        "{got}"
    );
});

server_test!(a_wait_reports_rejection_changes_requested_and_expiry, |s| {
    let m = master(s, "m1").await;
    let (_, lead) = s.human("lead", &[Role::TechLead]).await;

    let rejected = request(s, &m, json!({})).await;
    let waiting = start_wait(&s.url, &m.token, &rejected, "timeout=30");
    assert_waiting(&waiting).await;
    decide(s, &lead, &rejected, "reject").await;
    let got = answer(waiting).await;
    assert_eq!(
        (got["outcome"].as_str(), got["permit"]["state"].as_str()),
        (Some("rejected"), Some("rejected")),
        "{got}"
    );

    let sent_back = request(s, &m, json!({})).await;
    let waiting = start_wait(&s.url, &m.token, &sent_back, "until=decided&timeout=30");
    assert_waiting(&waiting).await;
    decide(s, &lead, &sent_back, "request_changes").await;
    let got = answer(waiting).await;
    assert_eq!(got["outcome"], "changes_requested", "{got}");

    // Nobody decides: the request expires at twice its 24 h SLA, by the timers on the
    // server's clock, and the wait learns it from the `permit.expired` event.
    let ignored = request(s, &m, json!({})).await;
    let waiting = start_wait(&s.url, &m.token, &ignored, "timeout=30");
    assert_waiting(&waiting).await;
    s.clock.advance_minutes(48 * 60 + 1);
    s.store()
        .run_timers(s.clock.now().millis())
        .await
        .expect("timers");
    let got = answer(waiting).await;
    assert_eq!(
        (got["outcome"].as_str(), got["permit"]["state"].as_str()),
        (Some("expired"), Some("expired")),
        "{got}"
    );
    // An archived permit still answers how it ended.
    let (status, _) = s
        .post(
            &format!("/v1/permits/{rejected}/archive"),
            &m.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, got) = s
        .get(&format!("/v1/permits/{rejected}/wait"), &m.token)
        .await;
    assert_eq!(
        (got["outcome"].as_str(), got["permit"]["state"].as_str()),
        (Some("rejected"), Some("archived")),
        "{got}"
    );
});

server_test!(
    a_wait_reports_revocation_and_a_master_sees_the_operation_that_caused_it,
    |s| {
        let m = master(s, "m1").await;
        let (_, lead) = s.human("lead", &[Role::TechLead]).await;

        // Approved for a later window, so still waiting for `active`; then revoked.
        let start = s.clock.now().millis() + 3_600_000;
        let id = request(s, &m, json!({"window_start_ms": start})).await;
        let waiting = start_wait(&s.url, &m.token, &id, "until=active&timeout=30");
        decide(s, &lead, &id, "approve").await;
        assert_waiting(&waiting).await;
        let (status, body) = s
            .post(
                &format!("/v1/permits/{id}/revoke"),
                &m.token,
                json!({"reason": "manual", "comment": "plans changed"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let got = answer(waiting).await;
        assert_eq!(got["outcome"], "revoked", "{got}");
        let revocation = &got["permit"]["revocation"];
        assert_eq!(revocation["reason"], "manual");
        assert_eq!(revocation["revoked_by"], m.id.as_str());
        // The revoker's comment is personal: sealed in the trail, not copied to the permit.
        assert!(revocation.get("evidence").is_none(), "{revocation}");
        assert!(!got.to_string().contains("plans changed"), "{got}");
        let seq = revocation["audit_seq"].as_u64().expect("audit seq");
        let event = &s.store().events(seq, 1).await.expect("event")[0];
        assert_eq!(
            (
                event.event_type.as_str(),
                event.subject.permit_id.as_deref()
            ),
            ("permit.revoked", Some(id.as_str()))
        );

        // A scope violation: the worker asks to deploy a service the permit does not cover.
        let active = request(s, &m, json!({})).await;
        decide(s, &lead, &active, "approve").await;
        let (status, verdict) = s
            .post(
                "/v1/authorize",
                &m.token,
                json!({"worker_id": m.worker, "environment": "production", "action": "deploy",
                   "service": "billing", "method": "POST", "permit_id": active}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{verdict}");
        assert_eq!(
            (
                verdict["allow"].as_bool(),
                verdict["rule"].as_str(),
                verdict["revoked"].as_bool()
            ),
            (Some(false), Some("scope_violation"), Some(true)),
            "{verdict}"
        );
        let (_, got) = s
            .get(&format!("/v1/permits/{active}/wait?timeout=5"), &m.token)
            .await;
        assert_eq!(got["outcome"], "revoked", "{got}");
        let revocation = &got["permit"]["revocation"];
        assert_eq!(revocation["reason"], "scope_expansion");
        assert_eq!(revocation["revoked_by"], "steward");
        assert_eq!(revocation["evidence"]["rule"], "scope_violation");
        assert_eq!(revocation["evidence"]["operation"]["service"], "billing");
        assert_eq!(revocation["evidence"]["operation"]["action"], "deploy");
        // The same on the permit itself, for the master (not an admin).
        let (_, permit) = s.get(&format!("/v1/permits/{active}"), &m.token).await;
        assert_eq!(permit["revocation"], *revocation);
    }
);

server_test!(a_wait_times_out_and_refuses_bad_input, |s| {
    let m = master(s, "m1").await;
    let other = master(s, "m2").await;
    let id = request(s, &m, json!({})).await;

    let (status, got) = s
        .get(&format!("/v1/permits/{id}/wait?timeout=1"), &m.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(
        (got["outcome"].as_str(), got["permit"]["state"].as_str()),
        (Some("waiting"), Some("under_review")),
        "{got}"
    );
    let (_, got) = s
        .get(
            &format!("/v1/permits/{id}/wait?timeout=0&until=decided"),
            &m.token,
        )
        .await;
    assert_eq!(
        (got["outcome"].as_str(), got["until"].as_str()),
        (Some("waiting"), Some("decided"))
    );

    for (query, field) in [
        ("until=issued", "until"),
        ("timeout=-1", "timeout"),
        ("timeout=soon", "timeout"),
        ("timeout=1&timeout=2", "timeout"),
        ("since=3", "since"),
    ] {
        let (status, body) = s
            .get(&format!("/v1/permits/{id}/wait?{query}"), &m.token)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let (status, _) = s.get("/v1/permits/nope/wait", &m.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .request(
            reqwest::Method::GET,
            &format!("/v1/permits/{id}/wait"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another master may read the permit (as with GET /v1/permits/{id}); a worker may
    // not wait on another worker's permit: it learns nothing about it.
    let (status, _) = s
        .get(&format!("/v1/permits/{id}/wait?timeout=0"), &other.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, identity) = s
        .post(
            &format!("/v1/workers/{}/identity", other.worker),
            &other.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{identity}");
    let (_, minted) = s
        .post(
            &format!("/v1/workers/{}/tokens", other.worker),
            &other.token,
            json!({"label": "spawn"}),
        )
        .await;
    let foreign_worker = minted["token"].as_str().expect("secret");
    let (status, _) = s
        .get(&format!("/v1/permits/{id}/wait?timeout=0"), foreign_worker)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

/// Two Steward instances on one PostgreSQL: a wait on the first is woken by an approval
/// made through the second (the first's audit feed reads what the second committed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_on_one_instance_is_woken_by_an_approval_through_another() {
    for db in databases().await {
        if !db.url().starts_with("postgres") {
            continue;
        }
        let s = TestServer::start(db).await;
        let other = s.another_instance().await;
        let m = master(&s, "m1").await;
        let (_, lead) = s.human("lead", &[Role::TechLead]).await;
        let id = request(&s, &m, json!({})).await;
        let waiting = start_wait(&s.url, &m.token, &id, "timeout=30");
        assert_waiting(&waiting).await;
        let response = reqwest::Client::new()
            .post(format!("{}/v1/permits/{id}/approvals", other.url))
            .bearer_auth(&lead)
            .json(&json!({"decision": "approve", "role": "tech_lead"}))
            .send()
            .await
            .expect("approval sent");
        assert_eq!(response.status(), StatusCode::OK);
        let got = answer(waiting).await;
        assert_eq!(
            (got["outcome"].as_str(), got["permit"]["state"].as_str()),
            (Some("reached"), Some("active")),
            "{got}"
        );
        drop(other);
        s.stop().await;
    }
}

/// Reads SSE messages from `response` until `done` says the events so far suffice (or
/// fails after 15 s); returns `(seq, event)` pairs.
async fn read_events(
    mut response: reqwest::Response,
    done: impl Fn(&[(u64, Value)]) -> bool,
) -> Vec<(u64, Value)> {
    let mut text = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done(&out) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("events within 15 s; got {out:?}"))
            .expect("stream readable")
            .expect("stream still open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let message: String = text.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in message.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<u64>().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str::<Value>(v.trim()).ok();
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                out.push((id, data));
            }
        }
    }
    out
}

async fn open_events(s: &TestServer, token: &str, query: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/events{query}", s.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("events");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("content type")
            .starts_with("text/event-stream")
    );
    response
}

fn has(events: &[(u64, Value)], event_type: &str, permit: &str) -> bool {
    events
        .iter()
        .any(|(_, e)| e["type"] == event_type && e["subject"]["permit_id"] == permit)
}

server_test!(
    a_master_follows_its_own_permits_events_and_not_another_masters,
    |s| {
        let a = master(s, "ma").await;
        let b = master(s, "mb").await;
        let (_, lead) = s.human("lead", &[Role::TechLead]).await;
        let stream_a = open_events(s, &a.token, "").await;

        // B's permit comes and goes first; then A's is requested, approved, and revoked for a
        // scope violation. A's stream must show all of A's and none of B's.
        let permit_b = request(s, &b, json!({})).await;
        decide(s, &lead, &permit_b, "approve").await;
        let permit_a = request(s, &a, json!({})).await;
        decide(s, &lead, &permit_a, "approve").await;
        let (_, verdict) = s
            .post(
                "/v1/authorize",
                &a.token,
                json!({"worker_id": a.worker, "environment": "production", "action": "drop_table",
                   "service": "api", "method": "DELETE", "permit_id": permit_a}),
            )
            .await;
        assert_eq!(verdict["rule"], "scope_violation", "{verdict}");
        // The revocation commits with the decision, its `authorize.denied` event right after.
        let events = read_events(stream_a, |got| has(got, "authorize.denied", &permit_a)).await;

        let types: Vec<&str> = events
            .iter()
            .map(|(_, e)| e["type"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            types,
            [
                "permit.requested",
                "permit.review_started",
                "permit.approval_recorded",
                "permit.approved",
                "permit.issued",
                "permit.revoked",
                "authorize.denied",
            ],
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .all(|(_, e)| e["subject"]["permit_id"] == permit_a.as_str()),
            "{events:?}"
        );
        // The breach of scope, with the operation that caused it, without admin rights.
        let denied = &events[6].1;
        assert_eq!(denied["data"]["operation"]["action"], "drop_table");
        assert_eq!(denied["data"]["operation"]["method"], "DELETE");
        let revoked = &events[5].1;
        assert_eq!(revoked["data"]["reason"], "scope_expansion");
        assert_eq!(revoked["data"]["operation"]["action"], "drop_table");
        // Seqs are the trail's, in order.
        assert!(events.windows(2).all(|w| w[0].0 < w[1].0));

        // Resuming after the approval replays exactly what followed it.
        let approved = events[3].0;
        let response = reqwest::Client::new()
            .get(format!("{}/v1/events?from_seq=1", s.url))
            .bearer_auth(&a.token)
            .header("last-event-id", approved.to_string())
            .send()
            .await
            .expect("events");
        let again = read_events(response, |got| has(got, "authorize.denied", &permit_a)).await;
        let seqs: Vec<u64> = again.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(
            seqs,
            events[4..].iter().map(|(seq, _)| *seq).collect::<Vec<_>>()
        );

        // B replays its history from the start: its own permit, nothing of A's.
        let stream_b = open_events(s, &b.token, "?from_seq=1").await;
        let events_b = read_events(stream_b, |got| has(got, "permit.issued", &permit_b)).await;
        assert!(
            events_b
                .iter()
                .all(|(_, e)| e["subject"]["permit_id"] == permit_b.as_str()),
            "{events_b:?}"
        );
        // Narrowed to one permit, an admin sees only it; bad parameters are refused.
        let narrowed = open_events(s, &s.admin, &format!("?from_seq=1&permit_id={permit_b}")).await;
        let events_n = read_events(narrowed, |got| has(got, "permit.issued", &permit_b)).await;
        assert_eq!(events_n.len(), 5, "{events_n:?}");
        let (status, body) = s.get("/v1/events?from_seq=x", &a.token).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("from_seq"))
        );
        let (status, body) = s.get("/v1/events?type=permit", &a.token).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("type"))
        );
    }
);

server_test!(a_worker_identity_follows_only_its_own_worker, |s| {
    let a = master(s, "ma").await;
    let b = master(s, "mb").await;
    let (_, lead) = s.human("lead", &[Role::TechLead]).await;
    let (status, _) = s
        .post(
            &format!("/v1/workers/{}/identity", a.worker),
            &a.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, minted) = s
        .post(
            &format!("/v1/workers/{}/tokens", a.worker),
            &a.token,
            json!({"label": "spawn"}),
        )
        .await;
    let worker_token = minted["token"].as_str().expect("secret").to_owned();
    let stream = open_events(s, &worker_token, "").await;
    let permit_b = request(s, &b, json!({})).await;
    decide(s, &lead, &permit_b, "approve").await;
    let permit_a = request(s, &a, json!({})).await;
    decide(s, &lead, &permit_a, "approve").await;
    let events = read_events(stream, |got| has(got, "permit.issued", &permit_a)).await;
    assert!(
        events
            .iter()
            .all(|(_, e)| e["subject"]["worker_id"] == a.worker.as_str()),
        "{events:?}"
    );
    assert!(has(&events, "permit.requested", &permit_a));
});

server_test!(an_owner_creates_its_workers_identity_and_tokens, |s| {
    let a = master(s, "ma").await;
    let b = master(s, "mb").await;
    let (_, lead) = s.human("lead", &[Role::TechLead]).await;
    let path = format!("/v1/workers/{}", a.worker);

    // No identity yet: no token.
    let (status, body) = s
        .post(
            &format!("{path}/tokens"),
            &a.token,
            json!({"label": "spawn"}),
        )
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::CONFLICT, Some("no_identity")),
        "{body}"
    );
    // Another master may not create it, nor ask for roles.
    let (status, body) = s
        .post(&format!("{path}/identity"), &b.token, json!({}))
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("own_workers_only")),
        "{body}"
    );
    let (status, body) = s
        .post(
            &format!("{path}/identity"),
            &a.token,
            json!({"roles": ["admin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let before = s.audit_len().await;

    let (status, created) = s
        .post(
            &format!("{path}/identity"),
            &a.token,
            json!({"name": "deploy-bot-7"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let identity = created["principal"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["principal"]["kind"], "agent");
    assert_eq!(created["principal"]["roles"], json!(["worker"]));
    assert_eq!(created["worker"]["principal_id"], identity.as_str());
    let (status, body) = s
        .post(&format!("{path}/identity"), &a.token, json!({}))
        .await;
    assert_eq!(
        (status, body["rule"].as_str()),
        (StatusCode::CONFLICT, Some("identity_exists"))
    );

    let (status, minted) = s
        .post(
            &format!("{path}/tokens"),
            &a.token,
            json!({"label": "spawn for deploy", "expires_in_hours": 8}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    assert_eq!(minted["principal_id"], identity.as_str());
    let secret = minted["token"].as_str().expect("secret").to_owned();
    let token_id = minted["id"].as_str().expect("id").to_owned();
    // Another master can neither mint for A's worker nor list or revoke its tokens, and
    // nobody but an admin mints for a principal through /v1/tokens.
    for (method, route, body) in [
        (
            reqwest::Method::POST,
            format!("{path}/tokens"),
            Some(json!({"label": "x"})),
        ),
        (reqwest::Method::GET, format!("{path}/tokens"), None),
        (
            reqwest::Method::POST,
            format!("{path}/tokens/{token_id}/revoke"),
            Some(json!({})),
        ),
    ] {
        let (status, body) = s
            .request(method, &route, Some(b.token.as_str()), body.as_ref())
            .await;
        assert_eq!(
            (status, body["rule"].as_str()),
            (StatusCode::FORBIDDEN, Some("own_workers_only")),
            "{route}: {body}"
        );
    }
    let (status, _) = s
        .post(
            "/v1/tokens",
            &a.token,
            json!({"principal_id": identity, "label": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .post(
            "/v1/principals",
            &a.token,
            json!({"kind": "agent", "name": "x", "roles": ["worker"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A's worker route does not reach other principals' tokens.
    let (_, b_tokens) = s.get("/v1/tokens", &b.token).await;
    let b_token_id = b_tokens["items"][0]["id"]
        .as_str()
        .expect("b's token")
        .to_owned();
    let (status, _) = s
        .post(
            &format!("{path}/tokens/{b_token_id}/revoke"),
            &a.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The token authenticates as the worker's identity: it lists its own token...
    let (status, own) = s.get("/v1/tokens", &secret).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["items"][0]["principal_id"], identity.as_str());
    // ...and authorizes the worker's operations under a permit, as the worker itself.
    let permit = request(s, &a, json!({})).await;
    decide(s, &lead, &permit, "approve").await;
    let (status, verdict) = s
        .post(
            "/v1/authorize",
            &secret,
            json!({"worker_id": a.worker, "environment": "production", "action": "deploy",
                   "service": "api", "method": "POST", "permit_id": permit}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(
        (verdict["allow"].as_bool(), verdict["rule"].as_str()),
        (Some(true), Some("allowed"))
    );
    let seq = verdict["audit_seq"].as_u64().expect("audited at level 2");
    let event = &s.store().events(seq, 1).await.expect("event")[0];
    assert_eq!(event.actor.id, identity);
    // It may not act for B's worker.
    let (status, _) = s
        .post(
            "/v1/authorize",
            &secret,
            json!({"worker_id": b.worker, "environment": "development", "action": "deploy",
                   "service": "api", "method": "POST"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The trail: identity and token made by the master, about the worker; no secret, and
    // the name and label sealed.
    let events = s.store().events(before + 1, 100).await.expect("events");
    let made: Vec<(&str, &str, Option<&str>)> = events
        .iter()
        .filter(|e| e.event_type != "authorize.allowed" && !e.event_type.starts_with("permit."))
        .map(|e| {
            (
                e.event_type.as_str(),
                e.actor.id.as_str(),
                e.subject.worker_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        made,
        [
            ("principal.created", a.id.as_str(), Some(a.worker.as_str())),
            (
                "worker.identity_created",
                a.id.as_str(),
                Some(a.worker.as_str())
            ),
            ("token.created", a.id.as_str(), Some(a.worker.as_str())),
        ]
    );
    let trail =
        serde_json::to_string(&events.iter().map(|e| &e.data).collect::<Vec<_>>()).expect("json");
    assert!(
        !trail.contains(&secret)
            && !trail.contains("deploy-bot-7")
            && !trail.contains("spawn for deploy")
    );

    // The owner lists and revokes it; then it no longer authenticates.
    let (_, listed) = s.get(&format!("{path}/tokens"), &a.token).await;
    assert_eq!(listed["items"][0]["id"], token_id.as_str());
    assert_eq!(listed["items"][0]["state"], "active");
    assert!(!listed.to_string().contains(&secret));
    let (status, revoked) = s
        .post(
            &format!("{path}/tokens/{token_id}/revoke"),
            &a.token,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, revoked["state"].as_str()),
        (StatusCode::OK, Some("revoked"))
    );
    let (status, _) = s.get("/v1/tokens", &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let last = s
        .store()
        .events(s.audit_len().await, 1)
        .await
        .expect("event");
    assert_eq!(
        (
            last[0].event_type.as_str(),
            last[0].subject.worker_id.as_deref()
        ),
        ("token.revoked", Some(a.worker.as_str()))
    );

    // A worker token is minted with the master's token: it never outlives it and ends
    // with it.
    let (_, own) = s.get("/v1/tokens", &a.token).await;
    let master_token_id = own["items"][0]["id"].as_str().expect("id").to_owned();
    let (_, second) = s
        .post(
            &format!("{path}/tokens"),
            &a.token,
            json!({"label": "spawn 2"}),
        )
        .await;
    assert_eq!(second["minted_with"], master_token_id.as_str());
    let second_secret = second["token"].as_str().expect("secret").to_owned();
    let (status, _) = s.get("/v1/tokens", &second_secret).await;
    assert_eq!(status, StatusCode::OK);
    let (status, revoked) = s
        .post(
            &format!("/v1/tokens/{master_token_id}/revoke"),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["cascaded"], json!([second["id"]]));
    let (status, _) = s.get("/v1/tokens", &second_secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});
