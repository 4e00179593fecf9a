//! Payloads of the permit, emergency, monitoring and rollback events (SPEC §6–§8).
//!
//! A permit's state change written through the one transition function carries `from` and
//! `to` (the states, as `steward_permits::PermitState` spells them) beside its own members.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Personal, payload, present};

/// What a compliance report needs to know of a permit's task (`permit.requested`'s
/// `task`): its description's first 200 characters and the scope facts of its analysis.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskFacts {
    pub summary: Option<String>,
    #[serde(default)]
    pub environment: Value,
    #[serde(default)]
    pub compliance_frameworks: Vec<String>,
    #[serde(default)]
    pub sensitive_data: Vec<String>,
    #[serde(default)]
    pub risky_operations: Vec<String>,
}

/// `permit.requested`: a permit asked for, through the general workflow or an emergency
/// declaration (which has no evidence or window, and names its emergency).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitRequested {
    pub permit_type: String,
    pub level: u8,
    pub total_risk_score: u8,
    pub policy_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Vec<String>>,
    pub hours: f64,
    #[serde(default, with = "present", skip_serializing_if = "present::absent")]
    pub window_start_ms: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_id: Option<String>,
    #[serde(default)]
    pub task: Option<TaskFacts>,
}
payload!(PermitRequested => PermitRequested);

/// `permit.hard_blocked`: a permit request refused by hard blocks; nothing else written.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitHardBlocked {
    /// The first rule (`null` when there was none).
    pub rule: Option<String>,
    pub rules: Vec<String>,
    pub worker_type: Value,
}
payload!(PermitHardBlocked => PermitHardBlocked);

/// `permit.review_started`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitReviewStarted {
    pub from: String,
    pub to: String,
}
payload!(PermitReviewStarted => PermitReviewStarted);

/// An approver named by a permit event: who and under which role.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ApproverRef {
    pub principal_id: String,
    pub role: String,
}

/// `permit.approval_recorded`: an approver's vote (the comment is personal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitApprovalRecorded {
    /// `approve` (a reject or request for changes is the state change's event).
    pub decision: String,
    pub role: String,
    pub channel: Value,
    pub conditions: Value,
    pub round: u32,
    /// `comment`.
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(PermitApprovalRecorded => PermitApprovalRecorded, personal);

/// `permit.cab_signed_off`: the change-advisory board signed a level-4 permit off.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitCabSignedOff {}
payload!(PermitCabSignedOff => PermitCabSignedOff);

/// `permit.approved`: the quorum was met (by approvers, automatically, or by an emergency
/// approval).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitApproved {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Vec<ApproverRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cab_signed_off: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<bool>,
    pub from: String,
    pub to: String,
}
payload!(PermitApproved => PermitApproved);

/// `permit.rejected`: an approver's reject (the comment is personal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitRejected {
    pub decision: String,
    pub role: String,
    pub channel: Value,
    pub conditions: Value,
    pub round: u32,
    pub from: String,
    pub to: String,
    /// `comment`.
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(PermitRejected => PermitRejected, personal);

/// `permit.changes_requested`: an approver asked for changes (the comment is personal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitChangesRequested {
    pub decision: String,
    pub role: String,
    pub channel: Value,
    pub conditions: Value,
    pub round: u32,
    pub from: String,
    pub to: String,
    /// `comment`.
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(PermitChangesRequested => PermitChangesRequested, personal);

/// `permit.resubmitted`: a new round after changes were requested.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitResubmitted {
    pub from: String,
    pub to: String,
    pub round: u32,
    pub evidence: Vec<String>,
}
payload!(PermitResubmitted => PermitResubmitted);

/// `permit.issued`: the permit's window and the constraints it was issued with.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitIssued {
    /// Always written; `None` only when reading an event that lacks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    pub hours: f64,
    pub constraints: Value,
    pub from: String,
    pub to: String,
}
payload!(PermitIssued => PermitIssued);

/// `permit.started`: execution began (from the state it left, to `executing`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitStarted {
    pub from: String,
    /// Written since the permit plans record every transition's `from` and `to`; absent
    /// from earlier events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}
payload!(PermitStarted => PermitStarted);

/// An approval as a completion report states it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CompletionApproval {
    pub approver_id: String,
    pub role: String,
    pub approval_timestamp_ms: i64,
}

