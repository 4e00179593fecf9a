//! `/v1/workers/{id}/initial-certification`: certifying a worker that has a record
//! elsewhere straight at level 1–4 (issue 13). The worker's owner or an admin asks, with
//! a justification and evidence of the prior record; humans approve as for a promotion to
//! that level; the last approval certifies the worker (`worker.certified_initially`) and
//! starts the level's probation. Every rule is the store's use case's
//! (`Store::request_initial_certification`, `Store::approve_initial_certification`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use steward_permits::{InitialCertification, PriorRecord};
use steward_policy::Role;
use steward_store::{InitialCertificationRecord, InitialCertificationState};
use utoipa::ToSchema;

use super::{MissingView, WorkerView, now, parse_target, role_names, view, worker_error};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;

/// `POST /v1/workers/{id}/initial-certification` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitialCertificationRequest {
    /// The level to certify the worker at, 1 to 4.
    pub level: u8,
    /// Why the worker deserves the level (at least 20 characters).
    pub justification: String,
    /// Evidence of the worker's record before Steward.
    pub prior_record: PriorRecordBody,
}

/// Evidence of the prior record: a document and/or a link, and a count of operations.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorRecordBody {
    #[serde(default)]
    pub document: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    /// Operations the worker ran before Steward (at least 1).
    pub prior_operations: u32,
}

/// `POST /v1/workers/{id}/initial-certification/approvals` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitialApprovalRequest {
    /// The role the caller approves under; they must hold it.
    #[schema(example = "engineering_manager")]
    pub role: String,
    /// Free text: personal data, sealed in the audit trail.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub comment: Option<steward_store::PersonalText>,
}

/// Where an initial certification stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct InitialCertificationView {
    pub worker: WorkerView,
    pub request: InitialCertificationRecordView,
    /// Whether the worker is certified (the approvals met the quorum).
    pub certified: bool,
    /// What the approvals still lack.
    pub missing: MissingView,
}

/// An initial certification as asked: what, by whom, and who approved.
#[derive(Debug, Serialize, ToSchema)]
pub struct InitialCertificationRecordView {
    pub worker_id: String,
    /// The level asked for (1–4).
    pub target_level: u8,
    pub justification: String,
    pub prior_record: PriorRecordRecordView,
    /// The principal who asked.
    pub requested_by: String,
    pub requested_at_ms: i64,
    /// Approvals so far; their comments are in the audit events.
    pub approvals: Vec<InitialApprovalView>,
    /// Set when the approvals met the quorum and the worker was certified.
    pub certified_at_ms: Option<i64>,
}

/// The evidence of the prior record, as given.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriorRecordRecordView {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub document: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub link: Option<String>,
    pub prior_operations: u32,
}

/// One approval of an initial certification.
#[derive(Debug, Serialize, ToSchema)]
pub struct InitialApprovalView {
    pub principal_id: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub created_at_ms: i64,
}

impl From<&InitialCertificationRecord> for InitialCertificationRecordView {
    fn from(r: &InitialCertificationRecord) -> Self {
        InitialCertificationRecordView {
            worker_id: r.worker_id.clone(),
            target_level: r.target_level.value(),
            justification: r.justification.clone(),
            prior_record: PriorRecordRecordView {
                document: r.prior_record.document.clone(),
                link: r.prior_record.link.clone(),
                prior_operations: r.prior_record.prior_operations,
            },
            requested_by: r.requested_by.clone(),
            requested_at_ms: r.requested_at_ms,
            approvals: r
                .approvals
                .iter()
                .map(|a| InitialApprovalView {
                    principal_id: a.principal_id.clone(),
                    role: a.role,
                    created_at_ms: a.created_at_ms,
                })
                .collect(),
            certified_at_ms: r.certified_at_ms,
        }
    }
}

fn state_view(state: InitialCertificationState, now_ms: i64) -> InitialCertificationView {
    InitialCertificationView {
        worker: view(&state.worker, now_ms),
        certified: state.certified,
        missing: MissingView {
            approvals: state.quorum.approvals_missing,
            roles: role_names(&state.quorum.roles_missing),
        },
        request: InitialCertificationRecordView::from(&state.request),
    }
}

/// Asks for the worker, which has no certification history in Steward, to be certified at
/// `level` (its owner or an admin): the same human approvals as a promotion to that level
/// follow (`…/initial-certification/approvals`).
#[utoipa::path(post, path = "/v1/workers/{id}/initial-certification", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    request_body = InitialCertificationRequest,
    responses(
        (status = 201, description = "asked; `missing` says which approvals are needed", body = InitialCertificationView),
        (status = 400, description = "invalid body: the problem names the field"),
        (status = 403, description = "`own_workers_only`: only the worker's owner or an admin asks"),
        (status = 404, description = "no such worker"),
        (status = 409, description = "`conflict`: already asked for this worker"),
        (status = 422, description = "`initial_certification`: the worker has a certification history, or the justification or evidence is missing"),
    ),
    security(("bearer" = [])))]
pub async fn request(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InitialCertificationRequest>,
) -> Result<(StatusCode, Json<InitialCertificationView>), ApiError> {
    let target = parse_target(body.level, "level")?;
    let request = InitialCertification {
        target,
        justification: body.justification,
        prior_record: PriorRecord {
            document: body.prior_record.document,
            link: body.prior_record.link,
            prior_operations: body.prior_record.prior_operations,
        },
    };
    let now = now(&state);
    let done = state
        .store
        .request_initial_certification(&caller.by(), &id, &request, now)
        .await
        .map_err(worker_error)?;
    Ok((StatusCode::CREATED, Json(state_view(done, now))))
}

/// Records the caller's approval of the worker's initial certification under `role`, and
/// certifies the worker when the approvals meet the quorum of a promotion to that level.
/// Only humans holding an eligible role approve; whoever asked, the worker's owner and
/// the worker itself may not; one vote per person.
#[utoipa::path(post, path = "/v1/workers/{id}/initial-certification/approvals", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    request_body = InitialApprovalRequest,
    responses(
        (status = 200, description = "recorded; `certified` says whether the quorum was met", body = InitialCertificationView),
        (status = 400, description = "invalid body: the problem names the field"),
        (status = 403, description = "`role_not_eligible` or `segregation_of_duties`"),
        (status = 404, description = "no such worker, or no initial certification asked for it"),
        (status = 409, description = "`one_vote_per_person`, or already certified"),
        (status = 422, description = "`initial_certification`: the worker has a certification history by now"),
    ),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InitialApprovalRequest>,
) -> Result<Json<InitialCertificationView>, ApiError> {
    let role = body
        .role
        .parse::<Role>()
        .map_err(|e| ApiError::bad_request(format!("`role`: {e}"), "role"))?;
    let now = now(&state);
    let done = state
        .store
        .approve_initial_certification(&caller.by(), &id, role, body.comment, now)
        .await
        .map_err(worker_error)?;
    Ok(Json(state_view(done, now)))
}

/// The worker's initial certification, if one was asked for (any authenticated caller).
#[utoipa::path(get, path = "/v1/workers/{id}/initial-certification", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    responses(
        (status = 200, description = "the request and its approvals", body = InitialCertificationRecordView),
        (status = 404, description = "none asked for this worker"),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InitialCertificationRecordView>, ApiError> {
    match state.store.initial_certification(&id).await {
        Ok(Some(record)) => Ok(Json(InitialCertificationRecordView::from(&record))),
        Ok(None) => Err(ApiError::NotFound(format!(
            "no initial certification was asked for worker `{id}`"
        ))),
        Err(e) => Err(ApiError::internal(e)),
    }
}
