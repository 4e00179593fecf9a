//! The OpenAPI schema of `GET /v1/reports/compliance`'s JSON: documentation types that
//! spell out the serde form of `steward_audit::ComplianceReport` (the pure crate carries
//! no OpenAPI annotations). The route returns the report itself; a test serializes a real
//! report and checks every field it has is documented here.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// One instant, three ways.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhenView {
    /// Unix milliseconds.
    pub ms: i64,
    /// RFC 3339 with the report zone's offset, such as `2026-12-06T10:14:00+01:00`.
    pub rfc3339: String,
    /// Minutes and the zone, such as `2026-12-06 09:14 UTC`.
    pub human: String,
}

/// The period; `to` is exclusive.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportPeriodView {
    pub from_ms: i64,
    pub to_ms: i64,
    pub from: WhenView,
    pub to: WhenView,
}

/// An approval of a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApproverView {
    pub principal_id: String,
    pub role: String,
    pub at: WhenView,
    /// The `permit.approval_recorded` (or `permit.cab_signed_off`) event.
    pub seq: u64,
}

/// When the permit was valid.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowView {
    pub from: Option<WhenView>,
    pub until: Option<WhenView>,
}

/// The rollback a monitoring trigger opened.
#[derive(Debug, Serialize, ToSchema)]
pub struct RollbackView {
    pub rollback_id: Option<String>,
    pub trigger: Option<String>,
    pub opened_at: WhenView,
    pub due_at: Option<WhenView>,
    pub completed_at: Option<WhenView>,
    pub outcome: Option<String>,
    pub escalated: bool,
    pub seqs: Vec<u64>,
}

/// An exception about a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeExceptionView {
    pub kind: String,
    pub seqs: Vec<u64>,
}

/// One audit event of a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeEventView {
    pub seq: u64,
    pub event_type: String,
    pub at: WhenView,
    /// `/v1/audit/proofs/inclusion?seq=…&tree_size=…` against the latest signed
    /// checkpoint; `null` while no checkpoint covers the event.
    pub inclusion_proof: Option<String>,
}

/// One permit in the framework's scope with an event in the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    pub permit_id: String,
    pub task_id: Option<String>,
    /// The task's description as its request recorded it.
    pub summary: Option<String>,
    pub permit_type: Option<String>,
    pub worker_id: Option<String>,
    pub level: Option<u8>,
    /// The worker's level when the permit was requested.
    pub worker_level: Option<u64>,
    /// The requester's principal id.
    pub requester: Option<String>,
    pub requested_at: Option<WhenView>,
    /// Why the framework covers it: `the task named GDPR`, `personal data (pii)`, …
    pub in_scope_because: Vec<String>,
    pub approvers: Vec<ApproverView>,
    /// Evidence kinds the request provided.
    pub evidence: Vec<String>,
    pub window: Option<WindowView>,
    pub state: Option<String>,
    /// `completed (success)`, `revoked (scope_expansion)`, `expired`, `rejected`, or the
    /// state of a permit in progress.
    pub outcome: String,
    pub rollback: Option<RollbackView>,
    pub exceptions: Vec<ChangeExceptionView>,
    /// Its events up to the end of the period (authorize allows and telemetry samples are
    /// counted, not listed).
    pub events: Vec<ChangeEventView>,
}

/// A control of the framework and what the period shows about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ControlView {
    pub id: String,
    pub title: String,
    pub area: String,
    pub evidence: Vec<String>,
    pub events: u64,
    pub exceptions: u64,
    /// `satisfied`, `exceptions` or `no_activity`.
    pub status: String,
}

/// An exception, linked to its audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionView {
    /// `hard_block`, `authorization_denied`, `revocation`, `above_level_execution`,
    /// `self_approval`, `sla_breach`, `missing_approval`, `emergency_without_review`,
    /// `rollback_escalated`, `permit_escalated`, `safety_violation`, `audit_chain_broken`.
    pub kind: String,
    pub area: String,
    pub seqs: Vec<u64>,
    pub ts_ms: i64,
    pub at: WhenView,
    pub event_type: String,
    pub permit_id: Option<String>,
    pub worker_id: Option<String>,
    pub detail: String,
}

/// The verification of the stored chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportVerificationView {
    pub ok: bool,
    pub head_seq: u64,
    pub first_bad_seq: Option<u64>,
    pub problem: Option<String>,
}

/// A compliance report (SPEC §10).
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplianceReportView {
    /// `SOC2`, `HIPAA`, `PCI_DSS`, `GDPR` or `SOX`.
    pub framework: String,
    pub period: ReportPeriodView,
    /// `UTC`, an IANA name, or a fixed offset such as `UTC+02:00`.
    pub time_zone: String,
    /// What the framework covers, in words.
    pub scope: String,
    pub changes: Vec<ChangeView>,
    /// Events in the period (all of them, whatever the framework).
    pub total_events: u64,
    /// Events in the period by type.
    pub counts: BTreeMap<String, u64>,
    pub controls: Vec<ControlView>,
    pub exceptions: Vec<ExceptionView>,
    pub verification: ReportVerificationView,
    /// `{"checkpoint": {"tree_size", "root_hash", "ts_ms"}, "key_id", "signature"}`.
    #[schema(value_type = Option<Object>)]
    pub latest_checkpoint: Option<serde_json::Value>,
    pub latest_checkpoint_at: Option<WhenView>,
}
