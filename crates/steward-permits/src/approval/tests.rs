//! Approver eligibility, segregation of duties and quorum counting.

use expect_test::{Expect, expect};
use proptest::prelude::*;
use steward_policy::PermitType;

use super::*;

/// SPEC §4 level 3: two distinct of director, security lead, architecture lead, one of them
/// the director; plus a HIPAA overlay (a compliance officer).
fn level3_hipaa() -> ApprovalRequirements {
    ApprovalRequirements {
        approvers_required: 3,
        approver_roles: vec![
            Role::EngineeringDirector,
            Role::SecurityLead,
            Role::ArchitectureLead,
            Role::ComplianceOfficer,
        ],
        required_roles: vec![Role::EngineeringDirector, Role::ComplianceOfficer],
        max_approval_time_hours: 48.0,
        change_advisory_board_required: false,
        permit_type: Some(PermitType::AdvancedProduction),
        auto_approve: false,
        evidence_required: Vec::new(),
    }
}

fn level4() -> ApprovalRequirements {
    ApprovalRequirements {
        approvers_required: 3,
        approver_roles: vec![Role::VpEngineering, Role::Cto, Role::Ciso, Role::Coo],
        required_roles: Vec::new(),
        max_approval_time_hours: 168.0,
        change_advisory_board_required: true,
        permit_type: Some(PermitType::MasterProduction),
        auto_approve: false,
        evidence_required: Vec::new(),
    }
}

fn parties() -> Parties {
    Parties {
        requester: "alice".into(),
        worker_id: "worker-7".into(),
        worker_owner: "bob".into(),
    }
}

fn approval(who: &str, role: Role) -> RecordedApproval {
    RecordedApproval {
        principal_id: who.into(),
        role,
    }
}

fn human(id: &str, roles: &[Role]) -> Candidate {
    Candidate {
        principal_id: id.into(),
        human: true,
        roles: roles.to_vec(),
    }
}

