//! `/v1/workers`: registering workers, reading them and their eligibility, and the
//! certification lifecycle (SPEC §5): human promotion approvals, suspend, reinstate,
//! revoke (which revokes the worker's live permits), recertify, end of probation, and
//! operation outcomes with automatic suspension.
//!
//! The rules live in `steward-permits` and every write is one `steward-store` use case;
//! the handlers check coarse roles, parse at the edge, and map refusals to problems whose
//! `rule` names the rule. Time is the server's clock (`state.clock`), so tests can step
//! over the 30/90/180-day thresholds.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use steward_permits::{
    AutoSuspension, OUTCOME_COUNTING_RULE, OperationResult, OutcomeRefusal, Recertification,
    promotion_approvals,
};
use steward_policy::{CertificationStatus, Level, Refusal, Role};
use steward_store::{
    MAX_WORKER_PAGE, NewOutcome, NewWorker, OutcomeEvidence, OutcomeRecord, PersonalText,
    PromotionApproval, StoreError, Worker, WorkerError, WorkerFilter, WorkerPage,
};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::json::ApiJson;
use crate::state::AppState;

pub mod identity;
pub mod initial;

/// Who may suspend or reinstate a worker: admins, and engineering managers and those
/// above them in the approval chain (directors, the security lead, executives).
pub const SUSPENDERS: &[Role] = &[
    Role::Admin,
    Role::EngineeringManager,
    Role::EngineeringDirector,
    Role::SecurityLead,
    Role::VpEngineering,
    Role::Cto,
    Role::Ciso,
    Role::Coo,
];

/// Who may revoke a certification, which also revokes every live permit of the worker:
/// admins, the roles that approve level-3 promotions (engineering director, security
/// lead), and the executives above them who hold engineering or security.
pub const REVOKERS: &[Role] = &[
    Role::Admin,
    Role::EngineeringDirector,
    Role::SecurityLead,
    Role::VpEngineering,
    Role::Cto,
    Role::Ciso,
];

/// Who may recertify: humans (the store refuses agents) holding one of these roles.
pub const RECERTIFIERS: &[Role] = SUSPENDERS;

/// Default page size of `GET /v1/workers`.
const DEFAULT_PAGE: u32 = 50;

/// `POST /v1/workers` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterWorker {
    #[schema(example = "deploy-bot")]
    pub display_name: String,
    /// The principal responsible for the worker; the caller when absent.
    #[serde(default)]
    pub owner_id: Option<String>,
    /// The agent identity (role `worker`) that authenticates as this worker.
    #[serde(default)]
    pub principal_id: Option<String>,
    #[serde(default)]
    #[schema(example = json!(["payments"]))]
    pub domains: Vec<String>,
}

/// `GET /v1/workers` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WorkerListQuery {
    /// `active`, `probationary`, `suspended`, `expired` or `revoked`.
    pub status: Option<String>,
    /// 0 to 4.
    pub level: Option<u8>,
    /// Owner principal id.
    pub owner: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// `GET /v1/workers/{id}/eligibility` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EligibilityQuery {
    /// The target level, 1 to 4.
    pub level: Option<u8>,
}

/// `POST /v1/workers/{id}/promotions` body: the caller's approval of a promotion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    /// The target level, 1 to 4.
    pub level: u8,
    /// The role the caller approves under; they must hold it.
    #[schema(example = "engineering_manager")]
    pub role: String,
    /// Free text: personal data, sealed in the audit trail.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub comment: Option<PersonalText>,
}

/// Body of suspend, reinstate, revoke and recertify.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// Why; recorded in the audit event. Non-empty.
    pub reason: String,
}

