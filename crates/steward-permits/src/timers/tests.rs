//! The timers against SPEC's figures, and by property: nothing is due before its time, and
//! a shell that fires each `(kind, due_at)` once fires each warning at most once and each
//! terminal timer exactly once.

use std::collections::BTreeSet;

use proptest::prelude::*;
use steward_policy::{CertificationStatus, Level, Role};

use super::*;
use crate::certification::{OperationStats, WorkerRecord};

const T0: Timestamp = Timestamp(1_800_000_000_000);
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

fn at(ms: i64) -> Timestamp {
    Timestamp(T0.0 + ms)
}

fn pending(state: PermitState, sla_hours: f64) -> PermitTimes {
    PermitTimes {
        state,
        requested_at: T0,
        approval_sla_hours: sla_hours,
        expires_at: None,
    }
}

fn live(state: PermitState, expires_in: i64) -> PermitTimes {
    PermitTimes {
        state,
        requested_at: T0,
        approval_sla_hours: 24.0,
        expires_at: Some(at(expires_in)),
    }
}

fn kinds(due: &[DueTimer]) -> Vec<TimerKind> {
    due.iter().map(|d| d.kind).collect()
}

#[test]
fn approval_sla_flags_overdue_then_expires_at_twice_the_sla() {
    let p = pending(PermitState::UnderReview, 24.0);
    assert!(permit_timers(&p, at(24 * HOUR - 1)).is_empty());
    assert!(!approval_overdue(&p, at(24 * HOUR - 1)));
    assert_eq!(
        permit_timers(&p, at(24 * HOUR)),
        vec![DueTimer {
            kind: TimerKind::ApprovalOverdue,
            due_at: at(24 * HOUR)
        }]
    );
    assert!(approval_overdue(&p, at(24 * HOUR)));
    assert_eq!(
        kinds(&permit_timers(&p, at(48 * HOUR - 1))),
        [TimerKind::ApprovalOverdue]
    );
    // At 2 × SLA only the expiry is offered: the overdue flag is moot.
    assert_eq!(
        permit_timers(&p, at(48 * HOUR)),
        vec![DueTimer {
            kind: TimerKind::RequestExpiry,
            due_at: at(48 * HOUR)
        }]
    );
}

#[test]
fn review_clock_tells_when_a_request_is_due_expires_and_to_whom_it_escalated() {
    let p = pending(PermitState::UnderReview, 168.0);
    let before = review_clock(&p, Level::new(4).unwrap(), at(168 * HOUR - 1)).unwrap();
    assert_eq!(before.approval_due, at(168 * HOUR));
    assert_eq!(before.expires_at, at(336 * HOUR));
    assert!(!before.overdue);
    assert!(before.escalated_to.is_empty());
    let after = review_clock(&p, Level::new(4).unwrap(), at(168 * HOUR)).unwrap();
    assert!(after.overdue);
    assert_eq!(
        after.escalated_to,
        [Role::VpEngineering, Role::Cto, Role::Ciso, Role::Coo]
    );
    // Waiting on the requester: it still expires, but it is not the approvers' delay.
    let changes = pending(PermitState::ChangesRequested, 24.0);
    let clock = review_clock(&changes, Level::new(2).unwrap(), at(30 * HOUR)).unwrap();
    assert_eq!((clock.overdue, clock.expires_at), (false, at(48 * HOUR)));
    // Nothing to tell for a live permit or one without an SLA.
    assert_eq!(
        review_clock(&live(PermitState::Active, HOUR), Level::new(2).unwrap(), T0),
        None
    );
    assert_eq!(
        review_clock(
            &pending(PermitState::UnderReview, 0.0),
            Level::new(2).unwrap(),
            T0
        ),
        None
    );
}

#[test]
fn a_request_waiting_on_its_requester_is_not_overdue_but_still_expires() {
    let p = pending(PermitState::ChangesRequested, 4.0);
    assert!(permit_timers(&p, at(5 * HOUR)).is_empty());
    assert!(!approval_overdue(&p, at(5 * HOUR)));
    assert_eq!(
        kinds(&permit_timers(&p, at(8 * HOUR))),
        [TimerKind::RequestExpiry]
    );
}

