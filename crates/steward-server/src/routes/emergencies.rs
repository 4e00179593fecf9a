//! `/v1/emergencies`: the break-glass path (SPEC §8): declare, approve, resolve, renew,
//! file the post-incident review, read and list.
//!
//! Who may do what (checked server-side; segregation of duties inside the store):
//! - declare: the worker's owner, a `master`, an `incident_commander`, an `on_call_lead`
//!   or an `admin`;
//! - approve: a human `incident_commander` or `on_call_lead`, never the declarer, the
//!   worker's owner or the worker, within 15 minutes of the declaration;
//! - resolve: a human `incident_commander` or `on_call_lead`;
//! - renew: a human `incident_commander` only (3 renewals, 4 h in total);
//! - review: the declarer, the approver, an `incident_commander`, an `on_call_lead` or an
//!   `admin`;
//! - read and list: any principal with a role other than `worker`.
//!
//! The scope is a task (SPEC §2): Steward analyses it and the permit's constraints come
//! from it, with `"enhanced_audit": true` added so that every operation under the permit
//! is audited.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use steward_permits::{Channel, EmergencyError};
use steward_policy::{Refusal, Role, analyze};
use steward_store::{
    Emergency, EmergencyActionError, EmergencyApproval, EmergencyFilter, EmergencyReview,
    NewEmergency, PersonalText,
};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::json::ApiJson;
use crate::routes::analyze::parse_task;
use crate::routes::permits::permit_error;
use crate::state::AppState;

pub mod view;

pub use view::EmergencyView;

/// A declaration: the incident, the worker, the scope, the reason and the duration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    /// The incident's id in the incident tracker (1 to 200 characters).
    pub incident_id: String,
    pub worker_id: String,
    /// What the worker may do: a task (SPEC §2), e.g. `{"environment": "production",
    /// "operations": ["restart"], "services_affected": ["api"]}`.
    #[schema(value_type = Object)]
    pub scope: Value,
    /// Free text: personal data, sealed in the audit trail.
    #[schema(value_type = String)]
    pub reason: PersonalText,
    /// 1 to 60.
    pub minutes: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// `incident_commander` or `on_call_lead`; the approver must hold it.
    #[schema(value_type = String)]
    pub role: Role,
    /// Free text: personal data, sealed in the audit trail.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub comment: Option<PersonalText>,
    /// `api` (default), `cli` or `web`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub channel: Option<Channel>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// How the incident was resolved.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub resolution: Option<PersonalText>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRenewRequest {
    /// Minutes to add to the permit's window (positive; 4 h in total at most).
    pub minutes: i64,
}

/// The post-incident review.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// What happened and what the emergency permit was used for.
    #[schema(value_type = String)]
    pub summary: PersonalText,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub root_cause: Option<PersonalText>,
    /// Follow-up actions.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub actions: Vec<PersonalText>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EmergencyListQuery {
    /// `true`: only emergencies whose review is overdue; `false`: only the others.
    pub overdue: Option<bool>,
    pub worker_id: Option<String>,
    pub incident_id: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

fn now(state: &AppState) -> i64 {
    state.clock.now().millis()
}

fn required_text(value: &str, field: &str, max: usize) -> Result<(), ApiError> {
    let len = value.trim().chars().count();
    if len == 0 || len > max {
        return Err(ApiError::bad_request(
            format!("`{field}` must be 1 to {max} characters"),
            field,
        ));
    }
    Ok(())
}

/// Declares an emergency for a worker: a level-3 `emergency` permit waiting for an
/// incident commander or on-call lead.
#[utoipa::path(post, path = "/v1/emergencies", tag = "emergencies", request_body = DeclareRequest,
    responses(
        (status = 201, description = "declared; awaiting approval", body = view::EmergencyView),
        (status = 400, description = "invalid body; the problem names the field"),
        (status = 403, description = "the caller may not declare for this worker"),
        (status = 404, description = "unknown worker"),
        (status = 422, description = "duration outside 1–60 minutes (`field`: `minutes`), or the worker's certification is not in force"),
    ), security(("bearer" = [])))]
pub async fn declare(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<DeclareRequest>,
) -> Result<(StatusCode, Json<EmergencyView>), ApiError> {
    let emergency = declare_via(&state, &caller, None, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(EmergencyView::new(&emergency, now(&state))),
    ))
}

