//! `/v1/permits`: request, decide, sign off, resubmit, start, complete, close, revoke,
//! renew, archive, read and list permits (SPEC §6).
//!
//! The server analyses the task itself: a requester sends the task, never a score. Every
//! rule lives in `steward-permits` and every write in one `steward-store` use case; the
//! handlers check coarse roles, parse, and map refusals to problems.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use steward_audit::event::PermitHardBlocked;
use steward_permits::{
    Channel, ConstraintChoices, Decision, Outcome, PermitState, RevocationReason,
};
use steward_policy::{Evidence, Level, Refusal, Role, analyze};
use steward_store::{
    NewDecision, NewEvent, NewPermit, Permit, PermitError, PermitFilter, PersonalText, ReviewQueue,
    StoreError, Subject,
};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::json::ApiJson;
use crate::routes::analyze::parse_task;
use crate::state::AppState;

pub mod view;
pub mod wait;

pub use view::PermitView;

/// A permit request. `evidence` maps evidence kinds (`rollback_plan`, `test_results`,
/// `code_review`, …) to their content: a link, a document, a rollback plan object.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermitRequest {
    /// The task (SPEC §2); Steward analyses it.
    #[schema(value_type = Object)]
    pub task: Value,
    pub worker_id: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub evidence: BTreeMap<Evidence, Value>,
    /// Validity in hours; the permit type's default when absent.
    #[serde(default)]
    pub hours: Option<f64>,
    /// A later window start (unix ms); issued at once when absent.
    #[serde(default)]
    pub window_start_ms: Option<i64>,
    /// Methods the permit allows; every method when absent.
    #[serde(default)]
    pub allowed_methods: Option<Vec<String>>,
    /// Methods the permit forbids (forbidden wins over allowed).
    #[serde(default)]
    pub forbidden_methods: Vec<String>,
    #[serde(default)]
    pub max_error_rate: Option<f64>,
    #[serde(default)]
    pub max_latency_p99_ms: Option<u64>,
    /// Consecutive failed health checks that fire a rollback (default 3).
    #[serde(default)]
    pub health_check_failure_limit: Option<u32>,
    /// How long the error rate must stay above its limit to fire (default 120 s).
    #[serde(default)]
    pub error_rate_window_seconds: Option<u32>,
    /// How long the p99 latency must stay above its limit to fire (default 300 s).
    #[serde(default)]
    pub latency_window_seconds: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `approve`, `reject` or `request_changes`.
    #[schema(value_type = String)]
    pub decision: Decision,
    /// The role the approver decides under; they must hold it.
    #[schema(value_type = String)]
    pub role: Role,
    /// Free text: personal data, sealed in the audit trail.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub comment: Option<PersonalText>,
    /// Conditions attached to an approval.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub conditions: Option<Value>,
    /// `api` (default), `cli` or `web`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub channel: Option<Channel>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResubmitRequest {
    #[schema(value_type = Object)]
    pub evidence: BTreeMap<Evidence, Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// `success`, `rolled_back`, `rollback_failed` or `partial`.
    #[schema(value_type = String)]
    pub outcome: Outcome,
    /// The completed-operation report.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub report: Option<Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub notes: Option<Value>,
    /// Outcome feedback (SPEC §10): the risk level, 0 to 4, the operation actually turned
    /// out to carry. Compared with the permit's level for the over- and
    /// under-certification metrics.
    #[serde(default)]
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 4)]
    pub actual_level: Option<Level>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// One of `safety_violation, constraint_breach, scope_expansion, time_expiration,
    /// certification_revoked, incident_resolved, approver_request, security_incident, manual`.
    #[schema(value_type = String)]
    pub reason: RevocationReason,
    /// Free text: personal data, sealed in the audit trail.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub comment: Option<PersonalText>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    pub hours: f64,
    /// For renewals that need approval: the role the caller approves under.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub state: Option<String>,
    pub worker_id: Option<String>,
    pub requester_id: Option<String>,
    /// Only requests the caller may decide now (eligible role, segregation of duties,
    /// not voted yet): the caller's approval queue.
    pub awaiting_me: Option<bool>,
    /// Only requests past their approval SLA (overdue, escalated).
    pub overdue: Option<bool>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

