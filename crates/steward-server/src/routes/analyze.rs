//! `POST /v1/analyze`: the risk analysis of a task (SPEC §3.5), as `steward check` gives it.

use axum::Json;
use axum::extract::State;
use serde_json::json;
use steward_audit::event::TaskAnalyzed;
use steward_policy::{Analysis, Task, analyze};
use steward_store::{Channel, NewEvent, Subject};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;

pub mod view;

pub use view::AnalysisView;

/// Analyses a task: factor scores with evidence, required level, approvals, permit type.
#[utoipa::path(post, path = "/v1/analyze", tag = "analysis",
    request_body(content = Object, description = "a task (SPEC §2)"),
    responses(
        (status = 200, description = "the analysis (SPEC §3.5)", body = AnalysisView),
        (status = 400, description = "invalid task: the problem names the field"),
        (status = 401, description = "missing or invalid token"),
    ),
    security(("bearer" = [])))]
pub async fn analyze_task(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(value): ApiJson<serde_json::Value>,
) -> Result<Json<AnalysisView>, ApiError> {
    analyze_via(&state, &caller, None, value)
        .await
        .map(|analysis| Json(AnalysisView::from(&analysis)))
}

/// The use case behind `POST /v1/analyze` and the MCP tool `analyze_task`: parse, analyse,
/// record `task.analyzed` (through `channel`, `None` for the JSON API), answer.
pub async fn analyze_via(
    state: &AppState,
    caller: &Caller,
    channel: Option<Channel>,
    value: serde_json::Value,
) -> Result<Analysis, ApiError> {
    let task = parse_task(value, "")?;
    let analysis = analyze(&task, &state.policy);
    // SPEC §9: every analysis served is an audit event; the decision is answered only
    // once it is recorded.
    let decision = &analysis.certification_decision;
    state
        .store
        .record_event(
            NewEvent::typed(
                state.clock.now().millis(),
                caller.by_via(channel).into_actor(),
                Subject {
                    task_id: analysis.task_id.clone(),
                    worker_id: None,
                    permit_id: None,
                },
                Some(decision.certification_level_required),
                TaskAnalyzed {
                    policy_version: analysis.policy_version.clone(),
                    environment: json!(analysis.environment_detected),
                    total_risk_score: analysis.risk_assessment.total_risk_score,
                    risk_level: json!(analysis.risk_assessment.risk_level),
                    worker_type: json!(decision.worker_type),
                    permit_type: json!(analysis.approval_requirements.permit_type),
                    floors_applied: decision
                        .floors_applied
                        .iter()
                        .map(|f| json!(f.rule))
                        .collect(),
                },
            )
            .map_err(ApiError::internal)?,
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(analysis)
}

/// Parses a task with the policy crate's strict rules; errors name the field, under
/// `prefix` when the task is nested in a larger body (`task.`).
pub fn parse_task(value: serde_json::Value, prefix: &str) -> Result<Task, ApiError> {
    Task::from_value(value).map_err(|e| {
        let path = format!("{prefix}{}", e.path);
        let path = path.trim_end_matches('.');
        if path.is_empty() {
            ApiError::BadRequest {
                message: e.message,
                field: None,
            }
        } else {
            ApiError::BadRequest {
                message: format!("`{path}`: {}", e.message),
                field: Some(path.to_owned()),
            }
        }
    })
}
