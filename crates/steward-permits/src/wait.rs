//! What a master waiting on a permit learns (`GET /v1/permits/{id}/wait`, `steward permit
//! wait`): whether the permit reached the state it waits for, can never reach it (rejected,
//! expired, revoked, already run to its end), needs the requester first (changes
//! requested), or is still on its way.

use crate::names::string_enum;
use crate::state::PermitState;

string_enum! {
    /// The state a waiter waits for.
    WaitUntil, "wait target" {
        /// Issued: `active` (or already `executing`), so the worker may start.
        Active = "active",
        /// Decided by the approvers: `approved` or later, or refused.
        Decided = "decided",
    }
}

string_enum! {
    /// Where a permit stands for a waiter.
    WaitOutcome, "wait outcome" {
        /// Not there yet, and it still may get there: keep waiting.
        Waiting = "waiting",
        /// The permit is in the state waited for.
        Reached = "reached",
        /// An approver rejected it; final.
        Rejected = "rejected",
        /// Nobody decided within twice the approval SLA.
        Expired = "expired",
        /// Revoked (the permit's `revocation` says why and, for a scope violation, which
        /// operation).
        Revoked = "revoked",
        /// An approver asked for changes: the requester must resubmit before anyone
        /// decides again.
        ChangesRequested = "changes_requested",
        /// It already ran: completed or closed. Nothing more will be authorized under it.
        Ended = "ended",
    }
}

/// What a wait needs to know about a permit: its state, and for an archived permit, how
/// its story ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitFacts {
    pub state: PermitState,
    /// It carries a revocation reason.
    pub revoked: bool,
    /// It carries an execution outcome.
    pub completed: bool,
    /// An approver rejected it.
    pub rejected: bool,
}

/// Where the permit stands for someone waiting `until`.
///
/// INVARIANT: a permit in a terminal state is never `Waiting`, so every wait ends at the
/// latest when the permit's story does (a request nobody decides expires at 2 × its SLA).
pub fn wait_outcome(until: WaitUntil, facts: WaitFacts) -> WaitOutcome {
    use PermitState as S;
    use WaitOutcome as O;
    match (facts.state, until) {
        (S::Requested | S::UnderReview, _) | (S::Approved, WaitUntil::Active) => O::Waiting,
        (S::Approved, WaitUntil::Decided) | (S::Active | S::Executing, _) => O::Reached,
        (S::ChangesRequested, _) => O::ChangesRequested,
        (S::Completed | S::Closed, _) => O::Ended,
        (S::Rejected, _) => O::Rejected,
        (S::Expired, _) => O::Expired,
        (S::Revoked, _) => O::Revoked,
        // Archived from rejected, expired, revoked or closed: say which.
        (S::Archived, _) if facts.revoked => O::Revoked,
        (S::Archived, _) if facts.completed => O::Ended,
        (S::Archived, _) if facts.rejected => O::Rejected,
        (S::Archived, _) => O::Expired,
    }
}

#[cfg(test)]
mod tests;
