//! A permit as the API returns it: the server's own response types, built from the
//! store's `Permit` field by field, with their OpenAPI schemas. The store's and the pure
//! crates' types carry no OpenAPI annotations and can change shape without changing the
//! API; a test serializes real permits (requested, approved, revoked, renewed, emergency)
//! and checks every member they have is documented.

use serde::Serialize;
use serde_json::Value;
use steward_permits::{
    Channel, Decision, Outcome, PendingRenewal, PermitConstraints, PermitState, PermitTimes,
    RevocationReason, Timestamp, review_clock,
};
use steward_policy::{ApprovalRequirements, Environment, Evidence, PermitType, Role};
use steward_store::{ApprovalRecord, Permit, PermitRevocation};
use utoipa::ToSchema;

/// A permit (SPEC §6): what it covers, who asked and approved, its state and window, and
/// the constraints every operation under it is checked against.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermitView {
    pub id: String,
    pub task_id: String,
    /// `read_only`, `standard_change`, `production_change`, `emergency`, …
    #[schema(value_type = String)]
    pub permit_type: PermitType,
    /// The certification level the task requires (0–4).
    pub level: u8,
    pub worker_id: String,
    pub requester_id: String,
    /// `requested`, `under_review`, `approved`, `active`, `executing`, `completed`,
    /// `closed`, `rejected`, `changes_requested`, `expired`, `revoked`, `archived`.
    #[schema(value_type = String)]
    pub state: PermitState,
    pub policy_version: String,
    pub requirements: ApprovalRequirementsView,
    /// The evidence provided, by kind (SPEC §6.3).
    #[schema(value_type = Object)]
    pub evidence: Value,
    pub constraints: PermitConstraintsView,
    pub requested_window_start_ms: Option<i64>,
    pub valid_from_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub renewals: u32,
    pub total_hours: f64,
    /// `success`, `failure` or `partial`, once completed.
    #[schema(value_type = Option<String>)]
    pub outcome: Option<Outcome>,
    #[schema(value_type = Option<String>)]
    pub revocation_reason: Option<RevocationReason>,
    pub revocation: Option<PermitRevocationView>,
    /// The completed-operation report and its closing summary.
    #[schema(value_type = Option<Object>)]
    pub audit_summary: Option<Value>,
    pub cab_signed_off: bool,
    pub round: u32,
    pub pending_renewal: Option<PendingRenewalView>,
    /// The approvals of the current round.
    pub approvals: Vec<ApprovalRecordView>,
    /// The task as requested (SPEC §2).
    #[schema(value_type = Object)]
    pub task: Value,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The review clock while the permit waits for a decision (`null` otherwise).
    pub review: Option<ReviewClockView>,
    /// `GET /v1/permits/{id}` only: the requester's name (`null` once erased).
    #[schema(value_type = Option<String>, required = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester_name: Option<Option<String>>,
}

impl PermitView {
    /// `permit` as readers see it at `now_ms` (its review clock), without names.
    pub fn new(permit: &Permit, now_ms: i64) -> PermitView {
        let times = PermitTimes {
            state: permit.state,
            requested_at: Timestamp(permit.created_at_ms),
            approval_sla_hours: permit.requirements.max_approval_time_hours,
            expires_at: permit.expires_at_ms.map(Timestamp),
        };
        let review =
            review_clock(&times, permit.level, Timestamp(now_ms)).map(|clock| ReviewClockView {
                approval_due_at_ms: clock.approval_due.millis(),
                expires_at_ms: clock.expires_at.millis(),
                overdue: clock.overdue,
                escalated_to: clock.escalated_to.to_vec(),
            });
        PermitView {
            id: permit.id.clone(),
            task_id: permit.task_id.clone(),
            permit_type: permit.permit_type,
            level: permit.level.value(),
            worker_id: permit.worker_id.clone(),
            requester_id: permit.requester_id.clone(),
            state: permit.state,
            policy_version: permit.policy_version.clone(),
            requirements: ApprovalRequirementsView::from(&permit.requirements),
            evidence: permit.evidence.clone(),
            constraints: PermitConstraintsView::from(&permit.constraints),
            requested_window_start_ms: permit.requested_window_start_ms,
            valid_from_ms: permit.valid_from_ms,
            expires_at_ms: permit.expires_at_ms,
            renewals: permit.renewals,
            total_hours: permit.total_hours,
            outcome: permit.outcome,
            revocation_reason: permit.revocation_reason,
            revocation: permit.revocation.as_ref().map(PermitRevocationView::from),
            audit_summary: permit.audit_summary.clone(),
            cab_signed_off: permit.cab_signed_off,
            round: permit.round,
            pending_renewal: permit
                .pending_renewal
                .as_ref()
                .map(PendingRenewalView::from),
            approvals: permit
                .approvals
                .iter()
                .map(ApprovalRecordView::from)
                .collect(),
            task: permit.task.clone(),
            created_at_ms: permit.created_at_ms,
            updated_at_ms: permit.updated_at_ms,
            review,
            requester_name: None,
        }
    }
}

