//! The emergency path (SPEC §8): break-glass rules on top of an ordinary permit of type
//! `emergency`. An emergency is declared for at most [`MAX_DECLARED_MINUTES`]; an
//! incident commander or on-call lead approves it inside the type's approval SLA (15
//! minutes); it is renewed only by an incident commander, within the type's renewal
//! limits (3 times, 4 h in total); it ends when its permit expires, is revoked, or the
//! incident is resolved; a post-incident review is due [`REVIEW_DUE_HOURS`] after the end
//! of an emergency whose permit was granted, and is overdue until filed.
//!
//! Everything here is a decision over values: the store calls [`sweep_action`] for each
//! open emergency and carries out what it answers, so expiry and resolution are applied
//! whenever a sweep runs, including the first one after a restart.

use steward_policy::{PermitTypeSpec, Refusal, Role};

use crate::approval::Candidate;
use crate::names::string_enum;
use crate::plan::PermitRefusal;
use crate::state::{PermitState, RevocationReason};
use crate::time::Timestamp;
use crate::window::{WindowError, check_renewal};

/// The longest duration an emergency may be declared for (SPEC §8).
pub const MAX_DECLARED_MINUTES: i64 = 60;

/// How long after an emergency ends its post-incident review is due.
pub const REVIEW_DUE_HOURS: i64 = 24;

/// The roles that approve (and resolve) an emergency. Renewal needs the first.
pub const EMERGENCY_APPROVER_ROLES: [Role; 2] = [Role::IncidentCommander, Role::OnCallLead];

/// The roles that may declare an emergency for any worker (its owner may too).
pub const DECLARER_ROLES: [Role; 4] = [
    Role::Master,
    Role::IncidentCommander,
    Role::OnCallLead,
    Role::Admin,
];

/// Whether `who` may declare an emergency for a worker owned by `owner_id`.
pub fn check_declarer(who: &Candidate, owner_id: &str) -> Result<(), PermitRefusal> {
    if who.principal_id == owner_id || DECLARER_ROLES.iter().any(|r| who.roles.contains(r)) {
        Ok(())
    } else {
        Err(PermitRefusal::NotAllowed {
            rule: Refusal::NotADeclarer,
            message: "an emergency is declared by the worker's owner, a master, an incident_commander, an on_call_lead or an admin".to_owned(),
        })
    }
}

/// Whether `who` may `action` (resolve) an emergency: a human holding one of
/// [`EMERGENCY_APPROVER_ROLES`].
pub fn check_incident_role(who: &Candidate, action: &str) -> Result<(), PermitRefusal> {
    if who.human
        && EMERGENCY_APPROVER_ROLES
            .iter()
            .any(|r| who.roles.contains(r))
    {
        Ok(())
    } else {
        Err(PermitRefusal::NotAllowed {
            rule: Refusal::RoleNotEligible,
            message: format!("only a human incident_commander or on_call_lead may {action}"),
        })
    }
}

/// Whether `who` may file the review of emergency `emergency_id`: its declarer, its
/// approver, an incident commander, an on-call lead or an admin.
pub fn check_review_filer(
    who: &Candidate,
    declared_by: &str,
    approved_by: Option<&str>,
    emergency_id: &str,
) -> Result<(), PermitRefusal> {
    let may = who.principal_id == declared_by
        || approved_by == Some(who.principal_id.as_str())
        || EMERGENCY_APPROVER_ROLES
            .iter()
            .chain(&[Role::Admin])
            .any(|r| who.roles.contains(r));
    if may {
        Ok(())
    } else {
        Err(PermitRefusal::NotAllowed {
            rule: Refusal::NotAParty,
            message: format!(
                "the review of emergency `{emergency_id}` is filed by its declarer, its approver, an incident_commander, an on_call_lead or an admin"
            ),
        })
    }
}

