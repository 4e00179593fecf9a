//! `/v1/audit/proofs`: RFC 6962 inclusion proofs (an event is in a signed tree) and
//! consistency proofs (an older tree is a prefix of a newer one), admin and auditor.
//!
//! The server only supplies the hashes. A client verifies them itself with
//! `steward_audit::verify_inclusion` / `verify_consistency` against the roots of signed
//! checkpoints (`/v1/audit/checkpoints`) checked with the public key; it should also
//! recompute the event's hash from the event rather than trust `entry_hash`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Serialize;
use steward_policy::Role;
use steward_store::{Hash, StoreError};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::audit::checkpoints::no_checkpoint_yet;
use crate::routes::audit::{known_params, parse_number};
use crate::routes::principals::store_error;
use crate::state::AppState;

/// The audit path of one event.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProofView {
    pub seq: u64,
    /// `seq - 1`: the leaf's index in the tree.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The event's `hash` as stored now (hex).
    pub entry_hash: String,
    /// `SHA-256(0x00 || entry_hash)` (hex).
    pub leaf_hash: String,
    /// Sibling hashes (hex), lowest level first (RFC 9162 §2.1.3).
    pub proof: Vec<String>,
}

/// The proof that the tree of `old_size` events is a prefix of the tree of `new_size`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProofView {
    pub old_size: u64,
    pub new_size: u64,
    /// Hashes (hex) in RFC 9162 §2.1.4 order.
    pub proof: Vec<String>,
}

/// The proof that event `seq` is in the tree of `tree_size` events (default: the latest
/// checkpoint's).
#[utoipa::path(get, path = "/v1/audit/proofs/inclusion", tag = "audit",
    params(
        ("seq" = u64, Query, description = "the event"),
        ("tree_size" = Option<u64>, Query, description = "the tree (default: the latest checkpoint's)"),
    ),
    responses(
        (status = 200, description = "the inclusion proof", body = InclusionProofView),
        (status = 400, description = "bad or missing query parameter: the problem names it"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
        (status = 404, description = "no `tree_size` given and no checkpoint yet"),
    ),
    security(("bearer" = [])))]
pub async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<InclusionProofView>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "reading audit proofs")?;
    let mut seq: Option<u64> = None;
    let mut tree_size: Option<u64> = None;
    for (key, value) in known_params(query, &["seq", "tree_size"])? {
        match key.as_str() {
            "seq" => seq = Some(parse_number(&key, &value)?),
            _ => tree_size = Some(parse_number(&key, &value)?),
        }
    }
    let seq = seq.ok_or_else(|| ApiError::bad_request("`seq` is required", "seq"))?;
    let tree_size = match tree_size {
        Some(size) => size,
        None => match state.store.latest_checkpoint().await.map_err(store_error)? {
            Some(signed) => signed.checkpoint.tree_size,
            None => return Err(no_checkpoint_yet()),
        },
    };
    if seq == 0 || seq > tree_size {
        return Err(ApiError::bad_request(
            format!("`seq` must be 1 to the tree size {tree_size}, got {seq}"),
            "seq",
        ));
    }
    catch_up(&state, tree_size, "tree_size").await?;
    let proof = state
        .store
        .inclusion_proof(seq, tree_size)
        .await
        .map_err(|e| proof_error(e, "tree_size"))?;
    Ok(Json(InclusionProofView {
        seq: proof.seq,
        leaf_index: proof.leaf_index,
        tree_size: proof.tree_size,
        entry_hash: proof.entry_hash.to_string(),
        leaf_hash: proof.leaf_hash.to_string(),
        proof: hex_list(&proof.proof),
    }))
}

/// The proof that the tree of `old_size` events is a prefix of the tree of `new_size`.
#[utoipa::path(get, path = "/v1/audit/proofs/consistency", tag = "audit",
    params(
        ("old_size" = u64, Query, description = "the older tree's size"),
        ("new_size" = u64, Query, description = "the newer tree's size, at least `old_size`"),
    ),
    responses(
        (status = 200, description = "the consistency proof", body = ConsistencyProofView),
        (status = 400, description = "bad or missing query parameter: the problem names it"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
    ),
    security(("bearer" = [])))]
pub async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<ConsistencyProofView>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "reading audit proofs")?;
    let mut old_size: Option<u64> = None;
    let mut new_size: Option<u64> = None;
    for (key, value) in known_params(query, &["old_size", "new_size"])? {
        match key.as_str() {
            "old_size" => old_size = Some(parse_number(&key, &value)?),
            _ => new_size = Some(parse_number(&key, &value)?),
        }
    }
    let old_size =
        old_size.ok_or_else(|| ApiError::bad_request("`old_size` is required", "old_size"))?;
    let new_size =
        new_size.ok_or_else(|| ApiError::bad_request("`new_size` is required", "new_size"))?;
    if old_size > new_size {
        return Err(ApiError::bad_request(
            format!("`old_size` {old_size} is larger than `new_size` {new_size}"),
            "old_size",
        ));
    }
    catch_up(&state, new_size, "new_size").await?;
    let proof = state
        .store
        .consistency_proof(old_size, new_size)
        .await
        .map_err(|e| proof_error(e, "new_size"))?;
    Ok(Json(ConsistencyProofView {
        old_size: proof.old_size,
        new_size: proof.new_size,
        proof: hex_list(&proof.proof),
    }))
}

/// Brings the Merkle tree up to `tree_size` when the maintenance loop has not yet (it
/// trails the trail by up to a tick), or refuses a size beyond the trail naming `field`.
async fn catch_up(state: &AppState, tree_size: u64, field: &str) -> Result<(), ApiError> {
    let store = &state.store;
    if store.merkle_size().await.map_err(store_error)? >= tree_size {
        return Ok(());
    }
    let size = store
        .extend_merkle(Some(tree_size))
        .await
        .map_err(store_error)?;
    if size < tree_size {
        return Err(ApiError::bad_request(
            format!("`{field}` {tree_size} is beyond the audit trail, which has {size} events"),
            field,
        ));
    }
    Ok(())
}

fn proof_error(error: StoreError, field: &str) -> ApiError {
    match error {
        StoreError::BeyondMerkleTree { .. } | StoreError::SeqNotInTree { .. } => {
            ApiError::bad_request(error.to_string(), field)
        }
        StoreError::Proof(_) => ApiError::BadRequest {
            message: error.to_string(),
            field: None,
        },
        other => store_error(other),
    }
}

fn hex_list(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_string).collect()
}