/// `POST /v1/workers/{id}/outcomes` body: how one operation ended, and the work Steward
/// saw behind it. A success counts towards promotion only with evidence: `permit_id` (a
/// closed permit the worker executed) or `authorize_seq` (the `audit_seq` of an allowed
/// authorize decision of the worker), each usable once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    /// `success`, `failure`, `incident` or `safety_violation`; a worker reporting about
    /// itself says only `success` or `failure`.
    #[schema(example = "success")]
    pub result: String,
    /// The level the operation required, 0 to 4 (1 and above is a union operation).
    /// Required without evidence; with evidence Steward knows it, and another is refused.
    #[serde(default)]
    pub level: Option<u8>,
    /// A permit of the worker that was executed and closed.
    #[serde(default)]
    pub permit_id: Option<String>,
    /// The `audit_seq` of an allowed `POST /v1/authorize` decision for the worker (ask
    /// with `record: true` below level 2 to get one).
    #[serde(default)]
    pub authorize_seq: Option<u64>,
}

/// A worker as the API shows it. Times are unix milliseconds.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerView {
    pub id: String,
    pub display_name: String,
    pub owner_id: String,
    pub principal_id: Option<String>,
    pub level: u8,
    /// `active`, `probationary`, `suspended`, `expired` or `revoked`.
    pub status: &'static str,
    /// True while probationary: SPEC §5's `oversight_recommended`.
    pub oversight_recommended: bool,
    pub domains: Vec<String>,
    pub level_granted_at_ms: i64,
    pub recertify_by_ms: Option<i64>,
    pub probation_until_ms: Option<i64>,
    /// Where the certification stands against its recertification date, now.
    pub recertification: RecertificationView,
    pub stats: StatsView,
    pub version: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecertificationView {
    /// `not_required` (level 0), `current`, `in_grace` (allowed with a warning) or
    /// `expired` (a hard block).
    pub state: &'static str,
    pub due_in_days: Option<i64>,
    pub grace_left_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    pub successes_at_level: u32,
    pub failures_at_level: u32,
    /// Lifetime successes by the level the operation required, levels 0 to 4.
    pub successes_by_level: Vec<u32>,
    pub last_incident_at_ms: Option<i64>,
    pub safety_violations: u32,
    pub consecutive_union_failures: u32,
    /// Successes reported without evidence Steward saw: history, never counted towards
    /// promotion.
    pub uncounted_successes: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerList {
    pub items: Vec<WorkerView>,
    /// Pass as `after` for the next page; absent on a short (last) page.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EligibilityView {
    pub worker_id: String,
    pub target_level: u8,
    pub eligible: bool,
    /// Every criterion, each starting with `met: ` or `not met: `.
    pub reasons: Vec<String>,
    /// The unmet criteria, without their prefix.
    pub unmet: Vec<String>,
    /// Who must approve the promotion.
    pub approvals: QuorumRulesView,
    /// Which outcomes count, and why.
    pub outcomes: OutcomeCountView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeCountView {
    /// Lifetime successes Steward saw the work of (closed permits, authorized
    /// operations): these count.
    pub counted_successes: u64,
    /// Lifetime successes reported without such evidence: these do not.
    pub uncounted_successes: u32,
    /// The rule, in words.
    pub rule: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuorumRulesView {
    pub approvers_required: u32,
    pub approver_roles: Vec<&'static str>,
    /// Roles each covered by a distinct approver.
    pub required_roles: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromotionView {
    pub worker: WorkerView,
    pub target_level: u8,
    pub promoted: bool,
    /// The approvals towards the target: those that made the promotion, or the ones
    /// still open.
    pub approvals: Vec<ApprovalView>,
    pub missing: MissingView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    pub id: String,
    pub principal_id: String,
    pub role: &'static str,
    pub comment: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MissingView {
    /// Distinct approvers still needed.
    pub approvals: u32,
    /// Required roles not yet covered.
    pub roles: Vec<&'static str>,
}

/// A revoked worker and the permits revoked with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationView {
    #[serde(flatten)]
    pub worker: WorkerView,
    /// Ids of the live permits revoked with reason `certification_revoked`.
    pub revoked_permits: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeView {
    pub worker: WorkerView,
    pub outcome: RecordedOutcomeView,
    /// Why the certification was suspended by this outcome; absent otherwise.
    pub suspended: Option<SuspensionView>,
}

/// The outcome as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedOutcomeView {
    pub id: String,
    pub result: &'static str,
    /// The level of the operation: Steward's when there is evidence.
    pub level: u8,
    /// `closed_permit`, `authorized_operation` or `reported` (no evidence).
    pub basis: &'static str,
    /// Whether a success on this basis counts towards promotion.
    pub counts_towards_promotion: bool,
    pub permit_id: Option<String>,
    pub authorize_seq: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuspensionView {
    /// `safety_violation` or `consecutive_union_failures`.
    pub cause: &'static str,
    /// The consecutive failed union operations, for that cause.
    pub count: Option<u32>,
    pub message: String,
}

/// Registers a worker at level 0, `active` (admin or master). A master registers only
/// workers it owns; an admin names any owner (a human, or a master).
#[utoipa::path(post, path = "/v1/workers", tag = "workers",
    request_body = RegisterWorker,
    responses(
        (status = 201, description = "registered", body = WorkerView),
        (status = 400, description = "invalid body: the problem names the field"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor master, or a master named another owner"),
        (status = 409, description = "the identity is already bound to a worker"),
        (status = 422, description = "`invalid_reference`: the owner or identity cannot play its part; `field` names which"),
    ),
    security(("bearer" = [])))]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RegisterWorker>,
) -> Result<(StatusCode, Json<WorkerView>), ApiError> {
    caller.require_any(&[Role::Admin, Role::Master], "registering a worker")?;
    let owner_id = body.owner_id.unwrap_or_else(|| caller.id().to_owned());
    if !caller.has(Role::Admin) && owner_id != caller.id() {
        return Err(ApiError::refused(
            Refusal::OwnWorkersOnly,
            "a master registers only workers it owns; leave out `owner_id` or ask an admin",
        ));
    }
    if body.display_name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "`display_name` must not be empty",
            "display_name",
        ));
    }
    if let Some(i) = body.domains.iter().position(|d| d.trim().is_empty()) {
        let field = format!("domains[{i}]");
        return Err(ApiError::bad_request(
            format!("`{field}` must not be empty"),
            field,
        ));
    }
    let new = NewWorker {
        display_name: body.display_name,
        owner_id,
        principal_id: body.principal_id,
        domains: body.domains,
    };
    let now = now(&state);
    let worker = state
        .store
        .register_worker(&caller.by(), new, now)
        .await
        .map_err(worker_error)?;
    Ok((StatusCode::CREATED, Json(view(&worker, now))))
}