/// When and why an emergency whose permit is in `state` ended, once its permit no longer
/// authorizes work (`None` while it is live). An expiry ends at the permit's `expires_at`
/// (never later than now), not when a sweep noticed, so a restart does not move the
/// review deadline; another revocation ends now with its reason; any other end now with
/// the permit's state.
pub fn emergency_end(
    state: PermitState,
    revocation_reason: Option<RevocationReason>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Option<(Timestamp, &'static str)> {
    if state.is_live() {
        return None;
    }
    Some(match revocation_reason {
        Some(RevocationReason::TimeExpiration) => (
            expires_at.map_or(now, |until| until.min(now)),
            RevocationReason::TimeExpiration.as_str(),
        ),
        Some(other) => (now, other.as_str()),
        None => (now, state.as_str()),
    })
}

/// An emergency request or act the emergency rules refuse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmergencyError {
    #[error(
        "`minutes`: an emergency lasts 1 to {MAX_DECLARED_MINUTES} minutes, {minutes} requested"
    )]
    Duration { minutes: i64 },
    #[error(
        "`minutes`: an emergency renewal must be a positive number of minutes, {minutes} requested"
    )]
    RenewalDuration { minutes: i64 },
    #[error(
        "approval window closed: an emergency must be approved within {window_minutes} minutes of its declaration; it closed at {closed_at_ms} (unix ms), declare a new one"
    )]
    ApprovalWindowClosed {
        closed_at_ms: i64,
        window_minutes: i64,
    },
    #[error(
        "only an incident_commander renews an emergency permit: `{principal}` does not hold that role"
    )]
    NotIncidentCommander { principal: String },
    #[error(transparent)]
    Renewal(#[from] WindowError),
}

/// Whether `minutes` is a duration an emergency may be declared for.
pub fn check_declared_minutes(minutes: i64) -> Result<(), EmergencyError> {
    if (1..=MAX_DECLARED_MINUTES).contains(&minutes) {
        Ok(())
    } else {
        Err(EmergencyError::Duration { minutes })
    }
}

/// When the approval window of an emergency declared at `declared_at` closes: the
/// approval SLA of the `emergency` permit type (15 minutes in the built-in policy).
pub fn approval_deadline(spec: &PermitTypeSpec, declared_at: Timestamp) -> Timestamp {
    declared_at.plus_hours(spec.approval_sla_hours)
}

/// Whether an approval at `now` of an emergency declared at `declared_at` is still inside
/// its approval window. The deadline itself is already too late.
pub fn check_approval_window(
    spec: &PermitTypeSpec,
    declared_at: Timestamp,
    now: Timestamp,
) -> Result<(), EmergencyError> {
    let deadline = approval_deadline(spec, declared_at);
    if now < deadline {
        Ok(())
    } else {
        Err(EmergencyError::ApprovalWindowClosed {
            closed_at_ms: deadline.millis(),
            window_minutes: (spec.approval_sla_hours * 60.0).round() as i64,
        })
    }
}

/// Whether `principal`, holding `roles`, may renew an emergency permit that has been
/// renewed `renewals_so_far` times and granted `total_minutes_so_far` minutes so far, by
/// `extra_minutes`: an incident commander only, at most the type's `max_renewals` times,
/// and never beyond its `max_total_hours` in total (SPEC §6.1, §8).
pub fn check_emergency_renewal(
    spec: &PermitTypeSpec,
    principal: &str,
    roles: &[Role],
    renewals_so_far: u32,
    total_minutes_so_far: i64,
    extra_minutes: i64,
) -> Result<(), EmergencyError> {
    if !roles.contains(&Role::IncidentCommander) {
        return Err(EmergencyError::NotIncidentCommander {
            principal: principal.to_owned(),
        });
    }
    if extra_minutes < 1 {
        return Err(EmergencyError::RenewalDuration {
            minutes: extra_minutes,
        });
    }
    // Minutes are whole, so the hours handed to the generic rule are exact enough: a total
    // of exactly 240 minutes is exactly 4.0 h.
    let to_hours = |minutes: i64| minutes as f64 / 60.0;
    check_renewal(
        spec,
        renewals_so_far,
        to_hours(total_minutes_so_far),
        to_hours(extra_minutes),
    )?;
    Ok(())
}

