//! `/v1/audit/prune`, `/v1/audit/manifests` and `/v1/audit/holds`: audit retention
//! (SPEC §4, §9). Pruning removes the leading ranges of the trail past their retention
//! and keeps a permanent signed manifest of each; legal holds stop it.
//!
//! Roles: pruning is an admin's act; legal holds are placed and released by an admin or
//! a compliance officer (and listed by them or an auditor); manifests are read by admins,
//! auditors and compliance officers. Every change is audited in its own transaction
//! (`audit.pruned`, `audit.hold_created`, `audit.hold_released`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use steward_policy::{Refusal, Role};
use steward_store::{
    HoldFilter, HoldScope, KeepReason, LegalHold, MAX_MANIFEST_PAGE, NewLegalHold, PruneReport,
    SignedManifest,
};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::json::ApiJson;
use crate::routes::audit::{known_params, parse_number};
use crate::routes::principals::store_error;
use crate::state::{AppState, AuditKey};

/// Manifests per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;

/// The longest reason accepted for a hold or its release, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

/// `POST /v1/audit/prune` body. The server's clock decides what is past retention.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PruneRequest {
    /// Report what would be pruned, and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a pruning run removed (or, for a dry run, would remove).
#[derive(Debug, Serialize, ToSchema)]
pub struct PruneView {
    pub dry_run: bool,
    /// The last pruned `seq` before this run (0: nothing was pruned before).
    pub pruned_before: u64,
    /// Events removed (or that would be).
    pub event_count: u64,
    /// The ranges, one manifest each, in order.
    pub ranges: Vec<RangeView>,
    /// The signed manifests written (empty for a dry run).
    pub manifests: Vec<ManifestView>,
    /// The first event kept and why, or `null` when pruning reached the end of the trail.
    pub stopped_at: Option<StopView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RangeView {
    pub first_seq: u64,
    pub last_seq: u64,
    pub event_count: u64,
}

/// Why pruning stopped at `seq`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StopView {
    pub seq: u64,
    /// `retained` (inside its retention), `held` (a legal hold covers it) or `unsigned`
    /// (no signed checkpoint covers it yet).
    pub reason: &'static str,
    /// When `retained`: the Unix millisecond from which it may be pruned.
    pub prunable_from_ms: Option<i64>,
    /// When `held`: the hold's id.
    pub hold_id: Option<String>,
}

/// A signed range manifest: the permanent record of the pruned events `first_seq` to
/// `last_seq`. `signature` is Ed25519 by `key_id` over
/// `steward_audit::RangeManifest::signed_message`; hashes are 64 hex digits.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManifestView {
    pub first_seq: u64,
    pub last_seq: u64,
    pub event_count: u64,
    /// The hash of event `first_seq - 1` (zeros from `seq` 1).
    pub prev_hash: String,
    pub first_hash: String,
    /// What event `last_seq + 1` links to.
    pub last_hash: String,
    /// The Merkle root of the range's own leaves.
    pub range_root: String,
    /// `last_seq`: the whole tree's size at the range's end.
    pub tree_size: u64,
    /// The whole tree's root at `tree_size`.
    pub tree_root: String,
    pub ts_ms: i64,
    pub key_id: String,
    pub signature: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ManifestPage {
    pub items: Vec<ManifestView>,
    /// Pass as `after` for the next page.
    pub next_after: u64,
}

/// `POST /v1/audit/holds` body: exactly one of `worker_id`, `permit_id`, or
/// `first_seq` with `last_seq`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHold {
    /// Hold every event about this worker.
    pub worker_id: Option<String>,
    /// Hold every event about this permit.
    pub permit_id: Option<String>,
    /// Hold the events `first_seq` to `last_seq` (both included).
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Why: a case or matter reference.
    #[schema(example = "litigation 2027-014")]
    pub reason: String,
}

/// `POST /v1/audit/holds/{id}/release` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseHold {
    pub reason: String,
}

/// A legal hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldView {
    pub id: String,
    /// `worker`, `permit` or `range`.
    pub scope: &'static str,
    pub worker_id: Option<String>,
    pub permit_id: Option<String>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub reason: String,
    pub created_by: String,
    pub created_at_ms: i64,
    /// `active` or `released`.
    pub state: &'static str,
    pub released_by: Option<String>,
    pub released_at_ms: Option<i64>,
    pub release_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldList {
    pub items: Vec<HoldView>,
}

