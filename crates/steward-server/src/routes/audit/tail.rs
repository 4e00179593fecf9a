//! `/v1/audit/tail`: live audit events as server-sent events (SPEC §9, §11). Each event is
//! one SSE message whose `id` is its `seq` and whose data is its JSON Lines export form, so
//! a client that reconnects with `Last-Event-ID` resumes exactly after the last one it saw.
//!
//! New events are found by polling the store every [`POLL`]: that works the same on SQLite
//! and across several instances on PostgreSQL, at the cost of up to [`POLL`] latency.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, stream};
use steward_policy::Role;
use steward_store::{AuditEntry, Store};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::audit::{known_params, parse_number};
use crate::routes::principals::store_error;
use crate::state::AppState;

/// How often the stream looks for new events when it has caught up.
pub const POLL: Duration = Duration::from_millis(250);

/// Events read per query.
const PAGE: u32 = 200;

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
        None => state.store.audit_head().await.map_err(store_error)?.seq + 1,
    };
    let events = stream::unfold(
        (
            state.store.clone(),
            next,
            Vec::<AuditEntry>::new().into_iter(),
        ),
        |(store, mut next, mut buffered)| async move {
            loop {
                if let Some(entry) = buffered.next() {
                    next = entry.seq + 1;
                    return Some((Ok(to_event(&entry)), (store, next, buffered)));
                }
                buffered = fetch(&store, next).await.into_iter();
                if buffered.len() == 0 {
                    tokio::time::sleep(POLL).await;
                }
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// The next page from `next`; a store error ends nothing, it is retried at the next poll.
async fn fetch(store: &Store, next: u64) -> Vec<AuditEntry> {
    match store.events(next, PAGE).await {
        Ok(entries) => entries,
        Err(error) => {
            tracing::warn!(%error, "audit tail: reading events failed; retrying");
            Vec::new()
        }
    }
}

fn to_event(entry: &AuditEntry) -> Event {
    let data = serde_json::to_string(entry).unwrap_or_default();
    Event::default()
        .id(entry.seq.to_string())
        .event("audit")
        .data(data)
}
