//! `POST /v1/audit/verify/checkpoint`: the stored trail measured against a signed
//! checkpoint kept outside the database (issue 9, item 6), admin and auditor.
//!
//! The body is the checkpoint as `GET /v1/audit/checkpoints/latest` returned it, or as the
//! checkpoint sink or an `audit.checkpoint` webhook published it. Its signature must
//! verify with this server's key (422 `checkpoint_signature` otherwise: a claim nobody
//! signed proves nothing). Then the answer says whether the current tree extends it, with
//! the consistency proof, and for damage (a trail shorter than the witness, or another
//! history) the kind and the first seq affected. Damage is `ok: false`, never an error.
//!
//! The server's word is only a convenience: `steward audit verify --checkpoint` checks
//! the proof itself against a signed root.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use steward_audit::verify_checkpoint;
use steward_policy::Refusal;
use steward_policy::Role;
use steward_store::{Hash, SignedCheckpoint};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::routes::audit::checkpoints::CheckpointView;
use crate::routes::principals::store_error;
use crate::state::AppState;

/// A tree: its size and root.
#[derive(Debug, Serialize, ToSchema)]
pub struct TreeView {
    pub tree_size: u64,
    /// 64 hex digits; `null` for the current tree when a node it needs is missing.
    pub root_hash: Option<String>,
}

/// The trail measured against a witnessed checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WitnessVerification {
    /// The current tree is at least as large as the witnessed one and the consistency
    /// proof links the witnessed root to the current root.
    pub ok: bool,
    /// The witnessed checkpoint's tree.
    pub witnessed: TreeView,
    /// The tree of the trail as it is now.
    pub current: TreeView,
    /// RFC 9162 §2.1.4 consistency proof from the witnessed size to the current size
    /// (hex); empty when the current tree is smaller or cannot be read.
    pub consistency_proof: Vec<String>,
    /// The first seq not as the witness signed it, when not `ok`: the first missing one
    /// for `truncated`; for `inconsistent`, the first one no earlier signed checkpoint
    /// vouches for.
    pub first_bad_seq: Option<u64>,
    /// `truncated` (the trail is shorter than the witnessed tree) or `inconsistent`
    /// (the witnessed tree is not a prefix of the current one), when not `ok`: the same
    /// damage kinds `GET /v1/audit/verify` names.
    #[schema(value_type = Option<String>, example = "truncated")]
    pub kind: Option<steward_audit::Damage>,
    /// What is wrong, when not `ok`.
    pub problem: Option<String>,
}

/// Verifies the stored trail against a signed checkpoint kept elsewhere (admin, auditor).
#[utoipa::path(post, path = "/v1/audit/verify/checkpoint", tag = "audit",
    request_body = CheckpointView,
    responses(
        (status = 200, description = "the verification result; damage is `ok: false`", body = WitnessVerification),
        (status = 400, description = "malformed body: the problem names the field"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
        (status = 409, description = "this server has no audit signing key to check the signature with"),
        (status = 422, description = "`checkpoint_signature`: the checkpoint is not signed by this server's key"),
    ),
    security(("bearer" = [])))]
pub async fn verify_witnessed(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CheckpointView>,
) -> Result<Json<WitnessVerification>, ApiError> {
    caller.require_any(
        &[Role::Admin, Role::Auditor],
        "verifying the audit trail against a checkpoint",
    )?;
    let witnessed = parse_checkpoint(body)?;
    let Some(key) = &state.audit_key else {
        return Err(ApiError::refused(
            Refusal::NoSigningKey,
            "this server has no audit signing key, so it cannot check the checkpoint's \
             signature; check it with `steward audit verify --checkpoint FILE --public-key KEY`",
        ));
    };
    if let Err(error) = verify_checkpoint(&witnessed, key.public_key()) {
        return Err(ApiError::refused(
            Refusal::CheckpointSignature,
            format!(
                "the checkpoint of tree size {} is not signed by this server's audit key \
                 (`{}`): {error}",
                witnessed.checkpoint.tree_size,
                key.key_id()
            ),
        ));
    }
    let report = state
        .store
        .check_witnessed(&witnessed, key.public_key())
        .await
        .map_err(store_error)?;
    let (first_bad_seq, kind, problem) = match report.outcome {
        Ok(()) => (None, None, None),
        Err(error) => (
            Some(error.first_bad_seq),
            Some(steward_audit::Damage::from(error.kind)),
            Some(error.problem),
        ),
    };
    Ok(Json(WitnessVerification {
        ok: first_bad_seq.is_none(),
        witnessed: TreeView {
            tree_size: witnessed.checkpoint.tree_size,
            root_hash: Some(witnessed.checkpoint.root_hash.to_string()),
        },
        current: TreeView {
            tree_size: report.current_size,
            root_hash: report.current_root.as_ref().map(Hash::to_string),
        },
        consistency_proof: report.proof.iter().map(Hash::to_string).collect(),
        first_bad_seq,
        kind,
        problem,
    }))
}

/// The body's hex fields decoded, or a 400 naming the field.
fn parse_checkpoint(body: CheckpointView) -> Result<SignedCheckpoint, ApiError> {
    let root_hash: Hash = body
        .root_hash
        .parse()
        .map_err(|_| ApiError::bad_request("`root_hash` must be 64 hex digits", "root_hash"))?;
    let mut signature = [0; 64];
    hex::decode_to_slice(&body.signature, &mut signature)
        .map_err(|_| ApiError::bad_request("`signature` must be 128 hex digits", "signature"))?;
    Ok(SignedCheckpoint {
        checkpoint: steward_audit::Checkpoint {
            tree_size: body.tree_size,
            root_hash,
            ts_ms: body.ts_ms,
        },
        key_id: body.key_id,
        signature,
    })
}