fn now(state: &AppState) -> i64 {
    state.clock.now().millis()
}

/// Requests a permit for a task and a worker (masters and admins).
#[utoipa::path(post, path = "/v1/permits", tag = "permits", request_body = PermitRequest,
    responses(
        (status = 201, description = "requested (and, for auto-approved read-only work, issued)", body = view::PermitView),
        (status = 400, description = "invalid body; the problem names the field"),
        (status = 403, description = "the caller is not a master or admin"),
        (status = 404, description = "unknown worker"),
        (status = 422, description = "missing evidence, missing scope (a level-2+ task naming no `operations` or no `services_affected`), hard block, no permit needed, bad window"),
    ), security(("bearer" = [])))]
pub async fn request(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PermitRequest>,
) -> Result<(StatusCode, Json<PermitView>), ApiError> {
    let permit = request_via(&state, &caller, None, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(PermitView::new(&permit, now(&state))),
    ))
}

/// The use case behind `POST /v1/permits` and the MCP tool `request_permit`, acting
/// through `channel` (`None` for the JSON API).
pub async fn request_via(
    state: &AppState,
    caller: &Caller,
    channel: Option<steward_store::Channel>,
    body: PermitRequest,
) -> Result<Permit, ApiError> {
    caller.require_any(&[Role::Master, Role::Admin], "requesting a permit")?;
    let task = parse_task(body.task.clone(), "task.")?;
    let analysis = analyze(&task, &state.policy);
    let triggers = crate::routes::monitoring::triggers(&body)?;
    let refused = HardBlockSubject {
        task_id: analysis.task_id.clone(),
        worker_id: body.worker_id.clone(),
        level: analysis.certification_decision.certification_level_required,
        worker_type: json!(analysis.certification_decision.worker_type),
    };
    let new = NewPermit {
        task: body.task,
        analysis,
        worker_id: body.worker_id,
        evidence: body.evidence,
        requested_hours: body.hours,
        window_start_ms: body.window_start_ms,
        scope: task,
        choices: ConstraintChoices {
            allowed_methods: body.allowed_methods,
            forbidden_methods: body.forbidden_methods,
            triggers,
        },
    };
    match state
        .store
        .request_permit(&caller.by_via(channel), new, &state.policy, now(state))
        .await
    {
        Ok(permit) => Ok(permit),
        Err(PermitError::HardBlocks(blocks)) => {
            record_hard_block(state, caller.by_via(channel).into_actor(), refused, &blocks).await?;
            Err(permit_error(PermitError::HardBlocks(blocks)))
        }
        Err(error) => Err(permit_error(error)),
    }
}

/// What the `permit.hard_blocked` event names about a refused request.
struct HardBlockSubject {
    task_id: Option<String>,
    worker_id: String,
    level: Level,
    worker_type: Value,
}

