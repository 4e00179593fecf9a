//! The permit state machine against an independent table, exhaustively and by property.

use expect_test::expect;
use proptest::prelude::*;

use super::*;
use PermitEventKind as K;
use PermitState as S;

/// Every legal transition of SPEC §6.2, written out independently of `apply`.
const LEGAL: &[(PermitState, PermitEventKind, PermitState)] = &[
    (S::Requested, K::StartReview, S::UnderReview),
    (S::Requested, K::Reject, S::Rejected),
    (S::Requested, K::Expire, S::Expired),
    (S::UnderReview, K::QuorumMet, S::Approved),
    (S::UnderReview, K::RequestChanges, S::ChangesRequested),
    (S::UnderReview, K::Reject, S::Rejected),
    (S::UnderReview, K::Expire, S::Expired),
    (S::ChangesRequested, K::Resubmit, S::UnderReview),
    (S::ChangesRequested, K::Expire, S::Expired),
    (S::Approved, K::Issue, S::Active),
    (S::Approved, K::Revoke, S::Revoked),
    (S::Active, K::Start, S::Executing),
    (S::Active, K::Revoke, S::Revoked),
    (S::Executing, K::Complete, S::Completed),
    (S::Executing, K::Revoke, S::Revoked),
    (S::Completed, K::Close, S::Closed),
    (S::Active, K::Renew, S::Active),
    (S::Executing, K::Renew, S::Executing),
    (S::Revoked, K::Revoke, S::Revoked),
    (S::Rejected, K::Archive, S::Archived),
    (S::Expired, K::Archive, S::Archived),
    (S::Revoked, K::Archive, S::Archived),
    (S::Closed, K::Archive, S::Archived),
];

fn legal(from: PermitState, kind: PermitEventKind) -> Option<PermitState> {
    LEGAL
        .iter()
        .find(|(f, k, _)| *f == from && *k == kind)
        .map(|(_, _, to)| *to)
}

/// Every event of `kind`, with every value its data can take.
fn events_of(kind: PermitEventKind) -> Vec<PermitEvent> {
    match kind {
        K::StartReview => vec![PermitEvent::StartReview],
        K::QuorumMet => vec![PermitEvent::QuorumMet],
        K::Reject => vec![PermitEvent::Reject],
        K::RequestChanges => vec![PermitEvent::RequestChanges],
        K::Resubmit => vec![PermitEvent::Resubmit],
        K::Issue => vec![PermitEvent::Issue],
        K::Start => vec![PermitEvent::Start],
        K::Complete => Outcome::ALL
            .iter()
            .map(|&outcome| PermitEvent::Complete { outcome })
            .collect(),
        K::Close => vec![PermitEvent::Close],
        K::Renew => vec![PermitEvent::Renew],
        K::Revoke => RevocationReason::ALL
            .iter()
            .map(|&reason| PermitEvent::Revoke { reason })
            .collect(),
        K::Expire => vec![PermitEvent::Expire],
        K::Archive => vec![PermitEvent::Archive],
    }
}

fn any_event() -> impl Strategy<Value = PermitEvent> {
    let all: Vec<PermitEvent> = PermitEventKind::ALL
        .iter()
        .flat_map(|&k| events_of(k))
        .collect();
    proptest::sample::select(all)
}

fn any_state() -> impl Strategy<Value = PermitState> {
    proptest::sample::select(PermitState::ALL)
}

#[test]
fn apply_matches_the_table_for_every_state_and_event() {
    for &from in PermitState::ALL {
        for &kind in PermitEventKind::ALL {
            for event in events_of(kind) {
                assert_eq!(event.kind(), kind);
                let expected = legal(from, kind).ok_or(TransitionError { from, event: kind });
                assert_eq!(apply(from, &event), expected, "{from} + {event:?}");
            }
        }
    }
}

