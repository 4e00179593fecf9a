//! The permit state machine (SPEC §6.2): closed states, closed events, and one transition
//! function, [`apply`].

use crate::names::string_enum;

string_enum! {
    /// Where a permit is in its life. Closed: the store keeps exactly these strings.
    PermitState, "permit state" {
        Requested = "requested",
        UnderReview = "under_review",
        ChangesRequested = "changes_requested",
        Approved = "approved",
        Active = "active",
        Executing = "executing",
        Completed = "completed",
        Closed = "closed",
        Rejected = "rejected",
        Expired = "expired",
        Revoked = "revoked",
        Archived = "archived",
    }
}

impl PermitState {
    /// Rejected, expired, revoked, closed and archived: the permit's story is over. The only
    /// legal exit from the first four is `archive`; nothing leaves `archived`.
    pub fn is_terminal(self) -> bool {
        match self {
            PermitState::Rejected
            | PermitState::Expired
            | PermitState::Revoked
            | PermitState::Closed
            | PermitState::Archived => true,
            PermitState::Requested
            | PermitState::UnderReview
            | PermitState::ChangesRequested
            | PermitState::Approved
            | PermitState::Active
            | PermitState::Executing
            | PermitState::Completed => false,
        }
    }

    /// Approved, active or executing: the permit authorizes (or is about to authorize) work,
    /// so revoking a worker's certification must revoke it.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            PermitState::Approved | PermitState::Active | PermitState::Executing
        )
    }
}

string_enum! {
    /// How an execution ended; carried by `completed` (SPEC §6.2).
    Outcome, "outcome" {
        Success = "success",
        RolledBack = "rolled_back",
        RollbackFailed = "rollback_failed",
        Partial = "partial",
    }
}

string_enum! {
    /// Why a permit was revoked (SPEC §6.2, a closed set).
    RevocationReason, "revocation reason" {
        SafetyViolation = "safety_violation",
        ConstraintBreach = "constraint_breach",
        ScopeExpansion = "scope_expansion",
        /// Expiry of an active or executing permit.
        TimeExpiration = "time_expiration",
        CertificationRevoked = "certification_revoked",
        IncidentResolved = "incident_resolved",
        ApproverRequest = "approver_request",
        SecurityIncident = "security_incident",
        Manual = "manual",
    }
}

/// Something that happens to a permit. The shell decides *that* it happened (a quorum was
/// counted, a clock passed 2 × SLA); [`apply`] decides whether it may happen now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PermitEvent {
    /// A reviewer picked the request up.
    StartReview,
    /// The approval quorum (see `quorum`) is met.
    QuorumMet,
    /// An eligible approver rejected the request; final.
    Reject,
    /// An eligible approver asked for changes.
    RequestChanges,
    /// The requester resubmitted after changes; every approval is reset.
    Resubmit,
    /// The permit is issued and its window starts.
    Issue,
    /// The worker started executing under the permit.
    Start,
    /// Execution ended.
    Complete { outcome: Outcome },
    /// The audit summary is recorded.
    Close,
    /// The window is extended; the permit stays where it is (active or executing).
    Renew,
    /// The permit is withdrawn. Expiry of an active or executing permit is
    /// `Revoke { reason: TimeExpiration }`.
    Revoke { reason: RevocationReason },
    /// No quorum within 2 × the approval SLA.
    Expire,
    /// A finished permit is moved out of the working set.
    Archive,
}

string_enum! {
    /// The kind of a [`PermitEvent`], without its data: what a transition error names.
    PermitEventKind, "permit event" {
        StartReview = "start_review",
        QuorumMet = "quorum_met",
        Reject = "reject",
        RequestChanges = "request_changes",
        Resubmit = "resubmit",
        Issue = "issue",
        Start = "start",
        Complete = "complete",
        Close = "close",
        Renew = "renew",
        Revoke = "revoke",
        Expire = "expire",
        Archive = "archive",
    }
}

