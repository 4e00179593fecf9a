//! The permit workflow's decisions after the request (SPEC §6.2, §6.3): an approver's
//! decision and the quorum it may complete, the change-advisory-board sign-off, issue at
//! the window's start, renewal, start, completion, close (with the certification
//! feedback), revocation and archival. Each takes a snapshot of the permit and answers a
//! plan (the permit's new lifecycle and the events to append) or a [`PermitRefusal`].
//! Every state precondition is [`apply`]'s (through [`transition`] or a gate that asks it
//! without moving).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use steward_audit::event::{
    ApproverRef, AuditSummary, CompletionApproval, PermitApprovalRecorded, PermitApproved,
    PermitArchived, PermitCabSignedOff, PermitChangesRequested, PermitClosed, PermitCompleted,
    PermitRejected, PermitRenewalApprovalRecorded, PermitRenewed, PermitResubmitted, PermitRevoked,
    PermitStarted, SummaryApproval,
};
use steward_audit::{Personal, PersonalText};
use steward_policy::{
    ApprovalRequirements, CertificationStatus, Evidence, Level, PermitType, PermitTypeSpec,
    Refusal, Role, certification_block,
};

use crate::approval::{
    ApprovalRefusal, Candidate, Channel, Decision, Parties, RecordedApproval, check_approver,
    quorum,
};
use crate::constraints::PermitConstraints;
use crate::evidence::{missing_evidence, provided_evidence};
use crate::plan::{
    By, Lifecycle, PermitRefusal, PlannedEvent, issue_if_due, renewed_expiry, transition,
};
use crate::report::missing_report_fields;
use crate::request::check_rollback_plan;
use crate::state::{Outcome, PermitEvent, PermitState, RevocationReason, apply};
use crate::time::Timestamp;
use crate::window::{RenewalApproval, check_renewal};

/// The roles that may record a change-advisory-board sign-off (as humans).
pub const CAB_ROLES: [Role; 5] = [
    Role::Admin,
    Role::VpEngineering,
    Role::Cto,
    Role::Ciso,
    Role::Coo,
];

/// Roles that may revoke any permit (besides its requester and its approvers).
pub const REVOKER_ROLES: [Role; 3] = [Role::Admin, Role::SecurityLead, Role::IncidentCommander];

/// A decision already cast in the permit's current round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CastDecision {
    pub principal_id: String,
    pub role: Role,
    pub decision: Decision,
}

/// What the review decisions need to know of a permit, read under its lock.
#[derive(Debug, Clone, Copy)]
pub struct ReviewSnapshot<'a> {
    pub life: Lifecycle,
    pub permit_type: PermitType,
    pub requirements: &'a ApprovalRequirements,
    pub parties: &'a Parties,
    /// The worker's certification status now.
    pub worker_status: CertificationStatus,
    /// The current round's decisions, in order.
    pub decisions: &'a [CastDecision],
    pub cab_signed_off: bool,
    pub round: u32,
    pub requested_start: Option<Timestamp>,
    /// Recorded with `permit.issued`.
    pub constraints: &'a PermitConstraints,
    pub now: Timestamp,
}

/// A review step's plan: the permit's new lifecycle, whether the CAB has now signed off,
/// and the events.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewPlan {
    pub life: Lifecycle,
    pub cab_signed_off: bool,
    pub events: Vec<PlannedEvent>,
}

/// The worker's certification is in force (SPEC §4 hard block otherwise).
pub fn certification_in_force(status: CertificationStatus) -> Result<(), PermitRefusal> {
    match certification_block(status) {
        Some(block) => Err(PermitRefusal::HardBlocks(vec![block])),
        None => Ok(()),
    }
}

fn not_emergency(permit_type: PermitType) -> Result<(), PermitRefusal> {
    if permit_type == PermitType::Emergency {
        Err(PermitRefusal::EmergencyPath)
    } else {
        Ok(())
    }
}

fn recorded(decisions: &[CastDecision], only_approvals: bool) -> Vec<RecordedApproval> {
    decisions
        .iter()
        .filter(|d| !only_approvals || d.decision == Decision::Approve)
        .map(|d| RecordedApproval {
            principal_id: d.principal_id.clone(),
            role: d.role,
        })
        .collect()
}

/// The state change a decision asks for: its gate in [`apply`].
fn decision_event(decision: Decision) -> PermitEvent {
    match decision {
        Decision::Approve => PermitEvent::QuorumMet,
        Decision::Reject => PermitEvent::Reject,
        Decision::RequestChanges => PermitEvent::RequestChanges,
    }
}

