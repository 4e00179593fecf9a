//! `/v1/tokens`: API tokens. An admin manages anyone's; every other principal manages
//! only its own (self-service). Every token created here is minted with the caller's
//! token and ends with it: it never expires after it, and revoking it revokes every token
//! minted with it, transitively (see `steward_store::token`), so a leaked token cannot
//! mint itself a successor that outlives it.
//!
//! The secret is in the response to `POST /v1/tokens` and nowhere else: listings carry
//! neither secrets nor hashes.
//!
//! Token times are wall-clock times, not the injectable `AppState::clock`: the store
//! stamps `created_at` and checks expiry against the wall clock, so "expires in 2 hours"
//! must be measured on that clock too.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use steward_policy::{Refusal, Role};
use steward_store::{NewToken, TokenError, TokenInfo, token};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::json::ApiJson;
use crate::routes::audit::query_pairs;
use crate::routes::principals::store_error;
use crate::state::AppState;

/// The longest validity a token can be given: ten years.
pub const MAX_EXPIRES_IN_HOURS: u32 = 24 * 366 * 10;

/// The longest label accepted, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

const MS_PER_HOUR: i64 = 3_600_000;

/// `POST /v1/tokens` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Whose token; the caller by default. Only an admin may name another principal.
    pub principal_id: Option<String>,
    /// What the token is for, as its owner will recognise it in listings.
    #[schema(example = "ci pipeline")]
    pub label: String,
    /// Hours until the token expires (1 to 87840), at most until the caller's token
    /// expires. Absent: it expires with the caller's token (never, if that one never
    /// expires).
    pub expires_in_hours: Option<u32>,
}

/// The new token. `token` is the secret: shown here once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub principal_id: String,
    pub label: String,
    /// The bearer secret (`stw_…`). Steward keeps only its SHA-256.
    pub token: String,
    /// Unix milliseconds; `null` never expires.
    pub expires_at_ms: Option<i64>,
    /// The caller's token, which this one ends with.
    pub minted_with: Option<String>,
}

/// A token as listings show it: never the secret, nor its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub principal_id: String,
    pub label: String,
    /// The token this one was minted with (it ends with that one); `null` for a token
    /// made outside the API, such as `steward init`'s.
    pub minted_with: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
    /// Unix milliseconds, as are the other times.
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    /// Refreshed at most once a minute.
    pub last_used_at_ms: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenView>,
}

/// A revoked token and the tokens revoked with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedTokenView {
    #[serde(flatten)]
    pub token: TokenView,
    /// Ids of the tokens minted with this one (transitively) that this call revoked.
    pub cascaded: Vec<String>,
}

/// Creates a token, minted with the caller's token: it expires no later than that one
/// and is revoked with it. An admin may create one for any enabled principal; anyone else
/// only for itself.
#[utoipa::path(post, path = "/v1/tokens", tag = "admin",
    request_body = CreateToken,
    responses(
        (status = 201, description = "created; the secret is shown only now", body = CreatedToken),
        (status = 400, description = "invalid body: the problem names the field"),
        (status = 401, description = "missing or invalid token, or the caller's token ended meanwhile"),
        (status = 403, description = "a non-admin asked for another principal's token"),
        (status = 404, description = "no such principal"),
        (status = 409, description = "the principal is disabled"),
        (status = 429, description = "`rate_limited`: too many tokens created with the caller's token; `Retry-After` says when to retry"),
        (status = 422, description = "`token-outlives-caller`: the token would outlive the caller's token (`max_expires_at_ms`)"),
    ),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    state.limits.check_token_creation(&caller.0.token_id)?;
    let principal_id = body
        .principal_id
        .clone()
        .unwrap_or_else(|| caller.id().to_owned());
    if principal_id != caller.id() {
        caller.require_any(&[Role::Admin], "creating a token for another principal")?;
    }
    let label = parse_label(&body.label)?;
    let expires_at_ms = expires_at(body.expires_in_hours)?;
    let (secret, secret_hash) = token::generate();
    let info = state
        .store
        .mint_token(
            &caller.by(),
            &caller.0.token_id,
            NewToken {
                principal_id,
                label,
                expires_at_ms,
                secret_hash,
            },
        )
        .await
        .map_err(token_error)?;
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

pub(crate) fn token_error(error: TokenError) -> ApiError {
    let message = error.to_string();
    match error {
        TokenError::Store(error) => store_error(error),
        TokenError::ParentNotLive { .. } => ApiError::Unauthorized(message),
        TokenError::OutlivesParent { max_expires_at_ms } => ApiError::refused(
            Refusal::TokenOutlivesCaller,
            format!("{message}; ask for fewer hours, or for none to expire with it"),
        )
        .with("max_expires_at_ms", max_expires_at_ms),
        TokenError::PrincipalDisabled { .. } => ApiError::Conflict {
            message,
            extra: serde_json::Map::new(),
        },
    }
}

