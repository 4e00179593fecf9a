//! `/v1/audit/checkpoints` and `/v1/audit/public-key`: signed checkpoints of the audit
//! Merkle tree (SPEC §9) and the key that verifies them.
//!
//! Making a checkpoint is open to admins and auditors (an auditor may want a fresh signed
//! root before checking a proof); it records an `audit.checkpoint_created` event, which
//! lies after the tree it signs and holds the whole signed checkpoint, and it is published
//! outside the database (`crate::witness`). The public key is public: any authenticated caller may
//! read it.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use steward_policy::{Refusal, Role};
use steward_store::{CheckpointOutcome, MAX_CHECKPOINT_PAGE, SignedCheckpoint};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::routes::audit::{known_params, parse_number};
use crate::routes::principals::store_error;
use crate::state::AppState;
use crate::witness::{self, SignError};

/// Checkpoints per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;

/// A signed checkpoint: the tree of `tree_size` events had root `root_hash` at `ts_ms`.
/// This is its published form too (`steward_audit::PublishedCheckpoint`): the line the
/// checkpoint sink writes, the body an `audit.checkpoint` webhook receives and what
/// `POST /v1/audit/verify/checkpoint` takes.
///
/// `signature` is Ed25519 by the key `key_id` over
/// `"steward.audit.checkpoint.v1" 0x00 || tree_size (u64 BE) || ts_ms (i64 BE) ||
/// root_hash` (`steward_audit::Checkpoint::signed_message`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointView {
    /// Events covered: `seq` 1 to `tree_size`.
    pub tree_size: u64,
    /// The RFC 6962 root, 64 hex digits.
    pub root_hash: String,
    /// Unix milliseconds when it was signed.
    pub ts_ms: i64,
    /// The first 16 hex digits of SHA-256 of the signing public key.
    pub key_id: String,
    /// 128 hex digits.
    pub signature: String,
}

/// A page of checkpoints, smallest tree first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointPage {
    pub items: Vec<CheckpointView>,
    /// Pass as `after` for the next page: the last item's tree size (or `after` itself
    /// when the page is empty).
    pub next_after: u64,
}

/// The key that verifies checkpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKeyView {
    /// `ed25519:` and 64 hex digits.
    #[schema(example = "ed25519:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29")]
    pub key: String,
    pub key_id: String,
}

impl From<&SignedCheckpoint> for CheckpointView {
    fn from(signed: &SignedCheckpoint) -> CheckpointView {
        CheckpointView {
            tree_size: signed.checkpoint.tree_size,
            root_hash: signed.checkpoint.root_hash.to_string(),
            ts_ms: signed.checkpoint.ts_ms,
            key_id: signed.key_id.clone(),
            signature: hex::encode(signed.signature),
        }
    }
}

/// Signs a checkpoint of the whole trail as it stands (admin, auditor). When nothing but
/// checkpoint events was appended since the latest checkpoint, returns that one (200)
/// instead of making another.
#[utoipa::path(post, path = "/v1/audit/checkpoints", tag = "audit",
    responses(
        (status = 201, description = "the new signed checkpoint", body = CheckpointView),
        (status = 200, description = "nothing new since the latest checkpoint, which is returned", body = CheckpointView),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
        (status = 409, description = "`no_signing_key`: this server has no audit signing key; `trail_inconsistent`: the trail does not extend the checkpoint this instance signed last (it was truncated or rewritten), so nothing is signed"),
    ),
    security(("bearer" = [])))]
pub async fn create_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<CheckpointView>), ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "signing an audit checkpoint")?;
    let Some(key) = &state.audit_key else {
        return Err(ApiError::refused(
            Refusal::NoSigningKey,
            "this server has no audit signing key (`audit-signing.key` in its data \
             directory), so it cannot sign checkpoints",
        ));
    };
    let outcome =
        match witness::sign_checkpoint(&state, &caller.by(), key, state.clock.now().millis()).await
        {
            Ok(outcome) => outcome,
            Err(SignError::Store(error)) => return Err(store_error(error)),
            Err(error @ SignError::Inconsistent { .. }) => {
                return Err(ApiError::refused(
                    Refusal::TrailInconsistent,
                    error.to_string(),
                ));
            }
        };
    Ok(match outcome {
        CheckpointOutcome::Signed(signed) => {
            (StatusCode::CREATED, Json(CheckpointView::from(&signed)))
        }
        CheckpointOutcome::Unchanged(latest) => {
            (StatusCode::OK, Json(CheckpointView::from(&latest)))
        }
    })
}

