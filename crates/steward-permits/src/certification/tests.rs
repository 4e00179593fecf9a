//! Promotion eligibility and approvals, recertification, automatic suspension and the status
//! machine.

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn level(n: u8) -> Level {
    Level::new(n).unwrap()
}

/// An active worker at `lvl`, granted `days_ago` days before `now()`.
fn worker(lvl: u8, days_ago: i64) -> WorkerRecord {
    WorkerRecord {
        level: level(lvl),
        status: CertificationStatus::Active,
        level_granted_at: now().plus_days(-days_ago),
        recertify_by: None,
        probation_until: None,
        stats: OperationStats::default(),
    }
}

fn now() -> Timestamp {
    T0.plus_days(1000)
}

#[track_caller]
fn check_eligibility(record: &WorkerRecord, target: u8, expect: Expect) {
    let e = eligibility(record, level(target), now());
    let mut out = format!("eligible={}\n", e.eligible);
    for r in &e.reasons {
        out.push_str(r);
        out.push('\n');
    }
    expect.assert_eq(&out);
}

#[test]
fn to_level_1_needs_only_an_active_record() {
    check_eligibility(
        &worker(0, 0),
        1,
        expect![[r#"
            eligible=true
            met: the certification is `active` (has `active`)
        "#]],
    );
}

#[test]
fn to_level_2_thresholds() {
    let mut w = worker(1, 29);
    w.stats.successes_by_level = [15, 4, 0, 0, 0];
    w.stats.last_incident_at = Some(now().plus_days(-10));
    check_eligibility(
        &w,
        2,
        expect![[r#"
            eligible=false
            met: the certification is `active` (has `active`)
            not met: 30+ days at a lower level (has 29 days at level 1)
            not met: 20+ successful operations that Steward saw (has 19)
            not met: no incident in the last 30 days (last incident 10 days ago)
        "#]],
    );
    w.level_granted_at = now().plus_days(-30);
    w.stats.successes_by_level = [15, 5, 0, 0, 0];
    w.stats.last_incident_at = Some(now().plus_days(-30));
    check_eligibility(
        &w,
        2,
        expect![[r#"
            eligible=true
            met: the certification is `active` (has `active`)
            met: 30+ days at a lower level (has 30 days at level 1)
            met: 20+ successful operations that Steward saw (has 20)
            met: no incident in the last 30 days (last incident 30 days ago)
        "#]],
    );
}

#[test]
fn level_0_may_go_straight_to_2_but_not_to_3() {
    let mut w = worker(0, 45);
    w.stats.successes_by_level = [20, 0, 0, 0, 0];
    check_eligibility(
        &w,
        2,
        expect![[r#"
            eligible=true
            met: the certification is `active` (has `active`)
            met: 30+ days at a lower level (has 45 days at level 0)
            met: 20+ successful operations that Steward saw (has 20)
            met: no incident in the last 30 days (none recorded)
        "#]],
    );
    check_eligibility(
        &w,
        3,
        expect![[r#"
            eligible=false
            not met: promotion goes one level at a time, or 0 to 2 (has level 0, asked for 3)
        "#]],
    );
    check_eligibility(
        &worker(2, 400),
        2,
        expect![[r#"
            eligible=false
            not met: level 2 is above the worker's level (has level 2)
        "#]],
    );
}

#[test]
fn to_level_3_thresholds() {
    let mut w = worker(2, 120);
    w.stats.successes_by_level = [40, 10, 24, 0, 0];
    w.stats.successes_at_level = 94;
    w.stats.failures_at_level = 6;
    w.stats.safety_violations = 1;
    w.stats.last_incident_at = Some(now().plus_days(-89));
    check_eligibility(
        &w,
        3,
        expect![[r#"
            eligible=false
            met: the certification is `active` (has `active`)
            met: 90+ days at level 2 (has 120 days at level 2)
            not met: 25+ successful level-2 operations that Steward saw (has 24)
            not met: success rate ≥ 0.95 at level 2 (has 0.940: 94 of 100)
            not met: no incident in the last 90 days (last incident 89 days ago)
            not met: no safety or security violation ever (has 1)
        "#]],
    );
    w.stats.successes_by_level[2] = 25;
    w.stats.successes_at_level = 95;
    w.stats.failures_at_level = 5;
    w.stats.safety_violations = 0;
    w.stats.last_incident_at = Some(now().plus_days(-90));
    check_eligibility(
        &w,
        3,
        expect![[r#"
            eligible=true
            met: the certification is `active` (has `active`)
            met: 90+ days at level 2 (has 120 days at level 2)
            met: 25+ successful level-2 operations that Steward saw (has 25)
            met: success rate ≥ 0.95 at level 2 (has 0.950: 95 of 100)
            met: no incident in the last 90 days (last incident 90 days ago)
            met: no safety or security violation ever (has 0)
        "#]],
    );
}

#[test]
fn to_level_4_thresholds() {
    let mut w = worker(3, 179);
    w.status = CertificationStatus::Probationary;
    w.recertify_by = Some(now().plus_days(30));
    w.stats.successes_by_level = [0, 0, 0, 50, 0];
    check_eligibility(
        &w,
        4,
        expect![[r#"
            eligible=false
            not met: the certification is `active` (has `probationary`)
            not met: 180+ days at level 3 (has 179 days at level 3)
            met: 50+ successful level-3 operations that Steward saw (has 50)
            not met: success rate ≥ 0.98 at level 3 (no operations at level 3 yet)
            met: no incident in the last 180 days (none recorded)
            met: no safety or security violation ever (has 0)
        "#]],
    );
}

#[test]
fn an_expired_recertification_blocks_promotion() {
    let mut w = worker(1, 400);
    w.stats.successes_by_level = [30, 0, 0, 0, 0];
    check_eligibility(
        &w,
        2,
        expect![[r#"
            eligible=false
            met: the certification is `active` (has `active`)
            not met: a recertification within its grace period (the grace period has passed)
            met: 30+ days at a lower level (has 400 days at level 1)
            met: 20+ successful operations that Steward saw (has 30)
            met: no incident in the last 30 days (none recorded)
        "#]],
    );
}

#[test]
fn promotion_approvals_per_level() {
    let rendered: Vec<String> = Level::ALL
        .iter()
        .map(|&l| {
            let q = promotion_approvals(l);
            let roles = |rs: &[Role]| rs.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
            format!(
                "to {l}: {} of [{}] covering [{}], probation {:?} days",
                q.approvers_required,
                roles(&q.approver_roles),
                roles(&q.required_roles),
                probation_days(l)
            )
        })
        .collect();
    expect![[r#"
        [
            "to 0: 0 of [] covering [], probation None days",
            "to 1: 1 of [engineering_manager] covering [], probation None days",
            "to 2: 1 of [engineering_manager] covering [], probation Some(30) days",
            "to 3: 2 of [engineering_director,security_lead] covering [engineering_director,security_lead], probation Some(60) days",
            "to 4: 3 of [vp_engineering,cto,ciso,coo] covering [], probation Some(90) days",
        ]
    "#]]
    .assert_debug_eq(&rendered);
}

fn approval(who: &str, role: Role) -> RecordedApproval {
    RecordedApproval {
        principal_id: who.into(),
        role,
    }
}

#[test]
fn promotion_quorums() {
    let to3 = promotion_approvals(Level::ADVANCED);
    assert!(
        !check_promotion(
            &to3,
            &[
                approval("d", Role::EngineeringDirector),
                approval("d2", Role::EngineeringDirector)
            ]
        )
        .met
    );
    assert!(
        check_promotion(
            &to3,
            &[
                approval("d", Role::EngineeringDirector),
                approval("s", Role::SecurityLead)
            ]
        )
        .met
    );
    let to4 = promotion_approvals(Level::MASTER);
    let two = [approval("v", Role::VpEngineering), approval("c", Role::Cto)];
    assert_eq!(check_promotion(&to4, &two).approvals_missing, 1);
    let same_person_twice = [
        approval("v", Role::VpEngineering),
        approval("c", Role::Cto),
        approval("c", Role::Ciso),
    ];
    assert!(!check_promotion(&to4, &same_person_twice).met);
    let three = [
        approval("v", Role::VpEngineering),
        approval("c", Role::Cto),
        approval("o", Role::Coo),
    ];
    assert!(check_promotion(&to4, &three).met);
    let to2 = promotion_approvals(Level::STANDARD);
    assert!(!check_promotion(&to2, &[approval("t", Role::TechLead)]).met);
    assert!(check_promotion(&to2, &[approval("m", Role::EngineeringManager)]).met);
}

#[test]
fn promote_starts_probation_and_resets_level_counters() {
    let mut w = worker(1, 60);
    w.stats.successes_by_level = [10, 12, 0, 0, 0];
    w.stats.successes_at_level = 12;
    w.stats.failures_at_level = 1;
    let manager = [approval("m", Role::EngineeringManager)];
    let promoted = promote(&w, Level::STANDARD, &manager, now()).unwrap();
    assert_eq!(promoted.level, Level::STANDARD);
    assert_eq!(promoted.status, CertificationStatus::Probationary);
    assert_eq!(promoted.level_granted_at, now());
    assert_eq!(promoted.probation_until, Some(now().plus_days(30)));
    assert_eq!(promoted.recertify_by, Some(now().plus_days(365)));
    assert_eq!(promoted.stats.successes_at_level, 0);
    assert_eq!(promoted.stats.failures_at_level, 0);
    assert_eq!(promoted.stats.successes_by_level, [10, 12, 0, 0, 0]);

    let errors: Vec<String> = [
        promote(&w, Level::STANDARD, &[], now()),
        promote(&worker(1, 3), Level::STANDARD, &manager, now()),
        promote(&w, Level::ADVANCED, &manager, now()),
    ]
    .into_iter()
    .map(|r| match r {
        Ok(_) => "promoted".to_owned(),
        Err(e) => e.to_string(),
    })
    .collect();
    expect![[r#"
        [
            "promotion to level 2 lacks approvals: 1 more approver(s) needed, roles not covered: []",
            "the worker is not eligible for level 2: 30+ days at a lower level (has 3 days at level 1); 20+ successful operations that Steward saw (has 0)",
            "the worker is not eligible for level 3: promotion goes one level at a time, or 0 to 2 (has level 1, asked for 3)",
        ]
    "#]]
    .assert_debug_eq(&errors);
}

#[test]
fn recertification_windows() {
    let rows: Vec<String> = [
        (0, 5000),
        (1, 0),
        (2, 364),
        (2, 365),
        (2, 378),
        (2, 379),
        (3, 89),
        (4, 90),
        (4, 96),
        (4, 97),
    ]
    .iter()
    .map(|&(lvl, days_ago)| {
        format!(
            "level {lvl}, granted {days_ago} days ago: {:?}",
            recertification(&worker(lvl, days_ago), now())
        )
    })
    .collect();
    expect![[r#"
        [
            "level 0, granted 5000 days ago: NotRequired",
            "level 1, granted 0 days ago: Current { due_in_days: 365 }",
            "level 2, granted 364 days ago: Current { due_in_days: 1 }",
            "level 2, granted 365 days ago: InGrace { grace_left_days: 14 }",
            "level 2, granted 378 days ago: InGrace { grace_left_days: 1 }",
            "level 2, granted 379 days ago: Expired",
            "level 3, granted 89 days ago: Current { due_in_days: 1 }",
            "level 4, granted 90 days ago: InGrace { grace_left_days: 7 }",
            "level 4, granted 96 days ago: InGrace { grace_left_days: 1 }",
            "level 4, granted 97 days ago: Expired",
        ]
    "#]]
    .assert_debug_eq(&rows);
    // An explicit date wins over the period.
    let mut w = worker(3, 500);
    w.recertify_by = Some(now().plus_hours(12.0));
    assert_eq!(
        recertification(&w, now()),
        Recertification::Current { due_in_days: 1 }
    );
}

/// An outcome Steward saw the work of (an authorized operation).
fn op(result: OperationResult, lvl: u8) -> OperationOutcome {
    OperationOutcome {
        result,
        level: level(lvl),
        basis: OutcomeBasis::AuthorizedOperation,
    }
}

/// An outcome reported without evidence.
fn reported(result: OperationResult, lvl: u8) -> OperationOutcome {
    OperationOutcome {
        basis: OutcomeBasis::Reported,
        ..op(result, lvl)
    }
}

/// Runs outcomes in order, one hour apart, and renders what happened after each.
#[track_caller]
fn check_outcomes(start: WorkerRecord, outcomes: &[OperationOutcome], expect: Expect) {
    check_outcomes_returning(start, outcomes, expect);
}

/// [`check_outcomes`], returning the record after the last outcome.
#[track_caller]
fn check_outcomes_returning(
    start: WorkerRecord,
    outcomes: &[OperationOutcome],
    expect: Expect,
) -> WorkerRecord {
    let mut record = start;
    let mut out = String::new();
    for (i, &o) in outcomes.iter().enumerate() {
        let at = now().plus_hours(i as f64);
        let (next, suspension) = record_outcome(record, o, at);
        record = next;
        let s = &record.stats;
        out.push_str(&format!(
            "{} L{}{}: status={} ok={} failed={} streak={} violations={} incident={}{}\n",
            o.result,
            o.level,
            if o.basis.counts() { "" } else { " (reported)" },
            record.status,
            s.successes_at_level,
            s.failures_at_level,
            s.consecutive_union_failures,
            s.safety_violations,
            s.last_incident_at.is_some_and(|t| t == at),
            suspension.map_or(String::new(), |s| format!(" -> {s}")),
        ));
    }
    expect.assert_eq(&out);
    record
}

#[test]
fn three_consecutive_union_failures_suspend() {
    use OperationResult::*;
    check_outcomes(
        worker(2, 10),
        &[
            op(Failure, 2),
            op(Failure, 1),
            op(Success, 0),
            op(Incident, 2),
            op(Failure, 2),
            op(Failure, 2),
        ],
        expect![[r#"
            failure L2: status=active ok=0 failed=1 streak=1 violations=0 incident=false
            failure L1: status=active ok=0 failed=2 streak=2 violations=0 incident=false
            success L0: status=active ok=1 failed=2 streak=2 violations=0 incident=false
            incident L2: status=suspended ok=1 failed=3 streak=0 violations=0 incident=true -> suspended automatically: 3 consecutive failed union operations
            failure L2: status=suspended ok=1 failed=4 streak=1 violations=0 incident=false
            failure L2: status=suspended ok=1 failed=5 streak=2 violations=0 incident=false
        "#]],
    );
}

#[test]
fn a_union_success_resets_the_streak() {
    use OperationResult::*;
    check_outcomes(
        worker(2, 10),
        &[
            op(Failure, 2),
            op(Failure, 2),
            op(Success, 2),
            op(Failure, 2),
            op(Failure, 0),
        ],
        expect![[r#"
            failure L2: status=active ok=0 failed=1 streak=1 violations=0 incident=false
            failure L2: status=active ok=0 failed=2 streak=2 violations=0 incident=false
            success L2: status=active ok=1 failed=2 streak=0 violations=0 incident=false
            failure L2: status=active ok=1 failed=3 streak=1 violations=0 incident=false
            failure L0: status=active ok=1 failed=4 streak=1 violations=0 incident=false
        "#]],
    );
}

/// Issue 9, item 2: a success nobody can tie to work Steward saw is history only; it
/// neither counts nor breaks a failure streak. Failures count whatever their basis.
#[test]
fn a_success_without_evidence_counts_for_nothing() {
    use OperationResult::*;
    let record = check_outcomes_returning(
        worker(2, 10),
        &[
            op(Failure, 2),
            reported(Success, 2),
            reported(Failure, 2),
            op(Success, 2),
            reported(Success, 0),
        ],
        expect![[r#"
            failure L2: status=active ok=0 failed=1 streak=1 violations=0 incident=false
            success L2 (reported): status=active ok=0 failed=1 streak=1 violations=0 incident=false
            failure L2 (reported): status=active ok=0 failed=2 streak=2 violations=0 incident=false
            success L2: status=active ok=1 failed=2 streak=0 violations=0 incident=false
            success L0 (reported): status=active ok=1 failed=2 streak=0 violations=0 incident=false
        "#]],
    );
    assert_eq!(record.stats.uncounted_successes, 2);
    assert_eq!(record.stats.successes_by_level, [0, 0, 1, 0, 0]);
}

#[test]
fn eligibility_says_which_successes_do_not_count() {
    let mut w = worker(0, 40);
    w.stats.successes_by_level = [12, 0, 0, 0, 0];
    w.stats.uncounted_successes = 30;
    check_eligibility(
        &w,
        2,
        expect![[r#"
            eligible=false
            met: the certification is `active` (has `active`)
            met: 30+ days at a lower level (has 40 days at level 0)
            not met: 20+ successful operations that Steward saw (has 12; 30 successes reported without a closed permit or an authorized operation do not count)
            met: no incident in the last 30 days (none recorded)
        "#]],
    );
}

#[test]
fn any_safety_violation_suspends() {
    use OperationResult::*;
    let mut probationary = worker(3, 10);
    probationary.status = CertificationStatus::Probationary;
    check_outcomes(
        probationary,
        &[
            op(Success, 0),
            op(SafetyViolation, 0),
            op(SafetyViolation, 3),
        ],
        expect![[r#"
            success L0: status=probationary ok=1 failed=0 streak=0 violations=0 incident=false
            safety_violation L0: status=suspended ok=1 failed=1 streak=0 violations=1 incident=false -> suspended automatically: a safety violation
            safety_violation L3: status=suspended ok=1 failed=2 streak=1 violations=2 incident=false
        "#]],
    );
}

#[test]
fn an_older_incident_does_not_move_last_incident_back() {
    let mut w = worker(2, 10);
    w.stats.last_incident_at = Some(now());
    let (w, _) = record_outcome(w, op(OperationResult::Incident, 2), now().plus_days(-3));
    assert_eq!(w.stats.last_incident_at, Some(now()));
}

#[test]
fn certification_status_machine() {
    let mut out = String::new();
    for &from in CertificationStatus::ALL {
        let moves: Vec<String> = CertAction::ALL
            .iter()
            .map(|&action| match apply_cert_action(from, action) {
                Ok(to) => format!("{action}->{to}"),
                Err(_) => format!("{action}:x"),
            })
            .collect();
        out.push_str(&format!("{from}: {}\n", moves.join(" ")));
    }
    expect![[r#"
        active: suspend->suspended reinstate:x revoke->revoked expire->expired end_probation:x recertify->active
        probationary: suspend->suspended reinstate:x revoke->revoked expire->expired end_probation->active recertify->probationary
        suspended: suspend->suspended reinstate->active revoke->revoked expire:x end_probation:x recertify:x
        expired: suspend:x reinstate:x revoke->revoked expire->expired end_probation:x recertify->active
        revoked: suspend:x reinstate:x revoke->revoked expire:x end_probation:x recertify:x
    "#]]
    .assert_eq(&out);
    assert_eq!(
        apply_cert_action(CertificationStatus::Active, CertAction::Reinstate)
            .unwrap_err()
            .to_string(),
        "cannot reinstate a certification in status `active`"
    );
}

fn any_stats() -> impl Strategy<Value = OperationStats> {
    (
        0u32..120,
        0u32..10,
        proptest::array::uniform5(0u32..80),
        proptest::option::of(0i64..400),
        0u32..2,
    )
        .prop_map(
            |(successes_at_level, failures_at_level, successes_by_level, incident, violations)| {
                OperationStats {
                    successes_at_level,
                    failures_at_level,
                    successes_by_level,
                    last_incident_at: incident.map(|d| now().plus_days(-d)),
                    safety_violations: violations,
                    consecutive_union_failures: 0,
                    uncounted_successes: 0,
                }
            },
        )
}

proptest! {
    /// One more success, at any level, never makes an eligible worker ineligible.
    #[test]
    fn eligibility_is_monotone_in_successes(
        lvl in 0u8..4,
        days in 0i64..400,
        stats in any_stats(),
        target in 1u8..5,
        success_level in 0u8..5,
        extra in 1usize..5,
    ) {
        let mut record = worker(lvl, days);
        record.stats = stats;
        let before = eligibility(&record, level(target), now());
        for _ in 0..extra {
            record = record_outcome(record, op(OperationResult::Success, success_level), now()).0;
        }
        let after = eligibility(&record, level(target), now());
        prop_assert!(!before.eligible || after.eligible, "{:?} then {:?}", before, after);
    }

    /// Issue 9, item 2: successes reported without evidence never change eligibility, at
    /// any level, nor any counter but `uncounted_successes`.
    #[test]
    fn successes_without_evidence_never_change_eligibility(
        lvl in 0u8..4,
        days in 0i64..400,
        stats in any_stats(),
        target in 1u8..5,
        success_level in 0u8..5,
        extra in 1u32..30,
    ) {
        let mut record = worker(lvl, days);
        record.stats = stats;
        let before = record.clone();
        for _ in 0..extra {
            record = record_outcome(record, reported(OperationResult::Success, success_level), now()).0;
        }
        prop_assert_eq!(
            eligibility(&before, level(target), now()).eligible,
            eligibility(&record, level(target), now()).eligible
        );
        prop_assert_eq!(record.stats.uncounted_successes, extra);
        record.stats.uncounted_successes = 0;
        prop_assert_eq!(record, before);
    }
}