/// Lists workers in registration order, `limit` at a time (any authenticated caller);
/// pass `next` as `after` for the next page.
#[utoipa::path(get, path = "/v1/workers", tag = "workers", params(WorkerListQuery),
    responses(
        (status = 200, description = "a page of workers", body = WorkerList),
        (status = 400, description = "a bad filter or limit: the problem names it"),
        (status = 401, description = "missing or invalid token"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    query: Result<Query<WorkerListQuery>, QueryRejection>,
) -> Result<Json<WorkerList>, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<CertificationStatus>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("`status`: {e}"), "status"))?;
    let level = q.level.map(|n| parse_level(n, "level")).transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_WORKER_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            format!("`limit` must be 1 to {MAX_WORKER_PAGE}, got {limit}"),
            "limit",
        ));
    }
    let filter = WorkerFilter {
        status,
        level,
        owner_id: q.owner,
    };
    let page = WorkerPage {
        after_id: q.after,
        limit,
    };
    let workers = state
        .store
        .list_workers(&filter, &page)
        .await
        .map_err(store_error)?;
    let next = (workers.len() == limit as usize)
        .then(|| workers.last().map(|w| w.id.clone()))
        .flatten();
    let now = now(&state);
    Ok(Json(WorkerList {
        items: workers.iter().map(|w| view(w, now)).collect(),
        next,
    }))
}