/// `permit.completed`: the worker's report and what Steward adds to it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitCompleted {
    pub outcome: String,
    pub report: Value,
    pub worker_id: String,
    pub certification_level: u8,
    pub approvals: Vec<CompletionApproval>,
    pub started_at_ms: i64,
    pub completed_at_ms: i64,
    pub from: String,
    pub to: String,
}
payload!(PermitCompleted => PermitCompleted);

/// An approval as a closing summary lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SummaryApproval {
    pub principal_id: String,
    pub role: String,
    pub at_ms: i64,
}

/// A closed permit's audit summary.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditSummary {
    pub operations_performed: Value,
    pub outcome: Option<String>,
    pub constraints_met: bool,
    pub approvals_verified: bool,
    pub approvals: Vec<SummaryApproval>,
    pub cab_signed_off: bool,
    pub notes: Value,
}

/// `permit.closed`: the audit summary, and the certification feedback when the closer
/// named the level the work actually needed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitClosed {
    pub audit_summary: AuditSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_level: Option<u8>,
    /// `over_certified`, `matched` or `under_certified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certification_feedback: Option<String>,
    pub from: String,
    pub to: String,
}
payload!(PermitClosed => PermitClosed);

/// `permit.revoked`: the reason, and what the revoker knew: a person's comment (personal),
/// or Steward's own evidence (the timer, the scope violation, the fired trigger, the
/// emergency, the certification revoked).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitRevoked {
    pub reason: String,
    /// The states of a revocation through the transition function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The state left, for a revocation by the certification cascade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_state: Option<String>,
    /// Expiry (`time_expiration`).
    #[serde(default, with = "present", skip_serializing_if = "present::absent")]
    pub expires_at_ms: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_grace_ended: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_until_ms: Option<i64>,
    /// A scope violation (`scope_expansion`): the rule, the operation and the miss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Value>,
    /// A fired monitoring trigger (`constraint_breach`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_id: Option<String>,
    /// An emergency's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    /// `comment`, for a revocation by a person.
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(PermitRevoked => PermitRevoked, personal);

impl PermitRevoked {
    /// A revocation for `reason` with nothing else known yet.
    pub fn new(reason: impl Into<String>) -> PermitRevoked {
        PermitRevoked {
            reason: reason.into(),
            ..PermitRevoked::default()
        }
    }
}

/// `permit.expired`: a request that found no quorum in time, or an emergency that was not
/// approved before its deadline or whose incident was resolved first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitExpired {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_hours: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_deadline_ms: Option<i64>,
    pub from: String,
    pub to: String,
}
payload!(PermitExpired => PermitExpired);

/// `permit.archived`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitArchived {
    pub from: String,
    pub to: String,
}
payload!(PermitArchived => PermitArchived);

/// `permit.renewal_approval_recorded`: one approval of a pending renewal.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitRenewalApprovalRecorded {
    pub role: String,
    pub hours: f64,
    pub quorum_met: bool,
}
payload!(PermitRenewalApprovalRecorded => PermitRenewalApprovalRecorded);

/// `permit.renewed`: the window extended.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitRenewed {
    pub hours: f64,
    pub renewals: u32,
    pub total_hours: f64,
    pub expires_at_ms: Option<i64>,
}
payload!(PermitRenewed => PermitRenewed);

/// `permit.approval_overdue`: the approval SLA passed without a quorum.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitApprovalOverdue {
    pub state: String,
    pub sla_hours: f64,
    pub requested_at_ms: i64,
    pub due_at_ms: i64,
    /// When the request itself expires (twice the SLA), `null` without an SLA.
    pub expires_at_ms: Option<i64>,
}
payload!(PermitApprovalOverdue => PermitApprovalOverdue);

/// `permit.escalated`: who is told about an overdue approval.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitEscalated {
    /// `approval_sla`.
    pub reason: String,
    pub roles: Vec<String>,
    pub approver_roles: Vec<String>,
    pub due_at_ms: i64,
}
payload!(PermitEscalated => PermitEscalated);

/// `permit.expiry_warning`: minutes before a live permit expires.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitExpiryWarning {
    pub minutes: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub state: String,
}
payload!(PermitExpiryWarning => PermitExpiryWarning);

/// `permit.expiry_grace_started`: an executing permit reached its end; the operation in
/// flight may still complete until `grace_until_ms`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitExpiryGraceStarted {
    pub expires_at_ms: Option<i64>,
    pub grace_until_ms: i64,
}
payload!(PermitExpiryGraceStarted => PermitExpiryGraceStarted);