/// Records a permit request refused by hard blocks (SPEC §10 counts them: the target is
/// that none is ever executed). Nothing else is written; the event stands alone.
async fn record_hard_block(
    state: &AppState,
    actor: steward_store::Actor,
    subject: HardBlockSubject,
    blocks: &[steward_policy::Block],
) -> Result<(), ApiError> {
    let rules: Vec<&str> = blocks.iter().map(|b| b.rule.as_str()).collect();
    state
        .store
        .record_event(
            NewEvent::typed(
                now(state),
                actor,
                Subject {
                    task_id: subject.task_id,
                    worker_id: Some(subject.worker_id),
                    permit_id: None,
                },
                Some(subject.level),
                PermitHardBlocked {
                    rule: rules.first().map(|rule| (*rule).to_owned()),
                    rules: rules.iter().map(|rule| (*rule).to_owned()).collect(),
                    worker_type: subject.worker_type,
                },
            )
            .map_err(ApiError::internal)?,
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}

/// Approves, rejects or requests changes (humans holding an eligible role; never the
/// requester, the worker's owner or the worker).
#[utoipa::path(post, path = "/v1/permits/{id}/approvals", tag = "permits", request_body = DecisionRequest,
    params(("id" = String, Path, description = "permit id")),
    responses(
        (status = 200, description = "recorded; the permit as it now is", body = view::PermitView),
        (status = 403, description = "role not eligible, or segregation of duties"),
        (status = 409, description = "the permit is not under review, or this person already decided"),
    ), security(("bearer" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Json<PermitView>, ApiError> {
    let decision = NewDecision {
        decision: body.decision,
        role: body.role,
        channel: body.channel.unwrap_or(Channel::Api),
        comment: body.comment,
        conditions: body.conditions.unwrap_or_else(|| json!({})),
    };
    state
        .store
        .decide_permit(&caller.by(), &id, decision, now(&state))
        .await
        .map(|permit| Json(PermitView::new(&permit, now(&state))))
        .map_err(permit_error)
}

/// Records the change-advisory-board sign-off of a level-4 permit.
#[utoipa::path(post, path = "/v1/permits/{id}/cab-signoff", tag = "permits",
    params(("id" = String, Path, description = "permit id")),
    responses((status = 200, description = "signed off", body = view::PermitView)), security(("bearer" = [])))]
pub async fn cab_signoff(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PermitView>, ApiError> {
    state
        .store
        .cab_sign_off(&caller.by(), &id, now(&state))
        .await
        .map(|permit| Json(PermitView::new(&permit, now(&state))))
        .map_err(permit_error)
}

/// Resubmits a permit whose changes were requested; every approval resets.
#[utoipa::path(post, path = "/v1/permits/{id}/resubmit", tag = "permits", request_body = ResubmitRequest,
    params(("id" = String, Path, description = "permit id")),
    responses((status = 200, description = "back under review", body = view::PermitView)), security(("bearer" = [])))]
pub async fn resubmit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ResubmitRequest>,
) -> Result<Json<PermitView>, ApiError> {
    state
        .store
        .resubmit_permit(&caller.by(), &id, body.evidence, now(&state))
        .await
        .map(|permit| Json(PermitView::new(&permit, now(&state))))
        .map_err(permit_error)
}

/// Starts executing an active permit (its worker, or its requester).
#[utoipa::path(post, path = "/v1/permits/{id}/start", tag = "permits",
    params(("id" = String, Path, description = "permit id")),
    responses((status = 200, description = "executing", body = view::PermitView)), security(("bearer" = [])))]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PermitView>, ApiError> {
    state
        .store
        .start_permit(&caller.by(), &id, now(&state))
        .await
        .map(|permit| Json(PermitView::new(&permit, now(&state))))
        .map_err(permit_error)
}

/// Completes an executing permit with its outcome.
#[utoipa::path(post, path = "/v1/permits/{id}/complete", tag = "permits", request_body = CompleteRequest,
    params(("id" = String, Path, description = "permit id")),
    responses((status = 200, description = "completed", body = view::PermitView)), security(("bearer" = [])))]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CompleteRequest>,
) -> Result<Json<PermitView>, ApiError> {
    state
        .store
        .complete_permit(
            &caller.by(),
            &id,
            body.outcome,
            body.report.unwrap_or_else(|| json!({})),
            now(&state),
        )
        .await
        .map(|permit| Json(PermitView::new(&permit, now(&state))))
        .map_err(permit_error)
}

/// Closes a completed permit; the response carries its audit summary.
#[utoipa::path(post, path = "/v1/permits/{id}/close", tag = "permits", request_body = CloseRequest,
    params(("id" = String, Path, description = "permit id")),
    responses((status = 200, description = "closed", body = view::PermitView)), security(("bearer" = [])))]
pub async fn close(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CloseRequest>,
) -> Result<Json<PermitView>, ApiError> {
    state
        .store
        .close_permit_with_feedback(
            &caller.by(),
            &id,
            body.notes.unwrap_or(Value::Null),
            body.actual_level,
            now(&state),
        )
        .await
        .map(|permit| Json(PermitView::new(&permit, now(&state))))
        .map_err(permit_error)
}