/// One worker (any authenticated caller).
#[utoipa::path(get, path = "/v1/workers/{id}", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    responses(
        (status = 200, description = "the worker", body = WorkerView),
        (status = 401, description = "missing or invalid token"),
        (status = 404, description = "no such worker"),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkerView>, ApiError> {
    let worker = state.store.worker(&id).await.map_err(store_error)?;
    Ok(Json(view(&worker, now(&state))))
}

/// Whether the worker may be promoted to `level` now, criterion by criterion, and who
/// must approve it (any authenticated caller). Steward never promotes on its own.
#[utoipa::path(get, path = "/v1/workers/{id}/eligibility", tag = "workers",
    params(("id" = String, Path, description = "worker id"), EligibilityQuery),
    responses(
        (status = 200, description = "the eligibility, with reasons", body = EligibilityView),
        (status = 400, description = "`level` missing or not 1 to 4"),
        (status = 401, description = "missing or invalid token"),
        (status = 404, description = "no such worker"),
    ),
    security(("bearer" = [])))]
pub async fn eligibility(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    query: Result<Query<EligibilityQuery>, QueryRejection>,
) -> Result<Json<EligibilityView>, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let level = q
        .level
        .ok_or_else(|| ApiError::bad_request("`level` is required (`?level=2`)", "level"))?;
    let target = parse_target(level, "level")?;
    let (worker, verdict) = state
        .store
        .eligibility(&id, target, now(&state))
        .await
        .map_err(store_error)?;
    let rules = promotion_approvals(target);
    Ok(Json(EligibilityView {
        worker_id: id,
        target_level: target.value(),
        eligible: verdict.eligible,
        unmet: verdict.unmet().map(str::to_owned).collect(),
        reasons: verdict.reasons,
        approvals: QuorumRulesView {
            approvers_required: rules.approvers_required,
            approver_roles: role_names(&rules.approver_roles),
            required_roles: role_names(&rules.required_roles),
        },
        outcomes: OutcomeCountView {
            counted_successes: worker
                .stats
                .successes_by_level
                .iter()
                .map(|&n| u64::from(n))
                .sum(),
            uncounted_successes: worker.stats.uncounted_successes,
            rule: OUTCOME_COUNTING_RULE,
        },
    }))
}

/// Records the caller's approval of promoting the worker to `level`, under `role`, and
/// promotes it once the approvals meet the quorum (to 1–2: one engineering_manager; to
/// 3: an engineering_director and a security_lead; to 4: three of vp_engineering, cto,
/// ciso, coo). Only humans holding the role approve; the worker's owner and the worker
/// itself may not; one vote per person.
#[utoipa::path(post, path = "/v1/workers/{id}/promotions", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    request_body = PromotionRequest,
    responses(
        (status = 200, description = "the approval is recorded; `promoted` says whether the quorum was met", body = PromotionView),
        (status = 400, description = "invalid body: the problem names the field"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "`role_not_eligible` (role not held, not an approver of this level, or not a human) or `segregation_of_duties` (owner or the worker itself)"),
        (status = 404, description = "no such worker"),
        (status = 409, description = "`one_vote_per_person`: the caller already approved this promotion"),
        (status = 422, description = "`not_eligible`: `unmet` lists the criteria the worker does not meet; nothing is recorded"),
    ),
    security(("bearer" = [])))]
pub async fn approve_promotion(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PromotionRequest>,
) -> Result<Json<PromotionView>, ApiError> {
    let target = parse_target(body.level, "level")?;
    let role = body
        .role
        .parse::<Role>()
        .map_err(|e| ApiError::bad_request(format!("`role`: {e}"), "role"))?;
    if !caller.has(role) {
        return Err(ApiError::refused(
            Refusal::RoleNotEligible,
            format!(
                "role not held: `{}` does not hold the role `{role}`",
                caller.principal().name
            ),
        ));
    }
    let now = now(&state);
    let promotion = state
        .store
        .approve_promotion(&caller.by(), &id, target, role, body.comment, now)
        .await
        .map_err(worker_error)?;
    Ok(Json(PromotionView {
        worker: view(&promotion.worker, now),
        target_level: promotion.target.value(),
        promoted: promotion.promoted,
        approvals: promotion.approvals.iter().map(approval_view).collect(),
        missing: MissingView {
            approvals: promotion.quorum.approvals_missing,
            roles: role_names(&promotion.quorum.roles_missing),
        },
    }))
}