impl From<&SignedManifest> for ManifestView {
    fn from(signed: &SignedManifest) -> ManifestView {
        let m = &signed.manifest;
        ManifestView {
            first_seq: m.first_seq,
            last_seq: m.last_seq,
            event_count: m.last_seq.saturating_sub(m.first_seq).saturating_add(1),
            prev_hash: m.prev_hash.to_string(),
            first_hash: m.first_hash.to_string(),
            last_hash: m.last_hash.to_string(),
            range_root: m.range_root.to_string(),
            tree_size: m.tree_size,
            tree_root: m.tree_root.to_string(),
            ts_ms: m.ts_ms,
            key_id: signed.key_id.clone(),
            signature: hex::encode(signed.signature),
        }
    }
}

impl From<&LegalHold> for HoldView {
    fn from(hold: &LegalHold) -> HoldView {
        let (scope, worker_id, permit_id, first_seq, last_seq) = match &hold.scope {
            HoldScope::Worker(id) => ("worker", Some(id.clone()), None, None, None),
            HoldScope::Permit(id) => ("permit", None, Some(id.clone()), None, None),
            HoldScope::Range {
                first_seq,
                last_seq,
            } => ("range", None, None, Some(*first_seq), Some(*last_seq)),
        };
        HoldView {
            id: hold.id.clone(),
            scope,
            worker_id,
            permit_id,
            first_seq,
            last_seq,
            reason: hold.reason.clone(),
            created_by: hold.created_by.clone(),
            created_at_ms: hold.created_at_ms,
            state: if hold.released.is_some() {
                "released"
            } else {
                "active"
            },
            released_by: hold.released.as_ref().map(|r| r.by.clone()),
            released_at_ms: hold.released.as_ref().map(|r| r.at_ms),
            release_reason: hold.released.as_ref().map(|r| r.reason.clone()),
        }
    }
}

fn prune_view(report: &PruneReport, dry_run: bool) -> PruneView {
    PruneView {
        dry_run,
        pruned_before: report.pruned_before,
        event_count: report.event_count(),
        ranges: report
            .ranges
            .iter()
            .map(|range| RangeView {
                first_seq: range.first_seq,
                last_seq: range.last_seq,
                event_count: range.event_count(),
            })
            .collect(),
        manifests: report.manifests.iter().map(ManifestView::from).collect(),
        stopped_at: report.stop.as_ref().map(|stop| {
            let (reason, prunable_from_ms, hold_id) = match &stop.reason {
                KeepReason::Retained { prunable_from_ms } => {
                    ("retained", Some(*prunable_from_ms), None)
                }
                KeepReason::Held { hold_id } => ("held", None, Some(hold_id.clone())),
                KeepReason::Unsigned => ("unsigned", None, None),
            };
            StopView {
                seq: stop.seq,
                reason,
                prunable_from_ms,
                hold_id,
            }
        }),
    }
}

/// Prunes (admin) every leading range of the trail past its retention (SPEC §4: levels 0
/// and 1 30 days, 2 90, 3 365, 4 and emergency permits 2 555, events without a level 365),
/// not under a legal hold, and covered by the latest signed checkpoint; each range gets a
/// permanent signed manifest and an `audit.pruned` event. `dry_run` reports what would
/// go and changes nothing. Needs the audit signing key (409 `no_signing_key` without).
#[utoipa::path(post, path = "/v1/audit/prune", tag = "audit",
    request_body = PruneRequest,
    responses(
        (status = 200, description = "what was pruned (or would be), and where it stopped", body = PruneView),
        (status = 400, description = "malformed body: the problem names the field"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is not an admin"),
        (status = 409, description = "this server has no audit signing key, so it cannot sign manifests"),
    ),
    security(("bearer" = [])))]
pub async fn prune(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PruneRequest>,
) -> Result<Json<PruneView>, ApiError> {
    caller.require_any(&[Role::Admin], "pruning the audit trail")?;
    let now = state.clock.now().millis();
    if body.dry_run {
        let report = state.store.plan_prune(now).await.map_err(store_error)?;
        return Ok(Json(prune_view(&report, true)));
    }
    let Some(key) = &state.audit_key else {
        return Err(ApiError::refused(
            Refusal::NoSigningKey,
            "this server has no audit signing key (`audit-signing.key` in its data \
             directory), so it cannot sign the manifests that pruning leaves behind",
        ));
    };
    let report = state
        .store
        .prune_audit(&caller.by(), key.secret(), now)
        .await
        .map_err(store_error)?;
    Ok(Json(prune_view(&report, false)))
}