/// `emergency.declared` (the reason is personal, twice: `reason` and
/// `emergency_justification`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EmergencyDeclared {
    pub emergency_id: String,
    pub incident_id: String,
    pub minutes: i64,
    pub approval_deadline_ms: i64,
    pub scope_required_level: u8,
    pub enhanced_audit: bool,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(EmergencyDeclared => EmergencyDeclared, personal);

/// `emergency.approved` (the comment is personal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EmergencyApproved {
    pub emergency_id: String,
    pub incident_id: String,
    pub role: String,
    pub authorized_by: String,
    pub approval_timestamp_ms: i64,
    pub channel: Value,
    /// Always written; `None` only when reading an event that lacks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(EmergencyApproved => EmergencyApproved, personal);

/// `emergency.renewed` by the incident commander.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EmergencyRenewed {
    pub emergency_id: String,
    pub incident_id: String,
    pub minutes: i64,
    pub renewals: u32,
    pub total_minutes: i64,
    /// Always written; `None` only when reading an event that lacks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}
payload!(EmergencyRenewed => EmergencyRenewed);

/// `emergency.resolved` (the resolution is personal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EmergencyResolved {
    pub emergency_id: String,
    pub incident_id: String,
    pub review_due_at_ms: Option<i64>,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(EmergencyResolved => EmergencyResolved, personal);

/// `emergency.ended`: the emergency no longer authorizes work (expiry, resolution, an
/// unapproved request's deadline).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EmergencyEnded {
    pub emergency_id: String,
    pub incident_id: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at_ms: Option<i64>,
    pub review_due_at_ms: Option<i64>,
}
payload!(EmergencyEnded => EmergencyEnded);

/// `emergency.review_filed` (the review's texts are personal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EmergencyReviewFiled {
    pub emergency_id: String,
    pub incident_id: String,
    pub post_incident_review_id: String,
    pub review_due_at_ms: i64,
    pub late: bool,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(EmergencyReviewFiled => EmergencyReviewFiled, personal);

/// `telemetry.recorded`: one sample and the triggers it fired.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryRecorded {
    pub error_rate: Option<f64>,
    pub p99_ms: Option<f64>,
    /// `ok` or `fail`.
    pub health: Option<String>,
    /// The sample's number for its permit.
    pub seq: i64,
    pub fired: Vec<String>,
}
payload!(TelemetryRecorded => TelemetryRecorded);

/// `telemetry.breach`: a trigger fired (SPEC §7).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryBreach {
    pub trigger: String,
    pub observed: f64,
    pub limit: f64,
    pub window_seconds: u32,
    pub since_ms: i64,
    pub sustained_seconds: f64,
    pub reported_by: String,
}
payload!(TelemetryBreach => TelemetryBreach);

/// Who a rollback notifies.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RollbackNotify {
    pub requester_id: String,
    pub worker_owner_id: String,
    pub approver_ids: Vec<String>,
}

/// `rollback.opened`: a fired trigger opened a rollback with its SLA.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RollbackOpened {
    pub rollback_id: String,
    pub trigger: String,
    /// The breach as `telemetry.breach` records it, without `reported_by`.
    pub breach: Value,
    pub sla_minutes: u32,
    /// Always written; `None` only when reading an event that lacks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at_ms: Option<i64>,
    pub notify: RollbackNotify,
}
payload!(RollbackOpened => RollbackOpened);

/// `rollback.completed` (the notes are personal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RollbackCompleted {
    pub rollback_id: String,
    pub outcome: String,
    pub opened_at_ms: i64,
    /// Always written; `None` only when reading an event that lacks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at_ms: Option<i64>,
    pub duration_seconds: f64,
    pub sla_minutes: u32,
    pub within_sla: bool,
    pub sla_buffer_seconds: f64,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(RollbackCompleted => RollbackCompleted, personal);

/// Who an overdue rollback is escalated to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EscalationTargets {
    pub roles: Vec<String>,
    pub requester_id: String,
    pub worker_owner_id: String,
    pub approver_ids: Vec<String>,
}

/// `rollback.escalated`: a rollback past its SLA.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RollbackEscalated {
    pub rollback_id: String,
    pub sla_minutes: u32,
    pub due_at_ms: i64,
    pub overdue_seconds: f64,
    /// The rollback's status when escalated (`open`, or how it completed).
    pub status: String,
    pub escalated_to: EscalationTargets,
}
payload!(RollbackEscalated => RollbackEscalated);
