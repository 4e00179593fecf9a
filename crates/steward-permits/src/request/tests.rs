//! A permit request: what is refused before any lock, and what a worker's standing then
//! makes of it (hard blocks, auto-approval, issue now or at the window's start).

use expect_test::{Expect, expect};
use serde_json::json;
use steward_policy::{CertificationStatus, analyze};

use super::*;

const NOW: i64 = 1_800_000_000_000;

fn evidence(value: Value) -> BTreeMap<Evidence, Value> {
    serde_json::from_value(value).unwrap()
}

fn full_evidence() -> BTreeMap<Evidence, Value> {
    evidence(json!({
        "rollback_plan": {"steps": ["kubectl rollout undo deploy/api"],
                          "verification": ["kubectl rollout status deploy/api"], "estimated_minutes": 5},
        "test_results": "https://ci.example.com/runs/42",
        "code_review": "https://git.example.com/pr/7",
    }))
}

/// The outcome of a request for `task` with `evidence` and `hours`, by a worker at
/// `level` whose certification is `status`, with the window starting at `start` (ms
/// from NOW): the refusal, or the lifecycle and the events' types, actors and states.
fn outcome(
    task: Value,
    evidence: &BTreeMap<Evidence, Value>,
    hours: Option<f64>,
    worker: (u8, CertificationStatus),
    start: Option<i64>,
) -> String {
    let policy = Policy::builtin();
    let parsed = Task::from_json_str(&task.to_string()).unwrap();
    let analysis = analyze(&parsed, &policy);
    let facts = RequestFacts {
        policy: &policy,
        analysis: &analysis,
        evidence,
        requested_hours: hours,
        operations: parsed.operations(),
        services: &parsed.services_affected,
        now: Timestamp(NOW),
    };
    let admitted = match admit_request(&facts) {
        Ok(admitted) => admitted,
        Err(refusal) => return format!("refused before the lock: {refusal:?}"),
    };
    let snapshot = RequestSnapshot {
        admitted: &admitted,
        analysis: &analysis,
        task: &task,
        scope: &parsed,
        policy: &policy,
        worker_id: "wk-1",
        choices: &ConstraintChoices::default(),
        worker: WorkerStanding {
            level: Level::new(worker.0).unwrap(),
            status: worker.1,
        },
        window_start: start.map(|ms| Timestamp(NOW + ms)),
        now: Timestamp(NOW),
    };
    match plan_request(&snapshot) {
        Err(refusal) => format!("refused under the lock: {refusal:?}"),
        Ok(plan) => {
            let life = plan.lifecycle;
            let mut out = format!(
                "{} level {} {} h; {} valid {:?}..{:?}\n",
                admitted.permit_type,
                admitted.level,
                admitted.hours,
                life.state,
                life.valid_from.map(|t| t.0 - NOW),
                life.expires_at.map(|t| t.0 - NOW),
            );
            for e in plan.events {
                let data = e.data();
                out.push_str(&format!(
                    "{:?} {} {} -> {}\n",
                    e.by,
                    e.event_type(),
                    data["from"],
                    data["to"]
                ));
            }
            out
        }
    }
}

#[track_caller]
fn check(
    task: Value,
    evidence: &BTreeMap<Evidence, Value>,
    hours: Option<f64>,
    worker: (u8, CertificationStatus),
    start: Option<i64>,
    expect: Expect,
) {
    expect.assert_eq(&outcome(task, evidence, hours, worker, start));
}

fn read_logs() -> Value {
    json!({"id": "logs", "description": "read production logs", "read_only": true,
           "environment": "production"})
}

fn deploy() -> Value {
    json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
           "operations": ["deploy"], "services_affected": ["api"]})
}

const ACTIVE: CertificationStatus = CertificationStatus::Active;

#[test]
fn a_task_that_needs_no_permit_is_refused() {
    check(
        json!({"id": "t", "description": "format code", "environment": "development", "read_only": true}),
        &BTreeMap::new(),
        None,
        (1, ACTIVE),
        None,
        expect![[
            r#"refused before the lock: NotRequired { level: Level(0), environment: Development }"#
        ]],
    );
}

