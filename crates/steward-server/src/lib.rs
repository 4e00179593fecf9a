//! Steward's HTTP API: axum routes under `/v1`, bearer-token authentication, role checks,
//! RFC 9457 problem+json errors, the OpenAPI 3.1 document at `/openapi.json`, `/healthz`,
//! `/metrics`, and the outbound webhook dispatcher ([`webhooks::run_webhooks`]).
//!
//! # Invariants
//!
//! - Every `/v1` handler takes a [`auth::Caller`]: no unauthenticated request reaches one.
//! - Handlers check roles, parse at the edge, and call one `Store` use case; the rules live
//!   in the pure crates and the SQL in `steward-store`.
//! - Errors are [`error::ApiError`]; a 5xx never shows its cause to the client, the logging
//!   middleware records it.
//! - Request bodies are limited to [`json::BODY_LIMIT`] bytes.

pub mod auth;
pub mod authz;
pub mod clock;
pub mod error;
pub mod extract;
pub mod feed;
pub mod json;
pub mod limits;
pub mod mcp;
mod openapi;
pub mod routes;
pub mod state;
pub mod webhooks;
pub mod witness;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use std::sync::Arc;
use steward_policy::Refusal;
use tokio::net::TcpListener;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use authz::AuthzCache;
pub use clock::Clock;
pub use error::ApiError;
pub use limits::{RateLimitConfig, RateLimits};
pub use state::{AppState, AuditKey, Stopping};
pub use witness::CheckpointSink;

/// Builds the router over `state`: the documented API of [`api_routes`], its OpenAPI
/// document at `/openapi.json`, and the MCP endpoint.
pub fn router(state: AppState) -> Router {
    let mcp = mcp::router(state.clone());
    let (api, document) = api_routes().split_for_parts();
    let document = Arc::new(openapi::finish(document));
    api.route(
        "/openapi.json",
        get(move || {
            let document = Arc::clone(&document);
            async move { Json(document) }
        }),
    )
    .merge(mcp)
    .fallback(not_found)
    // After every route: it applies to the routes added so far.
    .method_not_allowed_fallback(method_not_allowed)
    .layer(DefaultBodyLimit::max(json::BODY_LIMIT))
    .layer(middleware::from_fn(problems_only))
    .layer(middleware::from_fn(log_internal_errors))
    .with_state(state)
}

/// The OpenAPI document of the API, as `/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::finish(api_routes().split_for_parts().1)
}

/// Every documented route, registered once: each handler's `#[utoipa::path]` gives its
/// method and path to both the router and the OpenAPI document, so neither can list a
/// route the other lacks. Handlers sharing a path go in one `routes!`.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(routes::health::healthz))
        .routes(routes!(routes::analyze::analyze_task))
        .routes(routes!(routes::authorize::authorize_operation))
        .routes(routes!(routes::permits::request, routes::permits::list))
        .routes(routes!(routes::permits::show))
        .routes(routes!(routes::permits::wait::wait))
        .routes(routes!(routes::events::events))
        .routes(routes!(routes::permits::decide))
        .routes(routes!(routes::permits::cab_signoff))
        .routes(routes!(routes::permits::resubmit))
        .routes(routes!(routes::permits::start))
        .routes(routes!(routes::permits::complete))
        .routes(routes!(routes::permits::close))
        .routes(routes!(routes::permits::revoke))
        .routes(routes!(routes::permits::renew))
        .routes(routes!(routes::permits::archive))
        .routes(routes!(
            routes::emergencies::declare,
            routes::emergencies::list
        ))
        .routes(routes!(routes::emergencies::show))
        .routes(routes!(routes::emergencies::approve))
        .routes(routes!(routes::emergencies::resolve))
        .routes(routes!(routes::emergencies::renew))
        .routes(routes!(routes::emergencies::review))
        .routes(routes!(routes::monitoring::telemetry))
        .routes(routes!(
            routes::monitoring::report_rollback,
            routes::monitoring::show_rollback
        ))
        .routes(routes!(routes::monitoring::list_rollbacks))
        .routes(routes!(
            routes::principals::create_principal,
            routes::principals::list_principals
        ))
        .routes(routes!(routes::principals::disable_principal))
        .routes(routes!(
            routes::tokens::create_token,
            routes::tokens::list_tokens
        ))
        .routes(routes!(routes::tokens::revoke_token))
        .routes(routes!(routes::erasure::erase_principal))
        .routes(routes!(routes::reports::compliance))
        .routes(routes!(routes::audit::list_events))
        .routes(routes!(routes::audit::verify))
        .routes(routes!(routes::audit::witness::verify_witnessed))
        .routes(routes!(
            routes::audit::checkpoints::create_checkpoint,
            routes::audit::checkpoints::list_checkpoints
        ))
        .routes(routes!(routes::audit::checkpoints::latest_checkpoint))
        .routes(routes!(routes::audit::checkpoints::show_checkpoint))
        .routes(routes!(routes::audit::export::export))
        .routes(routes!(routes::audit::tail::tail))
        .routes(routes!(routes::audit::checkpoints::public_key))
        .routes(routes!(routes::audit::proofs::inclusion))
        .routes(routes!(routes::audit::proofs::consistency))
        .routes(routes!(routes::audit::retention::prune))
        .routes(routes!(routes::audit::retention::list_manifests))
        .routes(routes!(
            routes::audit::retention::create_hold,
            routes::audit::retention::list_holds
        ))
        .routes(routes!(routes::audit::retention::release_hold))
        .routes(routes!(routes::workers::register, routes::workers::list))
        .routes(routes!(routes::workers::show))
        .routes(routes!(routes::workers::identity::create_identity))
        .routes(routes!(
            routes::workers::identity::create_token,
            routes::workers::identity::list_tokens
        ))
        .routes(routes!(routes::workers::identity::revoke_token))
        .routes(routes!(routes::workers::eligibility))
        .routes(routes!(routes::workers::approve_promotion))
        .routes(routes!(routes::clock::show))
        .routes(routes!(routes::clock::advance))
        .routes(routes!(
            routes::workers::initial::request,
            routes::workers::initial::show
        ))
        .routes(routes!(routes::workers::initial::approve))
        .routes(routes!(routes::workers::suspend))
        .routes(routes!(routes::workers::reinstate))
        .routes(routes!(routes::workers::revoke))
        .routes(routes!(routes::workers::recertify))
        .routes(routes!(routes::workers::end_probation))
        .routes(routes!(routes::workers::record_outcome))
        .routes(routes!(routes::metrics::metrics))
        .routes(routes!(routes::webhooks::create, routes::webhooks::list))
        .routes(routes!(routes::webhooks::remove))
        .routes(routes!(routes::webhooks::deliveries))
        .routes(routes!(routes::hooks::claude_code))
}

