//! `GET /healthz`: liveness and database reachability, unauthenticated.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: &'static str,
    pub database: &'static str,
    pub policy_version: String,
    /// `production`, or `rehearsal` under `steward serve --rehearsal` (a clock an admin
    /// advances; every audit event carries `data.run_mode: "rehearsal"`).
    pub run_mode: &'static str,
    /// The server's time (Unix ms): the wall clock, or a rehearsal's.
    pub now_ms: i64,
}

/// Liveness: answers when the server runs and its database is reachable.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "healthy", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ping().await.map_err(ApiError::internal)?;
    Ok(Json(Health {
        status: "ok",
        database: state.store.backend().as_str(),
        policy_version: state.policy.version().to_owned(),
        run_mode: state.run_mode().as_str(),
        now_ms: state.clock.now().millis(),
    }))
}