#[test]
fn read_only_work_for_a_certified_worker_is_approved_and_issued_at_once() {
    check(
        read_logs(),
        &BTreeMap::new(),
        None,
        (1, ACTIVE),
        None,
        expect![[r#"
            read_only level 1 168 h; active valid Some(0)..Some(604800000)
            Caller permit.requested null -> null
            Caller permit.review_started "requested" -> "under_review"
            System permit.approved "under_review" -> "approved"
            System permit.issued "approved" -> "active"
        "#]],
    );
    // A window that starts later: approved now, issued when it begins.
    check(
        read_logs(),
        &BTreeMap::new(),
        Some(2.0),
        (1, ACTIVE),
        Some(60_000),
        expect![[r#"
            read_only level 1 2 h; approved valid None..None
            Caller permit.requested null -> null
            Caller permit.review_started "requested" -> "under_review"
            System permit.approved "under_review" -> "approved"
        "#]],
    );
    // A window that began already runs from now.
    check(
        read_logs(),
        &BTreeMap::new(),
        Some(2.0),
        (1, ACTIVE),
        Some(-60_000),
        expect![[r#"
            read_only level 1 2 h; active valid Some(0)..Some(7200000)
            Caller permit.requested null -> null
            Caller permit.review_started "requested" -> "under_review"
            System permit.approved "under_review" -> "approved"
            System permit.issued "approved" -> "active"
        "#]],
    );
}

#[test]
fn production_changes_wait_for_their_approvers() {
    check(
        deploy(),
        &full_evidence(),
        None,
        (2, CertificationStatus::Probationary),
        None,
        expect![[r#"
            standard_production level 2 24 h; under_review valid None..None
            Caller permit.requested null -> null
            Caller permit.review_started "requested" -> "under_review"
        "#]],
    );
}

#[test]
fn refusals_come_in_order_window_evidence_scope_rollback_plan() {
    check(
        deploy(),
        &BTreeMap::new(),
        Some(0.0),
        (2, ACTIVE),
        None,
        expect!["refused before the lock: Window(NotPositive { hours: 0.0 })"],
    );
    // Empty values are not evidence.
    check(
        deploy(),
        &evidence(json!({"rollback_plan": {}, "test_results": " ", "code_review": null})),
        None,
        (2, ACTIVE),
        None,
        expect![[
            r#"refused before the lock: MissingEvidence { level: Level(2), missing: [RollbackPlan, TestResults, CodeReview] }"#
        ]],
    );
    check(
        json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
               "operations": ["deploy"]}),
        &full_evidence(),
        None,
        (2, ACTIVE),
        None,
        expect![[
            r#"refused before the lock: MissingScope { level: Level(2), missing: [ServicesAffected] }"#
        ]],
    );
    let mut bad_plan = full_evidence();
    bad_plan.insert(Evidence::RollbackPlan, json!({"steps": ["undo"]}));
    let refused = outcome(deploy(), &bad_plan, None, (2, ACTIVE), None);
    assert!(
        refused.starts_with("refused before the lock: InvalidRollbackPlan"),
        "{refused}"
    );
}

#[test]
fn the_workers_standing_blocks_under_the_lock() {
    check(
        read_logs(),
        &BTreeMap::new(),
        None,
        (1, CertificationStatus::Suspended),
        None,
        expect![[
            r#"refused under the lock: HardBlocks([Block { rule: "certification_suspended", message: "the worker's certification is suspended" }])"#
        ]],
    );
    // A level-0 worker may not work in production at all.
    let refused = outcome(read_logs(), &BTreeMap::new(), None, (0, ACTIVE), None);
    assert!(
        refused.contains("non_union_outside_development"),
        "{refused}"
    );
}

#[test]
fn auto_approval_needs_the_flag_and_level_one() {
    let standing = |level: u8| WorkerStanding {
        level: Level::new(level).unwrap(),
        status: ACTIVE,
    };
    for (flag, level, auto) in [
        (true, 0, false),
        (true, 1, true),
        (true, 4, true),
        (false, 1, false),
        (false, 4, false),
    ] {
        assert_eq!(auto_approves(flag, standing(level)), auto, "{flag} {level}");
    }
}

/// The stored data of each event of a request's plan (`permit.issued`'s constraints
/// left out: `constraints.rs` has their tests).
#[test]
fn a_requests_events_record_the_request_and_its_task() {
    let policy = Policy::builtin();
    let task = read_logs();
    let parsed = Task::from_json_str(&task.to_string()).unwrap();
    let analysis = analyze(&parsed, &policy);
    let admitted = admit_request(&RequestFacts {
        policy: &policy,
        analysis: &analysis,
        evidence: &BTreeMap::new(),
        requested_hours: None,
        operations: parsed.operations(),
        services: &parsed.services_affected,
        now: Timestamp(NOW),
    })
    .unwrap();
    let plan = plan_request(&RequestSnapshot {
        admitted: &admitted,
        analysis: &analysis,
        task: &task,
        scope: &parsed,
        policy: &policy,
        worker_id: "wk-1",
        choices: &ConstraintChoices::default(),
        worker: WorkerStanding {
            level: Level::BASIC,
            status: CertificationStatus::Active,
        },
        window_start: None,
        now: Timestamp(NOW),
    })
    .unwrap();
    let mut out = String::new();
    for e in plan.events {
        let mut data = e.data();
        if let Some(constraints) = data.get_mut("constraints") {
            *constraints = json!("…");
        }
        let line = steward_audit::canonical_json(&data);
        out.push_str(&format!("{:?} {} {line}\n", e.by, e.event_type()));
    }
    expect![[r#"
        Caller permit.requested {"evidence":[],"hours":168.0,"level":1,"permit_type":"read_only","policy_version":"spec-2026.11+sha256:0ac8695550c537da","task":{"compliance_frameworks":[],"environment":"production","risky_operations":[],"sensitive_data":[],"summary":"read production logs"},"total_risk_score":11,"window_start_ms":null}
        Caller permit.review_started {"from":"requested","to":"under_review"}
        System permit.approved {"auto_approved":true,"from":"under_review","reason":"read-only access, no sensitive data, worker holds level 1 or more","to":"approved"}
        System permit.issued {"constraints":"…","expires_at_ms":1800604800000,"from":"approved","hours":168.0,"to":"active","valid_from_ms":1800000000000}
    "#]].assert_eq(&out);
}
