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
//! whenever a sweep runs, including the first one after a restart. Each act's plan
//! ([`plan_declare`], [`plan_approve`], [`plan_resolve`], [`plan_emergency_renewal`],
//! [`plan_review`], and the sweep's [`plan_lapse`] and [`plan_end`]) carries its typed
//! events, `emergency.*` and the permit's own, in the order they are appended.

use serde_json::{Value, json};
use steward_audit::event::{
    EmergencyApproved, EmergencyDeclared, EmergencyEnded, EmergencyRenewed, EmergencyResolved,
    EmergencyReviewFiled, PermitApprovalRecorded, PermitApproved, PermitExpired, PermitRenewed,
    PermitRequested, PermitReviewStarted, PermitRevoked,
};
use steward_audit::{Personal, PersonalText};
use steward_policy::{
    Analysis, ApprovalRequirements, CertificationStatus, PermitType, PermitTypeSpec, Policy,
    Refusal, Role, Task,
};

use crate::approval::{
    ApprovalRefusal, Candidate, Channel, Parties, RecordedApproval, check_approver,
};
use crate::constraints::{ConstraintChoices, EmergencyMark, PermitConstraints};
use crate::lifecycle::{approver_refs, certification_in_force};
use crate::names::string_enum;
use crate::plan::{
    By, Lifecycle, PermitRefusal, PlannedEvent, issue_if_due, renewed_expiry, transition,
};
use crate::request::task_facts;
use crate::state::{PermitEvent, PermitState, RevocationReason, TransitionError, apply};
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

/// Why an emergency act is refused: nothing is written.
#[derive(Debug, Clone, PartialEq)]
pub enum EmergencyRefusal {
    /// A permit rule (roles, segregation of duties, state, certification).
    Permit(PermitRefusal),
    /// An emergency rule (approval window, renewal limits).
    Rule(EmergencyError),
    /// The emergency is not in a state that allows the act (resolved, no live permit,
    /// review not due or already filed); `rule` names which.
    State { rule: Refusal, message: String },
}

impl EmergencyRefusal {
    fn state(rule: Refusal, message: String) -> EmergencyRefusal {
        EmergencyRefusal::State { rule, message }
    }
}

impl From<PermitRefusal> for EmergencyRefusal {
    fn from(e: PermitRefusal) -> Self {
        EmergencyRefusal::Permit(e)
    }
}

impl From<EmergencyError> for EmergencyRefusal {
    fn from(e: EmergencyError) -> Self {
        EmergencyRefusal::Rule(e)
    }
}

impl From<TransitionError> for EmergencyRefusal {
    fn from(e: TransitionError) -> Self {
        EmergencyRefusal::Permit(PermitRefusal::Transition(e))
    }
}

impl From<ApprovalRefusal> for EmergencyRefusal {
    fn from(e: ApprovalRefusal) -> Self {
        EmergencyRefusal::Permit(PermitRefusal::Approval(e))
    }
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

/// The emergency an act is about, as its events name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmergencyRef<'a> {
    pub id: &'a str,
    pub incident_id: &'a str,
}

impl EmergencyRef<'_> {
    /// The evidence of the revocation that ends this emergency's permit (expiry or
    /// resolution, on Steward's authority).
    pub fn revocation(self) -> PermitRevoked {
        PermitRevoked {
            emergency_id: Some(self.id.to_owned()),
            incident_id: Some(self.incident_id.to_owned()),
            ..PermitRevoked::default()
        }
    }

    fn ended(self, end: &EmergencyEnd, at: Option<Timestamp>) -> EmergencyEnded {
        EmergencyEnded {
            emergency_id: self.id.to_owned(),
            incident_id: self.incident_id.to_owned(),
            reason: end.reason.to_owned(),
            ended_at_ms: at.map(Timestamp::millis),
            review_due_at_ms: end.review_due.map(Timestamp::millis),
        }
    }
}

/// An emergency's end as its record keeps it: when, why, and when its review is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmergencyEnd {
    pub at: Timestamp,
    pub reason: &'static str,
    pub review_due: Option<Timestamp>,
}