#[track_caller]
fn check_refusal(candidate: Candidate, role: Role, existing: &[RecordedApproval], expect: Expect) {
    let out = match check_approver(&level3_hipaa(), &parties(), &candidate, role, existing) {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    expect.assert_eq(&out);
}

#[test]
fn an_eligible_human_may_approve() {
    check_refusal(
        human("dana", &[Role::EngineeringDirector]),
        Role::EngineeringDirector,
        &[approval("erin", Role::SecurityLead)],
        expect!["ok"],
    );
}

#[test]
fn an_agent_may_not_approve() {
    let agent = Candidate {
        principal_id: "master-1".into(),
        human: false,
        roles: vec![Role::EngineeringDirector],
    };
    check_refusal(
        agent,
        Role::EngineeringDirector,
        &[],
        expect!["only humans approve: `master-1` is not a human"],
    );
}

#[test]
fn the_role_must_be_held() {
    check_refusal(
        human("dana", &[Role::SecurityLead]),
        Role::EngineeringDirector,
        &[],
        expect!["role not held: `dana` does not hold the role `engineering_director`"],
    );
}

#[test]
fn the_role_must_be_eligible() {
    check_refusal(
        human("dana", &[Role::TeamLead]),
        Role::TeamLead,
        &[],
        expect!["role not eligible: the role `team_lead` may not approve this permit"],
    );
    check_refusal(
        human("root", &[Role::Admin]),
        Role::Admin,
        &[],
        expect!["role not eligible: the role `admin` may not approve this permit"],
    );
}

#[test]
fn segregation_of_duties() {
    check_refusal(
        human("alice", &[Role::EngineeringDirector]),
        Role::EngineeringDirector,
        &[],
        expect!["segregation of duties: `alice` requested this permit and may not approve it"],
    );
    check_refusal(
        human("bob", &[Role::SecurityLead]),
        Role::SecurityLead,
        &[],
        expect!["segregation of duties: `bob` owns the worker and may not approve its permit"],
    );
    check_refusal(
        human("worker-7", &[Role::SecurityLead]),
        Role::SecurityLead,
        &[],
        expect![
            "segregation of duties: `worker-7` will execute this permit and may not approve it"
        ],
    );
}

#[test]
fn each_person_counts_once_whatever_roles_they_hold() {
    check_refusal(
        human("dana", &[Role::EngineeringDirector, Role::SecurityLead]),
        Role::SecurityLead,
        &[approval("dana", Role::EngineeringDirector)],
        expect![
            "one vote per person: `dana` already approved this permit as `engineering_director`"
        ],
    );
}

#[track_caller]
fn check_quorum(
    req: &ApprovalRequirements,
    approvals: &[RecordedApproval],
    cab: bool,
    expect: Expect,
) {
    let s = quorum(req, approvals, cab);
    let roles: Vec<&str> = s.roles_missing.iter().map(|r| r.as_str()).collect();
    expect.assert_eq(&format!(
        "met={} approvals_missing={} roles_missing=[{}] cab_missing={}",
        s.met,
        s.approvals_missing,
        roles.join(","),
        s.cab_missing
    ));
}

#[test]
fn quorum_counts_people_and_required_roles() {
    let req = level3_hipaa();
    check_quorum(
        &req,
        &[],
        false,
        expect![
            "met=false approvals_missing=3 roles_missing=[engineering_director,compliance_officer] cab_missing=false"
        ],
    );
    check_quorum(
        &req,
        &[
            approval("s1", Role::SecurityLead),
            approval("s2", Role::SecurityLead),
            approval("a1", Role::ArchitectureLead),
        ],
        false,
        expect![
            "met=false approvals_missing=0 roles_missing=[engineering_director,compliance_officer] cab_missing=false"
        ],
    );
    check_quorum(
        &req,
        &[
            approval("d1", Role::EngineeringDirector),
            approval("c1", Role::ComplianceOfficer),
            approval("s1", Role::SecurityLead),
        ],
        false,
        expect!["met=true approvals_missing=0 roles_missing=[] cab_missing=false"],
    );
}

#[test]
fn one_person_under_two_roles_counts_once() {
    // Not possible through `check_approver`, but `quorum` must not be fooled by it either.
    check_quorum(
        &level3_hipaa(),
        &[
            approval("d1", Role::EngineeringDirector),
            approval("d1", Role::ComplianceOfficer),
            approval("s1", Role::SecurityLead),
        ],
        false,
        expect![
            "met=false approvals_missing=1 roles_missing=[compliance_officer] cab_missing=false"
        ],
    );
}

#[test]
fn required_roles_are_matched_to_distinct_people() {
    // p1 could cover either role; a greedy first fit would give p1 the director role and
    // leave the compliance role uncovered.
    let req = ApprovalRequirements {
        approvers_required: 2,
        ..level3_hipaa()
    };
    check_quorum(
        &req,
        &[
            approval("p1", Role::EngineeringDirector),
            approval("p1", Role::ComplianceOfficer),
            approval("p2", Role::EngineeringDirector),
        ],
        false,
        expect!["met=true approvals_missing=0 roles_missing=[] cab_missing=false"],
    );
}

#[test]
fn ineligible_roles_do_not_count() {
    check_quorum(
        &level4(),
        &[
            approval("v", Role::VpEngineering),
            approval("c", Role::Cto),
            approval("t", Role::TeamLead),
        ],
        true,
        expect!["met=false approvals_missing=1 roles_missing=[] cab_missing=false"],
    );
}

#[test]
fn level_4_needs_the_change_advisory_board() {
    let three = [
        approval("v", Role::VpEngineering),
        approval("c", Role::Cto),
        approval("s", Role::Ciso),
    ];
    check_quorum(
        &level4(),
        &three,
        false,
        expect!["met=false approvals_missing=0 roles_missing=[] cab_missing=true"],
    );
    check_quorum(
        &level4(),
        &three,
        true,
        expect!["met=true approvals_missing=0 roles_missing=[] cab_missing=false"],
    );
}

#[test]
fn auto_approve_needs_nobody() {
    let req = ApprovalRequirements {
        approvers_required: 0,
        approver_roles: Vec::new(),
        required_roles: Vec::new(),
        max_approval_time_hours: 4.0,
        change_advisory_board_required: false,
        permit_type: Some(PermitType::ReadOnly),
        auto_approve: true,
        evidence_required: Vec::new(),
    };
    check_quorum(
        &req,
        &[],
        false,
        expect!["met=true approvals_missing=0 roles_missing=[] cab_missing=false"],
    );
    // Even a stale count is ignored when the requirement says auto-approve.
    check_quorum(
        &ApprovalRequirements {
            approvers_required: 1,
            ..req
        },
        &[],
        false,
        expect!["met=true approvals_missing=0 roles_missing=[] cab_missing=false"],
    );
}

#[test]
fn string_forms_round_trip() {
    for d in Decision::ALL {
        assert_eq!(d.as_str().parse::<Decision>(), Ok(*d));
    }
    for c in Channel::ALL {
        assert_eq!(c.as_str().parse::<Channel>(), Ok(*c));
    }
    assert_eq!(
        Decision::ALL.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        ["approve", "reject", "request_changes"]
    );
}

const PEOPLE: &[&str] = &["alice", "bob", "worker-7", "p1", "p2", "p3", "p4"];
const ROLES: &[Role] = &[
    Role::EngineeringDirector,
    Role::SecurityLead,
    Role::ArchitectureLead,
    Role::ComplianceOfficer,
    Role::TeamLead,
    Role::Admin,
];

fn any_role() -> impl Strategy<Value = Role> {
    proptest::sample::select(ROLES)
}

fn any_approval() -> impl Strategy<Value = RecordedApproval> {
    (proptest::sample::select(PEOPLE), any_role()).prop_map(|(p, role)| approval(p, role))
}

fn any_requirements() -> impl Strategy<Value = ApprovalRequirements> {
    (
        0u32..5,
        proptest::sample::subsequence(ROLES, 0..=ROLES.len()),
        proptest::sample::subsequence(ROLES, 0..=3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(approvers_required, approver_roles, required_roles, cab, auto_approve)| {
                ApprovalRequirements {
                    approvers_required,
                    approver_roles,
                    required_roles,
                    max_approval_time_hours: 24.0,
                    change_advisory_board_required: cab,
                    permit_type: None,
                    auto_approve,
                    evidence_required: Vec::new(),
                }
            },
        )
}

fn any_candidate() -> impl Strategy<Value = (Candidate, Role)> {
    (
        proptest::sample::select(PEOPLE),
        any::<bool>(),
        proptest::sample::subsequence(ROLES, 0..=3),
        any_role(),
    )
        .prop_map(|(id, is_human, roles, role)| {
            (
                Candidate {
                    principal_id: id.into(),
                    human: is_human,
                    roles,
                },
                role,
            )
        })
}

proptest! {
    /// Adding an approval, anywhere in the list, never turns a met quorum unmet.
    #[test]
    fn quorum_is_monotone(
        req in any_requirements(),
        approvals in proptest::collection::vec(any_approval(), 0..8),
        extra in any_approval(),
        at in any::<proptest::sample::Index>(),
        cab in any::<bool>(),
    ) {
        let before = quorum(&req, &approvals, cab);
        let mut more = approvals.clone();
        more.insert(at.index(approvals.len() + 1), extra);
        let after = quorum(&req, &more, cab);
        prop_assert!(!before.met || after.met, "{before:?} then {after:?}");
        prop_assert!(after.approvals_missing <= before.approvals_missing);
        prop_assert!(after.roles_missing.len() <= before.roles_missing.len());
    }

    /// Requester, worker owner and worker never get through `check_approver`, so they can
    /// never be what makes a quorum met.
    #[test]
    fn refused_parties_never_make_quorum(
        req in any_requirements(),
        offers in proptest::collection::vec(any_candidate(), 0..12),
        cab in any::<bool>(),
    ) {
        let parties = parties();
        let is_party = |id: &str| {
            id == parties.requester || id == parties.worker_owner || id == parties.worker_id
        };
        let mut accepted: Vec<RecordedApproval> = Vec::new();
        for (candidate, role) in &offers {
            if check_approver(&req, &parties, candidate, *role, &accepted).is_ok() {
                accepted.push(approval(&candidate.principal_id, *role));
            }
        }
        prop_assert!(accepted.iter().all(|a| !is_party(&a.principal_id)));
        let without_parties: Vec<RecordedApproval> = accepted
            .iter()
            .filter(|a| !is_party(&a.principal_id))
            .cloned()
            .collect();
        prop_assert_eq!(quorum(&req, &accepted, cab), quorum(&req, &without_parties, cab));
        // And each accepted person appears once.
        let mut ids: Vec<&str> = accepted.iter().map(|a| a.principal_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(ids.len(), accepted.len());
    }
}

#[test]
fn refusals_of_a_promotion_speak_of_the_promotion() {
    let who = || "eve".to_owned();
    let refusals = [
        ApprovalRefusal::NotHuman { principal: who() },
        ApprovalRefusal::RoleNotHeld {
            principal: who(),
            role: Role::Cto,
        },
        ApprovalRefusal::RoleNotEligible { role: Role::Cto },
        ApprovalRefusal::Requester { principal: who() },
        ApprovalRefusal::WorkerOwner { principal: who() },
        ApprovalRefusal::Executor { principal: who() },
        ApprovalRefusal::AlreadyApproved {
            principal: who(),
            role: Role::Cto,
        },
    ];
    let target = Level::new(3).unwrap();
    let out: String = refusals
        .iter()
        .map(|r| format!("{}\n", r.promotion_message(target)))
        .collect();
    expect![[r#"
        only humans approve a promotion: `eve` is not a human
        role not held: `eve` does not hold the role `cto`
        role not eligible: the role `cto` may not approve a promotion to level 3
        segregation of duties: `eve` asked for this certification and may not approve it
        segregation of duties: `eve` owns the worker and may not approve its promotion
        segregation of duties: `eve` is the worker and may not approve its own promotion
        one vote per person: `eve` already approved this promotion as `cto`
    "#]]
    .assert_eq(&out);
}