impl PermitEvent {
    pub fn kind(&self) -> PermitEventKind {
        match self {
            PermitEvent::StartReview => PermitEventKind::StartReview,
            PermitEvent::QuorumMet => PermitEventKind::QuorumMet,
            PermitEvent::Reject => PermitEventKind::Reject,
            PermitEvent::RequestChanges => PermitEventKind::RequestChanges,
            PermitEvent::Resubmit => PermitEventKind::Resubmit,
            PermitEvent::Issue => PermitEventKind::Issue,
            PermitEvent::Start => PermitEventKind::Start,
            PermitEvent::Complete { .. } => PermitEventKind::Complete,
            PermitEvent::Close => PermitEventKind::Close,
            PermitEvent::Renew => PermitEventKind::Renew,
            PermitEvent::Revoke { .. } => PermitEventKind::Revoke,
            PermitEvent::Expire => PermitEventKind::Expire,
            PermitEvent::Archive => PermitEventKind::Archive,
        }
    }
}

/// An event that is not legal in the permit's current state.
///
/// The message is for people: a request that expired, was rejected or revoked, or a
/// permit that already ran, says so and that a new request is needed; otherwise it names
/// the action in words (`approve`, not the internal `quorum_met`) and the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.for_people())]
pub struct TransitionError {
    pub from: PermitState,
    pub event: PermitEventKind,
}

impl TransitionError {
    fn for_people(&self) -> String {
        let action = match self.event {
            PermitEventKind::QuorumMet => "approve",
            PermitEventKind::StartReview => "review",
            PermitEventKind::RequestChanges => "request changes to",
            other => other.as_str(),
        };
        match self.from {
            PermitState::Expired => format!(
                "cannot {action} this permit: the request expired because nobody decided within twice its approval time; a new permit request is needed"
            ),
            PermitState::Rejected => format!(
                "cannot {action} this permit: the request was rejected, which is final; a new permit request is needed"
            ),
            PermitState::Revoked => format!(
                "cannot {action} this permit: it was revoked; a new permit request is needed"
            ),
            PermitState::Completed | PermitState::Closed | PermitState::Archived => format!(
                "cannot {action} this permit: it has already run and is {}; new work needs a new permit request",
                self.from
            ),
            from => format!("cannot {action} a permit in state `{from}`"),
        }
    }
}

/// The permit state machine: the state `event` leads to from `state`, or why it cannot
/// happen.
///
/// INVARIANT: every legal `(state, event)` pair is spelled out below; the only wildcard
/// returns an error. Terminal states accept only `archive` (and `revoke` on `revoked`,
/// which is idempotent and stays put).
pub fn apply(state: PermitState, event: &PermitEvent) -> Result<PermitState, TransitionError> {
    use PermitEvent as E;
    use PermitState as S;
    match (state, event) {
        // Review.
        (S::Requested, E::StartReview) => Ok(S::UnderReview),
        (S::UnderReview, E::QuorumMet) => Ok(S::Approved),
        (S::UnderReview, E::RequestChanges) => Ok(S::ChangesRequested),
        (S::ChangesRequested, E::Resubmit) => Ok(S::UnderReview),
        (S::Requested | S::UnderReview, E::Reject) => Ok(S::Rejected),
        (S::Requested | S::UnderReview | S::ChangesRequested, E::Expire) => Ok(S::Expired),
        // Issue and execution.
        (S::Approved, E::Issue) => Ok(S::Active),
        (S::Active, E::Start) => Ok(S::Executing),
        (S::Executing, E::Complete { .. }) => Ok(S::Completed),
        (S::Completed, E::Close) => Ok(S::Closed),
        // Renewal extends a live window in place.
        (S::Active, E::Renew) => Ok(S::Active),
        (S::Executing, E::Renew) => Ok(S::Executing),
        // Revocation: from any live state, and idempotent once revoked.
        (S::Approved | S::Active | S::Executing | S::Revoked, E::Revoke { .. }) => Ok(S::Revoked),
        // Archival of every finished permit.
        (S::Rejected | S::Expired | S::Revoked | S::Closed, E::Archive) => Ok(S::Archived),
        (from, event) => Err(TransitionError {
            from,
            event: event.kind(),
        }),
    }
}

#[cfg(test)]
mod tests;