/// A declaration, checked (duration, declarer, the worker's certification).
#[derive(Debug, Clone, Copy)]
pub struct Declaration<'a> {
    pub emergency: EmergencyRef<'a>,
    pub declared_by: &'a str,
    /// The declarer's free text: sealed for them, twice (`reason`,
    /// `emergency_justification`).
    pub reason: &'a PersonalText,
    pub minutes: i64,
    pub worker_id: &'a str,
    /// The scope as declared (a task, SPEC §2), and parsed.
    pub scope: &'a Value,
    pub task: &'a Task,
    /// Steward's analysis of the scope.
    pub analysis: &'a Analysis,
    pub policy: &'a Policy,
    pub now: Timestamp,
}

/// A declaration's plan: the permit to insert (requested, with this analysis and these
/// constraints), its lifecycle after the declaration, and the events.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclarePlan {
    /// The scope's analysis with the `emergency` type's approval requirements.
    pub analysis: Analysis,
    pub constraints: PermitConstraints,
    pub approval_deadline: Timestamp,
    pub life: Lifecycle,
    pub events: Vec<PlannedEvent>,
}

/// Declares an emergency: a level-3 `emergency` permit for the declared minutes, under
/// review until an incident commander or on-call lead approves it, whose constraints
/// carry `enhanced_audit` (SPEC §8). Events: `emergency.declared`, `permit.requested`,
/// `permit.review_started`.
pub fn plan_declare(d: &Declaration<'_>) -> Result<DeclarePlan, TransitionError> {
    let spec = d.policy.permit_type(PermitType::Emergency);
    let mut analysis = d.analysis.clone();
    analysis.approval_requirements = ApprovalRequirements {
        approvers_required: spec.approvers_required,
        approver_roles: spec.approver_roles.clone(),
        required_roles: spec.required_roles.clone(),
        max_approval_time_hours: spec.approval_sla_hours,
        change_advisory_board_required: false,
        permit_type: Some(PermitType::Emergency),
        auto_approve: false,
        evidence_required: Vec::new(),
    };
    let constraints = PermitConstraints::for_task(
        d.policy,
        d.task,
        d.analysis,
        d.worker_id,
        spec.level,
        ConstraintChoices::default(),
    )
    .for_emergency(EmergencyMark {
        emergency_id: d.emergency.id.to_owned(),
        incident_id: d.emergency.incident_id.to_owned(),
    });
    let deadline = approval_deadline(spec, d.now);
    let mut life = Lifecycle {
        state: PermitState::Requested,
        valid_from: None,
        expires_at: None,
        renewals: 0,
        total_hours: d.minutes as f64 / 60.0,
    };
    let declared = EmergencyDeclared {
        emergency_id: d.emergency.id.to_owned(),
        incident_id: d.emergency.incident_id.to_owned(),
        minutes: d.minutes,
        approval_deadline_ms: deadline.millis(),
        scope_required_level: d
            .analysis
            .certification_decision
            .certification_level_required
            .value(),
        enhanced_audit: true,
        personal: Some(
            Personal::of(d.declared_by)
                .text("reason", Some(d.reason))
                .text("emergency_justification", Some(d.reason)),
        ),
    };
    let requested = PermitRequested {
        permit_type: PermitType::Emergency.to_string(),
        level: spec.level.value(),
        total_risk_score: analysis.risk_assessment.total_risk_score,
        policy_version: analysis.policy_version.clone(),
        hours: life.total_hours,
        emergency_id: Some(d.emergency.id.to_owned()),
        task: Some(task_facts(d.scope, &analysis)),
        ..PermitRequested::default()
    };
    let events = vec![
        PlannedEvent::record(By::Caller, declared),
        PlannedEvent::record(By::Caller, requested),
        transition(
            &mut life.state,
            PermitEvent::StartReview,
            By::Caller,
            PermitReviewStarted::default(),
        )?,
    ];
    Ok(DeclarePlan {
        analysis,
        constraints,
        approval_deadline: deadline,
        life,
        events,
    })
}

/// What an approval needs to know of an emergency and its permit, read under their locks.
#[derive(Debug, Clone, Copy)]
pub struct ApproveSnapshot<'a> {
    pub emergency: EmergencyRef<'a>,
    pub resolved: bool,
    pub declared_at: Timestamp,
    /// The `emergency` permit type (its approval window).
    pub spec: &'a PermitTypeSpec,
    pub life: Lifecycle,
    pub requirements: &'a ApprovalRequirements,
    pub parties: &'a Parties,
    pub worker_status: CertificationStatus,
    pub round: u32,
    /// Recorded with `permit.issued`.
    pub constraints: &'a PermitConstraints,
    pub now: Timestamp,
}

