//! Monitoring (SPEC §7): `POST /v1/permits/{id}/telemetry` (a worker's samples; a fired
//! trigger revokes the permit with `constraint_breach` and opens a rollback),
//! `POST /v1/permits/{id}/rollback` (the worker reports the rollback's outcome),
//! `GET /v1/permits/{id}/rollback` and `GET /v1/rollbacks` (open / overdue rollbacks).
//!
//! The trigger rules are `steward_permits::observe`; the store keeps their state and the
//! audit trail (`telemetry.recorded`, `telemetry.breach`, `rollback.opened`,
//! `rollback.completed`, `rollback.escalated`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use steward_permits::MonitorRefusal;
use steward_permits::{RollbackOutcome, TriggerConfig};
use steward_policy::Refusal;
use steward_policy::Role;
use steward_store::{MonitoringError, RollbackFilter, TelemetryInput, TelemetryOutcome};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::json::ApiJson;
use crate::state::AppState;

pub mod view;

use view::{RollbackPageView, RollbackRecordView, TelemetryOutcomeView};

/// A health-check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = HealthCheck)]
pub enum Health {
    Ok,
    Fail,
}

/// One telemetry sample; at least one field. Steward stamps the time it arrives.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryRequest {
    /// Errors per request over the worker's last interval, 0 to 1.
    #[serde(default)]
    pub error_rate: Option<f64>,
    /// The p99 latency in milliseconds.
    #[serde(default)]
    pub p99_ms: Option<f64>,
    /// The latest health check: `ok` or `fail`.
    #[serde(default)]
    #[schema(inline)]
    pub health: Option<Health>,
}

/// How a rollback ended.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackReport {
    /// `succeeded` or `failed`.
    #[schema(value_type = String)]
    pub outcome: RollbackOutcome,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RollbackQuery {
    /// `open`, `overdue` (open past the SLA) or `all` (default).
    pub status: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

fn now(state: &AppState) -> i64 {
    state.clock.now().millis()
}

/// Posts a telemetry sample for an active or executing permit (its worker, the worker's
/// owner, the permit's requester, or an admin). The response says whether a trigger fired;
/// if one did, the permit is now revoked with `constraint_breach` and a rollback is open.
#[utoipa::path(post, path = "/v1/permits/{id}/telemetry", tag = "monitoring", request_body = TelemetryRequest,
    params(("id" = String, Path, description = "permit id")),
    responses(
        (status = 200, description = "recorded: whether a trigger fired, the breaches, the monitor and the rollback it opened", body = view::TelemetryOutcomeView),
        (status = 400, description = "a value out of range, or an empty sample; the problem names the field"),
        (status = 403, description = "the caller is not this permit's worker, owner, requester or an admin"),
        (status = 404, description = "unknown permit"),
        (status = 409, description = "the permit is not active or executing"),
    ), security(("bearer" = [])))]
pub async fn telemetry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TelemetryRequest>,
) -> Result<Json<TelemetryOutcomeView>, ApiError> {
    telemetry_via(&state, &caller, None, &id, body)
        .await
        .map(|outcome| Json(TelemetryOutcomeView::from(&outcome)))
}

/// The use case behind `POST /v1/permits/{id}/telemetry` and the MCP tool
/// `report_telemetry`, acting through `channel` (`None` for the JSON API).
pub async fn telemetry_via(
    state: &AppState,
    caller: &Caller,
    channel: Option<steward_store::Channel>,
    id: &str,
    body: TelemetryRequest,
) -> Result<TelemetryOutcome, ApiError> {
    let input = TelemetryInput {
        error_rate: body.error_rate,
        latency_p99_ms: body.p99_ms,
        health_ok: body.health.map(|h| h == Health::Ok),
    };
    state
        .store
        .record_telemetry(&caller.by_via(channel), id, input, now(state))
        .await
        .map_err(monitoring_error)
}

/// Reports how the rollback of a permit ended (its worker, the worker's owner or the
/// permit's requester): `rollback.completed` with the duration and whether it met the SLA.
#[utoipa::path(post, path = "/v1/permits/{id}/rollback", tag = "monitoring", request_body = RollbackReport,
    params(("id" = String, Path, description = "permit id")),
    responses(
        (status = 200, description = "the rollback as it now is", body = view::RollbackRecordView),
        (status = 403, description = "the caller is not this permit's worker, owner or requester"),
        (status = 404, description = "unknown permit, or no trigger fired for it"),
        (status = 409, description = "the rollback was already reported"),
    ), security(("bearer" = [])))]
pub async fn report_rollback(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RollbackReport>,
) -> Result<Json<RollbackRecordView>, ApiError> {
    state
        .store
        .complete_rollback(&caller.by(), &id, body.outcome, body.notes, now(&state))
        .await
        .map(|rollback| Json(RollbackRecordView::from(&rollback)))
        .map_err(monitoring_error)
}