/// The daily pruning of the maintenance loop, by the system actor, logging the outcome.
pub async fn scheduled_prune(state: &AppState, key: &AuditKey, now_ms: i64) {
    let steward = steward_store::Caller::system("steward");
    match state
        .store
        .prune_audit(&steward, key.secret(), now_ms)
        .await
    {
        Ok(report) if !report.ranges.is_empty() => tracing::info!(
            events = report.event_count(),
            manifests = report.manifests.len(),
            "pruned the audit trail past its retention"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "pruning the audit trail failed; retrying tomorrow"),
    }
}

/// The manifests of pruned ranges, in `seq` order, starting after `after` (default 0),
/// at most `limit` (1 to 1000, default 100) (admin, auditor, compliance officer).
#[utoipa::path(get, path = "/v1/audit/manifests", tag = "audit",
    params(
        ("after" = Option<u64>, Query, description = "list manifests of ranges starting after this seq (default 0)"),
        ("limit" = Option<u32>, Query, description = "manifests per page, 1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, description = "a page of manifests", body = ManifestPage),
        (status = 400, description = "bad query parameter: the problem names it"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is not an admin, auditor or compliance officer"),
    ),
    security(("bearer" = [])))]
pub async fn list_manifests(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<ManifestPage>, ApiError> {
    caller.require_any(
        &[Role::Admin, Role::Auditor, Role::ComplianceOfficer],
        "reading audit manifests",
    )?;
    let mut after: u64 = 0;
    let mut limit = DEFAULT_LIMIT;
    for (key, value) in known_params(query, &["after", "limit"])? {
        match key.as_str() {
            "after" => after = parse_number(&key, &value)?,
            _ => {
                limit = parse_number(&key, &value)?;
                if !(1..=MAX_MANIFEST_PAGE).contains(&limit) {
                    return Err(ApiError::bad_request(
                        format!("`limit` must be 1 to {MAX_MANIFEST_PAGE}, got {limit}"),
                        "limit",
                    ));
                }
            }
        }
    }
    let items = state
        .store
        .list_manifests(after, limit)
        .await
        .map_err(store_error)?;
    let next_after = items.last().map_or(after, |m| m.manifest.last_seq);
    Ok(Json(ManifestPage {
        items: items.iter().map(ManifestView::from).collect(),
        next_after,
    }))
}

/// Places a legal hold (admin, compliance officer): while it is active, pruning keeps
/// every event about the worker, about the permit, or in the `seq` range. Audited as
/// `audit.hold_created`.
#[utoipa::path(post, path = "/v1/audit/holds", tag = "audit",
    request_body = CreateHold,
    responses(
        (status = 201, description = "the hold", body = HoldView),
        (status = 400, description = "not exactly one scope, a bad range or an empty reason: the problem names the field"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor compliance officer"),
        (status = 404, description = "no such worker or permit"),
    ),
    security(("bearer" = [])))]
pub async fn create_hold(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateHold>,
) -> Result<(StatusCode, Json<HoldView>), ApiError> {
    caller.require_any(
        &[Role::Admin, Role::ComplianceOfficer],
        "placing a legal hold",
    )?;
    let scope = parse_scope(&body)?;
    let reason = parse_reason(&body.reason)?;
    let hold = state
        .store
        .create_legal_hold(
            &caller.by(),
            NewLegalHold { scope, reason },
            state.clock.now().millis(),
        )
        .await
        .map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(HoldView::from(&hold))))
}

/// Legal holds, oldest first: the active ones, or with `all=true` the released ones too
/// (admin, compliance officer, auditor).
#[utoipa::path(get, path = "/v1/audit/holds", tag = "audit",
    params(("all" = Option<bool>, Query, description = "include released holds (default false)")),
    responses(
        (status = 200, description = "the holds", body = HoldList),
        (status = 400, description = "bad query parameter: the problem names it"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is not an admin, compliance officer or auditor"),
    ),
    security(("bearer" = [])))]