/// An approval by `who` under `role`: the emergency is not resolved, its permit awaits
/// approval ([`apply`]), `who` may approve it ([`check_approver`]: a human holding the
/// role, not its declarer, the worker's owner or the worker), inside the approval window,
/// the worker's certification in force. The permit is approved and issued at once for
/// the declared minutes (its total hours so far). Events: `permit.approval_recorded`,
/// `permit.approved`, `permit.issued` (as Steward), `emergency.approved`; the comment is
/// the approver's free text, sealed for them.
pub fn plan_approve(
    snap: &ApproveSnapshot<'_>,
    who: &Candidate,
    role: Role,
    channel: Channel,
    comment: Option<&PersonalText>,
) -> Result<(Lifecycle, Vec<PlannedEvent>), EmergencyRefusal> {
    if snap.resolved {
        return Err(EmergencyRefusal::state(
            Refusal::EmergencyResolved,
            format!(
                "emergency `{}` is resolved: nothing to approve",
                snap.emergency.id
            ),
        ));
    }
    apply(snap.life.state, &PermitEvent::QuorumMet)?;
    check_approver(snap.requirements, snap.parties, who, role, &[])?;
    check_approval_window(snap.spec, snap.declared_at, snap.now)?;
    certification_in_force(snap.worker_status)?;
    let approver = who.principal_id.as_str();
    let personal = || Some(Personal::of(approver).text("comment", comment));
    let mut life = snap.life;
    let recorded = PermitApprovalRecorded {
        decision: "approve".to_owned(),
        role: role.to_string(),
        channel: Value::from(channel.as_str()),
        conditions: json!({}),
        round: snap.round,
        personal: personal(),
    };
    let approved = PermitApproved {
        approvers: Some(approver_refs(&[RecordedApproval {
            principal_id: approver.to_owned(),
            role,
        }])),
        emergency: Some(true),
        ..PermitApproved::default()
    };
    let mut events = vec![
        PlannedEvent::record(By::Caller, recorded),
        transition(
            &mut life.state,
            PermitEvent::QuorumMet,
            By::Caller,
            approved,
        )?,
    ];
    events.extend(issue_if_due(&mut life, None, snap.constraints, snap.now)?);
    let emergency_approved = EmergencyApproved {
        emergency_id: snap.emergency.id.to_owned(),
        incident_id: snap.emergency.incident_id.to_owned(),
        role: role.to_string(),
        authorized_by: approver.to_owned(),
        approval_timestamp_ms: snap.now.millis(),
        channel: Value::from(channel.as_str()),
        expires_at_ms: life.expires_at.map(Timestamp::millis),
        personal: personal(),
    };
    events.push(PlannedEvent::record(By::Caller, emergency_approved));
    Ok((life, events))
}

/// What a resolution needs to know of the emergency, read under its lock (the resolver
/// checked already: a human incident commander or on-call lead).
#[derive(Debug, Clone, Copy)]
pub struct ResolveSnapshot<'a> {
    pub emergency: EmergencyRef<'a>,
    pub resolved: bool,
    pub life: Lifecycle,
    /// Its permit was granted (approved).
    pub approved: bool,
    /// Its end is already recorded (with this review deadline).
    pub ended: bool,
    pub review_due: Option<Timestamp>,
    pub now: Timestamp,
}

/// A resolution's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvePlan {
    pub life: Lifecycle,
    pub events: Vec<PlannedEvent>,
    /// The end to record, unless one was.
    pub end: Option<EmergencyEnd>,
    /// The permit is live: Steward revokes it (`incident_resolved`) once the resolution
    /// is committed.
    pub revoke: bool,
}

