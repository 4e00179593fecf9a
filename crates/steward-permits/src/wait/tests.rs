//! `wait_outcome` for every state, and by property over every path through the permit
//! state machine.

use std::fmt::Write as _;

use expect_test::expect;
use proptest::prelude::*;

use super::*;
use crate::state::{Outcome, PermitEvent, RevocationReason, apply};

fn facts(state: PermitState) -> WaitFacts {
    WaitFacts {
        state,
        revoked: false,
        completed: false,
        rejected: false,
    }
}

#[test]
fn every_state_for_both_targets() {
    let mut table = String::new();
    for &state in PermitState::ALL {
        let _ = writeln!(
            table,
            "{:<17} active: {:<17} decided: {}",
            state.as_str(),
            wait_outcome(WaitUntil::Active, facts(state)).as_str(),
            wait_outcome(WaitUntil::Decided, facts(state)),
        );
    }
    expect![[r#"
        requested         active: waiting           decided: waiting
        under_review      active: waiting           decided: waiting
        changes_requested active: changes_requested decided: changes_requested
        approved          active: waiting           decided: reached
        active            active: reached           decided: reached
        executing         active: reached           decided: reached
        completed         active: ended             decided: ended
        closed            active: ended             decided: ended
        rejected          active: rejected          decided: rejected
        expired           active: expired           decided: expired
        revoked           active: revoked           decided: revoked
        archived          active: expired           decided: expired
    "#]]
    .assert_eq(&table);
}

#[test]
fn an_archived_permit_answers_how_it_ended() {
    let archived = |revoked, completed, rejected| {
        wait_outcome(
            WaitUntil::Active,
            WaitFacts {
                state: PermitState::Archived,
                revoked,
                completed,
                rejected,
            },
        )
    };
    assert_eq!(archived(true, false, false), WaitOutcome::Revoked);
    // A permit revoked while executing was also approved: the revocation is what counts.
    assert_eq!(archived(true, true, false), WaitOutcome::Revoked);
    assert_eq!(archived(false, true, false), WaitOutcome::Ended);
    assert_eq!(archived(false, false, true), WaitOutcome::Rejected);
    assert_eq!(archived(false, false, false), WaitOutcome::Expired);
}

fn any_event() -> impl Strategy<Value = PermitEvent> {
    prop_oneof![
        Just(PermitEvent::StartReview),
        Just(PermitEvent::QuorumMet),
        Just(PermitEvent::Reject),
        Just(PermitEvent::RequestChanges),
        Just(PermitEvent::Resubmit),
        Just(PermitEvent::Issue),
        Just(PermitEvent::Start),
        prop::sample::select(Outcome::ALL).prop_map(|outcome| PermitEvent::Complete { outcome }),
        Just(PermitEvent::Close),
        prop::sample::select(RevocationReason::ALL)
            .prop_map(|reason| PermitEvent::Revoke { reason }),
        Just(PermitEvent::Expire),
        Just(PermitEvent::Archive),
    ]
}

proptest! {
    /// Along any path from `requested`: a terminal permit never keeps a waiter waiting,
    /// and archiving never changes what a waiter is told.
    #[test]
    fn terminal_permits_end_every_wait_and_archiving_keeps_the_answer(
        events in prop::collection::vec(any_event(), 0..24),
    ) {
        let mut f = facts(PermitState::Requested);
        for event in &events {
            let Ok(next) = apply(f.state, event) else { continue };
            let before = f;
            match event {
                PermitEvent::Revoke { .. } => f.revoked = true,
                PermitEvent::Complete { .. } => f.completed = true,
                PermitEvent::Reject => f.rejected = true,
                _ => {}
            }
            f.state = next;
            for until in WaitUntil::ALL.iter().copied() {
                let outcome = wait_outcome(until, f);
                if f.state.is_terminal() {
                    prop_assert_ne!(outcome, WaitOutcome::Waiting, "{:?}", f);
                }
                if matches!(event, PermitEvent::Archive) {
                    prop_assert_eq!(outcome, wait_outcome(until, before));
                }
            }
        }
    }
}