#[test]
fn no_sla_means_no_approval_timers() {
    for sla in [0.0, -1.0, f64::NAN] {
        let p = pending(PermitState::Requested, sla);
        assert!(permit_timers(&p, at(1000 * DAY)).is_empty(), "{sla}");
        assert_eq!(approval_due(T0, sla), None);
        assert_eq!(request_expiry_due(T0, sla), None);
    }
    // A fractional SLA (the emergency type's 15 minutes) works too.
    assert_eq!(request_expiry_due(T0, 0.25), Some(at(30 * MINUTE)));
}

#[test]
fn warnings_come_at_30_15_and_5_minutes_and_only_the_most_urgent_is_offered() {
    let p = live(PermitState::Active, 60 * MINUTE);
    assert!(permit_timers(&p, at(30 * MINUTE - 1)).is_empty());
    let warning = |now: i64| permit_timers(&p, at(now));
    assert_eq!(
        warning(30 * MINUTE),
        vec![DueTimer {
            kind: TimerKind::ExpiryWarning30,
            due_at: at(30 * MINUTE)
        }]
    );
    assert_eq!(kinds(&warning(45 * MINUTE)), [TimerKind::ExpiryWarning15]);
    assert_eq!(kinds(&warning(55 * MINUTE)), [TimerKind::ExpiryWarning5]);
    assert_eq!(
        kinds(&warning(60 * MINUTE - 1)),
        [TimerKind::ExpiryWarning5]
    );
    assert_eq!(
        TimerKind::ExpiryWarning15.warning_minutes(),
        Some(15),
        "the event names its minutes"
    );
    assert_eq!(TimerKind::GraceEnd.warning_minutes(), None);
}

#[test]
fn an_active_permit_expires_at_expires_at() {
    let p = live(PermitState::Active, HOUR);
    assert_eq!(
        permit_timers(&p, at(HOUR)),
        vec![DueTimer {
            kind: TimerKind::PermitExpiry,
            due_at: at(HOUR)
        }]
    );
    assert_eq!(
        expiry_phase(PermitState::Active, at(HOUR), at(HOUR)),
        ExpiryPhase::Expired
    );
}

#[test]
fn an_executing_permit_gets_fifteen_minutes_of_grace_then_expires() {
    let p = live(PermitState::Executing, HOUR);
    assert_eq!(
        expiry_phase(PermitState::Executing, at(HOUR), at(HOUR - 1)),
        ExpiryPhase::Valid
    );
    assert_eq!(
        expiry_phase(PermitState::Executing, at(HOUR), at(HOUR)),
        ExpiryPhase::InFlightGrace {
            until: at(HOUR + 15 * MINUTE)
        }
    );
    assert_eq!(
        permit_timers(&p, at(HOUR + 14 * MINUTE)),
        vec![DueTimer {
            kind: TimerKind::GraceStart,
            due_at: at(HOUR)
        }]
    );
    assert_eq!(
        permit_timers(&p, at(HOUR + 15 * MINUTE)),
        vec![DueTimer {
            kind: TimerKind::GraceEnd,
            due_at: at(HOUR + 15 * MINUTE)
        }]
    );
    assert_eq!(
        expiry_phase(PermitState::Executing, at(HOUR), at(HOUR + 15 * MINUTE)),
        ExpiryPhase::Expired
    );
}

/// The grace lets the operation in flight finish; it starts nothing: `authorize` refuses a
/// new operation on an executing permit from `expires_at` on, grace or not.
#[test]
fn no_new_operation_starts_during_the_in_flight_grace() {
    use crate::authorize::{Operation, PermitView, Rule, WorkerView, authorize};
    use steward_policy::Environment;

    let expires_at = at(HOUR);
    let permit = PermitView {
        worker_id: "w1",
        state: PermitState::Executing,
        revocation_reason: None,
        valid_from: T0,
        expires_at,
        environment: Environment::Production,
        listed_operations: &[],
        allowed_classes: steward_policy::ActionClasses::of(&[steward_policy::ActionClass::Change]),
        allowed_services: &[],
        allowed_regions: &[],
        allowed_methods: None,
        forbidden_methods: &[],
        breached: false,
        token_budget: 1_000,
        tokens_used: 0,
    };
    let op = Operation {
        environment: Environment::Production,
        action: &steward_policy::classify_action(&steward_policy::Policy::builtin(), "deploy"),
        service: None,
        region: None,
        method: "POST",
        read_only: false,
        critical: false,
        sensitive_data: false,
        tokens: 1,
    };
    let worker = WorkerView {
        level: Level::STANDARD,
        status: CertificationStatus::Active,
    };
    let before = at(HOUR - 1);
    assert_eq!(
        expiry_phase(PermitState::Executing, expires_at, before),
        ExpiryPhase::Valid
    );
    assert!(authorize(worker, &op, Some(&permit), "w1", before).allow);
    let in_grace = at(HOUR + 5 * MINUTE);
    assert!(matches!(
        expiry_phase(PermitState::Executing, expires_at, in_grace),
        ExpiryPhase::InFlightGrace { .. }
    ));
    let verdict = authorize(worker, &op, Some(&permit), "w1", in_grace);
    assert_eq!((verdict.allow, verdict.rule), (false, Rule::OutsideWindow));
}