/// Revokes a live permit with a reason from the closed set (idempotent).
#[utoipa::path(post, path = "/v1/permits/{id}/revoke", tag = "permits", request_body = RevokeRequest,
    params(("id" = String, Path, description = "permit id")),
    responses((status = 200, description = "revoked", body = view::PermitView)), security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> Result<Json<PermitView>, ApiError> {
    state
        .store
        .revoke_permit(&caller.by(), &id, body.reason, body.comment, now(&state))
        .await
        .map(|permit| Json(PermitView::new(&permit, now(&state))))
        .map_err(permit_error)
}

/// Renews an active permit as its type allows.
#[utoipa::path(post, path = "/v1/permits/{id}/renew", tag = "permits", request_body = RenewRequest,
    params(("id" = String, Path, description = "permit id")),
    responses((status = 200, description = "renewed, or the renewal approval recorded", body = view::PermitView)),
    security(("bearer" = [])))]
pub async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RenewRequest>,
) -> Result<Json<PermitView>, ApiError> {
    state
        .store
        .renew_permit(
            &caller.by(),
            &id,
            body.hours,
            body.role,
            &state.policy,
            now(&state),
        )
        .await
        .map(|permit| Json(PermitView::new(&permit, now(&state))))
        .map_err(permit_error)
}

/// Archives a permit in a terminal state.
#[utoipa::path(post, path = "/v1/permits/{id}/archive", tag = "permits",
    params(("id" = String, Path, description = "permit id")),
    responses((status = 200, description = "archived", body = view::PermitView)), security(("bearer" = [])))]
pub async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PermitView>, ApiError> {
    state
        .store
        .archive_permit(&caller.by(), &id, now(&state))
        .await
        .map(|permit| Json(PermitView::new(&permit, now(&state))))
        .map_err(permit_error)
}

/// One permit with the approvals of its current round.
#[utoipa::path(get, path = "/v1/permits/{id}", tag = "permits",
    params(("id" = String, Path, description = "permit id")),
    responses((status = 200, description = "the permit", body = view::PermitView), (status = 404, description = "unknown")),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PermitView>, ApiError> {
    let permit = visible_permit(&state, &caller, &id).await?;
    let mut view = PermitView::new(&permit, now(&state));
    // People by name where one is known, next to their ids.
    let name = async |id: &str| -> Option<String> {
        state.store.principal_by_id(id).await.ok().map(|p| p.name)
    };
    view.requester_name = Some(name(&permit.requester_id).await);
    for approval in &mut view.approvals {
        approval.principal_name = Some(name(&approval.principal_id).await);
    }
    Ok(Json(view))
}

