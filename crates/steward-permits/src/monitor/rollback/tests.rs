//! Table tests of the monitor plans: who may post telemetry, opening, revoking,
//! completing and escalating a rollback.

use serde_json::json;
use steward_policy::{Level, Refusal};

use super::*;
use crate::time::Timestamp;

const T0: i64 = 1_000_000;

fn permit(level: u8, state: PermitState) -> MonitoredPermit {
    MonitoredPermit {
        id: "p1".to_owned(),
        task_id: "t1".to_owned(),
        worker_id: "w1".to_owned(),
        requester_id: "requester".to_owned(),
        level: Level::new(level).expect("level"),
        state,
        constraints: PermitConstraints::default(),
        worker_principal: Some("worker".to_owned()),
        worker_owner: "owner".to_owned(),
    }
}

fn failed_check(at_ms: i64) -> Sample {
    Sample {
        at: Timestamp(at_ms),
        error_rate: None,
        latency_p99_ms: None,
        health_ok: Some(false),
    }
}

fn opened(level: u8) -> Rollback {
    let p = permit(level, PermitState::Revoked);
    let breach = Breach {
        trigger: TriggerKind::ErrorRate,
        observed: 0.2,
        limit: 0.01,
        window_seconds: 120,
        since: Timestamp(T0 - 130_000),
        sustained_ms: 130_000,
    };
    plan_open_rollback(&p, &breach, "worker", "r1".to_owned(), vec![], T0).rollback
}

#[test]
fn telemetry_is_taken_from_the_worker_side_or_an_admin_for_a_live_permit() {
    let live = permit(2, PermitState::Active);
    let cases = [
        (&live, "worker", false, None),
        (&live, "owner", false, None),
        (&live, "requester", false, None),
        (&live, "someone", true, None),
        (&live, "someone", false, Some("not_allowed")),
        (&permit(2, PermitState::Executing), "worker", false, None),
        (
            &permit(2, PermitState::Approved),
            "worker",
            false,
            Some("not_live"),
        ),
        // Who may post is asked first.
        (
            &permit(2, PermitState::Closed),
            "someone",
            false,
            Some("not_allowed"),
        ),
    ];
    for (p, caller, admin, refused) in cases {
        let got = plan_sample(
            p,
            caller,
            admin,
            (MonitorState::default(), 0),
            &failed_check(T0),
        );
        let kind = got.err().map(|e| match e {
            MonitorRefusal::NotAllowed { rule, .. } => {
                assert_eq!(rule, Refusal::NotExecutor);
                "not_allowed"
            }
            MonitorRefusal::NotLive { .. } => "not_live",
            other => panic!("{other:?}"),
        });
        assert_eq!(kind, refused, "{caller} on a {} permit", p.state);
    }
}

#[test]
fn a_sample_is_numbered_recorded_and_folded_into_the_monitor() {
    let p = permit(2, PermitState::Active);
    let mut state = (MonitorState::default(), 0);
    let mut fired = Vec::new();
    for i in 0..3 {
        let plan = plan_sample(&p, "worker", false, state, &failed_check(T0 + i)).expect("plan");
        assert_eq!(plan.seq, i + 1);
        assert_eq!(plan.recorded.seq, plan.seq);
        assert_eq!(plan.recorded.health.as_deref(), Some("fail"));
        assert_eq!(
            plan.monitor.failed_health_checks,
            u32::try_from(i + 1).unwrap()
        );
        fired = plan.recorded.fired.clone();
        state = (plan.monitor, plan.seq);
    }
    assert_eq!(fired, ["health_checks"], "the third failed check fires");
}

#[test]
fn the_first_breach_opens_the_rollback_once() {
    let plan = plan_sample(
        &permit(3, PermitState::Active),
        "worker",
        false,
        (
            MonitorState {
                failed_health_checks: 2,
                ..MonitorState::default()
            },
            2,
        ),
        &failed_check(T0),
    )
    .expect("plan");
    let breach = opening_breach(&plan.breaches, None).expect("opens");
    assert_eq!(breach.trigger, TriggerKind::HealthChecks);
    assert_eq!(opening_breach(&plan.breaches, Some(&opened(3))), None);
    assert_eq!(opening_breach(&[], None), None);
}