#[test]
fn finished_and_approved_permits_have_no_timers() {
    for state in [
        PermitState::Approved,
        PermitState::Completed,
        PermitState::Closed,
        PermitState::Rejected,
        PermitState::Expired,
        PermitState::Revoked,
        PermitState::Archived,
    ] {
        let p = live(state, HOUR);
        assert!(permit_timers(&p, at(100 * DAY)).is_empty(), "{state}");
    }
    // Issued but without an expiry (cannot happen, but must not panic): nothing.
    let mut p = live(PermitState::Active, HOUR);
    p.expires_at = None;
    assert!(permit_timers(&p, at(100 * DAY)).is_empty());
}

#[test]
fn escalation_goes_to_the_next_levels_approvers() {
    let level = |n| Level::new(n).expect("level");
    assert_eq!(
        escalation_roles(level(1)),
        [
            Role::EngineeringManager,
            Role::TechLead,
            Role::SeniorEngineer
        ]
    );
    assert_eq!(
        escalation_roles(level(2)),
        [
            Role::EngineeringDirector,
            Role::SecurityLead,
            Role::ArchitectureLead
        ]
    );
    assert_eq!(
        escalation_roles(level(3)),
        [Role::VpEngineering, Role::Cto, Role::Ciso, Role::Coo]
    );
    assert_eq!(escalation_roles(level(4)), escalation_roles(level(3)));
}

fn worker(level: u8, status: CertificationStatus) -> WorkerRecord {
    WorkerRecord {
        level: Level::new(level).expect("level"),
        status,
        level_granted_at: T0,
        recertify_by: Some(at(365 * DAY)),
        probation_until: None,
        stats: OperationStats::default(),
    }
}

#[test]
fn certification_enters_grace_at_its_date_and_expires_after_the_grace() {
    let w = worker(2, CertificationStatus::Active);
    assert!(certification_timers(&w, at(365 * DAY - 1)).is_empty());
    assert_eq!(
        certification_timers(&w, at(365 * DAY)),
        vec![DueTimer {
            kind: TimerKind::CertificationGrace,
            due_at: at(365 * DAY)
        }]
    );
    assert_eq!(
        certification_timers(&w, at(379 * DAY)),
        vec![DueTimer {
            kind: TimerKind::CertificationExpiry,
            due_at: at(379 * DAY)
        }]
    );
    // Levels 3–4: 90 days, 7 days of grace; no stored date counts from the grant.
    let mut w = worker(3, CertificationStatus::Active);
    w.recertify_by = None;
    assert_eq!(
        kinds(&certification_timers(&w, at(96 * DAY))),
        [TimerKind::CertificationGrace]
    );
    assert_eq!(
        certification_timers(&w, at(97 * DAY)),
        vec![DueTimer {
            kind: TimerKind::CertificationExpiry,
            due_at: at(97 * DAY)
        }]
    );
}

#[test]
fn probation_ends_at_probation_until() {
    let mut w = worker(3, CertificationStatus::Probationary);
    w.probation_until = Some(at(60 * DAY));
    w.recertify_by = Some(at(90 * DAY));
    assert!(certification_timers(&w, at(60 * DAY - 1)).is_empty());
    assert_eq!(
        certification_timers(&w, at(60 * DAY)),
        vec![DueTimer {
            kind: TimerKind::ProbationEnd,
            due_at: at(60 * DAY)
        }]
    );
    // Long overdue: probation ends, then the certification expires, in that order.
    assert_eq!(
        kinds(&certification_timers(&w, at(200 * DAY))),
        [TimerKind::ProbationEnd, TimerKind::CertificationExpiry]
    );
}

