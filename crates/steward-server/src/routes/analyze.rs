//! `POST /v1/analyze`: the risk analysis of a task (SPEC §3.5), as `steward check` gives it.

use axum::Json;
use axum::extract::State;
use steward_policy::{Analysis, Task, analyze};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;

/// Analyses a task: factor scores with evidence, required level, approvals, permit type.
#[utoipa::path(post, path = "/v1/analyze", tag = "analysis",
    request_body(content = Object, description = "a task (SPEC §2)"),
    responses(
        (status = 200, description = "the analysis (SPEC §3.5)", body = Object),
        (status = 400, description = "invalid task: the problem names the field"),
        (status = 401, description = "missing or invalid token"),
    ),
    security(("bearer" = [])))]
pub async fn analyze_task(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(value): ApiJson<serde_json::Value>,
) -> Result<Json<Analysis>, ApiError> {
    let task = parse_task(value, "")?;
    Ok(Json(analyze(&task, &state.policy)))
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
