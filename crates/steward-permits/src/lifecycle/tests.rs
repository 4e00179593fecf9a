//! The workflow's decisions after the request, as tables: each case a snapshot and a
//! call, each answer the plan's lifecycle and events or the refusal.

use expect_test::{Expect, expect};
use serde_json::json;
use steward_policy::Policy;

use super::*;

const H: i64 = 3_600_000;

/// `value` as compact JSON with sorted keys, whatever order the build's `serde_json`
/// keeps (feature unification may turn on `preserve_order`).
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = members
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn life(state: PermitState) -> Lifecycle {
    Lifecycle {
        state,
        valid_from: None,
        expires_at: None,
        renewals: 0,
        total_hours: 4.0,
    }
}

fn parties() -> Parties {
    Parties {
        requester: "master".into(),
        worker_id: "agent".into(),
        worker_owner: "owner".into(),
    }
}

fn human(id: &str, roles: &[Role]) -> Candidate {
    Candidate {
        principal_id: id.into(),
        human: true,
        roles: roles.to_vec(),
    }
}

/// Two approvers (one a tech lead), like a standard production permit; `cab` adds the
/// sign-off.
fn requirements(cab: bool) -> ApprovalRequirements {
    let mut req = Policy::builtin()
        .permit_type(PermitType::StandardProduction)
        .clone();
    req.approvers_required = 2;
    ApprovalRequirements {
        approvers_required: 2,
        approver_roles: vec![Role::TechLead, Role::EngineeringManager, Role::Admin],
        required_roles: vec![Role::TechLead],
        max_approval_time_hours: req.approval_sla_hours,
        change_advisory_board_required: cab,
        permit_type: Some(PermitType::StandardProduction),
        auto_approve: false,
        evidence_required: Vec::new(),
    }
}

fn cast(id: &str, role: Role) -> CastDecision {
    CastDecision {
        principal_id: id.into(),
        role,
        decision: Decision::Approve,
    }
}

fn show(result: Result<ReviewPlan, PermitRefusal>) -> String {
    match result {
        Err(refusal) => format!("refused: {refusal:?}"),
        Ok(plan) => {
            let mut out = format!(
                "{} cab={} valid {:?}..{:?}\n",
                plan.life.state,
                plan.cab_signed_off,
                plan.life.valid_from.map(|t| t.0),
                plan.life.expires_at.map(|t| t.0),
            );
            for e in plan.events {
                out.push_str(&format!("{:?} {}\n", e.by, e.event_type()));
            }
            out
        }
    }
}

struct Case<'a> {
    state: PermitState,
    permit_type: PermitType,
    status: CertificationStatus,
    decisions: &'a [CastDecision],
    cab: (bool, bool),
    start: Option<i64>,
}

impl Case<'_> {
    fn base() -> Case<'static> {
        Case {
            state: PermitState::UnderReview,
            permit_type: PermitType::StandardProduction,
            status: CertificationStatus::Active,
            decisions: &[],
            cab: (false, false),
            start: None,
        }
    }
}

#[track_caller]
fn check_decision(case: Case<'_>, who: Candidate, decision: Decision, role: Role, expect: Expect) {
    let req = requirements(case.cab.0);
    let parties = parties();
    let none = PermitConstraints::default();
    let snap = ReviewSnapshot {
        life: life(case.state),
        permit_type: case.permit_type,
        requirements: &req,
        parties: &parties,
        worker_status: case.status,
        decisions: case.decisions,
        cab_signed_off: case.cab.1,
        round: 1,
        requested_start: case.start.map(Timestamp),
        constraints: &none,
        now: Timestamp(H),
    };
    let note = DecisionNote {
        channel: Channel::Api,
        conditions: &json!({}),
        comment: None,
    };
    expect.assert_eq(&show(plan_decision(&snap, &who, decision, role, note)));
}