/// What an approver adds to a decision, recorded with its event: the channel, any
/// conditions and a comment (the approver's free text: sealed for them).
#[derive(Debug, Clone, Copy)]
pub struct DecisionNote<'a> {
    pub channel: Channel,
    pub conditions: &'a Value,
    pub comment: Option<&'a PersonalText>,
}

/// An approver's decision: the permit is not an emergency, its state allows the decision, an approval needs the
/// worker's certification in force, the candidate may decide ([`check_approver`] against
/// every decision of the round). The store records the decision as an approval row; an
/// approval is `permit.approval_recorded` and approves (and issues, at the window's
/// start) when it completes the quorum; a rejection or a request for changes is the
/// transition.
pub fn plan_decision(
    snap: &ReviewSnapshot<'_>,
    who: &Candidate,
    decision: Decision,
    role: Role,
    note: DecisionNote<'_>,
) -> Result<ReviewPlan, PermitRefusal> {
    not_emergency(snap.permit_type)?;
    let event = decision_event(decision);
    apply(snap.life.state, &event)?;
    if decision == Decision::Approve {
        // A certification suspended, expired or revoked after the request blocks it.
        certification_in_force(snap.worker_status)?;
    }
    check_approver(
        snap.requirements,
        snap.parties,
        who,
        role,
        &recorded(snap.decisions, false),
    )?;
    let mut life = snap.life;
    let mut events = Vec::new();
    let personal = Some(Personal::of(&who.principal_id).text("comment", note.comment));
    let (decided, role_name) = (decision.to_string(), role.to_string());
    let (channel, conditions) = (Value::from(note.channel.as_str()), note.conditions.clone());
    match decision {
        Decision::Approve => {
            let recorded = PermitApprovalRecorded {
                decision: decided,
                role: role_name,
                channel,
                conditions,
                round: snap.round,
                personal,
            };
            events.push(PlannedEvent::record(By::Caller, recorded));
            let mut decisions = snap.decisions.to_vec();
            decisions.push(CastDecision {
                principal_id: who.principal_id.clone(),
                role,
                decision,
            });
            approve_if_quorum(
                snap,
                &decisions,
                snap.cab_signed_off,
                &mut life,
                &mut events,
            )?;
        }
        Decision::Reject => {
            let rejected = PermitRejected {
                decision: decided,
                role: role_name,
                channel,
                conditions,
                round: snap.round,
                personal,
                ..PermitRejected::default()
            };
            events.push(transition(&mut life.state, event, By::Caller, rejected)?);
        }
        Decision::RequestChanges => {
            let changes = PermitChangesRequested {
                decision: decided,
                role: role_name,
                channel,
                conditions,
                round: snap.round,
                personal,
                ..PermitChangesRequested::default()
            };
            events.push(transition(&mut life.state, event, By::Caller, changes)?);
        }
    }
    Ok(ReviewPlan {
        life,
        cab_signed_off: snap.cab_signed_off,
        events,
    })
}

/// The change-advisory-board sign-off a level-4 permit needs: a human holding one of
/// [`CAB_ROLES`], on a permit that needs one and is under review, who is not its
/// requester, the worker's owner or the worker. A second sign-off changes nothing.
pub fn plan_cab_sign_off(
    snap: &ReviewSnapshot<'_>,
    who: &Candidate,
    permit_id: &str,
) -> Result<ReviewPlan, PermitRefusal> {
    check_cab_role(who)?;
    if !snap.requirements.change_advisory_board_required {
        return Err(PermitRefusal::not_allowed(
            Refusal::CabNotRequired,
            format!("permit `{permit_id}` needs no change-advisory-board sign-off"),
        ));
    }
    apply(snap.life.state, &PermitEvent::QuorumMet)?;
    segregation(snap.parties, who)?;
    let mut life = snap.life;
    let mut events = Vec::new();
    if !snap.cab_signed_off {
        events.push(PlannedEvent::record(By::Caller, PermitCabSignedOff {}));
        approve_if_quorum(snap, snap.decisions, true, &mut life, &mut events)?;
    }
    Ok(ReviewPlan {
        life,
        cab_signed_off: true,
        events,
    })
}