#[test]
fn level_zero_and_certifications_out_of_force_have_no_timers() {
    assert!(
        certification_timers(&worker(0, CertificationStatus::Active), at(9999 * DAY)).is_empty()
    );
    for status in [
        CertificationStatus::Suspended,
        CertificationStatus::Expired,
        CertificationStatus::Revoked,
    ] {
        let mut w = worker(2, status);
        w.probation_until = Some(at(DAY));
        assert!(
            certification_timers(&w, at(9999 * DAY)).is_empty(),
            "{status}"
        );
    }
}

fn any_state() -> impl Strategy<Value = PermitState> {
    proptest::sample::select(PermitState::ALL.to_vec())
}

prop_compose! {
    fn any_permit()(
        state in any_state(),
        sla_minutes in prop_oneof![Just(0i64), 1i64..20_000],
        expires_in in proptest::option::of(-2 * DAY..10 * DAY),
    ) -> PermitTimes {
        PermitTimes {
            state,
            requested_at: T0,
            approval_sla_hours: sla_minutes as f64 / 60.0,
            expires_at: expires_in.map(at),
        }
    }
}

prop_compose! {
    fn any_worker()(
        level in 0u8..=4,
        status in proptest::sample::select(CertificationStatus::ALL.to_vec()),
        recertify_in in proptest::option::of(-400 * DAY..400 * DAY),
        probation_in in proptest::option::of(-100 * DAY..100 * DAY),
    ) -> WorkerRecord {
        WorkerRecord {
            level: Level::new(level).expect("level"),
            status,
            level_granted_at: T0,
            recertify_by: recertify_in.map(at),
            probation_until: probation_in.map(at),
            stats: OperationStats::default(),
        }
    }
}

/// Steps `now` forward through `steps` like the maintenance loop, firing each due timer
/// once per `(kind, due_at)` as the store's ledger does. Returns every firing with its time.
fn simulate(
    mut due: impl FnMut(Timestamp) -> Vec<DueTimer>,
    steps: &[i64],
) -> Vec<(DueTimer, Timestamp)> {
    let mut ledger = BTreeSet::new();
    let mut fired = Vec::new();
    let mut now = T0;
    for step in steps {
        now = Timestamp(now.0 + step);
        for timer in due(now) {
            if ledger.insert(timer) {
                fired.push((timer, now));
            }
        }
    }
    fired
}

proptest! {
    /// Nothing is due before its time, for any permit and any `now`.
    #[test]
    fn no_permit_timer_is_due_before_its_time(p in any_permit(), now in -DAY..20 * DAY) {
        for timer in permit_timers(&p, at(now)) {
            prop_assert!(timer.due_at <= at(now), "{timer:?} at {now}");
        }
    }

    #[test]
    fn no_certification_timer_is_due_before_its_time(w in any_worker(), now in -DAY..900 * DAY) {
        for timer in certification_timers(&w, at(now)) {
            prop_assert!(timer.due_at <= at(now), "{timer:?} at {now}");
        }
    }

    /// Stepping time forward over a live permit that never changes state, each warning
    /// fires at most once, in order, and a warning never fires at or after expiry.
    #[test]
    fn each_warning_fires_at_most_once(
        expires_in in MINUTE..3 * HOUR,
        executing in any::<bool>(),
        steps in proptest::collection::vec(1i64..20 * MINUTE, 1..60),
    ) {
        let state = if executing { PermitState::Executing } else { PermitState::Active };
        let p = live(state, expires_in);
        let fired = simulate(|now| permit_timers(&p, now), &steps);
        let mut seen = BTreeSet::new();
        let mut last_minutes = i64::MAX;
        for (timer, when) in &fired {
            prop_assert!(seen.insert(timer.kind), "{:?} fired twice", timer.kind);
            if let Some(minutes) = timer.kind.warning_minutes() {
                prop_assert!(minutes < last_minutes, "warnings out of order: {fired:?}");
                last_minutes = minutes;
                prop_assert!(*when < at(expires_in));
            }
        }
    }

    /// Approval timers: the overdue flag at most once and never after the expiry; the
    /// expiry exactly once when time passes 2 × SLA.
    #[test]
    fn a_request_expires_once_and_is_flagged_at_most_once(
        sla_minutes in 1i64..3000,
        steps in proptest::collection::vec(1i64..6 * HOUR, 1..80),
    ) {
        let p = pending(PermitState::UnderReview, sla_minutes as f64 / 60.0);
        let fired = simulate(|now| permit_timers(&p, now), &steps);
        let total: i64 = steps.iter().sum();
        let expiries = fired.iter().filter(|(t, _)| t.kind == TimerKind::RequestExpiry).count();
        let overdue = fired.iter().filter(|(t, _)| t.kind == TimerKind::ApprovalOverdue).count();
        prop_assert_eq!(expiries, usize::from(total >= 2 * sla_minutes * MINUTE));
        prop_assert!(overdue <= 1);
        if let (Some(o), Some(e)) = (
            fired.iter().position(|(t, _)| t.kind == TimerKind::ApprovalOverdue),
            fired.iter().position(|(t, _)| t.kind == TimerKind::RequestExpiry),
        ) {
            prop_assert!(o < e);
        }
    }

    /// Certification timers fire each at most once, and expiry exactly once past the grace.
    #[test]
    fn certification_timers_fire_at_most_once(
        w in any_worker(),
        steps in proptest::collection::vec(1i64..30 * DAY, 1..40),
    ) {
        let fired = simulate(|now| certification_timers(&w, now), &steps);
        let mut seen = BTreeSet::new();
        for (timer, _) in &fired {
            prop_assert!(seen.insert(timer.kind), "{:?} fired twice", timer.kind);
        }
    }
}

