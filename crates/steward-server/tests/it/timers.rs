//! Timers over real permits (SPEC §6.2, §6.3): approval SLA overdue and escalation, request
//! expiry at 2 × SLA, expiry warnings, expiry during execution with the in-flight grace, and
//! two Steward instances on one database firing every timer exactly once. Time moves by
//! passing `now_ms` to `Store::run_timers`, as the maintenance loop does with its clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_permits::{TimerKind, Timestamp};
use steward_policy::{Policy, Role};
use steward_server::{AppState, Clock, run_maintenance};
use steward_store::testing::execute;
use steward_store::{PrincipalKind, Store, TimerSubject};

use crate::support::{TestServer, full_report, server_test};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A master who requests and a worker (agent identity, level `level`) with its owner.
struct Cast {
    master: String,
    worker_token: String,
    worker_id: String,
}

async fn cast(s: &TestServer, name: &str, level: u8) -> Cast {
    let (_, master) = s
        .principal(
            &format!("master-{name}"),
            PrincipalKind::Agent,
            &[Role::Master],
        )
        .await;
    let (owner_id, _) = s.human(&format!("owner-{name}"), &[]).await;
    let (agent_id, worker_token) = s
        .principal(
            &format!("agent-{name}"),
            PrincipalKind::Agent,
            &[Role::Worker],
        )
        .await;
    let worker_id = format!("wk-{name}");
    insert_worker(
        s,
        &worker_id,
        &owner_id,
        Some(&agent_id),
        level,
        "active",
        "NULL",
        "NULL",
    )
    .await;
    Cast {
        master,
        worker_token,
        worker_id,
    }
}

/// A worker row as the registry would hold it, with the certification dates given (SQL
/// literals).
#[expect(
    clippy::too_many_arguments,
    reason = "one column each, read at the call site"
)]
async fn insert_worker(
    s: &TestServer,
    id: &str,
    owner: &str,
    principal: Option<&str>,
    level: u8,
    status: &str,
    recertify_by: &str,
    probation_until: &str,
) {
    let principal = principal.map_or("NULL".to_owned(), |p| format!("'{p}'"));
    let granted = s.clock.now().millis();
    execute(
        s.store(),
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, recertify_by, probation_until, stats, version, created_at, updated_at) \
             VALUES ('{id}', '{id}', '{owner}', {principal}, {level}, '{status}', '[]', {granted}, \
             {recertify_by}, {probation_until}, '{{\"successes_at_level\":0,\"failures_at_level\":0,\
             \"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\
             \"consecutive_union_failures\":0}}', 1, 0, 0)"
        ),
    )
    .await
    .expect("insert worker");
}

fn evidence() -> Value {
    json!({
        "rollback_plan": {"steps": ["kubectl rollout undo deploy/api"],
                          "verification": ["kubectl rollout status deploy/api"], "estimated_minutes": 5},
        "test_results": "https://ci.example.com/runs/42",
        "code_review": "https://git.example.com/pr/7",
    })
}

fn standard_task() -> Value {
    json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
           "operations": ["deploy"], "services_affected": ["api"]})
}

fn read_only_task() -> Value {
    json!({"id": "logs", "description": "read production logs", "read_only": true,
           "environment": "production"})
}

/// Requests a permit; returns its JSON.
async fn request(s: &TestServer, c: &Cast, task: Value) -> Value {
    let (status, body) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": task, "worker_id": c.worker_id, "evidence": evidence()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn state_of(s: &TestServer, id: &str) -> Value {
    let (status, body) = s.get(&format!("/v1/permits/{id}"), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Every event of the trail as (type, subject id) → count, subject being the permit or,
/// for worker events, the worker.
async fn event_counts(store: &Store) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for e in store.events(1, 10_000).await.expect("events") {
        let subject = e
            .subject
            .permit_id
            .clone()
            .or(e.subject.worker_id.clone())
            .unwrap_or_default();
        *counts.entry((e.event_type, subject)).or_insert(0) += 1;
    }
    counts
}

fn count(counts: &BTreeMap<(String, String), usize>, event: &str, subject: &str) -> usize {
    counts
        .get(&(event.to_owned(), subject.to_owned()))
        .copied()
        .unwrap_or(0)
}

/// The events of `permit_id` of type `event`, in order.
async fn events_of(store: &Store, event: &str, permit_id: &str) -> Vec<Value> {
    store
        .events(1, 10_000)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.event_type == event && e.subject.permit_id.as_deref() == Some(permit_id))
        .map(|e| e.data)
        .collect()
}