/// The use case behind `POST /v1/emergencies`, for the caller coming through `door`
/// (`None`: the JSON API; the dashboard passes `Some(Channel::Web)`).
pub async fn declare_via(
    state: &AppState,
    caller: &Caller,
    door: Option<steward_store::Channel>,
    body: DeclareRequest,
) -> Result<Emergency, ApiError> {
    required_text(&body.incident_id, "incident_id", 200)?;
    required_text(body.reason.inspect(), "reason", 10_000)?;
    required_text(&body.worker_id, "worker_id", 200)?;
    let task = parse_task(body.scope.clone(), "scope.")?;
    let analysis = analyze(&task, &state.policy);
    let new = NewEmergency {
        incident_id: body.incident_id.trim().to_owned(),
        worker_id: body.worker_id,
        reason: body.reason,
        minutes: body.minutes,
        scope: body.scope,
        analysis,
        task,
    };
    state
        .store
        .declare_emergency(&caller.by_via(door), new, &state.policy, now(state))
        .await
        .map_err(emergency_error)
}

/// Approves an emergency (a human incident commander or on-call lead who is not its
/// declarer, the worker's owner or the worker, within 15 minutes): the permit is issued
/// at once for the declared minutes.
#[utoipa::path(post, path = "/v1/emergencies/{id}/approve", tag = "emergencies", request_body = ApproveRequest,
    params(("id" = String, Path, description = "emergency id")),
    responses(
        (status = 200, description = "approved; the permit is active", body = view::EmergencyView),
        (status = 403, description = "role not eligible, or segregation of duties"),
        (status = 409, description = "approval window closed (`approval_window_closed`), resolved, or not awaiting approval"),
    ), security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ApproveRequest>,
) -> Result<Json<EmergencyView>, ApiError> {
    approve_via(&state, &caller, None, &id, body)
        .await
        .map(|e| Json(EmergencyView::new(&e, now(&state))))
}

/// The use case behind `POST /v1/emergencies/{id}/approve`, for the caller coming through `door`.
pub async fn approve_via(
    state: &AppState,
    caller: &Caller,
    door: Option<steward_store::Channel>,
    id: &str,
    body: ApproveRequest,
) -> Result<Emergency, ApiError> {
    state
        .store
        .approve_emergency(
            &caller.by_via(door),
            id,
            EmergencyApproval {
                role: body.role,
                comment: body.comment,
                channel: body.channel.unwrap_or(Channel::Api),
            },
            &state.policy,
            now(state),
        )
        .await
        .map_err(emergency_error)
}

/// Marks the incident resolved: the emergency permit is revoked (`incident_resolved`)
/// and the post-incident review falls due in 24 hours.
#[utoipa::path(post, path = "/v1/emergencies/{id}/resolve", tag = "emergencies", request_body = ResolveRequest,
    params(("id" = String, Path, description = "emergency id")),
    responses(
        (status = 200, description = "resolved", body = view::EmergencyView),
        (status = 403, description = "not a human incident commander or on-call lead"),
        (status = 409, description = "already resolved"),
    ), security(("bearer" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ResolveRequest>,
) -> Result<Json<EmergencyView>, ApiError> {
    resolve_via(&state, &caller, None, &id, body)
        .await
        .map(|e| Json(EmergencyView::new(&e, now(&state))))
}

/// The use case behind `POST /v1/emergencies/{id}/resolve`, for the caller coming through `door`.
pub async fn resolve_via(
    state: &AppState,
    caller: &Caller,
    door: Option<steward_store::Channel>,
    id: &str,
    body: ResolveRequest,
) -> Result<Emergency, ApiError> {
    state
        .store
        .resolve_emergency(&caller.by_via(door), id, body.resolution, now(state))
        .await
        .map_err(emergency_error)
}

/// Renews the emergency permit (a human incident commander only; at most 3 times and
/// 4 hours in total).
#[utoipa::path(post, path = "/v1/emergencies/{id}/renew", tag = "emergencies", request_body = EmergencyRenewRequest,
    params(("id" = String, Path, description = "emergency id")),
    responses(
        (status = 200, description = "renewed", body = view::EmergencyView),
        (status = 403, description = "not an incident commander, or segregation of duties"),
        (status = 409, description = "no live permit, or resolved"),
        (status = 422, description = "too many renewals, beyond 4 h in total, or a bad `minutes`"),
    ), security(("bearer" = [])))]
pub async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EmergencyRenewRequest>,
) -> Result<Json<EmergencyView>, ApiError> {
    state
        .store
        .renew_emergency(&caller.by(), &id, body.minutes, &state.policy, now(&state))
        .await
        .map(|e| Json(EmergencyView::new(&e, now(&state))))
        .map_err(emergency_error)
}