/// The rollback of one permit (operators: any role but `worker` alone).
#[utoipa::path(get, path = "/v1/permits/{id}/rollback", tag = "monitoring",
    params(("id" = String, Path, description = "permit id")),
    responses(
        (status = 200, description = "the rollback", body = view::RollbackRecordView),
        (status = 404, description = "no trigger fired for this permit"),
    ), security(("bearer" = [])))]
pub async fn show_rollback(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RollbackRecordView>, ApiError> {
    operator(&caller)?;
    state
        .store
        .rollback_of(&id)
        .await
        .map_err(ApiError::internal)?
        .map(|rollback| Json(RollbackRecordView::from(&rollback)))
        .ok_or_else(|| ApiError::NotFound(format!("permit `{id}` has no rollback")))
}

/// Lists rollbacks, newest first (operators: any role but `worker` alone). `overdue`:
/// open past their SLA.
#[utoipa::path(get, path = "/v1/rollbacks", tag = "monitoring", params(RollbackQuery),
    responses((status = 200, description = "a page of rollbacks", body = view::RollbackPageView)), security(("bearer" = [])))]
pub async fn list_rollbacks(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RollbackQuery>,
) -> Result<Json<RollbackPageView>, ApiError> {
    operator(&caller)?;
    let filter = match q.status.as_deref() {
        None | Some("all") => RollbackFilter::All,
        Some("open") => RollbackFilter::Open,
        Some("overdue") => RollbackFilter::Overdue,
        Some(other) => {
            return Err(ApiError::bad_request(
                format!("`status` must be `open`, `overdue` or `all`, got `{other}`"),
                "status",
            ));
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request(
            format!("`limit` must be 1 to 200, got {limit}"),
            "limit",
        ));
    }
    let items = state
        .store
        .list_rollbacks(filter, q.after.as_deref(), limit, now(&state))
        .await
        .map_err(ApiError::internal)?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|r| r.id.clone()))
        .flatten();
    let items = items.iter().map(RollbackRecordView::from).collect();
    Ok(Json(RollbackPageView { items, next }))
}

/// The trigger settings a permit request asks for (SPEC §6.4 defaults for the rest),
/// refused with 400 naming the field when out of range.
pub(crate) fn triggers(
    body: &crate::routes::permits::PermitRequest,
) -> Result<TriggerConfig, ApiError> {
    let d = TriggerConfig::default();
    let config = TriggerConfig {
        max_error_rate: body.max_error_rate.unwrap_or(d.max_error_rate),
        error_rate_window_seconds: body
            .error_rate_window_seconds
            .unwrap_or(d.error_rate_window_seconds),
        max_latency_p99_ms: body
            .max_latency_p99_ms
            .map_or(d.max_latency_p99_ms, |ms| ms as f64),
        latency_window_seconds: body
            .latency_window_seconds
            .unwrap_or(d.latency_window_seconds),
        health_check_failure_limit: body
            .health_check_failure_limit
            .unwrap_or(d.health_check_failure_limit),
    };
    config
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string(), e.field))?;
    Ok(config)
}

/// Rollbacks are for operators: a principal whose only role is `worker` may not list them.
fn operator(caller: &Caller) -> Result<(), ApiError> {
    if caller.principal().roles.iter().any(|r| *r != Role::Worker) {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "reading rollbacks needs a role other than `worker`".into(),
    ))
}

/// Maps a monitoring refusal to its problem.
pub fn monitoring_error(err: MonitoringError) -> ApiError {
    let message = err.to_string();
    match err {
        MonitoringError::Store(steward_store::StoreError::NotFound { .. })
        | MonitoringError::Refused(MonitorRefusal::NoRollback { .. }) => {
            ApiError::NotFound(message)
        }
        MonitoringError::Store(other) => ApiError::internal(other),
        MonitoringError::Sample(e) => {
            let field = match e {
                steward_permits::SampleError::ErrorRate => "error_rate",
                steward_permits::SampleError::Latency => "p99_ms",
                steward_permits::SampleError::Empty => "body",
            };
            ApiError::bad_request(message, field)
        }
        MonitoringError::Refused(MonitorRefusal::NotAllowed { rule, .. }) => {
            ApiError::refused(rule, message)
        }
        MonitoringError::Refused(MonitorRefusal::NotLive { state, .. }) => {
            ApiError::refused(Refusal::PermitNotLive, message).with("current_state", state.as_str())
        }
        MonitoringError::Refused(MonitorRefusal::RollbackClosed { status, .. }) => {
            ApiError::refused(Refusal::RollbackReported, message).with("status", status)
        }
    }
}