#[test]
fn transition_table_reads_like_the_spec() {
    let mut out = String::new();
    for &from in PermitState::ALL {
        let moves: Vec<String> = PermitEventKind::ALL
            .iter()
            .filter_map(|&kind| {
                let event = events_of(kind)[0];
                apply(from, &event).ok().map(|to| format!("{kind}->{to}"))
            })
            .collect();
        let tag = match (from.is_terminal(), from.is_live()) {
            (true, _) => " (terminal)",
            (_, true) => " (live)",
            _ => "",
        };
        out.push_str(&format!("{from}{tag}: {}\n", moves.join(" ")));
    }
    expect![[r#"
        requested: start_review->under_review reject->rejected expire->expired
        under_review: quorum_met->approved reject->rejected request_changes->changes_requested expire->expired
        changes_requested: resubmit->under_review expire->expired
        approved (live): issue->active revoke->revoked
        active (live): start->executing renew->active revoke->revoked
        executing (live): complete->completed renew->executing revoke->revoked
        completed: close->closed
        closed (terminal): archive->archived
        rejected (terminal): archive->archived
        expired (terminal): archive->archived
        revoked (terminal): revoke->revoked archive->archived
        archived (terminal): 
    "#]]
    .assert_eq(&out);
}

#[test]
fn illegal_moves_name_the_event_and_the_state() {
    let errors: Vec<String> = [
        (S::Requested, PermitEvent::QuorumMet),
        (S::Active, PermitEvent::Issue),
        (
            S::Closed,
            PermitEvent::Revoke {
                reason: RevocationReason::Manual,
            },
        ),
        (S::Archived, PermitEvent::Archive),
        (S::ChangesRequested, PermitEvent::Reject),
        (S::Expired, PermitEvent::QuorumMet),
    ]
    .iter()
    .map(|(from, event)| match apply(*from, event) {
        Ok(to) => format!("unexpectedly moved to {to}"),
        Err(e) => e.to_string(),
    })
    .collect();
    expect![[r#"
        [
            "cannot approve a permit in state `requested`",
            "cannot issue a permit in state `active`",
            "cannot revoke this permit: it has already run and is closed; new work needs a new permit request",
            "cannot archive this permit: it has already run and is archived; new work needs a new permit request",
            "cannot reject a permit in state `changes_requested`",
            "cannot approve this permit: the request expired because nobody decided within twice its approval time; a new permit request is needed",
        ]
    "#]]
    .assert_debug_eq(&errors);
}

#[test]
fn revocation_is_idempotent() {
    let revoke = PermitEvent::Revoke {
        reason: RevocationReason::TimeExpiration,
    };
    assert_eq!(apply(S::Executing, &revoke), Ok(S::Revoked));
    assert_eq!(apply(S::Revoked, &revoke), Ok(S::Revoked));
}

#[test]
fn string_forms_round_trip() {
    for s in PermitState::ALL {
        assert_eq!(s.as_str().parse::<PermitState>(), Ok(*s));
    }
    for k in PermitEventKind::ALL {
        assert_eq!(k.as_str().parse::<PermitEventKind>(), Ok(*k));
    }
    for r in RevocationReason::ALL {
        assert_eq!(r.as_str().parse::<RevocationReason>(), Ok(*r));
    }
    for o in Outcome::ALL {
        assert_eq!(o.as_str().parse::<Outcome>(), Ok(*o));
    }
    assert_eq!(PermitState::ALL.len(), 12);
    let err = "denied".parse::<PermitState>().map_err(|e| e.to_string());
    expect![[r#"
        Err(
            "unknown permit state `denied`; expected one of: requested, under_review, changes_requested, approved, active, executing, completed, closed, rejected, expired, revoked, archived",
        )
    "#]]
    .assert_debug_eq(&err);
}

proptest! {
    /// No event sequence takes a permit out of a terminal state except into `archived`,
    /// nothing leaves `archived`, and every accepted move is in the table.
    #[test]
    fn terminal_states_only_exit_to_archived(
        start in any_state(),
        events in proptest::collection::vec(any_event(), 0..40),
    ) {
        let mut state = start;
        for event in &events {
            let result = apply(state, event);
            match result {
                Ok(next) => {
                    prop_assert_eq!(legal(state, event.kind()), Some(next));
                    if state == S::Archived {
                        prop_assert!(false, "left archived via {:?}", event);
                    }
                    if state.is_terminal() {
                        prop_assert!(next == S::Archived || next == state);
                        prop_assert!(next.is_terminal());
                    }
                    state = next;
                }
                Err(e) => {
                    prop_assert_eq!(e, TransitionError { from: state, event: event.kind() });
                    prop_assert_eq!(legal(state, event.kind()), None);
                }
            }
        }
    }
}
