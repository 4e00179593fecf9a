//! The emergency rules: declared duration, approval window, renewal limits, review status
//! and the sweep's decision table.

use expect_test::{Expect, expect};
use serde_json::json;
use steward_policy::{CertificationStatus, PermitType, Policy};

use super::*;

fn spec() -> PermitTypeSpec {
    Policy::builtin().permit_type(PermitType::Emergency).clone()
}

const T0: Timestamp = Timestamp(1_800_000_000_000);

#[track_caller]
fn check<T: std::fmt::Debug>(out: Result<T, EmergencyError>, expect: Expect) {
    let text = match out {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => e.to_string(),
    };
    expect.assert_eq(&text);
}

#[test]
fn declared_minutes_are_1_to_60() {
    check(check_declared_minutes(1), expect!["ok ()"]);
    check(check_declared_minutes(60), expect!["ok ()"]);
    check(
        check_declared_minutes(61),
        expect!["`minutes`: an emergency lasts 1 to 60 minutes, 61 requested"],
    );
    check(
        check_declared_minutes(0),
        expect!["`minutes`: an emergency lasts 1 to 60 minutes, 0 requested"],
    );
    check(
        check_declared_minutes(-5),
        expect!["`minutes`: an emergency lasts 1 to 60 minutes, -5 requested"],
    );
}

#[test]
fn approval_window_is_fifteen_minutes_and_the_deadline_is_too_late() {
    assert_eq!(approval_deadline(&spec(), T0), T0.plus_minutes(15));
    check(
        check_approval_window(&spec(), T0, T0.plus_minutes(14)),
        expect!["ok ()"],
    );
    check(
        check_approval_window(&spec(), T0, T0.plus_minutes(15)),
        expect![
            "approval window closed: an emergency must be approved within 15 minutes of its declaration; it closed at 1800000900000 (unix ms), declare a new one"
        ],
    );
}

#[test]
fn renewals_by_the_incident_commander_at_most_three_and_four_hours() {
    let ic = [Role::IncidentCommander];
    check(
        check_emergency_renewal(&spec(), "p", &ic, 0, 60, 60),
        expect!["ok ()"],
    );
    check(
        check_emergency_renewal(&spec(), "p", &ic, 2, 180, 60),
        expect!["ok ()"],
    );
    check(
        check_emergency_renewal(&spec(), "p", &ic, 3, 90, 10),
        expect!["an `emergency` permit may be renewed at most 3 times: request a new permit"],
    );
    check(
        check_emergency_renewal(&spec(), "p", &ic, 1, 200, 41),
        expect![
            "an `emergency` permit may run at most 4 h in total, renewing would make it 4.016666666666667 h"
        ],
    );
    check(
        check_emergency_renewal(&spec(), "lead", &[Role::OnCallLead], 0, 60, 30),
        expect![
            "only an incident_commander renews an emergency permit: `lead` does not hold that role"
        ],
    );
    check(
        check_emergency_renewal(&spec(), "p", &ic, 0, 60, 0),
        expect![
            "`minutes`: an emergency renewal must be a positive number of minutes, 0 requested"
        ],
    );
}

#[test]
fn review_is_due_a_day_after_a_granted_emergency_ends() {
    assert_eq!(review_due(T0, false), None);
    let due = review_due(T0, true).expect("granted emergencies need a review");
    assert_eq!(due, T0.plus_days(1));
    assert_eq!(review_status(None, false, T0), ReviewStatus::NotDue);
    assert_eq!(
        review_status(Some(due), false, Timestamp(due.millis() - 1)),
        ReviewStatus::Pending
    );
    assert_eq!(review_status(Some(due), false, due), ReviewStatus::Overdue);
    assert_eq!(
        review_status(Some(due), true, due.plus_days(3)),
        ReviewStatus::Filed
    );
}