server_test!(
    approval_sla_flags_overdue_escalates_once_and_expires_at_twice_the_sla,
    |s| {
        let c = cast(s, "sla", 2).await;
        let t0 = s.clock.now().millis();
        let p = request(s, &c, standard_task()).await;
        let id = p["id"].as_str().expect("id");
        assert_eq!(p["state"], "under_review");
        assert_eq!(p["requirements"]["max_approval_time_hours"], 24.0);
        let store = s.store();

        // Nothing before the 24 h SLA.
        let report = store.run_timers(t0 + 24 * HOUR - 1).await.expect("timers");
        assert!(report.fired.is_empty(), "{report:?}");

        // At the SLA: flagged overdue and escalated to level 3's approvers, once however often
        // the timers run.
        for now in [
            t0 + 24 * HOUR,
            t0 + 24 * HOUR,
            t0 + 30 * HOUR,
            t0 + 48 * HOUR - 1,
        ] {
            store.run_timers(now).await.expect("timers");
        }
        let overdue = events_of(store, "permit.approval_overdue", id).await;
        assert_eq!(overdue.len(), 1, "{overdue:?}");
        assert_eq!(overdue[0]["sla_hours"], 24.0);
        assert_eq!(overdue[0]["due_at_ms"], t0 + 24 * HOUR);
        let escalated = events_of(store, "permit.escalated", id).await;
        assert_eq!(escalated.len(), 1, "{escalated:?}");
        assert_eq!(
            escalated[0]["roles"],
            json!(["engineering_director", "security_lead", "architecture_lead"])
        );
        assert_eq!(state_of(s, id).await["state"], "under_review");
        let fired = store
            .fired_timers(TimerSubject::Permit, id)
            .await
            .expect("ledger");
        assert_eq!(
            fired,
            [(TimerKind::ApprovalOverdue, t0 + 24 * HOUR, t0 + 24 * HOUR)]
        );

        // At 2 × SLA the request expires, once.
        let report = store.run_timers(t0 + 48 * HOUR).await.expect("timers");
        assert_eq!(report.fired.len(), 1, "{report:?}");
        assert_eq!(report.fired[0].timer, TimerKind::RequestExpiry);
        store.run_timers(t0 + 72 * HOUR).await.expect("timers");
        let body = state_of(s, id).await;
        assert_eq!(body["state"], "expired", "{body}");
        let expired = events_of(store, "permit.expired", id).await;
        assert_eq!(expired.len(), 1, "{expired:?}");
        assert_eq!(expired[0]["from"], "under_review");
        assert_eq!(expired[0]["to"], "expired");

        // An approver arriving late finds the request gone.
        let (_, director) = s.human("late-director", &[Role::EngineeringDirector]).await;
        let (status, body) = s
            .post(
                &format!("/v1/permits/{id}/approvals"),
                &director,
                json!({"decision": "approve", "role": "engineering_director"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        s.store()
            .verify_audit_chain()
            .await
            .expect("chain verifies");
    }
);

server_test!(
    expiry_warnings_fire_once_each_then_an_active_permit_is_revoked,
    |s| {
        let c = cast(s, "warn", 1).await;
        let p = request(s, &c, read_only_task()).await;
        assert_eq!(p["state"], "active", "{p}");
        let id = p["id"].as_str().expect("id");
        let expires = p["expires_at_ms"].as_i64().expect("expires_at_ms");
        let store = s.store();

        assert!(
            store
                .run_timers(expires - 30 * MINUTE - 1)
                .await
                .expect("timers")
                .fired
                .is_empty()
        );
        for minutes in [30, 29, 20, 15, 14, 10, 5, 4, 1] {
            store
                .run_timers(expires - minutes * MINUTE)
                .await
                .expect("timers");
            store
                .run_timers(expires - minutes * MINUTE)
                .await
                .expect("timers");
        }
        let warnings: Vec<Value> = events_of(store, "permit.expiry_warning", id)
            .await
            .into_iter()
            .map(|d| d["minutes"].clone())
            .collect();
        assert_eq!(warnings, [json!(30), json!(15), json!(5)]);
        assert_eq!(state_of(s, id).await["state"], "active");

        // At expires_at: revoked with `time_expiration` (SPEC §6.2), once.
        store.run_timers(expires).await.expect("timers");
        store.run_timers(expires + HOUR).await.expect("timers");
        let body = state_of(s, id).await;
        assert_eq!(
            (body["state"].as_str(), body["revocation_reason"].as_str()),
            (Some("revoked"), Some("time_expiration")),
            "{body}"
        );
        let revoked = events_of(store, "permit.revoked", id).await;
        assert_eq!(revoked.len(), 1, "{revoked:?}");
        assert_eq!(revoked[0]["from"], "active");

        // A permit seen only 3 minutes before its expiry (say the servers were down) gets the
        // 5-minute warning, not three stale ones.
        let c2 = cast(s, "late", 1).await;
        let p = request(s, &c2, read_only_task()).await;
        let id2 = p["id"].as_str().expect("id");
        let expires2 = p["expires_at_ms"].as_i64().expect("expires_at_ms");
        store
            .run_timers(expires2 - 3 * MINUTE)
            .await
            .expect("timers");
        let warnings: Vec<Value> = events_of(store, "permit.expiry_warning", id2)
            .await
            .into_iter()
            .map(|d| d["minutes"].clone())
            .collect();
        assert_eq!(warnings, [json!(5)]);
    }
);

server_test!(
    expiry_during_execution_lets_the_operation_in_flight_finish_within_the_grace,
    |s| {
        let c = cast(s, "grace", 1).await;
        let finishes = request(s, &c, read_only_task()).await;
        let overruns = request(s, &c, read_only_task()).await;
        let (a, b) = (
            finishes["id"].as_str().expect("id"),
            overruns["id"].as_str().expect("id"),
        );
        let expires = finishes["expires_at_ms"].as_i64().expect("expires_at_ms");
        assert_eq!(overruns["expires_at_ms"].as_i64(), Some(expires));
        for id in [a, b] {
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
        }
        let store = s.store();

        // At expiry both enter the in-flight grace: still executing, and the grace recorded.
        store.run_timers(expires).await.expect("timers");
        store
            .run_timers(expires + 5 * MINUTE)
            .await
            .expect("timers");
        for id in [a, b] {
            assert_eq!(state_of(s, id).await["state"], "executing");
            let grace = events_of(store, "permit.expiry_grace_started", id).await;
            assert_eq!(grace.len(), 1, "{grace:?}");
            assert_eq!(grace[0]["grace_until_ms"], expires + 15 * MINUTE);
        }
        assert!(matches!(
            steward_permits::expiry_phase(
                steward_permits::PermitState::Executing,
                steward_permits::Timestamp(expires),
                steward_permits::Timestamp(expires + 5 * MINUTE),
            ),
            steward_permits::ExpiryPhase::InFlightGrace { .. }
        ));

        // The operation in flight completes inside the grace.
        s.clock
            .advance_minutes((expires + 10 * MINUTE - s.clock.now().millis()) / MINUTE);
        let (status, body) = s
            .post(
                &format!("/v1/permits/{a}/complete"),
                &c.worker_token,
                json!({"outcome": "success", "report": full_report("read")}),
            )
            .await;
        assert_eq!(
            (status, body["state"].as_str()),
            (StatusCode::OK, Some("completed")),
            "{body}"
        );

        // After the grace the one still executing is revoked; the completed one is left alone.
        store
            .run_timers(expires + 15 * MINUTE)
            .await
            .expect("timers");
        store
            .run_timers(expires + 16 * MINUTE)
            .await
            .expect("timers");
        let body = state_of(s, b).await;
        assert_eq!(
            (body["state"].as_str(), body["revocation_reason"].as_str()),
            (Some("revoked"), Some("time_expiration")),
            "{body}"
        );
        let revoked = events_of(store, "permit.revoked", b).await;
        assert_eq!(revoked.len(), 1, "{revoked:?}");
        assert_eq!(revoked[0]["from"], "executing");
        assert_eq!(revoked[0]["in_flight_grace_ended"], true);
        assert_eq!(state_of(s, a).await["state"], "completed");
        assert!(events_of(store, "permit.revoked", a).await.is_empty());

        // Completing after the grace is too late.
        let (status, body) = s
            .post(
                &format!("/v1/permits/{b}/complete"),
                &c.worker_token,
                json!({"outcome": "success", "report": full_report("read")}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        s.store()
            .verify_audit_chain()
            .await
            .expect("chain verifies");
    }
);

server_test!(
    two_instances_on_one_database_fire_every_timer_exactly_once,
    |s| {
        let t0 = s.clock.now().millis();
        // Subjects with timers: two requests waiting for approval, two active permits (one of
        // which will be executing), and workers in grace, to expire and ending probation.
        let c2 = cast(s, "two-l2", 2).await;
        let c1 = cast(s, "two-l1", 1).await;
        let mut permits = Vec::new();
        for _ in 0..2 {
            permits.push(
                request(s, &c2, standard_task()).await["id"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
            );
        }
        for _ in 0..2 {
            permits.push(
                request(s, &c1, read_only_task()).await["id"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
            );
        }
        let (status, body) = s
            .post(
                &format!("/v1/permits/{}/start", permits[3]),
                &c1.worker_token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (owner, _) = s.human("owner-of-many", &[]).await;
        insert_worker(
            s,
            "wk-grace",
            &owner,
            None,
            2,
            "active",
            &(t0 + DAY).to_string(),
            "NULL",
        )
        .await;
        insert_worker(
            s,
            "wk-probation",
            &owner,
            None,
            3,
            "probationary",
            &(t0 + 3 * DAY).to_string(),
            &(t0 + 2 * DAY).to_string(),
        )
        .await;

        // A second instance: its own pool on the same database.
        let other = Store::connect(s.db.url()).await.expect("second instance");
        let steps: Vec<i64> = [
            0,
            DAY,
            24 * HOUR + 1,
            2 * DAY,
            3 * DAY,
            7 * DAY - 30 * MINUTE,
            7 * DAY - 15 * MINUTE,
            7 * DAY - 5 * MINUTE,
            7 * DAY,
            7 * DAY + 15 * MINUTE,
            16 * DAY,
            30 * DAY,
        ]
        .into_iter()
        .map(|d| t0 + d)
        .collect();
        let mut fired = 0;
        for now in &steps {
            for _ in 0..3 {
                let (a, b) = tokio::join!(s.store().run_timers(*now), other.run_timers(*now));
                let (a, b) = (a.expect("instance a"), b.expect("instance b"));
                assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");
                fired += a.fired.len() + b.fired.len();
            }
        }

        // A restart: a fresh instance, run at every time again, fires nothing.
        other.close().await;
        let restarted = Store::connect(s.db.url())
            .await
            .expect("restarted instance");
        for now in &steps {
            assert!(
                restarted
                    .run_timers(*now)
                    .await
                    .expect("timers")
                    .fired
                    .is_empty()
            );
        }

        let counts = event_counts(s.store()).await;
        let timer_events = [
            "permit.approval_overdue",
            "permit.escalated",
            "permit.expired",
            "permit.expiry_warning",
            "permit.expiry_grace_started",
            "permit.revoked",
            "worker.certification_grace",
            "worker.expired",
            "worker.probation_ended",
        ];
        for id in &permits[..2] {
            for event in [
                "permit.approval_overdue",
                "permit.escalated",
                "permit.expired",
            ] {
                assert_eq!(count(&counts, event, id), 1, "{event} of {id}: {counts:?}");
            }
        }
        for id in &permits[2..] {
            assert_eq!(count(&counts, "permit.expiry_warning", id), 3, "{counts:?}");
            assert_eq!(count(&counts, "permit.revoked", id), 1, "{counts:?}");
        }
        assert_eq!(
            count(&counts, "permit.expiry_grace_started", &permits[3]),
            1
        );
        assert_eq!(count(&counts, "worker.certification_grace", "wk-grace"), 1);
        assert_eq!(count(&counts, "worker.expired", "wk-grace"), 1);
        assert_eq!(count(&counts, "worker.probation_ended", "wk-probation"), 1);
        assert_eq!(
            count(&counts, "worker.certification_grace", "wk-probation"),
            1
        );
        assert_eq!(count(&counts, "worker.expired", "wk-probation"), 1);
        // And nothing else fired: 2 × 3 (requests) + 2 × 4 (live permits) + 1 (grace start)
        // + 2 + 3 (workers) timer events, from 2 × 2 + 2 × 4 + 1 + 2 + 3 timers.
        let total: usize = counts
            .iter()
            .filter(|((event, _), _)| timer_events.contains(&event.as_str()))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(total, 6 + 8 + 1 + 5, "{counts:?}");
        assert_eq!(fired, 4 + 8 + 1 + 5);
        let worker = s.store().worker("wk-probation").await.expect("worker");
        assert_eq!(worker.status, steward_policy::CertificationStatus::Expired);
        s.store()
            .verify_audit_chain()
            .await
            .expect("chain verifies");
    }
);

server_test!(the_maintenance_loop_fires_due_timers_with_its_clock, |s| {
    let c = cast(s, "loop", 2).await;
    let id = request(s, &c, standard_task()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // An instance whose clock reads 2 × SLA later: its first tick expires the request.
    let state = AppState::new(
        s.store().clone(),
        Arc::new(Policy::builtin()),
        Clock::manual(Timestamp(s.clock.now().millis() + 48 * HOUR)),
        None,
    );
    let maintenance = tokio::spawn(run_maintenance(state));
    let mut state = Value::Null;
    for _ in 0..100 {
        state = state_of(s, &id).await["state"].clone();
        if state == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    maintenance.abort();
    assert_eq!(state, "expired");
    assert_eq!(events_of(s.store(), "permit.expired", &id).await.len(), 1);
});

server_test!(
    a_renewal_inside_the_grace_ends_it_and_sets_new_warnings,
    |s| {
        let c = cast(s, "renew", 1).await;
        let p = request(s, &c, read_only_task()).await;
        let id = p["id"].as_str().expect("id");
        let expires = p["expires_at_ms"].as_i64().expect("expires_at_ms");
        let (status, body) = s
            .post(
                &format!("/v1/permits/{id}/start"),
                &c.worker_token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let store = s.store();
        store
            .run_timers(expires - 5 * MINUTE)
            .await
            .expect("timers");
        store.run_timers(expires).await.expect("timers");
        assert_eq!(
            events_of(store, "permit.expiry_grace_started", id)
                .await
                .len(),
            1
        );

        // Five minutes into the grace the requester renews the read-only permit for a day.
        s.clock
            .advance_minutes((expires + 5 * MINUTE - s.clock.now().millis()) / MINUTE);
        let (status, body) = s
            .post(
                &format!("/v1/permits/{id}/renew"),
                &c.master,
                json!({"hours": 24}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let renewed = body["expires_at_ms"].as_i64().expect("expires_at_ms");
        assert_eq!(renewed, expires + 5 * MINUTE + DAY);

        // The old grace's end revokes nothing; the new expiry has its own warnings.
        store
            .run_timers(expires + 15 * MINUTE)
            .await
            .expect("timers");
        assert_eq!(state_of(s, id).await["state"], "executing");
        assert!(events_of(store, "permit.revoked", id).await.is_empty());
        store
            .run_timers(renewed - 30 * MINUTE)
            .await
            .expect("timers");
        let warnings: Vec<(Value, Value)> = events_of(store, "permit.expiry_warning", id)
            .await
            .into_iter()
            .map(|d| (d["minutes"].clone(), d["expires_at_ms"].clone()))
            .collect();
        assert_eq!(
            warnings,
            [(json!(5), json!(expires)), (json!(30), json!(renewed))]
        );
    }
);