/// Files the post-incident review of an emergency that has ended.
#[utoipa::path(post, path = "/v1/emergencies/{id}/review", tag = "emergencies", request_body = ReviewRequest,
    params(("id" = String, Path, description = "emergency id")),
    responses(
        (status = 200, description = "filed", body = view::EmergencyView),
        (status = 400, description = "empty `summary`"),
        (status = 403, description = "not a party to the emergency"),
        (status = 409, description = "not due yet (`review_not_due`) or already filed"),
    ), security(("bearer" = [])))]
pub async fn review(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReviewRequest>,
) -> Result<Json<EmergencyView>, ApiError> {
    review_via(&state, &caller, None, &id, body)
        .await
        .map(|e| Json(EmergencyView::new(&e, now(&state))))
}

/// The use case behind `POST /v1/emergencies/{id}/review`, for the caller coming through `door`.
pub async fn review_via(
    state: &AppState,
    caller: &Caller,
    door: Option<steward_store::Channel>,
    id: &str,
    body: ReviewRequest,
) -> Result<Emergency, ApiError> {
    required_text(body.summary.inspect(), "summary", 100_000)?;
    let review = EmergencyReview {
        summary: body.summary,
        root_cause: body.root_cause,
        actions: body.actions,
    };
    state
        .store
        .file_emergency_review(&caller.by_via(door), id, review, now(state))
        .await
        .map_err(emergency_error)
}

pub fn require_reader(caller: &Caller) -> Result<(), ApiError> {
    if caller.principal().roles.iter().any(|r| *r != Role::Worker) {
        Ok(())
    } else {
        Err(ApiError::refused(
            Refusal::RoleNotEligible,
            "emergencies are read by principals with a role other than `worker`",
        ))
    }
}

/// One emergency with its permit, status and review status.
#[utoipa::path(get, path = "/v1/emergencies/{id}", tag = "emergencies",
    params(("id" = String, Path, description = "emergency id")),
    responses((status = 200, description = "the emergency", body = view::EmergencyView), (status = 404, description = "unknown")),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EmergencyView>, ApiError> {
    require_reader(&caller)?;
    state
        .store
        .emergency(&id, now(&state))
        .await
        .map(|e| Json(EmergencyView::new(&e, now(&state))))
        .map_err(|e| emergency_error(EmergencyActionError::from(e)))
}

/// Lists emergencies, oldest first; `overdue=true` lists those whose post-incident review
/// is overdue.
#[utoipa::path(get, path = "/v1/emergencies", tag = "emergencies", params(EmergencyListQuery),
    responses((status = 200, description = "a page of emergencies", body = view::EmergencyPageView)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<EmergencyListQuery>,
) -> Result<Json<view::EmergencyPageView>, ApiError> {
    require_reader(&caller)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request(
            format!("`limit` must be 1 to 200, got {limit}"),
            "limit",
        ));
    }
    let filter = EmergencyFilter {
        overdue: q.overdue,
        worker_id: q.worker_id,
        incident_id: q.incident_id,
    };
    let items = state
        .store
        .list_emergencies(&filter, q.after.as_deref(), limit, now(&state))
        .await
        .map_err(|e| emergency_error(EmergencyActionError::from(e)))?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|e| e.id.clone()))
        .flatten();
    let now_ms = now(&state);
    let items = items
        .iter()
        .map(|e| EmergencyView::new(e, now_ms))
        .collect();
    Ok(Json(view::EmergencyPageView { items, next }))
}

/// Maps an emergency refusal to its problem; permit refusals map as for permits.
pub fn emergency_error(err: EmergencyActionError) -> ApiError {
    let message = err.to_string();
    match err {
        EmergencyActionError::Permit(e) => permit_error(e),
        EmergencyActionError::Rule(rule) => match rule {
            EmergencyError::Duration { .. } | EmergencyError::RenewalDuration { .. } => {
                ApiError::refused(Refusal::EmergencyDuration, message).with("field", "minutes")
            }
            EmergencyError::ApprovalWindowClosed { closed_at_ms, .. } => {
                ApiError::refused(Refusal::ApprovalWindowClosed, message)
                    .with("closed_at_ms", closed_at_ms)
            }
            EmergencyError::NotIncidentCommander { .. } => {
                ApiError::refused(Refusal::IncidentCommanderOnly, message)
            }
            EmergencyError::Renewal(_) => ApiError::refused(Refusal::EmergencyRenewal, message),
        },
        EmergencyActionError::State { rule, .. } => ApiError::refused(rule, message),
    }
}
