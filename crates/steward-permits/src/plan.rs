//! Plans: what a permit use case writes, decided here from a snapshot of what it read.
//!
//! The store locks and loads a permit (and whatever else the decision needs), builds a
//! snapshot of plain values, asks one function of this crate for a plan, writes the plan
//! and commits; or it gets a typed refusal and writes nothing. A plan is the permit's new
//! [`Lifecycle`] plus the audit events to append, in order, each naming who it is recorded
//! as ([`By`]). Every state change in a plan went through [`apply`], the one state gate.

use serde_json::Value;
use steward_audit::EventPayload;
use steward_audit::EventType;
use steward_audit::event::PermitIssued;
use steward_policy::{Block, Environment, Evidence, Level, Refusal};

use crate::approval::ApprovalRefusal;
use crate::constraints::PermitConstraints;
use crate::events::PermitPayload;
use crate::rollback_plan::PlanProblem;
use crate::scope::ScopeField;
use crate::state::{PermitEvent, PermitState, RevocationReason, TransitionError, apply};
use crate::time::Timestamp;
use crate::window::WindowError;

/// Why a permit use case is refused: nothing is written. The store names each in its own
/// error (same meaning, the API's rule codes).
#[derive(Debug, Clone, PartialEq)]
pub enum PermitRefusal {
    /// The task needs no permit.
    NotRequired {
        level: Level,
        environment: Environment,
    },
    Window(WindowError),
    MissingEvidence {
        level: Level,
        missing: Vec<Evidence>,
    },
    MissingScope {
        level: Level,
        missing: Vec<ScopeField>,
    },
    InvalidRollbackPlan {
        level: Level,
        problems: Vec<PlanProblem>,
    },
    /// The worker may not run this task, or its certification is not in force.
    HardBlocks(Vec<Block>),
    /// The permit's state does not allow it ([`apply`]).
    Transition(TransitionError),
    /// The candidate may not decide (roles, segregation of duties, one vote).
    Approval(ApprovalRefusal),
    /// An emergency permit is decided and renewed on the emergency path only.
    EmergencyPath,
    /// The caller plays no part that allows this here; `rule` names which.
    NotAllowed {
        rule: Refusal,
        message: String,
    },
    /// Before `valid_from` or from `expires_at` on.
    OutsideWindow {
        message: String,
    },
    /// A completed-operation report lacks fields its level requires.
    IncompleteReport {
        level: Level,
        missing: Vec<String>,
    },
}

impl PermitRefusal {
    pub(crate) fn not_allowed(rule: Refusal, message: impl Into<String>) -> PermitRefusal {
        PermitRefusal::NotAllowed {
            rule,
            message: message.into(),
        }
    }
}

impl From<TransitionError> for PermitRefusal {
    fn from(e: TransitionError) -> Self {
        PermitRefusal::Transition(e)
    }
}

impl From<ApprovalRefusal> for PermitRefusal {
    fn from(e: ApprovalRefusal) -> Self {
        PermitRefusal::Approval(e)
    }
}

impl From<WindowError> for PermitRefusal {
    fn from(e: WindowError) -> Self {
        PermitRefusal::Window(e)
    }
}

/// Who an event of a plan is recorded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The principal whose request the use case serves.
    Caller,
    /// Steward itself (auto-approval, issue at window start, its own revocations).
    System,
}

/// One audit event a plan appends about its permit.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEvent {
    pub by: By,
    pub payload: PermitPayload,
    /// Set when this event revokes the permit (it was not revoked before): the store
    /// keeps how, with the event's `seq`, on the permit.
    pub revocation: Option<RevocationReason>,
}

impl PlannedEvent {
    /// An event that changes no state.
    pub fn record(by: By, payload: impl Into<PermitPayload>) -> PlannedEvent {
        PlannedEvent {
            by,
            payload: payload.into(),
            revocation: None,
        }
    }

    pub fn event_type(&self) -> EventType {
        self.payload.event_type()
    }

    /// The event's data as stored, without its personal values.
    pub fn data(&self) -> Value {
        self.payload.data()
    }
}

/// The parts of a permit its lifecycle changes: state, validity window and renewals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lifecycle {
    pub state: PermitState,
    pub valid_from: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub renewals: u32,
    pub total_hours: f64,
}