#[test]
fn a_fired_timer_plans_its_events_as_steward() {
    let fire = |state, kind, due_in: i64| {
        let mut life = Lifecycle {
            state,
            valid_from: Some(T0),
            expires_at: Some(at(2 * HOUR)),
            renewals: 0,
            total_hours: 2.0,
        };
        let facts = TimerFacts {
            level: Level::STANDARD,
            requested_at: T0,
            approval_sla_hours: 4.0,
            approver_roles: &[Role::TechLead],
        };
        let timer = DueTimer {
            kind,
            due_at: at(due_in),
        };
        let events = plan_timer(&mut life, &facts, timer).unwrap();
        let mut out = format!("{}\n", life.state);
        for e in events {
            out.push_str(&format!(
                "{:?} {} {} {:?}\n",
                e.by,
                e.event_type(),
                steward_audit::canonical_json(&e.data()),
                e.revocation
            ));
        }
        out
    };
    expect_test::expect![[r#"
        under_review
        System permit.approval_overdue {"due_at_ms":1800014400000,"expires_at_ms":1800028800000,"requested_at_ms":1800000000000,"sla_hours":4.0,"state":"under_review"} None
        System permit.escalated {"approver_roles":["tech_lead"],"due_at_ms":1800014400000,"reason":"approval_sla","roles":["engineering_director","security_lead","architecture_lead"]} None
    "#]]
    .assert_eq(&fire(PermitState::UnderReview, TimerKind::ApprovalOverdue, 4 * HOUR));
    expect_test::expect![[r#"
        expired
        System permit.expired {"due_at_ms":1800028800000,"from":"requested","reason":"no_quorum_within_twice_the_sla","sla_hours":4.0,"to":"expired"} None
    "#]]
    .assert_eq(&fire(PermitState::Requested, TimerKind::RequestExpiry, 8 * HOUR));
    expect_test::expect![[r#"
        executing
        System permit.expiry_warning {"expires_at_ms":1800007200000,"minutes":15,"state":"executing"} None
    "#]]
    .assert_eq(&fire(PermitState::Executing, TimerKind::ExpiryWarning15, 105 * MINUTE));
    expect_test::expect![[r#"
        executing
        System permit.expiry_grace_started {"expires_at_ms":1800007200000,"grace_until_ms":1800008100000} None
    "#]]
    .assert_eq(&fire(PermitState::Executing, TimerKind::GraceStart, 2 * HOUR));
    expect_test::expect![[r#"
        revoked
        System permit.revoked {"expires_at_ms":1800007200000,"from":"active","reason":"time_expiration","to":"revoked"} Some(TimeExpiration)
    "#]]
    .assert_eq(&fire(PermitState::Active, TimerKind::PermitExpiry, 2 * HOUR));
    expect_test::expect![[r#"
        revoked
        System permit.revoked {"expires_at_ms":1800007200000,"from":"executing","grace_until_ms":1800008100000,"in_flight_grace_ended":true,"reason":"time_expiration","to":"revoked"} Some(TimeExpiration)
    "#]]
    .assert_eq(&fire(PermitState::Executing, TimerKind::GraceEnd, 2 * HOUR + 15 * MINUTE));
    // Certification timers are not a permit's.
    expect_test::expect![[r#"
        active
    "#]]
    .assert_eq(&fire(PermitState::Active, TimerKind::ProbationEnd, 0));
}