/// Serves `router` on an already-bound listener until `shutdown` resolves, then drains.
/// Each request carries its peer address (`ConnectInfo<SocketAddr>`), which the
/// failed-authentication limit is keyed by.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// How often the maintenance loop signs an audit checkpoint, when the instance has a
/// signing key and events other than checkpoints were appended since the last one. The
/// first is signed one interval after start, not at start, so a short-lived process adds
/// no event of its own. A minute bounds how long an event stays outside every signed root.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// How often the maintenance loop prunes the audit trail past its retention (when the
/// instance has a signing key); the first run is one interval after start.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// How often the maintenance loop folds new audit events into the `/metrics` counters,
/// so that a scrape finds little to fold.
const METRICS_FOLD_INTERVAL: Duration = Duration::from_secs(5);

/// How often the maintenance loop forgets rate-limit keys that are idle again.
const LIMITS_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// How often the maintenance loop runs.
const TICK: Duration = Duration::from_secs(1);

/// Work that happens without a request, once a `TICK` until dropped: issuing approved
/// permits whose requested window has begun, firing due timers (`Store::run_timers`:
/// approval SLAs, permit expiry and in-flight grace, certification), ending due emergencies
/// (`Store::sweep_emergencies`: expiry, resolution, unapproved requests), escalating
/// rollbacks past their SLA (`Store::sweep_rollbacks`, once per rollback), catching the
/// audit Merkle tree up with the trail (`Store::extend_merkle`), every
/// [`CHECKPOINT_INTERVAL`] signing a checkpoint, and every [`PRUNE_INTERVAL`] pruning the
/// audit trail past its retention; every minute it forgets idle rate-limit keys, and every
/// five seconds it folds new events into the `/metrics` counters and the per-worker event
/// index (`Store::fold_metrics`).
/// Safe on several instances at once: each permit is issued under its row lock, and the
/// Merkle head row serialises tree extension and checkpoints (an instance that finds
/// nothing new signs nothing); timers, sweeps and pruning claim their rows in the database.
pub async fn run_maintenance(state: AppState) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_checkpoint = tokio::time::Instant::now();
    let mut last_prune = tokio::time::Instant::now();
    let mut last_limits_sweep = tokio::time::Instant::now();
    let mut last_metrics_fold = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if last_limits_sweep.elapsed() >= LIMITS_SWEEP_INTERVAL {
            last_limits_sweep = tokio::time::Instant::now();
            state.limits.sweep();
        }
        let now = state.clock.now().millis();
        match state.store.issue_due_permits(now).await {
            Ok(issued) if !issued.is_empty() => {
                tracing::info!(count = issued.len(), "issued permits whose window began");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "issuing due permits failed; retrying"),
        }
        // Approval SLAs, permit expiry and in-flight grace, certification timers: each is
        // claimed in the database, so it fires once across instances.
        match state.store.run_timers(now).await {
            Ok(report) if !report.fired.is_empty() || !report.failed.is_empty() => {
                tracing::info!(
                    fired = report.fired.len(),
                    failed = report.failed.len(),
                    "ran due timers"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "running due timers failed; retrying"),
        }
        sweep_emergencies(&state, now).await;
        match state.store.sweep_rollbacks(now).await {
            Ok(escalated) if !escalated.is_empty() => {
                tracing::warn!(
                    count = escalated.len(),
                    "escalated rollbacks past their SLA"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "sweeping rollbacks failed; retrying"),
        }
        if last_metrics_fold.elapsed() >= METRICS_FOLD_INTERVAL {
            last_metrics_fold = tokio::time::Instant::now();
            if let Err(error) = state.store.fold_metrics().await {
                tracing::warn!(%error, "folding audit events into the metrics failed; retrying");
            }
        }
        if let Err(error) = state.store.extend_merkle(None).await {
            tracing::warn!(%error, "extending the audit merkle tree failed; retrying");
        }
        if let Some(key) = &state.audit_key {
            if last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
                last_checkpoint = tokio::time::Instant::now();
                sign_checkpoint(&state, key, now).await;
            }
            if last_prune.elapsed() >= PRUNE_INTERVAL {
                last_prune = tokio::time::Instant::now();
                routes::audit::retention::scheduled_prune(&state, key, now).await;
            }
        }
    }
}

