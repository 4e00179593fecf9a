//! `/v1/principals`: creating, listing and disabling the humans and agents that call
//! Steward (administrative acts, each audited by the store in the same transaction).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use steward_policy::{Refusal, Role};
use steward_store::{NewPrincipal, Principal, PrincipalKind, StoreError};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::json::ApiJson;
use crate::state::AppState;

/// The longest principal name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// `POST /v1/principals` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrincipal {
    /// `human` or `agent`.
    #[schema(example = "agent")]
    pub kind: String,
    /// Unique, 1 to 100 characters, no control characters.
    #[schema(example = "deploy-bot")]
    pub name: String,
    /// Role names (SPEC §4, §6, plus `admin`, `auditor`, `master`, `worker`).
    #[schema(example = json!(["master"]))]
    pub roles: Vec<String>,
}

/// A principal as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrincipalView {
    pub id: String,
    /// `human` or `agent`.
    pub kind: &'static str,
    pub name: String,
    pub roles: Vec<&'static str>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds; a disabled principal's tokens no longer authenticate.
    pub disabled_at_ms: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrincipalList {
    pub items: Vec<PrincipalView>,
}

/// Creates a principal (admin only). Give it a token with `POST /v1/tokens`.
#[utoipa::path(post, path = "/v1/principals", tag = "admin",
    request_body = CreatePrincipal,
    responses(
        (status = 201, description = "created", body = PrincipalView),
        (status = 400, description = "invalid body: the problem names the field (`roles[1]`)"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is not an admin"),
        (status = 409, description = "the name is taken"),
    ),
    security(("bearer" = [])))]
pub async fn create_principal(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreatePrincipal>,
) -> Result<(StatusCode, Json<PrincipalView>), ApiError> {
    caller.require_any(&[Role::Admin], "creating a principal")?;
    let kind = body
        .kind
        .parse::<PrincipalKind>()
        .map_err(|e| ApiError::bad_request(format!("`kind`: {e}"), "kind"))?;
    let name = parse_name(&body.name)?;
    let mut roles: Vec<Role> = Vec::with_capacity(body.roles.len());
    for (i, text) in body.roles.iter().enumerate() {
        let role = text.parse::<Role>().map_err(|e| {
            let field = format!("roles[{i}]");
            ApiError::bad_request(format!("`{field}`: {e}"), field)
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    let principal = state
        .store
        .create_principal(&caller.by(), NewPrincipal { kind, name, roles })
        .await
        .map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(PrincipalView::from(&principal))))
}

/// Lists every principal, disabled ones included, by name (admin, auditor).
#[utoipa::path(get, path = "/v1/principals", tag = "admin",
    responses(
        (status = 200, description = "all principals", body = PrincipalList),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
    ),
    security(("bearer" = [])))]
pub async fn list_principals(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PrincipalList>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "listing principals")?;
    let principals = state.store.list_principals().await.map_err(store_error)?;
    Ok(Json(PrincipalList {
        items: principals.iter().map(PrincipalView::from).collect(),
    }))
}

/// Disables a principal (admin only): none of its tokens authenticate any more.
/// Disabling a disabled principal changes nothing. An admin cannot disable itself, so
/// the last admin cannot lock everyone out by mistake.
#[utoipa::path(post, path = "/v1/principals/{id}/disable", tag = "admin",
    params(("id" = String, Path, description = "principal id")),
    responses(
        (status = 200, description = "the principal, now disabled", body = PrincipalView),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is not an admin"),
        (status = 404, description = "no such principal"),
        (status = 422, description = "the caller tried to disable itself"),
    ),
    security(("bearer" = [])))]
pub async fn disable_principal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PrincipalView>, ApiError> {
    caller.require_any(&[Role::Admin], "disabling a principal")?;
    if id == caller.id() {
        return Err(ApiError::refused(
            Refusal::SelfDisable,
            "a principal cannot disable itself; ask another admin",
        ));
    }
    let principal = state
        .store
        .disable_principal(&caller.by(), &id)
        .await
        .map_err(store_error)?;
    Ok(Json(PrincipalView::from(&principal)))
}

impl From<&Principal> for PrincipalView {
    fn from(p: &Principal) -> PrincipalView {
        PrincipalView {
            id: p.id.clone(),
            kind: p.kind.as_str(),
            name: p.name.clone(),
            roles: p.roles.iter().map(|r| r.as_str()).collect(),
            created_at_ms: p.created_at_ms,
            disabled_at_ms: p.disabled_at_ms,
        }
    }
}

/// Maps a store failure: a missing row is 404, a uniqueness or version clash 409, the
/// rest 500.
pub fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound { .. } => ApiError::NotFound(error.to_string()),
        StoreError::Conflict { message } => ApiError::Conflict {
            message,
            extra: serde_json::Map::new(),
        },
        other => ApiError::internal(other),
    }
}

pub(crate) fn parse_name(name: &str) -> Result<String, ApiError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request("`name` must not be empty", "name"));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(
            format!("`name` is longer than {MAX_NAME_CHARS} characters"),
            "name",
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "`name` must not contain control characters",
            "name",
        ));
    }
    Ok(trimmed.to_owned())
}