/// Suspends the worker's certification (admin, engineering_manager and above, security
/// lead) and voids its pending promotion approvals. Suspending a suspended worker
/// changes nothing.
#[utoipa::path(post, path = "/v1/workers/{id}/suspend", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    request_body = StatusRequest,
    responses(
        (status = 200, description = "the worker, suspended", body = WorkerView),
        (status = 400, description = "`reason` missing or empty"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller holds none of the roles"),
        (status = 404, description = "no such worker"),
        (status = 409, description = "`illegal_transition`: `current_status` and `attempted_action` say why"),
    ),
    security(("bearer" = [])))]
pub async fn suspend(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StatusRequest>,
) -> Result<Json<WorkerView>, ApiError> {
    caller.require_any(SUSPENDERS, "suspending a worker")?;
    let reason = parse_reason(&body.reason)?;
    let now = now(&state);
    let worker = state
        .store
        .suspend(&caller.by(), &id, reason, now)
        .await
        .map_err(worker_error)?;
    Ok(Json(view(&worker, now)))
}

/// Reinstates a suspended worker to `active` (the same roles as suspend).
#[utoipa::path(post, path = "/v1/workers/{id}/reinstate", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    request_body = StatusRequest,
    responses(
        (status = 200, description = "the worker, active", body = WorkerView),
        (status = 400, description = "`reason` missing or empty"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller holds none of the roles"),
        (status = 404, description = "no such worker"),
        (status = 409, description = "`illegal_transition`: only a suspended worker is reinstated"),
    ),
    security(("bearer" = [])))]
pub async fn reinstate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StatusRequest>,
) -> Result<Json<WorkerView>, ApiError> {
    caller.require_any(SUSPENDERS, "reinstating a worker")?;
    let reason = parse_reason(&body.reason)?;
    let now = now(&state);
    let worker = state
        .store
        .reinstate(&caller.by(), &id, reason, now)
        .await
        .map_err(worker_error)?;
    Ok(Json(view(&worker, now)))
}

/// Revokes the worker's certification, for good, and with it every live permit of the
/// worker (approved, active, executing), in one transaction (admin, engineering
/// director, security lead, vp_engineering, cto, ciso). Idempotent: revoking a revoked
/// worker changes nothing.
#[utoipa::path(post, path = "/v1/workers/{id}/revoke", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    request_body = StatusRequest,
    responses(
        (status = 200, description = "the worker, revoked, and the permits revoked with it", body = RevocationView),
        (status = 400, description = "`reason` missing or empty"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller holds none of the roles"),
        (status = 404, description = "no such worker"),
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StatusRequest>,
) -> Result<Json<RevocationView>, ApiError> {
    caller.require_any(REVOKERS, "revoking a certification")?;
    let reason = parse_reason(&body.reason)?;
    let now = now(&state);
    let revocation = state
        .store
        .revoke(&caller.by(), &id, reason, now)
        .await
        .map_err(worker_error)?;
    Ok(Json(RevocationView {
        worker: view(&revocation.worker, now),
        revoked_permits: revocation.revoked_permits,
    }))
}

/// Recertifies the worker, a human act (humans holding the suspend roles): the next
/// recertification falls one period from now (365 days for levels 1–2, 90 for 3–4), and
/// an expired certification becomes active again.
#[utoipa::path(post, path = "/v1/workers/{id}/recertify", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    request_body = StatusRequest,
    responses(
        (status = 200, description = "the worker, recertified", body = WorkerView),
        (status = 400, description = "`reason` missing or empty"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller holds none of the roles, or `human_only`"),
        (status = 404, description = "no such worker"),
        (status = 409, description = "`illegal_transition`: a suspended or revoked certification"),
        (status = 422, description = "`recertification_not_required`: level 0"),
    ),
    security(("bearer" = [])))]