#[test]
fn status_follows_the_permit_and_resolution() {
    let out: Vec<String> = PermitState::ALL
        .iter()
        .map(|s| format!("{s}: {}", emergency_status(*s, false)))
        .collect();
    expect![[r#"
        requested: awaiting_approval
        under_review: awaiting_approval
        changes_requested: awaiting_approval
        approved: active
        active: active
        executing: active
        completed: ended
        closed: ended
        rejected: lapsed
        expired: lapsed
        revoked: ended
        archived: ended"#]]
    .assert_eq(&out.join("\n"));
    assert_eq!(
        emergency_status(PermitState::Active, true),
        EmergencyStatus::Resolved
    );
}

fn view(state: PermitState) -> SweepView {
    SweepView {
        permit_state: state,
        expires_at: Some(T0.plus_minutes(60)),
        approval_deadline: T0.plus_minutes(15),
        resolved: false,
        ended: false,
    }
}

#[test]
fn sweep_decisions() {
    use PermitState as S;
    let at = |m| T0.plus_minutes(m);
    let mut waiting = view(S::UnderReview);
    waiting.expires_at = None;
    assert_eq!(sweep_action(&waiting, at(14)), SweepAction::Nothing);
    assert_eq!(sweep_action(&waiting, at(15)), SweepAction::ExpireRequest);
    waiting.resolved = true;
    assert_eq!(sweep_action(&waiting, at(1)), SweepAction::ExpireRequest);

    let active = view(S::Active);
    assert_eq!(sweep_action(&active, at(59)), SweepAction::Nothing);
    assert_eq!(
        sweep_action(&active, at(60)),
        SweepAction::Revoke(RevocationReason::TimeExpiration)
    );
    let executing = view(S::Executing);
    assert_eq!(
        sweep_action(&executing, at(600)),
        SweepAction::Revoke(RevocationReason::TimeExpiration)
    );
    let mut resolved = view(S::Executing);
    resolved.resolved = true;
    resolved.ended = true;
    // Resolution wins over expiry, and is applied even when the end is already recorded
    // (a resolution whose revocation did not happen yet).
    assert_eq!(
        sweep_action(&resolved, at(600)),
        SweepAction::Revoke(RevocationReason::IncidentResolved)
    );

    let revoked = view(S::Revoked);
    assert_eq!(sweep_action(&revoked, at(1)), SweepAction::RecordEnd);
    let mut recorded = view(S::Revoked);
    recorded.ended = true;
    assert_eq!(sweep_action(&recorded, at(1)), SweepAction::Nothing);
    assert_eq!(
        sweep_action(&view(S::Expired), at(1)),
        SweepAction::RecordEnd
    );
}

#[test]
fn an_emergency_ends_when_its_permit_stops_authorizing() {
    use PermitState as S;
    use RevocationReason as R;
    let now = Timestamp(10_000);
    for (state, reason, expires_at, end) in [
        (S::Active, None, Some(5_000), None),
        (S::Executing, None, None, None),
        // An expiry ends at `expires_at`, whenever the sweep saw it.
        (
            S::Revoked,
            Some(R::TimeExpiration),
            Some(5_000),
            Some((5_000, "time_expiration")),
        ),
        (
            S::Revoked,
            Some(R::TimeExpiration),
            Some(20_000),
            Some((10_000, "time_expiration")),
        ),
        (
            S::Revoked,
            Some(R::TimeExpiration),
            None,
            Some((10_000, "time_expiration")),
        ),
        (
            S::Revoked,
            Some(R::IncidentResolved),
            Some(5_000),
            Some((10_000, "incident_resolved")),
        ),
        (S::Expired, None, None, Some((10_000, "expired"))),
        (S::Closed, None, Some(5_000), Some((10_000, "closed"))),
    ] {
        assert_eq!(
            emergency_end(state, reason, expires_at.map(Timestamp), now),
            end.map(|(at, why)| (Timestamp(at), why)),
            "{state} {reason:?}"
        );
    }
}

#[test]
fn who_declares_resolves_and_files_the_review() {
    let who = |id: &str, human: bool, roles: &[Role]| Candidate {
        principal_id: id.into(),
        human,
        roles: roles.to_vec(),
    };
    assert!(check_declarer(&who("owner", true, &[]), "owner").is_ok());
    assert!(check_declarer(&who("m", false, &[Role::Master]), "owner").is_ok());
    assert!(check_declarer(&who("tl", true, &[Role::TechLead]), "owner").is_err());

    assert!(check_incident_role(&who("ic", true, &[Role::IncidentCommander]), "resolve").is_ok());
    assert!(check_incident_role(&who("oc", true, &[Role::OnCallLead]), "resolve").is_ok());
    assert!(
        check_incident_role(&who("bot", false, &[Role::IncidentCommander]), "resolve").is_err()
    );
    expect![[r#"
        Err(
            NotAllowed {
                rule: RoleNotEligible,
                message: "only a human incident_commander or on_call_lead may resolve an emergency",
            },
        )
    "#]]
    .assert_debug_eq(&check_incident_role(
        &who("admin", true, &[Role::Admin]),
        "resolve an emergency",
    ));

    let filer = |c: Candidate| check_review_filer(&c, "declarer", Some("approver"), "em-1").is_ok();
    assert!(filer(who("declarer", true, &[])));
    assert!(filer(who("approver", true, &[])));
    assert!(filer(who("a", true, &[Role::Admin])));
    assert!(filer(who("oc", true, &[Role::OnCallLead])));
    assert!(!filer(who("tl", true, &[Role::TechLead])));
}

fn parties() -> Parties {
    Parties {
        requester: "oncall".into(),
        worker_id: "agent".into(),
        worker_owner: "owner".into(),
    }
}

fn person(id: &str, roles: &[Role]) -> Candidate {
    Candidate {
        principal_id: id.into(),
        human: true,
        roles: roles.to_vec(),
    }
}

/// The requirements of an emergency permit (what `plan_declare` writes).
fn requirements() -> ApprovalRequirements {
    let spec = spec();
    ApprovalRequirements {
        approvers_required: spec.approvers_required,
        approver_roles: spec.approver_roles.clone(),
        required_roles: spec.required_roles.clone(),
        max_approval_time_hours: spec.approval_sla_hours,
        change_advisory_board_required: false,
        permit_type: Some(PermitType::Emergency),
        auto_approve: false,
        evidence_required: Vec::new(),
    }
}

fn refused<T: std::fmt::Debug>(result: Result<T, EmergencyRefusal>) -> String {
    match result {
        Ok(plan) => format!("planned: {plan:?}"),
        Err(refusal) => format!("{refusal:?}"),
    }
}

const INCIDENT: EmergencyRef<'static> = EmergencyRef {
    id: "em-1",
    incident_id: "INC-7",
};

fn life(state: PermitState, minutes: i64) -> Lifecycle {
    Lifecycle {
        state,
        valid_from: None,
        expires_at: None,
        renewals: 0,
        total_hours: minutes as f64 / 60.0,
    }
}

#[test]
fn a_declaration_plans_a_level_3_request_under_review_and_seals_the_reason() {
    let policy = Policy::builtin();
    let scope = json!({"description": "Restart the payments API", "environment": "production",
                       "operations": ["kubectl rollout restart deploy/payments"],
                       "services_affected": ["payments"]});
    let task = Task::from_json_str(&scope.to_string()).unwrap();
    let analysis = steward_policy::analyze(&task, &policy);
    let reason = PersonalText::from("payments down for everyone");
    let plan = plan_declare(&Declaration {
        emergency: INCIDENT,
        declared_by: "oncall",
        reason: &reason,
        minutes: 30,
        worker_id: "wk-1",
        scope: &scope,
        task: &task,
        analysis: &analysis,
        policy: &policy,
        now: T0,
    })
    .unwrap();
    let req = &plan.analysis.approval_requirements;
    expect![[r#"
        under_review 0.5 h; deadline +900000 ms; requires [IncidentCommander, OnCallLead] (1), emergency; enhanced_audit true em-1 INC-7
        Caller emergency.declared {"approval_deadline_ms":1800000900000,"emergency_id":"em-1","enhanced_audit":true,"incident_id":"INC-7","minutes":30,"scope_required_level":3}
          sealed: Personal { subject: "oncall", fields: ["emergency_justification", "reason"] }
        Caller permit.requested {"emergency_id":"em-1","hours":0.5,"level":3,"permit_type":"emergency","policy_version":"spec-2026.11+sha256:0ac8695550c537da","task":{"compliance_frameworks":[],"environment":"production","risky_operations":[],"sensitive_data":["financial"],"summary":"Restart the payments API"},"total_risk_score":26}
        Caller permit.review_started {"from":"requested","to":"under_review"}
    "#]]
    .assert_eq(&format!(
        "{} {} h; deadline +{} ms; requires {:?} ({}), {}; enhanced_audit {} {} {}\n{}",
        plan.life.state,
        plan.life.total_hours,
        plan.approval_deadline.millis() - T0.millis(),
        req.approver_roles,
        req.approvers_required,
        req.permit_type.map_or("-", |t| t.as_str()),
        plan.constraints.enhanced_audit,
        plan.constraints.emergency_id.as_deref().unwrap_or("-"),
        plan.constraints.incident_id.as_deref().unwrap_or("-"),
        crate::plan::describe(plan.events)
    ));
}

#[test]
fn an_approval_approves_and_issues_at_once_for_the_declared_minutes() {
    let constraints = PermitConstraints::default();
    let (spec, req, parties) = (spec(), requirements(), parties());
    let snap = ApproveSnapshot {
        emergency: INCIDENT,
        resolved: false,
        declared_at: T0.plus_minutes(-5),
        spec: &spec,
        life: life(PermitState::UnderReview, 30),
        requirements: &req,
        parties: &parties,
        worker_status: CertificationStatus::Active,
        round: 1,
        constraints: &constraints,
        now: T0,
    };
    let ic = person("ic", &[Role::IncidentCommander]);
    let comment = PersonalText::from("go");
    let (approved, events) = plan_approve(
        &snap,
        &ic,
        Role::IncidentCommander,
        Channel::Web,
        Some(&comment),
    )
    .unwrap();
    assert_eq!(
        (approved.state, approved.valid_from, approved.expires_at),
        (PermitState::Active, Some(T0), Some(T0.plus_minutes(30)))
    );
    expect![[r#"
        Caller permit.approval_recorded {"channel":"web","conditions":{},"decision":"approve","role":"incident_commander","round":1}
          sealed: Personal { subject: "ic", fields: ["comment"] }
        Caller permit.approved {"approvers":[{"principal_id":"ic","role":"incident_commander"}],"emergency":true,"from":"under_review","to":"approved"}
        System permit.issued {"constraints":{"allowed_methods":null,"allowed_operations":[],"allowed_regions":[],"allowed_services":[],"auto_rollback":false,"environment":null,"error_rate_window_seconds":120,"forbidden_methods":[],"health_check_failure_limit":3,"latency_window_seconds":300,"max_error_rate":0.01,"max_latency_p99_ms":500,"token_budget":0,"worker_id":""},"expires_at_ms":1800001800000,"from":"approved","hours":0.5,"to":"active","valid_from_ms":1800000000000}
        Caller emergency.approved {"approval_timestamp_ms":1800000000000,"authorized_by":"ic","channel":"web","emergency_id":"em-1","expires_at_ms":1800001800000,"incident_id":"INC-7","role":"incident_commander"}
          sealed: Personal { subject: "ic", fields: ["comment"] }
    "#]].assert_eq(&crate::plan::describe(events));
    // Refused, in this order: resolved, not awaiting approval, not an eligible approver
    // (the declarer), the window closed, the worker's certification not in force.
    let approve = |snap: &ApproveSnapshot<'_>, who: &Candidate| {
        refused(plan_approve(
            snap,
            who,
            Role::IncidentCommander,
            Channel::Api,
            None,
        ))
    };
    let resolved = ApproveSnapshot {
        resolved: true,
        ..snap
    };
    expect![[r#"State { rule: EmergencyResolved, message: "emergency `em-1` is resolved: nothing to approve" }"#]].assert_eq(&approve(&resolved, &ic));
    let lapsed = ApproveSnapshot {
        life: life(PermitState::Expired, 30),
        ..snap
    };
    expect!["Permit(Transition(TransitionError { from: Expired, event: QuorumMet }))"]
        .assert_eq(&approve(&lapsed, &ic));
    expect![[r#"Permit(Approval(Requester { principal: "oncall" }))"#]].assert_eq(&approve(
        &snap,
        &person("oncall", &[Role::IncidentCommander]),
    ));
    let late = ApproveSnapshot {
        now: T0.plus_minutes(10),
        ..snap
    };
    expect!["Rule(ApprovalWindowClosed { closed_at_ms: 1800000600000, window_minutes: 15 })"]
        .assert_eq(&approve(&late, &ic));
    let suspended = ApproveSnapshot {
        worker_status: CertificationStatus::Suspended,
        ..snap
    };
    expect![[r#"Permit(HardBlocks([Block { rule: "certification_suspended", message: "the worker's certification is suspended" }]))"#]].assert_eq(&approve(&suspended, &ic));
}

#[test]
fn a_resolution_expires_a_request_ends_the_emergency_and_revokes_a_live_permit() {
    let resolve = |state, approved, ended: Option<i64>| {
        let snap = ResolveSnapshot {
            emergency: INCIDENT,
            resolved: false,
            life: life(state, 30),
            approved,
            ended: ended.is_some(),
            review_due: ended.map(Timestamp),
            now: T0,
        };
        let plan = plan_resolve(&snap, "ic", None).unwrap();
        format!(
            "{} revoke={} end={:?}\n{}",
            plan.life.state,
            plan.revoke,
            plan.end.map(|e| (
                e.at.millis() - T0.millis(),
                e.reason,
                e.review_due.map(|t| t.millis() - T0.millis())
            )),
            crate::plan::describe(plan.events)
        )
    };
    expect![[r#"
        expired revoke=false end=Some((0, "incident_resolved", None))
        Caller permit.expired {"emergency_id":"em-1","from":"under_review","reason":"incident_resolved","to":"expired"}
        Caller emergency.resolved {"emergency_id":"em-1","incident_id":"INC-7","review_due_at_ms":null}
          sealed: Personal { subject: "ic", fields: ["resolution"] }
    "#]].assert_eq(&resolve(PermitState::UnderReview, false, None));
    expect![[r#"
        active revoke=true end=Some((0, "incident_resolved", Some(86400000)))
        Caller emergency.resolved {"emergency_id":"em-1","incident_id":"INC-7","review_due_at_ms":1800086400000}
          sealed: Personal { subject: "ic", fields: ["resolution"] }
    "#]].assert_eq(&resolve(PermitState::Active, true, None));
    let again = ResolveSnapshot {
        emergency: INCIDENT,
        resolved: true,
        life: life(PermitState::Revoked, 30),
        approved: true,
        ended: true,
        review_due: None,
        now: T0,
    };
    expect![[
        r#"State { rule: EmergencyResolved, message: "emergency `em-1` is already resolved" }"#
    ]]
    .assert_eq(&refused(plan_resolve(&again, "ic", None)));
    expect![[r#"
        revoked revoke=false end=None
        Caller emergency.resolved {"emergency_id":"em-1","incident_id":"INC-7","review_due_at_ms":1800000000005}
          sealed: Personal { subject: "ic", fields: ["resolution"] }
    "#]].assert_eq(&resolve(PermitState::Revoked, true, Some(T0.millis() + 5)));
}

#[test]
fn a_renewal_extends_from_the_current_end_and_counts_minutes() {
    let mut active = life(PermitState::Active, 30);
    active.expires_at = Some(T0.plus_minutes(10));
    let (spec, req, parties) = (spec(), requirements(), parties());
    let snap = RenewSnapshot {
        emergency: INCIDENT,
        resolved: false,
        permit_id: "p1",
        life: active,
        spec: &spec,
        requirements: &req,
        parties: &parties,
        now: T0,
    };
    let ic = person("ic", &[Role::IncidentCommander]);
    let (renewed, events) = plan_emergency_renewal(&snap, &ic, 15).unwrap();
    assert_eq!(
        (renewed.expires_at, renewed.renewals, renewed.total_hours),
        (Some(T0.plus_minutes(25)), 1, 0.75)
    );
    // Refused: resolved, past its end, not an incident commander, the worker's owner.
    let renew =
        |snap: &RenewSnapshot<'_>, who: &Candidate| refused(plan_emergency_renewal(snap, who, 15));
    let resolved = RenewSnapshot {
        resolved: true,
        ..snap
    };
    expect![[r#"State { rule: EmergencyResolved, message: "emergency `em-1` is resolved: it cannot be renewed" }"#]].assert_eq(&renew(&resolved, &ic));
    let ended = RenewSnapshot {
        now: T0.plus_minutes(10),
        ..snap
    };
    expect![[r#"State { rule: PermitNotLive, message: "emergency `em-1` has no live permit to renew (permit `p1` is active, past its expiry)" }"#]].assert_eq(&renew(&ended, &ic));
    expect![[r#"Rule(NotIncidentCommander { principal: "lead" })"#]]
        .assert_eq(&renew(&snap, &person("lead", &[Role::OnCallLead])));
    expect![[r#"Permit(Approval(WorkerOwner { principal: "owner" }))"#]]
        .assert_eq(&renew(&snap, &person("owner", &[Role::IncidentCommander])));
    expect![[r#"
        Caller permit.renewed {"expires_at_ms":1800001500000,"hours":0.25,"renewals":1,"total_hours":0.75}
        Caller emergency.renewed {"emergency_id":"em-1","expires_at_ms":1800001500000,"incident_id":"INC-7","minutes":15,"renewals":1,"total_minutes":45}
    "#]].assert_eq(&crate::plan::describe(events));
}

#[test]
fn a_review_is_late_from_its_due_instant_and_its_texts_are_sealed() {
    let review = EmergencyReview {
        summary: "db failover".into(),
        root_cause: None,
        actions: vec!["add alert".into(), "drill".into()],
    };
    let filing = ReviewFiling {
        emergency: INCIDENT,
        declared_by: "oncall",
        approved_by: Some("ic"),
        filed: false,
        review_due: Some(T0),
        now: T0,
    };
    let ic = person("ic", &[]);
    let file = |now| {
        let filing = ReviewFiling { now, ..filing };
        crate::plan::describe(vec![plan_review(&filing, &ic, "rv-1", &review).unwrap()])
    };
    expect![[r#"
        Caller emergency.review_filed {"emergency_id":"em-1","incident_id":"INC-7","late":false,"post_incident_review_id":"rv-1","review_due_at_ms":1800000000000}
          sealed: Personal { subject: "ic", fields: ["actions", "root_cause", "summary"] }
    "#]].assert_eq(&file(Timestamp(T0.millis() - 1)));
    // Refused: not a party, filed already, not due.
    let file_as = |filing: &ReviewFiling<'_>, who: &Candidate| {
        refused(plan_review(filing, who, "rv-1", &review))
    };
    expect![[r#"Permit(NotAllowed { rule: NotAParty, message: "the review of emergency `em-1` is filed by its declarer, its approver, an incident_commander, an on_call_lead or an admin" })"#]].assert_eq(&file_as(&filing, &person("x", &[Role::TechLead])));
    let filed = ReviewFiling {
        filed: true,
        ..filing
    };
    expect![[r#"State { rule: ReviewAlreadyFiled, message: "the review of emergency `em-1` is already filed" }"#]].assert_eq(&file_as(&filed, &person("oncall", &[])));
    let running = ReviewFiling {
        review_due: None,
        ..filing
    };
    expect![[r#"State { rule: ReviewNotDue, message: "emergency `em-1` needs no review yet: it is still running, or its permit was never granted" }"#]].assert_eq(&file_as(&running, &person("x", &[Role::Admin])));
    expect![[r#"
        Caller emergency.review_filed {"emergency_id":"em-1","incident_id":"INC-7","late":true,"post_incident_review_id":"rv-1","review_due_at_ms":1800000000000}
          sealed: Personal { subject: "ic", fields: ["actions", "root_cause", "summary"] }
    "#]].assert_eq(&file(T0));
}

#[test]
fn the_sweep_expires_an_unapproved_request_and_records_ends() {
    let lapse = |resolved, ended| {
        let view = SweepView {
            permit_state: PermitState::UnderReview,
            expires_at: None,
            approval_deadline: T0,
            resolved,
            ended,
        };
        let (after, events, end) =
            plan_lapse(INCIDENT, life(PermitState::UnderReview, 30), &view, T0).unwrap();
        format!(
            "{} {:?}\n{}",
            after.state,
            end,
            crate::plan::describe(events)
        )
    };
    expect![[r#"
        expired Some(EmergencyEnd { at: Timestamp(1800000000000), reason: "approval_window_closed", review_due: None })
        System permit.expired {"approval_deadline_ms":1800000000000,"emergency_id":"em-1","from":"under_review","reason":"approval_window_closed","to":"expired"}
        System emergency.ended {"emergency_id":"em-1","incident_id":"INC-7","reason":"approval_window_closed","review_due_at_ms":null}
    "#]].assert_eq(&lapse(false, false));
    expect![[r#"
        expired None
        System permit.expired {"approval_deadline_ms":1800000000000,"emergency_id":"em-1","from":"under_review","reason":"incident_resolved","to":"expired"}
    "#]].assert_eq(&lapse(true, true));

    let end = |state, reason, approved| {
        let until = Some(T0.plus_minutes(-3));
        match plan_end(INCIDENT, state, reason, until, approved, T0) {
            None => "live: no end\n".to_owned(),
            Some((end, event)) => format!("{end:?}\n{}", crate::plan::describe(vec![event])),
        }
    };
    let expiry = Some(RevocationReason::TimeExpiration);
    expect![[r#"
        live: no end
    "#]]
    .assert_eq(&end(PermitState::Active, None, true));
    expect![[r#"
        EmergencyEnd { at: Timestamp(1799999820000), reason: "time_expiration", review_due: Some(Timestamp(1800086220000)) }
        System emergency.ended {"emergency_id":"em-1","ended_at_ms":1799999820000,"incident_id":"INC-7","reason":"time_expiration","review_due_at_ms":1800086220000}
    "#]].assert_eq(&end(PermitState::Revoked, expiry, true));
    expect![[r#"
        EmergencyEnd { at: Timestamp(1800000000000), reason: "expired", review_due: None }
        System emergency.ended {"emergency_id":"em-1","ended_at_ms":1800000000000,"incident_id":"INC-7","reason":"expired","review_due_at_ms":null}
    "#]].assert_eq(&end(PermitState::Expired, None, false));
}