/// Ends emergencies that are due (expiry, resolution, approval window), for the
/// maintenance loop; its first tick at startup catches up after a restart.
async fn sweep_emergencies(state: &AppState, now_ms: i64) {
    match state.store.sweep_emergencies(now_ms).await {
        Ok(done) if !done.is_empty() => tracing::info!(
            expired = done.expired.len(),
            resolved = done.resolved.len(),
            lapsed = done.lapsed.len(),
            ended = done.ended.len(),
            "ended due emergencies"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "sweeping emergencies failed; retrying"),
    }
}

/// Signs a checkpoint for the maintenance loop (publishing it to the sink, see
/// [`witness`]), logging the outcome.
async fn sign_checkpoint(state: &AppState, key: &AuditKey, now_ms: i64) {
    let steward = steward_store::Caller::system("steward");
    match witness::sign_checkpoint(state, &steward, key, now_ms).await {
        Ok(steward_store::CheckpointOutcome::Signed(signed)) => tracing::info!(
            tree_size = signed.checkpoint.tree_size,
            root_hash = %signed.checkpoint.root_hash,
            key_id = signed.key_id,
            "signed an audit checkpoint"
        ),
        Ok(steward_store::CheckpointOutcome::Unchanged(_)) => {}
        Err(error @ witness::SignError::Inconsistent { .. }) => {
            tracing::error!(%error, "the audit trail was rewritten");
        }
        Err(error) => tracing::warn!(%error, "signing an audit checkpoint failed; retrying"),
    }
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route for `{} {}`",
        request.method(),
        request.uri().path()
    ))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::refused(
        Refusal::MethodNotAllowed,
        format!(
            "`{}` is not allowed on `{}`; the `Allow` header lists the methods that are",
            request.method(),
            request.uri().path()
        ),
    )
}

/// The largest body of a non-problem error response read to become a problem's detail.
const PLAIN_ERROR_LIMIT: usize = 16 * 1024;

/// Every 4xx is problem+json with a `rule`: an error response that is not (a rejection
/// produced below the handlers, by axum or tower) is rewritten as one, with its text as the
/// detail and its headers (`Allow`, `Retry-After`, …) kept. Handlers' own errors are
/// `ApiError`s already and pass through untouched.
async fn problems_only(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !status.is_client_error() {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, PLAIN_ERROR_LIMIT)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let rule = match status {
        StatusCode::BAD_REQUEST => Refusal::InvalidRequest,
        StatusCode::UNAUTHORIZED => Refusal::AuthenticationRequired,
        StatusCode::FORBIDDEN => Refusal::RoleRequired,
        StatusCode::NOT_FOUND => Refusal::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => Refusal::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => Refusal::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Refusal::JsonRequired,
        _ => Refusal::ClientError,
    };
    let problem = if rule.status() == status.as_u16() {
        ApiError::refused(rule, text)
    } else {
        ApiError::Rewritten {
            status,
            message: text,
        }
    };
    let mut problem = problem.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

/// Records the cause of every 5xx (attached by `ApiError::into_response`), never the body
/// or headers of the request: they may carry tokens.
async fn log_internal_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some(cause) = response.extensions().get::<error::InternalCause>() {
        tracing::error!(%method, %path, error = %cause.0, "internal error");
    }
    response
}