/// The event type that records `change`.
pub fn event_type(change: &PermitEvent) -> EventType {
    match change {
        PermitEvent::StartReview => EventType::PermitReviewStarted,
        PermitEvent::QuorumMet => EventType::PermitApproved,
        PermitEvent::Reject => EventType::PermitRejected,
        PermitEvent::RequestChanges => EventType::PermitChangesRequested,
        PermitEvent::Resubmit => EventType::PermitResubmitted,
        PermitEvent::Issue => EventType::PermitIssued,
        PermitEvent::Start => EventType::PermitStarted,
        PermitEvent::Complete { .. } => EventType::PermitCompleted,
        PermitEvent::Close => EventType::PermitClosed,
        PermitEvent::Renew => EventType::PermitRenewed,
        PermitEvent::Revoke { .. } => EventType::PermitRevoked,
        PermitEvent::Expire => EventType::PermitExpired,
        PermitEvent::Archive => EventType::PermitArchived,
    }
}

/// Moves `state` by `change` through [`apply`] and returns the event recording it: the
/// payload of `change`'s type ([`event_type`]) with `from` and `to` filled in.
pub fn transition(
    state: &mut PermitState,
    change: PermitEvent,
    by: By,
    payload: impl Into<PermitPayload>,
) -> Result<PlannedEvent, TransitionError> {
    let from = *state;
    let to = apply(from, &change)?;
    let mut payload = payload.into();
    debug_assert_eq!(payload.event_type(), event_type(&change), "{change:?}");
    *state = to;
    payload.moved(from, to);
    let revocation = match change {
        PermitEvent::Revoke { reason } if from != PermitState::Revoked => Some(reason),
        _ => None,
    };
    Ok(PlannedEvent {
        by,
        payload,
        revocation,
    })
}

/// The validity window of a permit issued at `now`: from the requested start (or now,
/// whichever is later) for `hours`; `None` while the requested start is still ahead.
pub fn issue_window(
    requested_start: Option<Timestamp>,
    hours: f64,
    now: Timestamp,
) -> Option<(Timestamp, Timestamp)> {
    if requested_start.is_some_and(|start| start > now) {
        return None;
    }
    let from = requested_start.unwrap_or(now).max(now);
    Some((from, from.plus_hours(hours)))
}

/// The new end of a permit renewed at `now` by `hours`: the extension runs from its
/// current end, or from now if that has passed (or was never set).
pub fn renewed_expiry(expires_at: Option<Timestamp>, hours: f64, now: Timestamp) -> Timestamp {
    expires_at.unwrap_or(now).max(now).plus_hours(hours)
}

/// Issues an approved permit (`life.state` is `approved`) whose window has begun:
/// sets the window and returns the `permit.issued` event, recorded as Steward; `None`
/// while the window is ahead. `constraints` are recorded with the event.
pub fn issue_if_due(
    life: &mut Lifecycle,
    requested_start: Option<Timestamp>,
    constraints: &PermitConstraints,
    now: Timestamp,
) -> Result<Option<PlannedEvent>, TransitionError> {
    let Some((from, until)) = issue_window(requested_start, life.total_hours, now) else {
        return Ok(None);
    };
    let issued = PermitIssued {
        valid_from_ms: Some(from.millis()),
        expires_at_ms: Some(until.millis()),
        hours: life.total_hours,
        constraints: serde_json::to_value(constraints).unwrap_or(Value::Null),
        ..PermitIssued::default()
    };
    let event = transition(&mut life.state, PermitEvent::Issue, By::System, issued)?;
    life.valid_from = Some(from);
    life.expires_at = Some(until);
    Ok(Some(event))
}

/// A plan's events for snapshot tests: who, the type, the stored data (canonical JSON)
/// and what is sealed for whom.
#[cfg(test)]
pub(crate) fn describe(events: Vec<PlannedEvent>) -> String {
    use steward_audit::EventPayload;
    let mut out = String::new();
    for mut e in events {
        let sealed = e.payload.take_personal();
        out.push_str(&format!(
            "{:?} {} {}\n",
            e.by,
            e.event_type(),
            steward_audit::canonical_json(&e.data())
        ));
        if let Some(sealed) = sealed {
            out.push_str(&format!("  sealed: {sealed:?}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
