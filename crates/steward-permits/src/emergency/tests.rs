//! The emergency rules: declared duration, approval window, renewal limits, review status
//! and the sweep's decision table.

use expect_test::{Expect, expect};
use steward_policy::{PermitType, Policy};

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