pub async fn list_holds(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<HoldList>, ApiError> {
    caller.require_any(
        &[Role::Admin, Role::ComplianceOfficer, Role::Auditor],
        "reading legal holds",
    )?;
    let mut filter = HoldFilter::Active;
    for (key, value) in known_params(query, &["all"])? {
        filter = match value.as_str() {
            "true" => HoldFilter::All,
            "false" => HoldFilter::Active,
            _ => {
                return Err(ApiError::bad_request(
                    format!("`{key}` must be `true` or `false`, got `{value}`"),
                    key,
                ));
            }
        };
    }
    let holds = state
        .store
        .list_legal_holds(filter)
        .await
        .map_err(store_error)?;
    Ok(Json(HoldList {
        items: holds.iter().map(HoldView::from).collect(),
    }))
}

/// Releases an active legal hold (admin, compliance officer); pruning may then remove
/// what it covered. Audited as `audit.hold_released`.
#[utoipa::path(post, path = "/v1/audit/holds/{id}/release", tag = "audit",
    params(("id" = String, Path, description = "the hold's id")),
    request_body = ReleaseHold,
    responses(
        (status = 200, description = "the released hold", body = HoldView),
        (status = 400, description = "empty reason"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor compliance officer"),
        (status = 404, description = "no such hold"),
        (status = 409, description = "the hold is already released"),
    ),
    security(("bearer" = [])))]
pub async fn release_hold(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReleaseHold>,
) -> Result<Json<HoldView>, ApiError> {
    caller.require_any(
        &[Role::Admin, Role::ComplianceOfficer],
        "releasing a legal hold",
    )?;
    let reason = parse_reason(&body.reason)?;
    let hold = state
        .store
        .release_legal_hold(&caller.by(), &id, &reason, state.clock.now().millis())
        .await
        .map_err(store_error)?;
    Ok(Json(HoldView::from(&hold)))
}

/// Exactly one scope: a worker, a permit, or a `seq` range with both ends.
fn parse_scope(body: &CreateHold) -> Result<HoldScope, ApiError> {
    let id = |value: &Option<String>, field: &str| -> Result<Option<String>, ApiError> {
        match value.as_deref().map(str::trim) {
            Some("") => Err(ApiError::bad_request(
                format!("`{field}` must not be empty"),
                field,
            )),
            other => Ok(other.map(str::to_owned)),
        }
    };
    let worker = id(&body.worker_id, "worker_id")?;
    let permit = id(&body.permit_id, "permit_id")?;
    let range = match (body.first_seq, body.last_seq) {
        (None, None) => None,
        (Some(first), Some(last)) => {
            if first == 0 {
                return Err(ApiError::bad_request(
                    "`first_seq` must be 1 or more",
                    "first_seq",
                ));
            }
            if last < first {
                return Err(ApiError::bad_request(
                    format!("`last_seq` ({last}) is before `first_seq` ({first})"),
                    "last_seq",
                ));
            }
            Some(HoldScope::Range {
                first_seq: first,
                last_seq: last,
            })
        }
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "`first_seq` needs `last_seq`",
                "last_seq",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "`last_seq` needs `first_seq`",
                "first_seq",
            ));
        }
    };
    let scopes: Vec<HoldScope> = [
        worker.map(HoldScope::Worker),
        permit.map(HoldScope::Permit),
        range,
    ]
    .into_iter()
    .flatten()
    .collect();
    match <[HoldScope; 1]>::try_from(scopes) {
        Ok([scope]) => Ok(scope),
        Err(_) => Err(ApiError::BadRequest {
            message: "a hold names exactly one of `worker_id`, `permit_id`, or `first_seq` \
                      with `last_seq`"
                .to_owned(),
            field: None,
        }),
    }
}

/// A non-empty reason without control characters, at most [`MAX_REASON_CHARS`].
fn parse_reason(reason: &str) -> Result<String, ApiError> {
    let trimmed = reason.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request(
            "`reason` must not be empty",
            "reason",
        ));
    }
    if trimmed.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(
            format!("`reason` is longer than {MAX_REASON_CHARS} characters"),
            "reason",
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "`reason` must not contain control characters",
            "reason",
        ));
    }
    Ok(trimmed.to_owned())
}