pub async fn recertify(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StatusRequest>,
) -> Result<Json<WorkerView>, ApiError> {
    caller.require_any(RECERTIFIERS, "recertifying a worker")?;
    let reason = parse_reason(&body.reason)?;
    let now = now(&state);
    let worker = state
        .store
        .recertify(&caller.by(), &id, reason, now)
        .await
        .map_err(worker_error)?;
    Ok(Json(view(&worker, now)))
}

/// Ends a probation whose period is over: the worker becomes `active` (the suspend
/// roles). Probation is a period, so ending it early is refused.
#[utoipa::path(post, path = "/v1/workers/{id}/end-probation", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    responses(
        (status = 200, description = "the worker, active", body = WorkerView),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller holds none of the roles"),
        (status = 404, description = "no such worker"),
        (status = 409, description = "`probation_not_over` (with `probation_until_ms`), or `illegal_transition` when not probationary"),
    ),
    security(("bearer" = [])))]
pub async fn end_probation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkerView>, ApiError> {
    caller.require_any(SUSPENDERS, "ending a probation")?;
    let now = now(&state);
    let worker = state
        .store
        .end_probation(&caller.by(), &id, now)
        .await
        .map_err(worker_error)?;
    Ok(Json(view(&worker, now)))
}

/// Records how one operation of the worker ended. Only the worker's owner reports, or the
/// worker's own identity about itself (success or failure only). A success counts towards
/// promotion only when it names work Steward saw (`permit_id` or `authorize_seq`); any
/// safety violation, or the third consecutive failed union operation, suspends the
/// certification automatically. Outcomes are facts: they are recorded whatever the
/// status, so a revoked worker's late report still counts in its history (and changes no
/// status).
#[utoipa::path(post, path = "/v1/workers/{id}/outcomes", tag = "workers",
    params(("id" = String, Path, description = "worker id")),
    request_body = OutcomeRequest,
    responses(
        (status = 200, description = "the outcome as recorded, the worker, and why it was suspended if it was", body = OutcomeView),
        (status = 400, description = "invalid body: the problem names the field"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "`outcome_reporter`: neither the owner nor the worker; `self_report_limited`: a worker reporting more than success or failure"),
        (status = 404, description = "no such worker"),
        (status = 409, description = "`evidence_already_used`: the permit or decision already backs an outcome"),
        (status = 422, description = "`outcome_evidence`: the evidence is missing, another worker's, not a closed permit, not an allowed decision, or contradicts the result or level"),
    ),
    security(("bearer" = [])))]
pub async fn record_outcome(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<OutcomeRequest>,
) -> Result<Json<OutcomeView>, ApiError> {
    let result = body
        .result
        .parse::<OperationResult>()
        .map_err(|e| ApiError::bad_request(format!("`result`: {e}"), "result"))?;
    let level = body.level.map(|n| parse_level(n, "level")).transpose()?;
    let evidence = match (body.permit_id, body.authorize_seq) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "name one piece of evidence: `permit_id` or `authorize_seq`, not both",
                "authorize_seq",
            ));
        }
        (Some(permit), None) => Some(OutcomeEvidence::Permit(permit)),
        (None, Some(seq)) => Some(OutcomeEvidence::Decision(seq)),
        (None, None) => None,
    };
    let now = now(&state);
    let recorded = state
        .store
        .record_outcome(
            &caller.by(),
            &id,
            NewOutcome {
                result,
                level,
                evidence,
            },
            now,
        )
        .await
        .map_err(worker_error)?;
    Ok(Json(outcome_view(&recorded, now)))
}