/// Whether `who` may record a CAB sign-off at all (checked before any read).
pub fn check_cab_role(who: &Candidate) -> Result<(), PermitRefusal> {
    if who.human && CAB_ROLES.iter().any(|r| who.roles.contains(r)) {
        Ok(())
    } else {
        Err(PermitRefusal::not_allowed(
            Refusal::RoleNotEligible,
            "a change-advisory-board sign-off is recorded by a human admin, vp_engineering, cto, ciso or coo",
        ))
    }
}

/// Segregation of duties for acts other than decisions (the CAB sign-off).
fn segregation(parties: &Parties, who: &Candidate) -> Result<(), ApprovalRefusal> {
    let principal = who.principal_id.clone();
    if who.principal_id == parties.requester {
        return Err(ApprovalRefusal::Requester { principal });
    }
    if who.principal_id == parties.worker_owner {
        return Err(ApprovalRefusal::WorkerOwner { principal });
    }
    if who.principal_id == parties.worker_id {
        return Err(ApprovalRefusal::Executor { principal });
    }
    Ok(())
}

/// Approves when the round's approvals (and the sign-off) meet the quorum, then issues
/// if the window began.
fn approve_if_quorum(
    snap: &ReviewSnapshot<'_>,
    decisions: &[CastDecision],
    cab_signed_off: bool,
    life: &mut Lifecycle,
    events: &mut Vec<PlannedEvent>,
) -> Result<(), PermitRefusal> {
    let approved = recorded(decisions, true);
    if !quorum(snap.requirements, &approved, cab_signed_off).met {
        return Ok(());
    }
    let quorum_met = PermitApproved {
        approvers: Some(approver_refs(&approved)),
        cab_signed_off: Some(cab_signed_off),
        ..PermitApproved::default()
    };
    events.push(transition(
        &mut life.state,
        PermitEvent::QuorumMet,
        By::Caller,
        quorum_met,
    )?);
    events.extend(issue_if_due(
        life,
        snap.requested_start,
        snap.constraints,
        snap.now,
    )?);
    Ok(())
}

/// The approvers a `permit.approved` event names.
pub(crate) fn approver_refs(approved: &[RecordedApproval]) -> Vec<ApproverRef> {
    approved
        .iter()
        .map(|a| ApproverRef {
            principal_id: a.principal_id.clone(),
            role: a.role.to_string(),
        })
        .collect()
}

/// A renewal collecting its approvals (types renewed "with one approval" or "with the
/// same quorum").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRenewal {
    pub hours: f64,
    pub approvals: Vec<RenewalApprovalRecord>,
}

/// One approval of a pending renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalApprovalRecord {
    pub principal_id: String,
    pub role: Role,
}

/// What a renewal needs to know of a permit, read under its lock.
#[derive(Debug, Clone, Copy)]
pub struct RenewalSnapshot<'a> {
    pub permit_id: &'a str,
    pub life: Lifecycle,
    pub spec: &'a PermitTypeSpec,
    pub requirements: &'a ApprovalRequirements,
    pub parties: &'a Parties,
    pub requester_id: &'a str,
    pub pending: Option<&'a PendingRenewal>,
    pub now: Timestamp,
}

/// A renewal's plan: the new lifecycle, the pending renewal left, and the events.
#[derive(Debug, Clone, PartialEq)]
pub struct RenewalPlan {
    pub life: Lifecycle,
    pub pending: Option<PendingRenewal>,
    pub events: Vec<PlannedEvent>,
}