/// The incident is resolved by `resolver` (once): a request still awaiting approval expires,
/// the emergency ends now (unless it already had) with its review due 24 h later if its
/// permit was granted. Events: `permit.expired` (a request), `emergency.resolved` (the
/// resolution is the resolver's free text, sealed for them).
pub fn plan_resolve(
    snap: &ResolveSnapshot<'_>,
    resolver: &str,
    resolution: Option<&PersonalText>,
) -> Result<ResolvePlan, EmergencyRefusal> {
    if snap.resolved {
        return Err(EmergencyRefusal::state(
            Refusal::EmergencyResolved,
            format!("emergency `{}` is already resolved", snap.emergency.id),
        ));
    }
    let mut life = snap.life;
    let mut events = Vec::new();
    if apply(life.state, &PermitEvent::Expire).is_ok() {
        let expired = PermitExpired {
            reason: RevocationReason::IncidentResolved.to_string(),
            emergency_id: Some(snap.emergency.id.to_owned()),
            ..PermitExpired::default()
        };
        events.push(transition(
            &mut life.state,
            PermitEvent::Expire,
            By::Caller,
            expired,
        )?);
    }
    let end = (!snap.ended).then(|| EmergencyEnd {
        at: snap.now,
        reason: RevocationReason::IncidentResolved.as_str(),
        review_due: review_due(snap.now, snap.approved),
    });
    let resolved = EmergencyResolved {
        emergency_id: snap.emergency.id.to_owned(),
        incident_id: snap.emergency.incident_id.to_owned(),
        review_due_at_ms: end
            .map_or(snap.review_due, |end| end.review_due)
            .map(Timestamp::millis),
        personal: Some(Personal::of(resolver).text("resolution", resolution)),
    };
    events.push(PlannedEvent::record(By::Caller, resolved));
    Ok(ResolvePlan {
        revoke: life.state.is_live(),
        life,
        events,
        end,
    })
}

/// What a renewal needs to know of an emergency and its permit, read under their locks.
#[derive(Debug, Clone, Copy)]
pub struct RenewSnapshot<'a> {
    pub emergency: EmergencyRef<'a>,
    pub resolved: bool,
    pub permit_id: &'a str,
    pub life: Lifecycle,
    /// The `emergency` permit type (its renewal limits).
    pub spec: &'a PermitTypeSpec,
    pub requirements: &'a ApprovalRequirements,
    pub parties: &'a Parties,
    pub now: Timestamp,
}

/// A renewal of an emergency permit by `minutes`: the emergency is not resolved, its
/// permit is live ([`apply`]) and not past its end, `who` is an incident commander within
/// the type's limits ([`check_emergency_renewal`]) who may approve it ([`check_approver`]).
/// The extension runs from the current end ([`renewed_expiry`]). Events:
/// `permit.renewed`, `emergency.renewed`.
pub fn plan_emergency_renewal(
    snap: &RenewSnapshot<'_>,
    who: &Candidate,
    minutes: i64,
) -> Result<(Lifecycle, Vec<PlannedEvent>), EmergencyRefusal> {
    let (emergency, life, now) = (snap.emergency, snap.life, snap.now);
    if snap.resolved {
        return Err(EmergencyRefusal::state(
            Refusal::EmergencyResolved,
            format!(
                "emergency `{}` is resolved: it cannot be renewed",
                emergency.id
            ),
        ));
    }
    let expired = life.expires_at.is_some_and(|until| now >= until);
    if apply(life.state, &PermitEvent::Renew).is_err() || expired {
        return Err(EmergencyRefusal::state(
            Refusal::PermitNotLive,
            format!(
                "emergency `{}` has no live permit to renew (permit `{}` is {}{})",
                emergency.id,
                snap.permit_id,
                life.state,
                if expired { ", past its expiry" } else { "" }
            ),
        ));
    }
    let so_far = (life.total_hours * 60.0).round() as i64;
    check_emergency_renewal(
        snap.spec,
        &who.principal_id,
        &who.roles,
        life.renewals,
        so_far,
        minutes,
    )?;
    check_approver(
        snap.requirements,
        snap.parties,
        who,
        Role::IncidentCommander,
        &[],
    )?;
    let total_minutes = (life.total_hours * 60.0).round() as i64 + minutes;
    let hours = minutes as f64 / 60.0;
    let until = renewed_expiry(life.expires_at, hours, now);
    let renewed = Lifecycle {
        expires_at: Some(until),
        renewals: life.renewals + 1,
        total_hours: total_minutes as f64 / 60.0,
        ..life
    };
    let permit_renewed = PermitRenewed {
        hours,
        renewals: renewed.renewals,
        total_hours: renewed.total_hours,
        expires_at_ms: Some(until.millis()),
    };
    let emergency_renewed = EmergencyRenewed {
        emergency_id: emergency.id.to_owned(),
        incident_id: emergency.incident_id.to_owned(),
        minutes,
        renewals: renewed.renewals,
        total_minutes,
        expires_at_ms: Some(until.millis()),
    };
    let events = vec![
        PlannedEvent::record(By::Caller, permit_renewed),
        PlannedEvent::record(By::Caller, emergency_renewed),
    ];
    Ok((renewed, events))
}

