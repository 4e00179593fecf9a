//! The OpenAPI schema of a permit as the API returns it: documentation types that spell
//! out the serde form of `steward_store::Permit` (the store's and the pure crates' types
//! carry no OpenAPI annotations). The routes return the permit itself; a test serializes
//! real permits (requested, approved, revoked, renewed, emergency) and checks every field
//! they have is documented here.

use serde::Serialize;
use utoipa::ToSchema;

/// A permit (SPEC §6): what it covers, who asked and approved, its state and window, and
/// the constraints every operation under it is checked against.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermitView {
    pub id: String,
    pub task_id: String,
    /// `read_only`, `standard_change`, `production_change`, `emergency`, …
    pub permit_type: String,
    /// The certification level the task requires (0–4).
    pub level: u8,
    pub worker_id: String,
    pub requester_id: String,
    /// `requested`, `under_review`, `approved`, `active`, `executing`, `completed`,
    /// `closed`, `rejected`, `changes_requested`, `expired`, `revoked`, `archived`.
    pub state: String,
    pub policy_version: String,
    pub requirements: ApprovalRequirementsView,
    /// The evidence provided, by kind (SPEC §6.3).
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    pub constraints: PermitConstraintsView,
    pub requested_window_start_ms: Option<i64>,
    pub valid_from_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub renewals: u32,
    pub total_hours: f64,
    /// `success`, `failure` or `partial`, once completed.
    pub outcome: Option<String>,
    pub revocation_reason: Option<String>,
    pub revocation: Option<PermitRevocationView>,
    /// The completed-operation report and its closing summary.
    #[schema(value_type = Option<Object>)]
    pub audit_summary: Option<serde_json::Value>,
    pub cab_signed_off: bool,
    pub round: u32,
    pub pending_renewal: Option<PendingRenewalView>,
    /// The approvals of the current round.
    pub approvals: Vec<ApprovalRecordView>,
    /// The task as requested (SPEC §2).
    #[schema(value_type = Object)]
    pub task: serde_json::Value,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// `GET /v1/permits/{id}` and the list: the review clock while the permit waits for a
    /// decision (`null` otherwise).
    #[schema(required = false)]
    pub review: Option<ReviewClockView>,
    /// `GET /v1/permits/{id}` only: the requester's name (`null` once erased).
    #[schema(required = false)]
    pub requester_name: Option<String>,
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
    pub approver_roles: Vec<String>,
    /// Roles each covered by a distinct approver.
    pub required_roles: Vec<String>,
    pub max_approval_time_hours: f64,
    pub change_advisory_board_required: bool,
    pub permit_type: Option<String>,
    pub auto_approve: bool,
    pub evidence_required: Vec<String>,
}

/// The permit's constraints (SPEC §6.4); no list means "anything".
#[derive(Debug, Serialize, ToSchema)]
pub struct PermitConstraintsView {
    pub worker_id: String,
    pub environment: Option<String>,
    pub allowed_operations: Vec<String>,
    /// The classes of operation the task's analysis found; absent on permits requested
    /// before they were recorded.
    #[schema(required = false)]
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
    #[schema(required = false)]
    pub enhanced_audit: Option<bool>,
    #[schema(required = false)]
    pub emergency_id: Option<String>,
    #[schema(required = false)]
    pub incident_id: Option<String>,
}

/// How a revoked permit was revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermitRevocationView {
    pub reason: String,
    pub revoked_at_ms: i64,
    /// The revoker's principal id; `steward` for Steward's own revocations.
    pub revoked_by: String,
    /// The `seq` of the `permit.revoked` event.
    pub audit_seq: u64,
    /// Steward's evidence for its own revocations (a scope violation's rule and
    /// operation, a breach's reading).
    #[schema(value_type = Option<Object>, required = false)]
    pub evidence: Option<serde_json::Value>,
}

/// A renewal waiting for its approvals.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingRenewalView {
    pub hours: f64,
    pub approvals: Vec<RenewalApprovalView>,
}

/// One approval of a pending renewal.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenewalApprovalView {
    pub principal_id: String,
    pub role: String,
}

/// One decision on a permit.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalRecordView {
    pub id: String,
    pub principal_id: String,
    pub role: String,
    /// `approve`, `reject` or `request_changes`.
    pub decision: String,
    /// The door it came through: `api`, `cli`, `web`, `mcp`, `hook`.
    pub channel: String,
    /// The approver's comment (`null` once erased, or when there was none).
    pub comment: Option<String>,
    #[schema(value_type = Object)]
    pub conditions: serde_json::Value,
    pub round: u32,
    pub created_at_ms: i64,
    /// `GET /v1/permits/{id}` only: the approver's name (`null` once erased).
    #[schema(required = false)]
    pub principal_name: Option<String>,
}

/// The review clock of a permit (SPEC §6.5).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewClockView {
    pub approval_due_at_ms: i64,
    pub expires_at_ms: i64,
    pub overdue: bool,
    /// Roles the permit is escalated to once overdue.
    pub escalated_to: Vec<String>,
}
