//! `POST /v1/principals/{id}/erase`: GDPR erasure of a principal's personal data that
//! keeps the audit trail verifiable (the store destroys the principal's key; the
//! encrypted values stay in the chain, unreadable).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use steward_policy::Role;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::routes::principals::{PrincipalView, store_error};
use crate::state::AppState;

/// The result of an erasure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureView {
    /// The principal after erasure: its name is now `erased:<id>`.
    pub principal: PrincipalView,
    /// `false` when the principal had already been erased (nothing changed or recorded).
    pub erased_now: bool,
}

/// Erases a principal's personal data (admin only): destroys the key its personal values
/// in audit events are encrypted under (event queries then show
/// `{"subject": …, "erased": true}`), replaces its name, token labels and approval
/// comments, and records `principal.erased`. The chain, the export and offline
/// verification are unaffected. Idempotent.
#[utoipa::path(post, path = "/v1/principals/{id}/erase", tag = "admin",
    params(("id" = String, Path, description = "principal id")),
    responses(
        (status = 200, description = "erased (or already erased: `erased_now` is false)", body = ErasureView),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is not an admin"),
        (status = 404, description = "no such principal"),
    ),
    security(("bearer" = [])))]
pub async fn erase_principal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ErasureView>, ApiError> {
    caller.require_any(&[Role::Admin], "erasing a principal's personal data")?;
    let now_ms = state.clock.now().millis();
    let erasure = state
        .store
        .erase_principal(&caller.actor(), &id, now_ms)
        .await
        .map_err(store_error)?;
    Ok(Json(ErasureView {
        principal: PrincipalView::from(&erasure.principal),
        erased_now: erasure.erased_now,
    }))
}