string_enum! {
    /// Where an emergency is, derived from its record and its permit's state.
    EmergencyStatus, "emergency status" {
        /// Declared, waiting for an incident commander or on-call lead.
        AwaitingApproval = "awaiting_approval",
        /// Approved: the worker holds a temporary level-3 permit.
        Active = "active",
        /// The incident was marked resolved.
        Resolved = "resolved",
        /// The permit ran out (or was revoked for another reason).
        Ended = "ended",
        /// Not approved within the approval window.
        Lapsed = "lapsed",
    }
}

/// The status of an emergency whose permit is in `permit_state`.
pub fn emergency_status(permit_state: PermitState, resolved: bool) -> EmergencyStatus {
    if resolved {
        return EmergencyStatus::Resolved;
    }
    match permit_state {
        PermitState::Requested | PermitState::UnderReview | PermitState::ChangesRequested => {
            EmergencyStatus::AwaitingApproval
        }
        PermitState::Approved | PermitState::Active | PermitState::Executing => {
            EmergencyStatus::Active
        }
        PermitState::Expired | PermitState::Rejected => EmergencyStatus::Lapsed,
        PermitState::Completed
        | PermitState::Closed
        | PermitState::Revoked
        | PermitState::Archived => EmergencyStatus::Ended,
    }
}

string_enum! {
    /// Where the post-incident review of an emergency is.
    ReviewStatus, "review status" {
        /// The emergency is still running, or its permit was never granted.
        NotDue = "not_due",
        /// Due, and the deadline has not passed.
        Pending = "pending",
        /// The deadline passed without a review.
        Overdue = "overdue",
        Filed = "filed",
    }
}

/// When the review of an emergency that ended at `ended_at` is due, if one is needed: only
/// an emergency whose permit was granted (approved) needs one.
pub fn review_due(ended_at: Timestamp, granted: bool) -> Option<Timestamp> {
    granted.then(|| ended_at.plus_hours(REVIEW_DUE_HOURS as f64))
}

/// The review status at `now`. Overdue from the due instant on, until filed.
pub fn review_status(due: Option<Timestamp>, filed: bool, now: Timestamp) -> ReviewStatus {
    match (filed, due) {
        (true, _) => ReviewStatus::Filed,
        (false, None) => ReviewStatus::NotDue,
        (false, Some(due)) if now >= due => ReviewStatus::Overdue,
        (false, Some(_)) => ReviewStatus::Pending,
    }
}

/// What the sweep sees of one emergency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepView {
    pub permit_state: PermitState,
    /// When the permit's window ends (set once it is issued).
    pub expires_at: Option<Timestamp>,
    pub approval_deadline: Timestamp,
    pub resolved: bool,
    /// The emergency's end (and review deadline) is already recorded.
    pub ended: bool,
}

/// What the sweep must do for one emergency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepAction {
    /// Nothing is due.
    Nothing,
    /// Not approved in time, or resolved before approval: expire the permit request.
    ExpireRequest,
    /// Revoke the live permit with this reason, then record the end.
    Revoke(RevocationReason),
    /// The permit is over (revoked or expired by someone else, or by an earlier sweep
    /// that stopped half-way): record the emergency's end.
    RecordEnd,
}

/// The one decision the sweep makes per emergency. Resolution wins over expiry (the
/// incident is the stronger reason); an unresolved live permit is revoked with
/// `time_expiration` from its `expires_at` on.
pub fn sweep_action(view: &SweepView, now: Timestamp) -> SweepAction {
    use PermitState as S;
    match view.permit_state {
        S::Requested | S::UnderReview | S::ChangesRequested => {
            if view.resolved || now >= view.approval_deadline {
                SweepAction::ExpireRequest
            } else {
                SweepAction::Nothing
            }
        }
        S::Approved | S::Active | S::Executing => {
            if view.resolved {
                SweepAction::Revoke(RevocationReason::IncidentResolved)
            } else if view.expires_at.is_some_and(|until| now >= until) {
                SweepAction::Revoke(RevocationReason::TimeExpiration)
            } else {
                SweepAction::Nothing
            }
        }
        S::Completed | S::Closed | S::Rejected | S::Expired | S::Revoked | S::Archived => {
            if view.ended {
                SweepAction::Nothing
            } else {
                SweepAction::RecordEnd
            }
        }
    }
}

#[cfg(test)]
mod tests;
