//! `GET /v1/permits/{id}/wait`: a long poll that answers when the permit reaches the state
//! a master waits for (`active` or `decided`), can no longer reach it (rejected, expired,
//! revoked, already ended, changes requested), or the poll's time is up.
//!
//! The wait costs no query while nothing happens: it follows the instance's audit feed
//! (`crate::feed`), which sees what every instance on the same database commits, and
//! re-reads the permit only when an event about it arrives. What the answer means is the
//! pure `steward_permits::wait_outcome`.

use std::pin::pin;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use futures_util::StreamExt;
use serde::Serialize;
use steward_permits::{Decision, WaitFacts, WaitOutcome, WaitUntil, wait_outcome};
use steward_store::Permit;
use utoipa::ToSchema;

use super::visible_permit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::routes::audit::{known_params, parse_number};
use crate::routes::principals::store_error;
use crate::state::AppState;

/// The longest one poll waits, in seconds; a longer `timeout` waits this long. Clients
/// that wait longer poll again (`steward permit wait` does).
pub const MAX_WAIT_SECONDS: u64 = 60;

/// How long a poll waits when `timeout` is not given, in seconds.
pub const DEFAULT_WAIT_SECONDS: u64 = 30;

/// The answer to a wait.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitAnswer {
    /// `reached`, `waiting` (the poll's time is up: ask again), `rejected`, `expired`,
    /// `revoked`, `changes_requested` or `ended` (it already ran: completed or closed).
    #[schema(value_type = String)]
    pub outcome: WaitOutcome,
    /// What was waited for: `active` or `decided`.
    #[schema(value_type = String)]
    pub until: WaitUntil,
    /// The permit as it is now; a revoked one carries its `revocation` (reason, time,
    /// revoker, audit seq and, for a scope violation, the operation).
    pub permit: super::PermitView,
    /// Where people review and decide the permit.
    pub link: String,
}

/// Waits until the permit reaches `until` (`active`, the default, or `decided`) or can
/// no longer reach it, or `timeout` seconds pass (default 30, at most 60). Answers at
/// once when the permit already stands there. Readable by whoever may read the permit.
#[utoipa::path(get, path = "/v1/permits/{id}/wait", tag = "permits",
    params(
        ("id" = String, Path, description = "permit id"),
        ("until" = Option<String>, Query, description = "`active` (default) or `decided`"),
        ("timeout" = Option<u64>, Query, description = "seconds to wait, 0 to 60 (larger waits 60); default 30"),
    ),
    responses(
        (status = 200, description = "where the permit stands: `outcome` is `waiting` when the time was up first", body = WaitAnswer),
        (status = 400, description = "bad query parameter: the problem names it"),
        (status = 404, description = "unknown permit (or, to a worker, another worker's)"),
    ), security(("bearer" = [])))]
pub async fn wait(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<WaitAnswer>, ApiError> {
    let mut until = WaitUntil::Active;
    let mut seconds = DEFAULT_WAIT_SECONDS;
    for (key, value) in known_params(query, &["until", "timeout"])? {
        match key.as_str() {
            "until" => {
                until = value
                    .parse()
                    .map_err(|e| ApiError::bad_request(format!("`until`: {e}"), "until"))?;
            }
            _ => seconds = parse_number::<u64>(&key, &value)?.min(MAX_WAIT_SECONDS),
        }
    }
    // The feed position first, then the row: a change committed in between is both in the
    // row and in the feed, never in neither.
    let from = state.feed.next_seq().await.map_err(store_error)?;
    let mut permit = visible_permit(&state, &caller, &id).await?;
    let mut outcome = wait_outcome(until, facts(&permit));
    if outcome == WaitOutcome::Waiting && seconds > 0 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let mut events = pin!(state.feed.follow(from));
        let mut stopping = pin!(state.stopping.wait());
        loop {
            // A shutting-down instance answers `waiting`: the client asks again elsewhere.
            let next = tokio::select! {
                () = &mut stopping => break,
                next = tokio::time::timeout_at(deadline, events.next()) => next,
            };
            let Ok(Some(entry)) = next else { break };
            if entry.subject.permit_id.as_deref() != Some(id.as_str()) {
                continue;
            }
            permit = state.store.permit(&id).await.map_err(store_error)?;
            outcome = wait_outcome(until, facts(&permit));
            if outcome != WaitOutcome::Waiting {
                break;
            }
        }
    }
    Ok(Json(WaitAnswer {
        outcome,
        until,
        link: state.permit_link(&permit.id),
        permit: super::PermitView::new(&permit, state.clock.now().millis()),
    }))
}

/// What `wait_outcome` needs to know about a stored permit.
pub fn facts(permit: &Permit) -> WaitFacts {
    WaitFacts {
        state: permit.state,
        revoked: permit.revocation_reason.is_some(),
        completed: permit.outcome.is_some(),
        rejected: permit
            .approvals
            .iter()
            .any(|a| a.decision == Decision::Reject),
    }
}
