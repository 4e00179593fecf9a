//! Plans' building blocks: transitions through `apply`, the issue window and renewal
//! arithmetic.

use expect_test::{Expect, expect};

use serde_json::json;
use steward_audit::event::{PermitRevoked, PermitStarted};

use super::*;
use crate::constraints::PermitConstraints;
use crate::state::RevocationReason;

const H: i64 = 3_600_000;

#[track_caller]
fn check_window(start: Option<i64>, hours: f64, now: i64, expect: Expect) {
    expect.assert_debug_eq(&issue_window(start.map(Timestamp), hours, Timestamp(now)));
}

#[test]
fn the_window_runs_from_its_start_or_now_whichever_is_later() {
    check_window(
        None,
        2.0,
        1_000,
        expect![[r#"
        Some(
            (
                Timestamp(
                    1000,
                ),
                Timestamp(
                    7201000,
                ),
            ),
        )
    "#]],
    );
    // Not yet: the start is ahead.
    check_window(
        Some(1_001),
        2.0,
        1_000,
        expect![[r#"
        None
    "#]],
    );
    // Exactly at the start, and past it.
    check_window(
        Some(1_000),
        0.25,
        1_000,
        expect![[r#"
        Some(
            (
                Timestamp(
                    1000,
                ),
                Timestamp(
                    901000,
                ),
            ),
        )
    "#]],
    );
    check_window(
        Some(10),
        1.0,
        1_000,
        expect![[r#"
        Some(
            (
                Timestamp(
                    1000,
                ),
                Timestamp(
                    3601000,
                ),
            ),
        )
    "#]],
    );
    // Whole minutes given as hours are exact (an emergency's 7 minutes).
    assert_eq!(
        issue_window(None, 7.0 / 60.0, Timestamp(0)).map(|(_, until)| until),
        Some(Timestamp(7 * 60_000))
    );
}

#[test]
fn a_renewal_extends_from_the_end_or_from_now_once_that_passed() {
    for (expires_at, hours, now, renewed) in [
        (Some(10 * H), 2.0, 5 * H, 12 * H),
        (Some(10 * H), 2.0, 11 * H, 13 * H),
        (None, 1.0, 5 * H, 6 * H),
        (Some(10 * H), 0.5, 10 * H, 10 * H + H / 2),
    ] {
        assert_eq!(
            renewed_expiry(expires_at.map(Timestamp), hours, Timestamp(now)),
            Timestamp(renewed),
            "{expires_at:?} + {hours} h at {now}"
        );
    }
}

#[test]
fn a_transition_goes_through_apply_and_records_from_and_to() {
    let mut state = PermitState::Active;
    let event = transition(
        &mut state,
        PermitEvent::Revoke {
            reason: RevocationReason::Manual,
        },
        By::Caller,
        PermitRevoked::new("manual"),
    )
    .unwrap();
    assert_eq!(state, PermitState::Revoked);
    assert_eq!(
        (event.by, event.event_type(), event.revocation),
        (
            By::Caller,
            EventType::PermitRevoked,
            Some(RevocationReason::Manual)
        )
    );
    assert_eq!(
        event.data(),
        json!({"from": "active", "reason": "manual", "to": "revoked"})
    );
    // Revoking again changes nothing and is no new revocation.
    let again = transition(
        &mut state,
        PermitEvent::Revoke {
            reason: RevocationReason::Manual,
        },
        By::Caller,
        PermitRevoked::default(),
    )
    .unwrap();
    assert_eq!(again.revocation, None);
    // An illegal pair is refused and leaves the state alone.
    let mut closed = PermitState::Closed;
    let started = PermitStarted::default();
    assert!(transition(&mut closed, PermitEvent::Start, By::Caller, started).is_err());
    assert_eq!(closed, PermitState::Closed);
}

#[test]
fn issue_if_due_sets_the_window_with_the_issue() {
    let mut life = Lifecycle {
        state: PermitState::Approved,
        valid_from: None,
        expires_at: None,
        renewals: 0,
        total_hours: 1.0,
    };
    let none = PermitConstraints::default();
    assert_eq!(
        issue_if_due(&mut life, Some(Timestamp(H)), &none, Timestamp(0)).unwrap(),
        None
    );
    assert_eq!(life.state, PermitState::Approved);
    let budget = PermitConstraints {
        token_budget: 7,
        ..PermitConstraints::default()
    };
    let issued = issue_if_due(&mut life, Some(Timestamp(H)), &budget, Timestamp(H))
        .unwrap()
        .unwrap();
    assert_eq!(
        (life.state, life.valid_from, life.expires_at),
        (
            PermitState::Active,
            Some(Timestamp(H)),
            Some(Timestamp(2 * H))
        )
    );
    assert_eq!(
        (issued.by, issued.event_type()),
        (By::System, EventType::PermitIssued)
    );
    assert_eq!(issued.data()["constraints"]["token_budget"], 7);
    // Only an approved permit is issued.
    assert!(issue_if_due(&mut life, None, &none, Timestamp(H)).is_err());
}