/// Renews a live permit by `hours` as its type allows: at once by its worker or requester
/// (`read_only`); otherwise each call is an approval under `role`, and the renewal takes
/// effect once one approver (`standard_production`) or the original quorum
/// (`advanced_production`) has approved the same hours; a renewal of other hours starts
/// over. The extension runs from the current end ([`renewed_expiry`]).
pub fn plan_renewal(
    snap: &RenewalSnapshot<'_>,
    who: &Candidate,
    hours: f64,
    role: Option<Role>,
) -> Result<RenewalPlan, PermitRefusal> {
    not_emergency(snap.spec.kind)?;
    if let Err(e) = apply(snap.life.state, &PermitEvent::Renew) {
        return Err(PermitRefusal::not_allowed(
            Refusal::PermitNotLive,
            format!(
                "cannot renew a permit in state `{}`: only active or executing permits are renewed",
                e.from
            ),
        ));
    }
    let needs = check_renewal(snap.spec, snap.life.renewals, snap.life.total_hours, hours)?;
    let mut events = Vec::new();
    let mut pending = None;
    let ready = match needs {
        RenewalApproval::Automatic => {
            executor_or_requester(
                snap.parties,
                snap.requester_id,
                who,
                snap.permit_id,
                "renew",
            )?;
            true
        }
        RenewalApproval::OneApproval
        | RenewalApproval::SameQuorum
        | RenewalApproval::IncidentCommander => {
            let role = role.ok_or_else(|| {
                PermitRefusal::not_allowed(
                    Refusal::RoleRequired,
                    "renewing this permit is an approval: name the `role` you approve under",
                )
            })?;
            let mut collecting = match snap.pending {
                Some(p) if (p.hours - hours).abs() < f64::EPSILON => p.clone(),
                _ => PendingRenewal {
                    hours,
                    approvals: Vec::new(),
                },
            };
            let existing: Vec<RecordedApproval> = collecting
                .approvals
                .iter()
                .map(|a| RecordedApproval {
                    principal_id: a.principal_id.clone(),
                    role: a.role,
                })
                .collect();
            let mut req = snap.requirements.clone();
            if needs == RenewalApproval::OneApproval {
                req.approvers_required = 1;
                req.required_roles.clear();
            }
            check_approver(&req, snap.parties, who, role, &existing)?;
            collecting.approvals.push(RenewalApprovalRecord {
                principal_id: who.principal_id.clone(),
                role,
            });
            let all: Vec<RecordedApproval> = existing
                .into_iter()
                .chain(std::iter::once(RecordedApproval {
                    principal_id: who.principal_id.clone(),
                    role,
                }))
                .collect();
            let met = quorum(&req, &all, true).met;
            let recorded = PermitRenewalApprovalRecorded {
                role: role.to_string(),
                hours,
                quorum_met: met,
            };
            events.push(PlannedEvent::record(By::Caller, recorded));
            if !met {
                pending = Some(collecting);
            }
            met
        }
    };
    let mut life = snap.life;
    if ready {
        life.expires_at = Some(renewed_expiry(life.expires_at, hours, snap.now));
        life.renewals += 1;
        life.total_hours += hours;
        let renewed = PermitRenewed {
            hours,
            renewals: life.renewals,
            total_hours: life.total_hours,
            expires_at_ms: life.expires_at.map(Timestamp::millis),
        };
        events.push(PlannedEvent::record(By::Caller, renewed));
    }
    Ok(RenewalPlan {
        life,
        pending,
        events,
    })
}

/// A resubmission after changes were requested, by the requester (or an admin): the new
/// evidence must be complete and its rollback plan meet the level. The event names the
/// new round (`round`, the next one) and the evidence provided.
pub fn plan_resubmit(
    snap: &ResubmitSnapshot<'_>,
    who: &Candidate,
    evidence: &BTreeMap<Evidence, Value>,
) -> Result<(Lifecycle, PlannedEvent), PermitRefusal> {
    requester_or_admin(snap.requester_id, who, snap.permit_id, "resubmit")?;
    apply(snap.life.state, &PermitEvent::Resubmit)?;
    let provided = provided_evidence(evidence);
    let missing = missing_evidence(&snap.requirements.evidence_required, &provided);
    if !missing.is_empty() {
        return Err(PermitRefusal::MissingEvidence {
            level: snap.level,
            missing,
        });
    }
    check_rollback_plan(snap.level, evidence, snap.now)?;
    let resubmitted = PermitResubmitted {
        round: snap.round + 1,
        evidence: provided.iter().map(|e| e.to_string()).collect(),
        ..PermitResubmitted::default()
    };
    let mut life = snap.life;
    let event = transition(
        &mut life.state,
        PermitEvent::Resubmit,
        By::Caller,
        resubmitted,
    )?;
    Ok((life, event))
}

/// What a resubmission needs to know of a permit.
#[derive(Debug, Clone, Copy)]
pub struct ResubmitSnapshot<'a> {
    pub permit_id: &'a str,
    pub life: Lifecycle,
    pub level: Level,
    pub requirements: &'a ApprovalRequirements,
    pub requester_id: &'a str,
    /// The round that asked for changes.
    pub round: u32,
    pub now: Timestamp,
}