/// A page of `GET /v1/permits`; pass `next` as `after` for the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermitPageView {
    pub items: Vec<PermitView>,
    /// `null` on the last page.
    pub next: Option<String>,
}

/// Who must approve (SPEC §6.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalRequirementsView {
    pub approvers_required: u32,
    #[schema(value_type = Vec<String>)]
    pub approver_roles: Vec<Role>,
    /// Roles each covered by a distinct approver.
    #[schema(value_type = Vec<String>)]
    pub required_roles: Vec<Role>,
    pub max_approval_time_hours: f64,
    pub change_advisory_board_required: bool,
    #[schema(value_type = Option<String>)]
    pub permit_type: Option<PermitType>,
    pub auto_approve: bool,
    #[schema(value_type = Vec<String>)]
    pub evidence_required: Vec<Evidence>,
}

impl From<&ApprovalRequirements> for ApprovalRequirementsView {
    fn from(r: &ApprovalRequirements) -> Self {
        ApprovalRequirementsView {
            approvers_required: r.approvers_required,
            approver_roles: r.approver_roles.clone(),
            required_roles: r.required_roles.clone(),
            max_approval_time_hours: r.max_approval_time_hours,
            change_advisory_board_required: r.change_advisory_board_required,
            permit_type: r.permit_type,
            auto_approve: r.auto_approve,
            evidence_required: r.evidence_required.clone(),
        }
    }
}

/// The permit's constraints (SPEC §6.4); no list means "anything".
#[derive(Debug, Serialize, ToSchema)]
pub struct PermitConstraintsView {
    pub worker_id: String,
    #[schema(value_type = Option<String>)]
    pub environment: Option<Environment>,
    pub allowed_operations: Vec<String>,
    /// The classes of operation the task's analysis found; absent on permits requested
    /// before they were recorded.
    #[schema(required = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_classes: Option<Vec<String>>,
    pub allowed_services: Vec<String>,
    pub allowed_regions: Vec<String>,
    /// `null`: every method that is not forbidden.
    pub allowed_methods: Option<Vec<String>>,
    pub forbidden_methods: Vec<String>,
    pub max_error_rate: f64,
    pub max_latency_p99_ms: u64,
    pub health_check_failure_limit: u32,
    pub error_rate_window_seconds: u32,
    pub latency_window_seconds: u32,
    pub auto_rollback: bool,
    pub token_budget: u64,
    /// Present (true) on emergency permits: every operation is audited.
    #[schema(value_type = Option<bool>, required = false)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enhanced_audit: bool,
    #[schema(required = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_id: Option<String>,
    #[schema(required = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
}