fn outcome_view(recorded: &OutcomeRecord, now_ms: i64) -> OutcomeView {
    let outcome = &recorded.outcome;
    OutcomeView {
        worker: view(&recorded.worker, now_ms),
        outcome: RecordedOutcomeView {
            id: recorded.id.clone(),
            result: outcome.result.as_str(),
            level: outcome.level.value(),
            basis: outcome.basis.as_str(),
            counts_towards_promotion: outcome.basis.counts(),
            permit_id: match &recorded.evidence {
                Some(OutcomeEvidence::Permit(id)) => Some(id.clone()),
                _ => None,
            },
            authorize_seq: match &recorded.evidence {
                Some(OutcomeEvidence::Decision(seq)) => Some(*seq),
                _ => None,
            },
        },
        suspended: recorded.suspension.map(|cause| SuspensionView {
            cause: match cause {
                AutoSuspension::SafetyViolation => "safety_violation",
                AutoSuspension::ConsecutiveUnionFailures { .. } => "consecutive_union_failures",
            },
            count: match cause {
                AutoSuspension::SafetyViolation => None,
                AutoSuspension::ConsecutiveUnionFailures { count } => Some(count),
            },
            message: cause.to_string(),
        }),
    }
}

pub(crate) fn now(state: &AppState) -> i64 {
    state.clock.now().millis()
}

/// The API view of `worker` at `now_ms`.
pub fn view(worker: &Worker, now_ms: i64) -> WorkerView {
    let recertification = match worker.recertification(now_ms) {
        Recertification::NotRequired => RecertificationView {
            state: "not_required",
            due_in_days: None,
            grace_left_days: None,
        },
        Recertification::Current { due_in_days } => RecertificationView {
            state: "current",
            due_in_days: Some(due_in_days),
            grace_left_days: None,
        },
        Recertification::InGrace { grace_left_days } => RecertificationView {
            state: "in_grace",
            due_in_days: None,
            grace_left_days: Some(grace_left_days),
        },
        Recertification::Expired => RecertificationView {
            state: "expired",
            due_in_days: None,
            grace_left_days: None,
        },
    };
    let stats = &worker.stats;
    WorkerView {
        id: worker.id.clone(),
        display_name: worker.display_name.clone(),
        owner_id: worker.owner_id.clone(),
        principal_id: worker.principal_id.clone(),
        level: worker.level.value(),
        status: worker.status.as_str(),
        oversight_recommended: worker.status == CertificationStatus::Probationary,
        domains: worker.domains.clone(),
        level_granted_at_ms: worker.level_granted_at_ms,
        recertify_by_ms: worker.recertify_by_ms,
        probation_until_ms: worker.probation_until_ms,
        recertification,
        stats: StatsView {
            successes_at_level: stats.successes_at_level,
            failures_at_level: stats.failures_at_level,
            successes_by_level: stats.successes_by_level.to_vec(),
            last_incident_at_ms: stats.last_incident_at.map(|t| t.millis()),
            safety_violations: stats.safety_violations,
            consecutive_union_failures: stats.consecutive_union_failures,
            uncounted_successes: stats.uncounted_successes,
        },
        version: worker.version,
        created_at_ms: worker.created_at_ms,
        updated_at_ms: worker.updated_at_ms,
    }
}

fn approval_view(approval: &PromotionApproval) -> ApprovalView {
    ApprovalView {
        id: approval.id.clone(),
        principal_id: approval.principal_id.clone(),
        role: approval.role.as_str(),
        comment: approval.comment.clone(),
        created_at_ms: approval.created_at_ms,
    }
}

pub(crate) fn role_names(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

fn parse_level(value: u8, field: &'static str) -> Result<Level, ApiError> {
    Level::new(value).ok_or_else(|| {
        ApiError::bad_request(format!("`{field}` must be 0 to 4, got {value}"), field)
    })
}

/// A promotion target: 1 to 4 (level 0 is where workers start).
pub(crate) fn parse_target(value: u8, field: &'static str) -> Result<Level, ApiError> {
    match Level::new(value) {
        Some(level) if level.is_union() => Ok(level),
        _ => Err(ApiError::bad_request(
            format!("`{field}` must be a promotion target, 1 to 4, got {value}"),
            field,
        )),
    }
}

fn parse_reason(reason: &str) -> Result<&str, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "`reason` must not be empty",
            "reason",
        ));
    }
    Ok(reason)
}