/// Lists a principal's tokens, revoked and expired ones included: the caller's own by
/// default; an admin may name anyone with `principal_id`.
#[utoipa::path(get, path = "/v1/tokens", tag = "admin",
    params(("principal_id" = Option<String>, Query, description = "whose tokens; the caller's by default")),
    responses(
        (status = 200, description = "the tokens, oldest first", body = TokenList),
        (status = 400, description = "unknown query parameter"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "a non-admin asked for another principal's tokens"),
        (status = 404, description = "no such principal"),
    ),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<TokenList>, ApiError> {
    let mut principal_id = caller.id().to_owned();
    for (key, value) in query_pairs(query)? {
        match key.as_str() {
            "principal_id" => principal_id = value,
            other => {
                return Err(ApiError::bad_request(
                    format!("unknown query parameter `{other}`; expected `principal_id`"),
                    other,
                ));
            }
        }
    }
    if principal_id != caller.id() {
        caller.require_any(&[Role::Admin], "listing another principal's tokens")?;
        // Read for a clear 404: the store lists nothing for an unknown id.
        state
            .store
            .principal_by_id(&principal_id)
            .await
            .map_err(store_error)?;
    }
    let now = wall_clock_ms();
    let tokens = state
        .store
        .list_tokens(&principal_id)
        .await
        .map_err(store_error)?;
    Ok(Json(TokenList {
        items: tokens.iter().map(|t| TokenView::new(t, now)).collect(),
    }))
}

/// Revokes a token, and with it every token minted with it, transitively: one's own, or
/// (admin) anyone's. Revoking a revoked token changes nothing. Revoking the token in use
/// ends this session.
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", tag = "admin",
    params(("id" = String, Path, description = "token id (not the secret)")),
    responses(
        (status = 200, description = "the token, now revoked, and the tokens revoked with it", body = RevokedTokenView),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "a non-admin named another principal's token"),
        (status = 404, description = "no such token"),
    ),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RevokedTokenView>, ApiError> {
    let token = state.store.token_by_id(&id).await.map_err(store_error)?;
    if token.principal_id != caller.id() {
        caller.require_any(&[Role::Admin], "revoking another principal's token")?;
    }
    let revoked = state
        .store
        .revoke_token(&caller.by(), &id)
        .await
        .map_err(store_error)?;
    Ok(Json(RevokedTokenView {
        token: TokenView::new(&revoked.token, wall_clock_ms()),
        cascaded: revoked.cascaded,
    }))
}

impl TokenView {
    pub(crate) fn new(t: &TokenInfo, now_ms: i64) -> TokenView {
        let state = if t.revoked_at_ms.is_some() {
            "revoked"
        } else if t.expires_at_ms.is_some_and(|at| at <= now_ms) {
            "expired"
        } else {
            "active"
        };
        TokenView {
            id: t.id.clone(),
            principal_id: t.principal_id.clone(),
            label: t.label.clone(),
            minted_with: t.parent_token_id.clone(),
            state,
            created_at_ms: t.created_at_ms,
            expires_at_ms: t.expires_at_ms,
            revoked_at_ms: t.revoked_at_ms,
            last_used_at_ms: t.last_used_at_ms,
        }
    }
}

/// A token label: trimmed, not empty, at most [`MAX_LABEL_CHARS`] characters, no control
/// characters.
pub(crate) fn parse_label(label: &str) -> Result<String, ApiError> {
    let label = label.trim();
    if label.is_empty() {
        return Err(ApiError::bad_request("`label` must not be empty", "label"));
    }
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            format!(
                "`label` must be at most {MAX_LABEL_CHARS} characters, without control characters"
            ),
            "label",
        ));
    }
    Ok(label.to_owned())
}

/// When a token asked for `expires_in_hours` from now expires (on the wall clock), or
/// `None` when no hours were asked for (the store then gives it its parent's expiry).
pub(crate) fn expires_at(expires_in_hours: Option<u32>) -> Result<Option<i64>, ApiError> {
    match expires_in_hours {
        None => Ok(None),
        Some(hours @ 1..=MAX_EXPIRES_IN_HOURS) => Ok(Some(
            wall_clock_ms().saturating_add(i64::from(hours) * MS_PER_HOUR),
        )),
        Some(hours) => Err(ApiError::bad_request(
            format!("`expires_in_hours` must be 1 to {MAX_EXPIRES_IN_HOURS}, got {hours}"),
            "expires_in_hours",
        )),
    }
}

/// Now on the clock the store checks token expiry with.
pub(crate) fn wall_clock_ms() -> i64 {
    Clock::System.now().millis()
}