#[test]
fn an_approval_counts_and_the_last_one_approves_and_issues() {
    let tl = || human("tl", &[Role::TechLead]);
    let em = || human("em", &[Role::EngineeringManager]);
    check_decision(
        Case::base(),
        tl(),
        Decision::Approve,
        Role::TechLead,
        expect![[r#"
        under_review cab=false valid None..None
        Caller permit.approval_recorded
    "#]],
    );
    check_decision(
        Case {
            decisions: &[cast("tl", Role::TechLead)],
            ..Case::base()
        },
        em(),
        Decision::Approve,
        Role::EngineeringManager,
        expect![[r#"
            active cab=false valid Some(3600000)..Some(18000000)
            Caller permit.approval_recorded
            Caller permit.approved
            System permit.issued
        "#]],
    );
    // The window starts later: approved, not issued yet.
    check_decision(
        Case {
            decisions: &[cast("tl", Role::TechLead)],
            start: Some(2 * H),
            ..Case::base()
        },
        em(),
        Decision::Approve,
        Role::EngineeringManager,
        expect![[r#"
            approved cab=false valid None..None
            Caller permit.approval_recorded
            Caller permit.approved
        "#]],
    );
    // Quorum met but the CAB has not signed off.
    check_decision(
        Case {
            decisions: &[cast("tl", Role::TechLead)],
            cab: (true, false),
            ..Case::base()
        },
        em(),
        Decision::Approve,
        Role::EngineeringManager,
        expect![[r#"
            under_review cab=false valid None..None
            Caller permit.approval_recorded
        "#]],
    );
}

#[test]
fn a_decision_is_refused_by_state_certification_path_and_approver_rules() {
    let tl = || human("tl", &[Role::TechLead]);
    check_decision(
        Case {
            state: PermitState::Approved,
            ..Case::base()
        },
        tl(),
        Decision::Approve,
        Role::TechLead,
        expect![[r#"refused: Transition(TransitionError { from: Approved, event: QuorumMet })"#]],
    );
    check_decision(
        Case {
            state: PermitState::ChangesRequested,
            ..Case::base()
        },
        tl(),
        Decision::Reject,
        Role::TechLead,
        expect![[
            r#"refused: Transition(TransitionError { from: ChangesRequested, event: Reject })"#
        ]],
    );
    check_decision(
        Case {
            permit_type: PermitType::Emergency,
            ..Case::base()
        },
        tl(),
        Decision::Approve,
        Role::TechLead,
        expect!["refused: EmergencyPath"],
    );
    check_decision(
        Case {
            status: CertificationStatus::Suspended,
            ..Case::base()
        },
        tl(),
        Decision::Approve,
        Role::TechLead,
        expect![[
            r#"refused: HardBlocks([Block { rule: "certification_suspended", message: "the worker's certification is suspended" }])"#
        ]],
    );
    // A suspended worker's permit may still be rejected.
    check_decision(
        Case {
            status: CertificationStatus::Suspended,
            ..Case::base()
        },
        tl(),
        Decision::Reject,
        Role::TechLead,
        expect![[r#"
            rejected cab=false valid None..None
            Caller permit.rejected
        "#]],
    );
    check_decision(
        Case::base(),
        human("owner", &[Role::TechLead]),
        Decision::Approve,
        Role::TechLead,
        expect![[r#"refused: Approval(WorkerOwner { principal: "owner" })"#]],
    );
    // One vote per person, whatever they decided before.
    check_decision(
        Case {
            decisions: &[cast("tl", Role::TechLead)],
            ..Case::base()
        },
        tl(),
        Decision::RequestChanges,
        Role::TechLead,
        expect![[r#"refused: Approval(AlreadyApproved { principal: "tl", role: TechLead })"#]],
    );
    check_decision(
        Case::base(),
        tl(),
        Decision::RequestChanges,
        Role::TechLead,
        expect![[r#"
            changes_requested cab=false valid None..None
            Caller permit.changes_requested
        "#]],
    );
}

#[track_caller]
fn check_cab(case: Case<'_>, who: Candidate, expect: Expect) {
    let req = requirements(case.cab.0);
    let parties = parties();
    let none = PermitConstraints::default();
    let snap = ReviewSnapshot {
        life: life(case.state),
        permit_type: case.permit_type,
        requirements: &req,
        parties: &parties,
        worker_status: case.status,
        decisions: case.decisions,
        cab_signed_off: case.cab.1,
        round: 1,
        requested_start: None,
        constraints: &none,
        now: Timestamp(H),
    };
    expect.assert_eq(&show(plan_cab_sign_off(&snap, &who, "p1")));
}

#[test]
fn the_cab_sign_off_completes_a_met_quorum() {
    let coo = || human("coo", &[Role::Coo]);
    let both = [
        cast("tl", Role::TechLead),
        cast("em", Role::EngineeringManager),
    ];
    check_cab(
        Case {
            decisions: &both,
            cab: (true, false),
            ..Case::base()
        },
        coo(),
        expect![[r#"
            active cab=true valid Some(3600000)..Some(18000000)
            Caller permit.cab_signed_off
            Caller permit.approved
            System permit.issued
        "#]],
    );
    // Signed already: nothing new.
    check_cab(
        Case {
            cab: (true, true),
            ..Case::base()
        },
        coo(),
        expect![[r#"
            under_review cab=true valid None..None
        "#]],
    );
    check_cab(
        Case {
            cab: (false, false),
            ..Case::base()
        },
        coo(),
        expect![[
            r#"refused: NotAllowed { rule: CabNotRequired, message: "permit `p1` needs no change-advisory-board sign-off" }"#
        ]],
    );
    check_cab(
        Case {
            cab: (true, false),
            ..Case::base()
        },
        human("tl", &[Role::TechLead]),
        expect![[
            r#"refused: NotAllowed { rule: RoleNotEligible, message: "a change-advisory-board sign-off is recorded by a human admin, vp_engineering, cto, ciso or coo" }"#
        ]],
    );
    check_cab(
        Case {
            cab: (true, false),
            ..Case::base()
        },
        human("master", &[Role::Coo]),
        expect![[r#"refused: Approval(Requester { principal: "master" })"#]],
    );
    check_cab(
        Case {
            state: PermitState::Approved,
            cab: (true, false),
            ..Case::base()
        },
        coo(),
        expect!["refused: Transition(TransitionError { from: Approved, event: QuorumMet })"],
    );
}

#[track_caller]
fn check_renewal_plan(
    kind: PermitType,
    state: PermitState,
    pending: Option<PendingRenewal>,
    who: Candidate,
    hours: f64,
    role: Option<Role>,
    expect: Expect,
) {
    let policy = Policy::builtin();
    let req = requirements(false);
    let parties = parties();
    let mut life = life(state);
    life.expires_at = Some(Timestamp(5 * H));
    let snap = RenewalSnapshot {
        permit_id: "p1",
        life,
        spec: policy.permit_type(kind),
        requirements: &req,
        parties: &parties,
        requester_id: "master",
        pending: pending.as_ref(),
        now: Timestamp(H),
    };
    let out = match plan_renewal(&snap, &who, hours, role) {
        Err(refusal) => format!("refused: {refusal:?}"),
        Ok(plan) => {
            let mut out = format!(
                "{} renewals={} total={} expires={:?} pending={:?}\n",
                plan.life.state,
                plan.life.renewals,
                plan.life.total_hours,
                plan.life.expires_at.map(|t| t.0 / H),
                plan.pending.map(|p| (p.hours, p.approvals.len())),
            );
            for e in plan.events {
                out.push_str(&format!(
                    "{:?} {} {}\n",
                    e.by,
                    e.event_type(),
                    canonical(&e.data())
                ));
            }
            out
        }
    };
    expect.assert_eq(&out);
}

#[test]
fn renewal_follows_the_permit_type() {
    use PermitState as S;
    use PermitType as T;
    // read_only: at once, by the worker or the requester only.
    check_renewal_plan(
        T::ReadOnly,
        S::Active,
        None,
        human("agent", &[]),
        1.0,
        None,
        expect![[r#"
        active renewals=1 total=5 expires=Some(6) pending=None
        Caller permit.renewed {"expires_at_ms":21600000,"hours":1.0,"renewals":1,"total_hours":5.0}
    "#]],
    );
    check_renewal_plan(
        T::ReadOnly,
        S::Active,
        None,
        human("tl", &[Role::TechLead]),
        1.0,
        None,
        expect![[
            r#"refused: NotAllowed { rule: NotExecutor, message: "only the worker holding permit `p1` or its requester may renew it" }"#
        ]],
    );
    // standard_production: one approval, under a named role.
    check_renewal_plan(
        T::StandardProduction,
        S::Executing,
        None,
        human("em", &[Role::EngineeringManager]),
        1.0,
        None,
        expect![[
            r#"refused: NotAllowed { rule: RoleRequired, message: "renewing this permit is an approval: name the `role` you approve under" }"#
        ]],
    );
    check_renewal_plan(
        T::StandardProduction,
        S::Executing,
        None,
        human("em", &[Role::EngineeringManager]),
        1.0,
        Some(Role::EngineeringManager),
        expect![[r#"
        executing renewals=1 total=5 expires=Some(6) pending=None
        Caller permit.renewal_approval_recorded {"hours":1.0,"quorum_met":true,"role":"engineering_manager"}
        Caller permit.renewed {"expires_at_ms":21600000,"hours":1.0,"renewals":1,"total_hours":5.0}
    "#]],
    );
    // advanced_production: the same quorum; the first approval waits.
    check_renewal_plan(
        T::AdvancedProduction,
        S::Active,
        None,
        human("tl", &[Role::TechLead]),
        1.0,
        Some(Role::TechLead),
        expect![[r#"
        active renewals=0 total=4 expires=Some(5) pending=Some((1.0, 1))
        Caller permit.renewal_approval_recorded {"hours":1.0,"quorum_met":false,"role":"tech_lead"}
    "#]],
    );
    let pending = PendingRenewal {
        hours: 1.0,
        approvals: vec![RenewalApprovalRecord {
            principal_id: "tl".into(),
            role: Role::TechLead,
        }],
    };
    check_renewal_plan(
        T::AdvancedProduction,
        S::Active,
        Some(pending.clone()),
        human("em", &[Role::EngineeringManager]),
        1.0,
        Some(Role::EngineeringManager),
        expect![[r#"
        active renewals=1 total=5 expires=Some(6) pending=None
        Caller permit.renewal_approval_recorded {"hours":1.0,"quorum_met":true,"role":"engineering_manager"}
        Caller permit.renewed {"expires_at_ms":21600000,"hours":1.0,"renewals":1,"total_hours":5.0}
    "#]],
    );
    // Other hours start over.
    check_renewal_plan(
        T::AdvancedProduction,
        S::Active,
        Some(pending),
        human("em", &[Role::EngineeringManager]),
        2.0,
        Some(Role::EngineeringManager),
        expect![[r#"
        active renewals=0 total=4 expires=Some(5) pending=Some((2.0, 1))
        Caller permit.renewal_approval_recorded {"hours":2.0,"quorum_met":false,"role":"engineering_manager"}
    "#]],
    );
    // Never for some types, and never outside active or executing.
    check_renewal_plan(
        T::Destructive,
        S::Active,
        None,
        human("agent", &[]),
        1.0,
        None,
        expect![[r#"refused: Window(NotRenewable { kind: Destructive })"#]],
    );
    check_renewal_plan(
        T::ReadOnly,
        S::Approved,
        None,
        human("agent", &[]),
        1.0,
        None,
        expect![[
            r#"refused: NotAllowed { rule: PermitNotLive, message: "cannot renew a permit in state `approved`: only active or executing permits are renewed" }"#
        ]],
    );
    check_renewal_plan(
        T::Emergency,
        S::Active,
        None,
        human("agent", &[]),
        1.0,
        None,
        expect!["refused: EmergencyPath"],
    );
}

#[test]
fn start_needs_an_active_permit_in_its_window_and_a_certification_in_force() {
    let mut active = life(PermitState::Active);
    active.valid_from = Some(Timestamp(2 * H));
    active.expires_at = Some(Timestamp(4 * H));
    let start = |life: Lifecycle, status, now| match plan_start(life, status, "p1", Timestamp(now))
    {
        Ok((life, event)) => format!(
            "{} {} {}",
            life.state,
            event.event_type(),
            canonical(&event.data())
        ),
        Err(refusal) => format!("refused: {refusal:?}"),
    };
    let ok = CertificationStatus::Probationary;
    expect![[r#"executing permit.started {"from":"active","to":"executing"}"#]].assert_eq(&start(
        active,
        ok,
        2 * H,
    ));
    expect![[r#"refused: OutsideWindow { message: "permit `p1` is valid from 7200000 (unix ms); it is 3600000" }"#]]
        .assert_eq(&start(active, ok, H));
    expect![[r#"refused: OutsideWindow { message: "permit `p1` expired at 14400000 (unix ms); it is 14400000" }"#]]
        .assert_eq(&start(active, ok, 4 * H));
    expect![[r#"refused: HardBlocks([Block { rule: "certification_revoked", message: "the worker's certification is revoked" }])"#]]
        .assert_eq(&start(active, CertificationStatus::Revoked, 2 * H));
    expect!["refused: Transition(TransitionError { from: UnderReview, event: Start })"]
        .assert_eq(&start(life(PermitState::UnderReview), ok, 2 * H));
}

#[test]
fn completion_needs_the_levels_report_only_when_it_may_complete() {
    let complete = |state, report: Value| match plan_complete(
        life(state),
        Level::STANDARD,
        Outcome::Success,
        &report,
        Completion {
            worker_id: "w1",
            decisions: &[],
            started_at: Timestamp(0),
            now: Timestamp(0),
        },
    ) {
        Ok((life, event)) => format!("{} {}", life.state, event.event_type()),
        Err(refusal) => format!("refused: {refusal:?}"),
    };
    let full: serde_json::Map<String, Value> = crate::report::LEVEL_1_FIELDS
        .iter()
        .chain(crate::report::LEVEL_2_FIELDS)
        .map(|f| ((*f).to_owned(), json!("x")))
        .collect();
    expect!["completed permit.completed"]
        .assert_eq(&complete(PermitState::Executing, Value::Object(full)));
    let refused = complete(PermitState::Executing, json!({}));
    assert!(
        refused.starts_with("refused: IncompleteReport"),
        "{refused}"
    );
    // A permit that may not complete says so, whatever its report.
    expect!["refused: Transition(TransitionError { from: Active, event: Complete })"]
        .assert_eq(&complete(PermitState::Active, json!({})));
}

#[test]
fn the_certification_feedback_compares_the_observed_risk_with_the_level() {
    for (actual, level, verdict) in [
        (1, 2, "over_certified"),
        (2, 2, "matched"),
        (4, 2, "under_certified"),
        (0, 1, "over_certified"),
    ] {
        assert_eq!(
            certification_feedback(Level::new(actual).unwrap(), Level::new(level).unwrap()),
            verdict
        );
    }
}

#[test]
fn close_summarises_and_verifies_the_quorum() {
    let req = requirements(false);
    let decisions = [
        (cast("tl", Role::TechLead), 10),
        (cast("em", Role::EngineeringManager), 20),
    ];
    let ops = json!(["deploy"]);
    let snap = CloseSnapshot {
        life: life(PermitState::Completed),
        level: Level::STANDARD,
        requirements: &req,
        decisions: &decisions,
        cab_signed_off: false,
        operations: &ops,
        outcome: Some(Outcome::Success),
        revoked: false,
    };
    let (life, summary, event) = plan_close(&snap, json!("fine"), Some(Level::BASIC)).unwrap();
    assert_eq!(life.state, PermitState::Closed);
    expect![[r#"{"approvals":[{"at_ms":10,"principal_id":"tl","role":"tech_lead"},{"at_ms":20,"principal_id":"em","role":"engineering_manager"}],"approvals_verified":true,"cab_signed_off":false,"constraints_met":true,"notes":"fine","operations_performed":["deploy"],"outcome":"success"}"#]]
        .assert_eq(&canonical(&summary));
    assert_eq!(event.data()["certification_feedback"], "over_certified");
    assert_eq!(event.data()["actual_level"], 1);
    let open = CloseSnapshot {
        life: life_of(PermitState::Executing),
        ..snap
    };
    assert!(plan_close(&open, json!(null), None).is_err());
}

fn life_of(state: PermitState) -> Lifecycle {
    life(state)
}

#[test]
fn revocation_by_party_and_idempotent() {
    let admin = human("a", &[Role::Admin]);
    let approver = human("tl", &[Role::TechLead]);
    let stranger = human("x", &[Role::TechLead]);
    assert!(may_revoke(&admin, "master", &[], "p1").is_ok());
    assert!(may_revoke(&approver, "master", &["tl"], "p1").is_ok());
    assert!(may_revoke(&human("master", &[]), "master", &[], "p1").is_ok());
    expect![[r#"
        Err(
            NotAllowed {
                rule: NotAParty,
                message: "only the requester, an approver of permit `p1`, an admin, a security_lead or an incident_commander may revoke it",
            },
        )
    "#]]
    .assert_debug_eq(&may_revoke(&stranger, "master", &["tl"], "p1"));

    let (next, event) = plan_revoke(
        life(PermitState::Executing),
        RevocationReason::ScopeExpansion,
        By::System,
        PermitRevoked {
            rule: Some("scope_violation".into()),
            ..PermitRevoked::new("ignored")
        },
    )
    .unwrap()
    .unwrap();
    assert_eq!(next.state, PermitState::Revoked);
    expect![[
        r#"{"from":"executing","reason":"scope_expansion","rule":"scope_violation","to":"revoked"}"#
    ]]
    .assert_eq(&canonical(&event.data()));
    assert_eq!(event.revocation, Some(RevocationReason::ScopeExpansion));
    assert_eq!(
        plan_revoke(
            life(PermitState::Revoked),
            RevocationReason::Manual,
            By::Caller,
            PermitRevoked::default()
        ),
        Ok(None)
    );
    assert!(
        plan_revoke(
            life(PermitState::Closed),
            RevocationReason::Manual,
            By::Caller,
            PermitRevoked::default()
        )
        .is_err()
    );
}

#[test]
fn a_decision_records_its_note_and_seals_the_comment_for_the_approver() {
    let req = requirements(false);
    let parties = parties();
    let none = PermitConstraints::default();
    let snap = ReviewSnapshot {
        life: life(PermitState::UnderReview),
        permit_type: PermitType::StandardProduction,
        requirements: &req,
        parties: &parties,
        worker_status: CertificationStatus::Active,
        decisions: &[],
        cab_signed_off: false,
        round: 2,
        requested_start: None,
        constraints: &none,
        now: Timestamp(H),
    };
    let comment = steward_audit::PersonalText::from("needs a rollback drill");
    let decide = |decision| {
        let note = DecisionNote {
            channel: Channel::Web,
            conditions: &json!({"max_rows": 10}),
            comment: Some(&comment),
        };
        let plan = plan_decision(
            &snap,
            &human("tl", &[Role::TechLead]),
            decision,
            Role::TechLead,
            note,
        );
        crate::plan::describe(plan.unwrap().events)
    };
    expect![[r#"
        Caller permit.approval_recorded {"channel":"web","conditions":{"max_rows":10},"decision":"approve","role":"tech_lead","round":2}
          sealed: Personal { subject: "tl", fields: ["comment"] }
    "#]]
    .assert_eq(&decide(Decision::Approve));
    expect![[r#"
        Caller permit.rejected {"channel":"web","conditions":{"max_rows":10},"decision":"reject","from":"under_review","role":"tech_lead","round":2,"to":"rejected"}
          sealed: Personal { subject: "tl", fields: ["comment"] }
    "#]]
    .assert_eq(&decide(Decision::Reject));
    expect![[r#"
        Caller permit.changes_requested {"channel":"web","conditions":{"max_rows":10},"decision":"request_changes","from":"under_review","role":"tech_lead","round":2,"to":"changes_requested"}
          sealed: Personal { subject: "tl", fields: ["comment"] }
    "#]]
    .assert_eq(&decide(Decision::RequestChanges));
}

#[test]
fn a_resubmission_starts_the_next_round_with_complete_evidence() {
    let mut req = requirements(false);
    req.evidence_required = vec![Evidence::TestResults];
    let snap = ResubmitSnapshot {
        permit_id: "p1",
        life: life(PermitState::ChangesRequested),
        // Level 1: no rollback plan needed (that rule has its own tests).
        level: Level::BASIC,
        requirements: &req,
        requester_id: "master",
        round: 1,
        now: Timestamp(H),
    };
    let evidence: BTreeMap<Evidence, Value> =
        serde_json::from_value(json!({"test_results": "https://ci.example.com/1"})).unwrap();
    let resubmit = |snap: &ResubmitSnapshot<'_>, who: &Candidate, evidence: &BTreeMap<_, _>| {
        match plan_resubmit(snap, who, evidence) {
            Ok((life, event)) => format!("{}\n{}", life.state, crate::plan::describe(vec![event])),
            Err(refusal) => format!("refused: {refusal:?}"),
        }
    };
    let master = human("master", &[]);
    expect![[r#"
        under_review
        Caller permit.resubmitted {"evidence":["test_results"],"from":"changes_requested","round":2,"to":"under_review"}
    "#]]
    .assert_eq(&resubmit(&snap, &master, &evidence));
    expect!["refused: MissingEvidence { level: Level(1), missing: [TestResults] }"]
        .assert_eq(&resubmit(&snap, &master, &BTreeMap::new()));
    expect![[r#"refused: NotAllowed { rule: NotRequester, message: "only the requester of permit `p1` (or an admin) may resubmit it" }"#]]
        .assert_eq(&resubmit(&snap, &human("x", &[]), &evidence));
    let reviewing = ResubmitSnapshot {
        life: life(PermitState::UnderReview),
        ..snap
    };
    expect![[r#"refused: Transition(TransitionError { from: UnderReview, event: Resubmit })"#]]
        .assert_eq(&resubmit(&reviewing, &master, &evidence));
}

#[test]
fn a_person_revokes_with_a_sealed_comment_and_archives_a_terminal_permit() {
    let comment = steward_audit::PersonalText::from("wrong cluster");
    let (_, revoked) = plan_revoke(
        life(PermitState::Active),
        RevocationReason::Manual,
        By::Caller,
        revocation_by("sec", Some(&comment)),
    )
    .unwrap()
    .unwrap();
    let (archived_life, archived) = plan_archive(life(PermitState::Revoked)).unwrap();
    assert_eq!(archived_life.state, PermitState::Archived);
    expect![[r#"
        Caller permit.revoked {"from":"active","reason":"manual","to":"revoked"}
          sealed: Personal { subject: "sec", fields: ["comment"] }
        Caller permit.archived {"from":"revoked","to":"archived"}
    "#]]
    .assert_eq(&crate::plan::describe(vec![revoked, archived]));
    assert!(plan_archive(life(PermitState::Active)).is_err());
}