/// A query string that does not parse: 400, with axum's message (which names the field).
fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::BadRequest {
        message: rejection.body_text(),
        field: None,
    }
}

/// Maps a plain store failure: a missing row is 404, a uniqueness or version clash 409,
/// the rest 500.
fn store_error(error: StoreError) -> ApiError {
    let message = error.to_string();
    match error {
        StoreError::NotFound { .. } => ApiError::NotFound(message),
        StoreError::Conflict { .. } => ApiError::refused(Refusal::Conflict, message),
        other => ApiError::internal(other),
    }
}

/// Maps a worker use case's refusal to its problem: the status and `rule` say which rule
/// refused.
pub fn worker_error(error: WorkerError) -> ApiError {
    let message = error.to_string();
    match error {
        WorkerError::Store(error) => store_error(error),
        WorkerError::Invalid { field, .. } => ApiError::BadRequest {
            message,
            field: Some(field.to_owned()),
        },
        WorkerError::BadReference { field, .. } => {
            ApiError::refused(Refusal::InvalidReference, message).with("field", field)
        }
        WorkerError::NotEligible {
            target,
            eligibility,
            ..
        } => ApiError::refused(Refusal::NotEligible, message)
            .with("target_level", target.value())
            .with("unmet", json!(eligibility.unmet().collect::<Vec<_>>()))
            .with("reasons", json!(eligibility.reasons)),
        WorkerError::InitialCertification(_) => {
            ApiError::refused(Refusal::InitialCertification, message)
        }
        WorkerError::ApproverRefused { refusal, .. } => {
            ApiError::approval_refused(&refusal, message)
        }
        WorkerError::IllegalTransition { error, .. } => {
            ApiError::refused(Refusal::IllegalTransition, message)
                .with("current_status", error.from.as_str())
                .with("attempted_action", error.action.as_str())
        }
        WorkerError::HumanOnly { .. } => ApiError::refused(Refusal::HumanOnly, message),
        WorkerError::RecertificationNotRequired { .. } => {
            ApiError::refused(Refusal::RecertificationNotRequired, message)
        }
        WorkerError::ProbationNotOver { until_ms, .. } => {
            ApiError::refused(Refusal::ProbationNotOver, message)
                .with("probation_until_ms", until_ms)
        }
        WorkerError::NotOwner { .. } => ApiError::refused(Refusal::OwnWorkersOnly, message),
        WorkerError::IdentityExists { principal_id, .. } => {
            ApiError::refused(Refusal::IdentityExists, message).with("principal_id", principal_id)
        }
        WorkerError::NoIdentity { .. } => ApiError::refused(Refusal::NoIdentity, message),
        WorkerError::OutcomeRefused(refusal) => match refusal {
            OutcomeRefusal::NotAReporter { .. } => {
                ApiError::refused(Refusal::OutcomeReporter, message)
            }
            OutcomeRefusal::SelfReportLimited { .. } => {
                ApiError::refused(Refusal::SelfReportLimited, message)
            }
            OutcomeRefusal::LevelRequired => ApiError::bad_request(message, "level"),
            OutcomeRefusal::EvidenceMissing
            | OutcomeRefusal::OtherWorkersWork
            | OutcomeRefusal::PermitNotClosed { .. }
            | OutcomeRefusal::ContradictsPermit { .. }
            | OutcomeRefusal::NotAnAllowedDecision
            | OutcomeRefusal::LevelMismatch { .. } => {
                ApiError::refused(Refusal::OutcomeEvidence, message)
            }
        },
        WorkerError::EvidenceAlreadyUsed { .. } => {
            ApiError::refused(Refusal::EvidenceAlreadyUsed, message)
        }
        WorkerError::Token(error) => crate::routes::tokens::token_error(error),
    }
}