#[test]
fn an_opened_rollback_has_its_level_s_sla_and_names_whom_to_notify() {
    let p = permit(3, PermitState::Active);
    let breach = Breach {
        trigger: TriggerKind::LatencyP99,
        observed: 900.0,
        limit: 500.0,
        window_seconds: 300,
        since: Timestamp(T0 - 301_500),
        sustained_ms: 301_500,
    };
    let plan = plan_open_rollback(
        &p,
        &breach,
        "worker",
        "r1".to_owned(),
        vec!["a1".into()],
        T0,
    );
    assert_eq!(plan.rollback.sla_minutes, 15);
    assert_eq!(plan.rollback.due_at_ms, T0 + 15 * 60_000);
    assert!(plan.rollback.is_open());
    assert_eq!(
        plan.rollback.breach,
        json!({"trigger": "latency_p99", "observed": 900.0, "limit": 500.0,
               "window_seconds": 300, "since_ms": T0 - 301_500, "sustained_seconds": 301.5})
    );
    assert_eq!(plan.breach.reported_by, "worker");
    assert_eq!(plan.breach.sustained_seconds, 301.5);
    assert_eq!(plan.opened.breach, plan.rollback.breach);
    assert_eq!(plan.opened.due_at_ms, Some(plan.rollback.due_at_ms));
    assert_eq!(
        plan.opened.notify,
        RollbackNotify {
            requester_id: "requester".into(),
            worker_owner_id: "owner".into(),
            approver_ids: vec!["a1".into()],
        }
    );
}

#[test]
fn an_open_rollback_revokes_its_permit_with_the_breach_as_evidence() {
    let open = opened(2);
    let (reason, evidence) = breach_revocation(&open).expect("revokes");
    assert_eq!(reason, RevocationReason::ConstraintBreach);
    assert_eq!(evidence.reason, "constraint_breach");
    assert_eq!(evidence.trigger.as_deref(), Some("error_rate"));
    assert_eq!(evidence.observed, Some(json!(0.2)));
    assert_eq!(evidence.limit, Some(json!(0.01)));
    assert_eq!(evidence.window_seconds, Some(json!(120)));
    assert_eq!(evidence.rollback_id.as_deref(), Some("r1"));
    let reported = Rollback {
        status: "succeeded".to_owned(),
        ..open
    };
    assert_eq!(breach_revocation(&reported), None);
}

#[test]
fn a_completion_is_measured_against_the_sla() {
    let p = permit(4, PermitState::Revoked);
    let open = opened(4);
    // Level 4: ten minutes.
    let cases = [(10 * 60_000, true), (10 * 60_000 + 1, false), (-5, true)];
    for (after_ms, within) in cases {
        let plan = plan_rollback_completion(
            &p,
            "owner",
            Some(&open),
            RollbackOutcome::Succeeded,
            Some("done"),
            T0 + after_ms,
        )
        .expect("plan");
        assert_eq!(plan.duration_ms, after_ms.max(0));
        assert_eq!(plan.within_sla, within, "{after_ms}");
        assert_eq!(plan.escalate, !within);
        assert_eq!(plan.completed.within_sla, within);
        assert_eq!(plan.completed.outcome, "succeeded");
        assert_eq!(plan.completed.completed_at_ms, Some(T0 + after_ms));
        assert_eq!(
            plan.completed.sla_buffer_seconds,
            (open.due_at_ms - T0 - after_ms) as f64 / 1000.0
        );
        assert_eq!(
            plan.completed.personal.as_ref().map(Personal::subject),
            Some("owner")
        );
    }
}

#[test]
fn a_completion_is_refused_to_others_without_a_rollback_and_once_reported() {
    let p = permit(2, PermitState::Revoked);
    let open = opened(2);
    let reported = Rollback {
        status: "failed".to_owned(),
        ..open.clone()
    };
    let refusal = |caller: &str, rollback: Option<&Rollback>| {
        plan_rollback_completion(&p, caller, rollback, RollbackOutcome::Failed, None, T0)
            .expect_err("refused")
    };
    assert!(matches!(
        refusal("someone", Some(&open)),
        MonitorRefusal::NotAllowed {
            rule: Refusal::NotExecutor,
            ..
        }
    ));
    assert_eq!(
        refusal("worker", None),
        MonitorRefusal::NoRollback {
            permit_id: "p1".into()
        }
    );
    assert_eq!(
        refusal("requester", Some(&reported)),
        MonitorRefusal::RollbackClosed {
            permit_id: "p1".into(),
            status: "failed".into()
        }
    );
    assert_eq!(
        refusal("requester", Some(&reported)).to_string(),
        "the rollback of permit `p1` was already reported as failed"
    );
}

#[test]
fn an_escalation_names_the_level_s_roles_and_the_permit_s_people() {
    let cases = [
        (2, ["incident_commander", "engineering_director"]),
        (3, ["incident_commander", "vp_engineering"]),
        (4, ["incident_commander", "cto"]),
    ];
    for (level, roles) in cases {
        let p = permit(level, PermitState::Revoked);
        let open = opened(level);
        let now = open.due_at_ms + 90_000;
        let escalated = plan_rollback_escalation(&p, &open, "open", vec!["a1".into()], now);
        assert_eq!(escalated.escalated_to.roles, roles);
        assert_eq!(escalated.escalated_to.requester_id, "requester");
        assert_eq!(escalated.escalated_to.worker_owner_id, "owner");
        assert_eq!(escalated.escalated_to.approver_ids, ["a1"]);
        assert_eq!(escalated.overdue_seconds, 90.0);
        assert_eq!(escalated.status, "open");
        assert_eq!(escalated.rollback_id, "r1");
    }
}