/// Only the worker holding the permit (its agent identity) or its requester may act.
pub fn executor_or_requester(
    parties: &Parties,
    requester_id: &str,
    who: &Candidate,
    permit_id: &str,
    action: &str,
) -> Result<(), PermitRefusal> {
    if who.principal_id == parties.worker_id || who.principal_id == requester_id {
        Ok(())
    } else {
        Err(PermitRefusal::not_allowed(
            Refusal::NotExecutor,
            format!(
                "only the worker holding permit `{permit_id}` or its requester may {action} it"
            ),
        ))
    }
}

/// Only the requester (or an admin) may act.
pub fn requester_or_admin(
    requester_id: &str,
    who: &Candidate,
    permit_id: &str,
    action: &str,
) -> Result<(), PermitRefusal> {
    if who.principal_id == requester_id || who.roles.contains(&Role::Admin) {
        Ok(())
    } else {
        Err(PermitRefusal::not_allowed(
            Refusal::NotRequester,
            format!("only the requester of permit `{permit_id}` (or an admin) may {action} it"),
        ))
    }
}

/// The worker (or its requester) starts executing an active permit inside its window,
/// its certification in force.
pub fn plan_start(
    life: Lifecycle,
    worker_status: CertificationStatus,
    permit_id: &str,
    now: Timestamp,
) -> Result<(Lifecycle, PlannedEvent), PermitRefusal> {
    let mut next = life;
    let started = PermitStarted::default();
    let event = transition(&mut next.state, PermitEvent::Start, By::Caller, started)?;
    certification_in_force(worker_status)?;
    let now_ms = now.millis();
    match (life.valid_from, life.expires_at) {
        (Some(from), _) if now < from => {
            return Err(PermitRefusal::OutsideWindow {
                message: format!(
                    "permit `{permit_id}` is valid from {} (unix ms); it is {now_ms}",
                    from.millis()
                ),
            });
        }
        (_, Some(until)) if now >= until => {
            return Err(PermitRefusal::OutsideWindow {
                message: format!(
                    "permit `{permit_id}` expired at {} (unix ms); it is {now_ms}",
                    until.millis()
                ),
            });
        }
        _ => {}
    }
    Ok((next, event))
}

/// What Steward adds to a worker's completion report in `permit.completed`.
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    pub worker_id: &'a str,
    /// The permit's decisions with when they were cast (unix ms); its approvals are named.
    pub decisions: &'a [(CastDecision, i64)],
    /// When execution started.
    pub started_at: Timestamp,
    pub now: Timestamp,
}

/// An execution's end: from `executing` the report must carry its level's fields
/// (refused before any write: a completed operation without its report would leave a gap
/// in the trail). The event records the report and what Steward adds ([`Completion`]).
pub fn plan_complete(
    life: Lifecycle,
    level: Level,
    outcome: Outcome,
    report: &Value,
    done: Completion<'_>,
) -> Result<(Lifecycle, PlannedEvent), PermitRefusal> {
    let change = PermitEvent::Complete { outcome };
    if apply(life.state, &change).is_ok() {
        let missing = missing_report_fields(level, outcome, report);
        if !missing.is_empty() {
            return Err(PermitRefusal::IncompleteReport { level, missing });
        }
    }
    let completed = PermitCompleted {
        outcome: outcome.to_string(),
        report: report.clone(),
        worker_id: done.worker_id.to_owned(),
        certification_level: level.value(),
        approvals: approvals(done.decisions)
            .map(|(d, at)| CompletionApproval {
                approver_id: d.principal_id.clone(),
                role: d.role.to_string(),
                approval_timestamp_ms: at,
            })
            .collect(),
        started_at_ms: done.started_at.millis(),
        completed_at_ms: done.now.millis(),
        ..PermitCompleted::default()
    };
    let mut next = life;
    let event = transition(&mut next.state, change, By::Caller, completed)?;
    Ok((next, event))
}

/// The approvals among `decisions`, with when they were cast.
fn approvals(decisions: &[(CastDecision, i64)]) -> impl Iterator<Item = (&CastDecision, i64)> {
    decisions
        .iter()
        .filter(|(d, _)| d.decision == Decision::Approve)
        .map(|(d, at)| (d, *at))
}

/// The closer's outcome feedback (SPEC §10): `over_certified` when the risk observed is
/// below the permit's level, `under_certified` when above, else `matched`.
pub fn certification_feedback(actual: Level, permit_level: Level) -> &'static str {
    match actual.cmp(&permit_level) {
        Ordering::Less => "over_certified",
        Ordering::Equal => "matched",
        Ordering::Greater => "under_certified",
    }
}