/// Permit `id`, if `caller` may read it (see [`own_worker_only`]).
pub async fn visible_permit(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Permit, ApiError> {
    let permit = state
        .store
        .permit(id)
        .await
        .map_err(|e| permit_error(PermitError::Store(e)))?;
    if let Some(own) = own_worker_only(state, caller).await?
        && permit.worker_id != own
    {
        // Not 403: a worker learns nothing about other workers' permits, not even that
        // they exist.
        return Err(ApiError::NotFound(format!("permit `{id}` not found")));
    }
    Ok(permit)
}

/// A principal whose only role is `worker` sees the permits of its own worker and no
/// others; everyone else with a token reads all permits. `Some(worker id)` when limited
/// (an agent with no worker record gets an id that matches nothing).
pub async fn own_worker_only(
    state: &AppState,
    caller: &Caller,
) -> Result<Option<String>, ApiError> {
    let roles = &caller.principal().roles;
    if roles.iter().any(|r| *r != Role::Worker) {
        return Ok(None);
    }
    let worker = state
        .store
        .worker_by_principal(caller.id())
        .await
        .map_err(ApiError::internal)?;
    Ok(Some(worker.map_or_else(String::new, |w| w.id)))
}

/// Lists permits, oldest first, `limit` at a time; pass `next` as `after` for the next page.
#[utoipa::path(get, path = "/v1/permits", tag = "permits", params(ListQuery),
    responses((status = 200, description = "a page of permits, each with its review clock", body = view::PermitPageView)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<view::PermitPageView>, ApiError> {
    let own = own_worker_only(&state, &caller).await?;
    if let (Some(own), Some(asked)) = (&own, &q.worker_id)
        && own != asked
    {
        return Err(ApiError::refused(
            Refusal::OwnWorkerOnly,
            "a worker may list only its own permits",
        ));
    }
    let filter = PermitFilter {
        state: q
            .state
            .as_deref()
            .map(str::parse::<PermitState>)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("`state`: {e}"), "state"))?,
        worker_id: own.or(q.worker_id),
        requester_id: q.requester_id,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request(
            format!("`limit` must be 1 to 200, got {limit}"),
            "limit",
        ));
    }
    let now_ms = now(&state);
    let awaiting_me = q.awaiting_me == Some(true);
    let overdue = q.overdue == Some(true);
    let by = caller.by();
    let items = if awaiting_me || overdue {
        if filter.state.is_some() || filter.requester_id.is_some() {
            return Err(ApiError::bad_request(
                "`awaiting_me` and `overdue` list requests waiting for a decision; they do not combine with `state` or `requester_id`",
                if awaiting_me { "awaiting_me" } else { "overdue" },
            ));
        }
        let queue = ReviewQueue {
            awaiting: awaiting_me.then_some(&by),
            overdue_at: overdue.then_some(now_ms),
            worker_id: filter.worker_id.as_deref(),
        };
        state
            .store
            .review_queue(&queue, q.after.as_deref(), limit)
            .await
    } else {
        state
            .store
            .list_permits(&filter, q.after.as_deref(), limit)
            .await
    }
    .map_err(|e| permit_error(PermitError::Store(e)))?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|p| p.id.clone()))
        .flatten();
    let items = items.iter().map(|p| PermitView::new(p, now_ms)).collect();
    Ok(Json(view::PermitPageView { items, next }))
}

/// Maps a permit refusal to its problem: the status and `rule` say which rule refused.
pub fn permit_error(err: PermitError) -> ApiError {
    let message = err.to_string();
    match err {
        PermitError::Store(StoreError::NotFound { .. }) => ApiError::NotFound(message),
        PermitError::Store(StoreError::Conflict { .. }) => {
            ApiError::refused(Refusal::ConcurrentUpdate, message)
        }
        PermitError::Store(other) => ApiError::internal(other),
        PermitError::Transition(t) => ApiError::refused(Refusal::IllegalTransition, message)
            .with("current_state", t.from.as_str())
            .with("attempted_action", t.event.as_str()),
        PermitError::Approval(refusal) => ApiError::approval_refused(&refusal, message),
        PermitError::MissingEvidence { missing, .. } => {
            let names: Vec<&str> = missing.iter().map(|e| e.as_str()).collect();
            ApiError::refused(Refusal::MissingEvidence, message).with("missing", json!(names))
        }
        PermitError::MissingScope { missing, .. } => {
            let names: Vec<&str> = missing.iter().map(|f| f.as_str()).collect();
            let field = names.first().map(|f| format!("task.{f}"));
            ApiError::refused(Refusal::MissingScope, message)
                .with("missing", json!(names))
                .with("field", json!(field))
        }
        PermitError::HardBlocks(blocks) => {
            ApiError::refused(Refusal::HardBlock, message).with("hard_blocks", json!(blocks))
        }
        PermitError::NotRequired { .. } => ApiError::refused(Refusal::NoPermitNeeded, message),
        PermitError::Window(_) => ApiError::refused(Refusal::PermitWindow, message),
        PermitError::NotAllowed { rule, .. } => ApiError::refused(rule, message),
        PermitError::InvalidRollbackPlan { problems, .. } => {
            ApiError::refused(Refusal::InvalidRollbackPlan, message)
                .with("problems", json!(problems))
        }
        PermitError::IncompleteReport { missing, .. } => {
            ApiError::refused(Refusal::IncompleteReport, message).with("missing", json!(missing))
        }
        PermitError::OutsideWindow { .. } => ApiError::refused(Refusal::OutsideWindow, message),
    }
}