/// The checkpoint with the largest tree size (admin, auditor).
#[utoipa::path(get, path = "/v1/audit/checkpoints/latest", tag = "audit",
    responses(
        (status = 200, description = "the latest signed checkpoint", body = CheckpointView),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
        (status = 404, description = "no checkpoint has been signed yet"),
    ),
    security(("bearer" = [])))]
pub async fn latest_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<CheckpointView>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "reading audit checkpoints")?;
    match state.store.latest_checkpoint().await.map_err(store_error)? {
        Some(signed) => Ok(Json(CheckpointView::from(&signed))),
        None => Err(no_checkpoint_yet()),
    }
}

/// The checkpoint of the tree of `tree_size` events (admin, auditor).
#[utoipa::path(get, path = "/v1/audit/checkpoints/{tree_size}", tag = "audit",
    params(("tree_size" = u64, Path, description = "the checkpoint's tree size")),
    responses(
        (status = 200, description = "the signed checkpoint", body = CheckpointView),
        (status = 400, description = "`tree_size` is not a number"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
        (status = 404, description = "no checkpoint of that tree size"),
    ),
    security(("bearer" = [])))]
pub async fn show_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(tree_size): ApiPath<String>,
) -> Result<Json<CheckpointView>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "reading audit checkpoints")?;
    let tree_size: u64 = parse_number("tree_size", &tree_size)?;
    let signed = state
        .store
        .checkpoint(tree_size)
        .await
        .map_err(store_error)?;
    Ok(Json(CheckpointView::from(&signed)))
}

/// Checkpoints with a tree size above `after` (default 0), smallest first, at most
/// `limit` (1 to 1000, default 100) (admin, auditor).
#[utoipa::path(get, path = "/v1/audit/checkpoints", tag = "audit",
    params(
        ("after" = Option<u64>, Query, description = "list checkpoints of larger trees than this (default 0)"),
        ("limit" = Option<u32>, Query, description = "checkpoints per page, 1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, description = "a page of checkpoints", body = CheckpointPage),
        (status = 400, description = "bad query parameter: the problem names it"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
    ),
    security(("bearer" = [])))]
pub async fn list_checkpoints(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<CheckpointPage>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "reading audit checkpoints")?;
    let mut after: u64 = 0;
    let mut limit = DEFAULT_LIMIT;
    for (key, value) in known_params(query, &["after", "limit"])? {
        match key.as_str() {
            "after" => after = parse_number(&key, &value)?,
            _ => {
                limit = parse_number(&key, &value)?;
                if !(1..=MAX_CHECKPOINT_PAGE).contains(&limit) {
                    return Err(ApiError::bad_request(
                        format!("`limit` must be 1 to {MAX_CHECKPOINT_PAGE}, got {limit}"),
                        "limit",
                    ));
                }
            }
        }
    }
    let items = state
        .store
        .list_checkpoints(after, limit)
        .await
        .map_err(store_error)?;
    let next_after = items.last().map_or(after, |c| c.checkpoint.tree_size);
    Ok(Json(CheckpointPage {
        items: items.iter().map(CheckpointView::from).collect(),
        next_after,
    }))
}

/// The public key that verifies this server's checkpoints (any authenticated caller).
#[utoipa::path(get, path = "/v1/audit/public-key", tag = "audit",
    responses(
        (status = 200, description = "the checkpoint signing public key", body = PublicKeyView),
        (status = 401, description = "missing or invalid token"),
        (status = 404, description = "this server has no audit signing key"),
    ),
    security(("bearer" = [])))]
pub async fn public_key(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<PublicKeyView>, ApiError> {
    let Some(key) = &state.audit_key else {
        return Err(ApiError::NotFound(
            "this server has no audit signing key (`audit-signing.key` in its data directory)"
                .to_owned(),
        ));
    };
    Ok(Json(PublicKeyView {
        key: steward_audit::format_public_key(key.public_key()),
        key_id: key.key_id(),
    }))
}

/// The 404 for "there is no checkpoint to use yet".
pub fn no_checkpoint_yet() -> ApiError {
    ApiError::NotFound(
        "no audit checkpoint has been signed yet: make one with `POST /v1/audit/checkpoints` \
         (`steward audit checkpoint`)"
            .to_owned(),
    )
}
