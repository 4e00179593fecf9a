//! `/v1/workers/{id}/identity` and `/v1/workers/{id}/tokens`: the worker's own identity (an
//! agent principal holding only the role `worker`) and its tokens, managed by the worker's
//! owner, so a master gives each agent it spawns a token of its own and no admin is
//! needed per spawn (issue 12).
//!
//! The owner check is the store's (`Store::create_worker_identity` and friends); nothing
//! here takes roles or a principal id, so an owner can neither grant another role nor mint
//! a token for anyone but its own worker's identity.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use steward_store::{NewWorkerToken, token};
use utoipa::ToSchema;

use super::{now, view, worker_error};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::json::ApiJson;
use crate::routes::principals::{PrincipalView, parse_name};
use crate::routes::tokens::{
    CreatedToken, RevokedTokenView, TokenList, TokenView, expires_at, parse_label, wall_clock_ms,
};
use crate::routes::workers::WorkerView;
use crate::state::AppState;

/// `POST /v1/workers/{id}/identity` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentity {
    /// The identity's principal name (unique); `worker:<worker id>` when absent.
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /v1/workers/{id}/tokens` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkerToken {
    /// What the token is for (`spawn for permit …`), as the owner will recognise it.
    pub label: String,
    /// Hours until it expires (1 to 87840). It never outlives the token that mints it
    /// (the caller's), and is revoked with it; absent, it expires with it.
    #[serde(default)]
    pub expires_in_hours: Option<u32>,
}

/// The worker with its new identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    pub worker: WorkerView,
    pub principal: PrincipalView,
}

/// Creates the worker's identity: an agent principal holding only the role `worker`,
/// bound to the worker (its owner, or an admin). Then mint it tokens with
/// `POST /v1/workers/{id}/tokens`.
#[utoipa::path(post, path = "/v1/workers/{id}/identity", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    request_body = CreateIdentity,
    responses(
        (status = 201, description = "created and bound", body = IdentityView),
        (status = 400, description = "invalid body (a `roles` member, say): the problem names the field"),
        (status = 403, description = "`own_workers_only`: the caller neither owns the worker nor is an admin"),
        (status = 404, description = "no such worker"),
        (status = 409, description = "the worker already has an identity, or the name is taken"),
    ),
    security(("bearer" = [])))]
pub async fn create_identity(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateIdentity>,
) -> Result<(StatusCode, Json<IdentityView>), ApiError> {
    let name = body.name.as_deref().map(parse_name).transpose()?;
    let now = now(&state);
    let (worker, principal) = state
        .store
        .create_worker_identity(&caller.by(), &id, name, now)
        .await
        .map_err(worker_error)?;
    Ok((
        StatusCode::CREATED,
        Json(IdentityView {
            worker: view(&worker, now),
            principal: PrincipalView::from(&principal),
        }),
    ))
}

/// Mints a token for the worker's identity (its owner, or an admin). The secret is in
/// this response only.
#[utoipa::path(post, path = "/v1/workers/{id}/tokens", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    request_body = CreateWorkerToken,
    responses(
        (status = 201, description = "created; the secret is shown only now", body = CreatedToken),
        (status = 400, description = "invalid body: the problem names the field"),
        (status = 403, description = "`own_workers_only`: the caller neither owns the worker nor is an admin"),
        (status = 404, description = "no such worker"),
        (status = 409, description = "`no_identity`: create the worker's identity first"),
        (status = 401, description = "the caller's token ended meanwhile"),
        (status = 422, description = "`token-outlives-caller`: the token would outlive the caller's token"),
    ),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateWorkerToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    state.limits.check_token_creation(&caller.0.token_id)?;
    let label = parse_label(&body.label)?;
    let expires_at_ms = expires_at(body.expires_in_hours)?;
    let (secret, secret_hash) = token::generate();
    let info = state
        .store
        .create_worker_token(
            &caller.by(),
            &caller.0.token_id,
            &id,
            NewWorkerToken {
                label,
                expires_at_ms,
                secret_hash,
            },
        )
        .await
        .map_err(worker_error)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: info.id,
            principal_id: info.principal_id,
            label: info.label,
            token: secret,
            expires_at_ms: info.expires_at_ms,
            minted_with: info.parent_token_id,
        }),
    ))
}

/// Lists the tokens of the worker's identity, revoked and expired ones included (its
/// owner, or an admin). Never secrets.
#[utoipa::path(get, path = "/v1/workers/{id}/tokens", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    responses(
        (status = 200, description = "the tokens, oldest first", body = TokenList),
        (status = 403, description = "`own_workers_only`"),
        (status = 404, description = "no such worker"),
    ),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TokenList>, ApiError> {
    let tokens = state
        .store
        .worker_tokens(&caller.by(), &id)
        .await
        .map_err(worker_error)?;
    let now = wall_clock_ms();
    Ok(Json(TokenList {
        items: tokens.iter().map(|t| TokenView::new(t, now)).collect(),
    }))
}

/// Revokes a token of the worker's identity, and every token minted with it (its owner,
/// or an admin); revoking a revoked token changes nothing.
#[utoipa::path(post, path = "/v1/workers/{id}/tokens/{token_id}/revoke", tag = "workers",
    params(
        ("id" = String, Path, description = "worker id"),
        ("token_id" = String, Path, description = "token id (not the secret)"),
    ),
    responses(
        (status = 200, description = "the token, now revoked, and the tokens revoked with it", body = RevokedTokenView),
        (status = 403, description = "`own_workers_only`"),
        (status = 404, description = "no such worker, or no such token of its identity"),
    ),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, token_id)): ApiPath<(String, String)>,
) -> Result<Json<RevokedTokenView>, ApiError> {
    let revoked = state
        .store
        .revoke_worker_token(&caller.by(), &id, &token_id)
        .await
        .map_err(worker_error)?;
    Ok(Json(RevokedTokenView {
        token: TokenView::new(&revoked.token, wall_clock_ms()),
        cascaded: revoked.cascaded,
    }))
}