impl From<&PermitConstraints> for PermitConstraintsView {
    fn from(c: &PermitConstraints) -> Self {
        PermitConstraintsView {
            worker_id: c.worker_id.clone(),
            environment: c.environment,
            allowed_operations: c.allowed_operations.clone(),
            allowed_classes: c.allowed_classes.clone(),
            allowed_services: c.allowed_services.clone(),
            allowed_regions: c.allowed_regions.clone(),
            allowed_methods: c.allowed_methods.clone(),
            forbidden_methods: c.forbidden_methods.clone(),
            max_error_rate: c.max_error_rate,
            max_latency_p99_ms: c.max_latency_p99_ms,
            health_check_failure_limit: c.health_check_failure_limit,
            error_rate_window_seconds: c.error_rate_window_seconds,
            latency_window_seconds: c.latency_window_seconds,
            auto_rollback: c.auto_rollback,
            token_budget: c.token_budget,
            enhanced_audit: c.enhanced_audit,
            emergency_id: c.emergency_id.clone(),
            incident_id: c.incident_id.clone(),
        }
    }
}

/// How a revoked permit was revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermitRevocationView {
    #[schema(value_type = String)]
    pub reason: RevocationReason,
    pub revoked_at_ms: i64,
    /// The revoker's principal id; `steward` for Steward's own revocations.
    pub revoked_by: String,
    /// The `seq` of the `permit.revoked` event.
    pub audit_seq: u64,
    /// Steward's evidence for its own revocations (a scope violation's rule and
    /// operation, a breach's reading).
    #[schema(value_type = Option<Object>, required = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
}

impl From<&PermitRevocation> for PermitRevocationView {
    fn from(r: &PermitRevocation) -> Self {
        PermitRevocationView {
            reason: r.reason,
            revoked_at_ms: r.revoked_at_ms,
            revoked_by: r.revoked_by.clone(),
            audit_seq: r.audit_seq,
            evidence: r.evidence.clone(),
        }
    }
}

/// A renewal waiting for its approvals.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingRenewalView {
    pub hours: f64,
    pub approvals: Vec<RenewalApprovalView>,
}

impl From<&PendingRenewal> for PendingRenewalView {
    fn from(p: &PendingRenewal) -> Self {
        PendingRenewalView {
            hours: p.hours,
            approvals: p
                .approvals
                .iter()
                .map(|a| RenewalApprovalView {
                    principal_id: a.principal_id.clone(),
                    role: a.role,
                })
                .collect(),
        }
    }
}

/// One approval of a pending renewal.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenewalApprovalView {
    pub principal_id: String,
    #[schema(value_type = String)]
    pub role: Role,
}

/// One decision on a permit.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalRecordView {
    pub id: String,
    pub principal_id: String,
    #[schema(value_type = String)]
    pub role: Role,
    /// `approve`, `reject` or `request_changes`.
    #[schema(value_type = String)]
    pub decision: Decision,
    /// The door it came through: `api`, `cli`, `web`, `mcp`, `hook`.
    #[schema(value_type = String)]
    pub channel: Channel,
    /// The approver's comment (`null` once erased, or when there was none).
    pub comment: Option<String>,
    #[schema(value_type = Object)]
    pub conditions: Value,
    pub round: u32,
    pub created_at_ms: i64,
    /// `GET /v1/permits/{id}` only: the approver's name (`null` once erased).
    #[schema(value_type = Option<String>, required = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_name: Option<Option<String>>,
}

impl From<&ApprovalRecord> for ApprovalRecordView {
    fn from(a: &ApprovalRecord) -> Self {
        ApprovalRecordView {
            id: a.id.clone(),
            principal_id: a.principal_id.clone(),
            role: a.role,
            decision: a.decision,
            channel: a.channel,
            comment: a.comment.clone(),
            conditions: a.conditions.clone(),
            round: a.round,
            created_at_ms: a.created_at_ms,
            principal_name: None,
        }
    }
}

/// The review clock of a permit (SPEC §6.5).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewClockView {
    pub approval_due_at_ms: i64,
    pub expires_at_ms: i64,
    pub overdue: bool,
    /// Roles the permit is escalated to once overdue.
    #[schema(value_type = Vec<String>)]
    pub escalated_to: Vec<Role>,
}