/// A post-incident review: the filer's free text, personal and sealed in its event.
#[derive(Debug, Clone)]
pub struct EmergencyReview {
    pub summary: PersonalText,
    pub root_cause: Option<PersonalText>,
    pub actions: Vec<PersonalText>,
}

/// What filing a review needs to know of the emergency, read under its lock.
#[derive(Debug, Clone, Copy)]
pub struct ReviewFiling<'a> {
    pub emergency: EmergencyRef<'a>,
    pub declared_by: &'a str,
    pub approved_by: Option<&'a str>,
    pub filed: bool,
    /// Set once the emergency ended with its permit granted.
    pub review_due: Option<Timestamp>,
    pub now: Timestamp,
}

/// The review of an emergency, filed by `who` under its own id: a party to it
/// ([`check_review_filer`]), once, when one is due. The `emergency.review_filed` event is
/// `late` from the due instant on.
pub fn plan_review(
    filing: &ReviewFiling<'_>,
    who: &Candidate,
    review_id: &str,
    review: &EmergencyReview,
) -> Result<PlannedEvent, EmergencyRefusal> {
    let emergency = filing.emergency;
    check_review_filer(who, filing.declared_by, filing.approved_by, emergency.id)?;
    if filing.filed {
        return Err(EmergencyRefusal::state(
            Refusal::ReviewAlreadyFiled,
            format!(
                "the review of emergency `{}` is already filed",
                emergency.id
            ),
        ));
    }
    let Some(due) = filing.review_due else {
        return Err(EmergencyRefusal::state(
            Refusal::ReviewNotDue,
            format!(
                "emergency `{}` needs no review yet: it is still running, or its permit was never granted",
                emergency.id
            ),
        ));
    };
    let personal = Personal::of(&who.principal_id)
        .text("summary", Some(&review.summary))
        .text("root_cause", review.root_cause.as_ref())
        .texts("actions", &review.actions);
    let filed = EmergencyReviewFiled {
        emergency_id: emergency.id.to_owned(),
        incident_id: emergency.incident_id.to_owned(),
        post_incident_review_id: review_id.to_owned(),
        review_due_at_ms: due.millis(),
        late: filing.now >= due,
        personal: Some(personal),
    };
    Ok(PlannedEvent::record(By::Caller, filed))
}

/// The sweep's [`SweepAction::ExpireRequest`]: the request expires as Steward (the
/// incident was resolved first, or the approval window closed) and, unless it was, the
/// emergency's end is recorded (no review: the permit was never granted).
pub fn plan_lapse(
    emergency: EmergencyRef<'_>,
    life: Lifecycle,
    view: &SweepView,
    now: Timestamp,
) -> Result<(Lifecycle, Vec<PlannedEvent>, Option<EmergencyEnd>), TransitionError> {
    let reason = if view.resolved {
        RevocationReason::IncidentResolved.as_str()
    } else {
        "approval_window_closed"
    };
    let mut life = life;
    let expired = PermitExpired {
        reason: reason.to_owned(),
        emergency_id: Some(emergency.id.to_owned()),
        approval_deadline_ms: Some(view.approval_deadline.millis()),
        ..PermitExpired::default()
    };
    let mut events = vec![transition(
        &mut life.state,
        PermitEvent::Expire,
        By::System,
        expired,
    )?];
    let end = (!view.ended).then_some(EmergencyEnd {
        at: now,
        reason,
        review_due: None,
    });
    if let Some(end) = &end {
        events.push(PlannedEvent::record(By::System, emergency.ended(end, None)));
    }
    Ok((life, events, end))
}

/// The end of an emergency whose permit no longer authorizes work ([`emergency_end`]),
/// with its review deadline, and its `emergency.ended` event as Steward; `None` while the
/// permit is live.
pub fn plan_end(
    emergency: EmergencyRef<'_>,
    permit_state: PermitState,
    revocation_reason: Option<RevocationReason>,
    expires_at: Option<Timestamp>,
    approved: bool,
    now: Timestamp,
) -> Option<(EmergencyEnd, PlannedEvent)> {
    let (at, reason) = emergency_end(permit_state, revocation_reason, expires_at, now)?;
    let end = EmergencyEnd {
        at,
        reason,
        review_due: review_due(at, approved),
    };
    let event = PlannedEvent::record(By::System, emergency.ended(&end, Some(at)));
    Some((end, event))
}

#[cfg(test)]
mod tests;
