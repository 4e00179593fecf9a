//! An emergency as the API returns it: the server's own response type, built from the
//! store's `Emergency` field by field, with its OpenAPI schema.

use serde::Serialize;
use serde_json::Value;
use steward_permits::{EmergencyStatus, ReviewStatus};
use steward_policy::Role;
use steward_store::Emergency;
use utoipa::ToSchema;

use crate::routes::permits::PermitView;

/// An emergency (SPEC §8) with its permit, its status and its review status as of the
/// read.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmergencyView {
    pub id: String,
    /// The incident's id in the incident tracker.
    pub incident_id: String,
    pub worker_id: String,
    pub permit_id: String,
    /// The declarer's principal id.
    pub declared_by: String,
    /// The declarer's reason (free text; erased with the declarer's personal data).
    pub reason: String,
    /// The permit's duration as declared (1–60).
    pub minutes: i64,
    pub declared_at_ms: i64,
    /// Approvals after this are refused (15 minutes after the declaration).
    pub approval_deadline_ms: i64,
    pub approved_by: Option<String>,
    #[schema(value_type = Option<String>)]
    pub approved_role: Option<Role>,
    pub approved_at_ms: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_at_ms: Option<i64>,
    pub resolution: Option<String>,
    /// When the emergency stopped authorizing work, and why.
    pub ended_at_ms: Option<i64>,
    pub end_reason: Option<String>,
    /// The post-incident review is due 24 hours after the emergency ended.
    pub review_due_at_ms: Option<i64>,
    pub review_filed_by: Option<String>,
    pub review_filed_at_ms: Option<i64>,
    /// The post-incident review as filed: `summary`, `root_cause`, `actions`.
    #[schema(value_type = Option<Object>)]
    pub review: Option<Value>,
    /// `awaiting_approval`, `active`, `resolved`, `ended` or `lapsed`.
    #[schema(value_type = String)]
    pub status: EmergencyStatus,
    /// `not_due`, `pending`, `overdue` or `filed`.
    #[schema(value_type = String)]
    pub review_status: ReviewStatus,
    /// `review_status == overdue`, for filters and dashboards.
    pub review_overdue: bool,
    pub permit: PermitView,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl EmergencyView {
    /// `emergency` as readers see it at `now_ms` (its permit's review clock).
    pub fn new(emergency: &Emergency, now_ms: i64) -> EmergencyView {
        EmergencyView {
            id: emergency.id.clone(),
            incident_id: emergency.incident_id.clone(),
            worker_id: emergency.worker_id.clone(),
            permit_id: emergency.permit_id.clone(),
            declared_by: emergency.declared_by.clone(),
            reason: emergency.reason.clone(),
            minutes: emergency.minutes,
            declared_at_ms: emergency.declared_at_ms,
            approval_deadline_ms: emergency.approval_deadline_ms,
            approved_by: emergency.approved_by.clone(),
            approved_role: emergency.approved_role,
            approved_at_ms: emergency.approved_at_ms,
            resolved_by: emergency.resolved_by.clone(),
            resolved_at_ms: emergency.resolved_at_ms,
            resolution: emergency.resolution.clone(),
            ended_at_ms: emergency.ended_at_ms,
            end_reason: emergency.end_reason.clone(),
            review_due_at_ms: emergency.review_due_at_ms,
            review_filed_by: emergency.review_filed_by.clone(),
            review_filed_at_ms: emergency.review_filed_at_ms,
            review: emergency.review.clone(),
            status: emergency.status,
            review_status: emergency.review_status,
            review_overdue: emergency.review_overdue,
            permit: PermitView::new(&emergency.permit, now_ms),
            created_at_ms: emergency.created_at_ms,
            updated_at_ms: emergency.updated_at_ms,
        }
    }
}

/// A page of `GET /v1/emergencies`; pass `next` as `after` for the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmergencyPageView {
    pub items: Vec<EmergencyView>,
    /// `null` on the last page.
    pub next: Option<String>,
}