/// What closing a permit needs to know of it.
#[derive(Debug, Clone, Copy)]
pub struct CloseSnapshot<'a> {
    pub life: Lifecycle,
    pub level: Level,
    pub requirements: &'a ApprovalRequirements,
    /// The current round's decisions with when they were cast (unix ms).
    pub decisions: &'a [(CastDecision, i64)],
    pub cab_signed_off: bool,
    pub operations: &'a Value,
    pub outcome: Option<Outcome>,
    pub revoked: bool,
}

/// Closes a completed permit with its audit summary (what was performed, whether the
/// constraints held, the approvals verified against the quorum) and, given the risk the
/// closer observed, the certification feedback. Returns the new lifecycle, the summary
/// and the `permit.closed` event.
pub fn plan_close(
    snap: &CloseSnapshot<'_>,
    notes: Value,
    actual_level: Option<Level>,
) -> Result<(Lifecycle, Value, PlannedEvent), PermitRefusal> {
    let cast: Vec<CastDecision> = snap.decisions.iter().map(|(d, _)| d.clone()).collect();
    let status = quorum(
        snap.requirements,
        &recorded(&cast, false),
        snap.cab_signed_off,
    );
    let summary = AuditSummary {
        operations_performed: snap.operations.clone(),
        outcome: snap.outcome.map(|o| o.to_string()),
        constraints_met: !snap.revoked,
        approvals_verified: status.met,
        approvals: approvals(snap.decisions)
            .map(|(d, at)| SummaryApproval {
                principal_id: d.principal_id.clone(),
                role: d.role.to_string(),
                at_ms: at,
            })
            .collect(),
        cab_signed_off: snap.cab_signed_off,
        notes,
    };
    let closed = PermitClosed {
        audit_summary: summary,
        actual_level: actual_level.map(Level::value),
        certification_feedback: actual_level
            .map(|actual| certification_feedback(actual, snap.level).to_owned()),
        ..PermitClosed::default()
    };
    let summary = serde_json::to_value(&closed.audit_summary).unwrap_or(Value::Null);
    let mut life = snap.life;
    let event = transition(&mut life.state, PermitEvent::Close, By::Caller, closed)?;
    Ok((life, summary, event))
}

/// Who may revoke a permit: its requester, one of its approvers, or a holder of one of
/// [`REVOKER_ROLES`].
pub fn may_revoke(
    who: &Candidate,
    requester_id: &str,
    approvers: &[&str],
    permit_id: &str,
) -> Result<(), PermitRefusal> {
    let may = who.principal_id == requester_id
        || REVOKER_ROLES.iter().any(|r| who.roles.contains(r))
        || approvers.contains(&who.principal_id.as_str());
    if may {
        Ok(())
    } else {
        Err(PermitRefusal::not_allowed(
            Refusal::NotAParty,
            format!(
                "only the requester, an approver of permit `{permit_id}`, an admin, a security_lead or an incident_commander may revoke it"
            ),
        ))
    }
}

/// Revokes a live permit with `reason`; `evidence` is the event's payload (what the
/// revoker knew, a person's comment sealed), whose `reason` is set to `reason`.
/// Idempotent: a revoked permit gives no event (`None`).
pub fn plan_revoke(
    life: Lifecycle,
    reason: RevocationReason,
    by: By,
    evidence: PermitRevoked,
) -> Result<Option<(Lifecycle, PlannedEvent)>, PermitRefusal> {
    if life.state == PermitState::Revoked {
        return Ok(None);
    }
    let revoked = PermitRevoked {
        reason: reason.to_string(),
        ..evidence
    };
    let mut next = life;
    let event = transition(&mut next.state, PermitEvent::Revoke { reason }, by, revoked)?;
    Ok(Some((next, event)))
}

/// A person's revocation: their comment (free text) sealed for them.
pub fn revocation_by(revoker: &str, comment: Option<&PersonalText>) -> PermitRevoked {
    PermitRevoked {
        personal: Some(Personal::of(revoker).text("comment", comment)),
        ..PermitRevoked::default()
    }
}

/// Archives a permit in a terminal state.
pub fn plan_archive(life: Lifecycle) -> Result<(Lifecycle, PlannedEvent), PermitRefusal> {
    let mut next = life;
    let event = transition(
        &mut next.state,
        PermitEvent::Archive,
        By::Caller,
        PermitArchived::default(),
    )?;
    Ok((next, event))
}

#[cfg(test)]
mod tests;
