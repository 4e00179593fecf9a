//! `/v1/audit/tail`: live audit events as server-sent events (SPEC §9, §11). Each event is
//! one SSE message whose `id` is its `seq` and whose data is its JSON Lines export form, so
//! a client that reconnects with `Last-Event-ID` resumes exactly after the last one it saw.
//!
//! The events come from the instance's audit feed (`crate::feed`): one poller per instance
//! reads new events for every follower, and sees what any instance on the same database
//! commits, with up to [`feed::POLL`](crate::feed::POLL) latency.

use std::convert::Infallible;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use steward_policy::Role;
use steward_store::AuditEntry;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::audit::{known_params, parse_number};
use crate::routes::principals::store_error;
use crate::state::AppState;

/// Streams audit events as they are appended, from `from_seq` (default: only new events)
/// or after the `Last-Event-ID` header's seq (which wins), until the client disconnects.
#[utoipa::path(get, path = "/v1/audit/tail", tag = "audit",
    params(("from_seq" = Option<u64>, Query, description = "first seq to send; default: the next event appended")),
    responses(
        (status = 200, description = "`text/event-stream`: `id` = seq, `data` = the event's JSON"),
        (status = 400, description = "bad query parameter: the problem names it"),
        (status = 403, description = "the caller is neither admin nor auditor"),
    ),
    security(("bearer" = [])))]
pub async fn tail(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "following the audit trail")?;
    let mut from_seq = None;
    for (key, value) in known_params(query, &["from_seq"])? {
        from_seq = Some(parse_number::<u64>(&key, &value)?.max(1));
    }
    if let Some(last) = headers.get("last-event-id") {
        let last = last
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::bad_request("`Last-Event-ID` must be an event seq", "Last-Event-ID")
            })?;
        from_seq = Some(last + 1);
    }
    let next = match from_seq {
        Some(seq) => seq,
        None => state.feed.next_seq().await.map_err(store_error)?,
    };
    let events = state
        .feed
        .follow(next)
        .map(|entry| Ok::<_, Infallible>(to_event(&entry)));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn to_event(entry: &AuditEntry) -> Event {
    let data = serde_json::to_string(entry).unwrap_or_default();
    Event::default()
        .id(entry.seq.to_string())
        .event("audit")
        .data(data)
}
