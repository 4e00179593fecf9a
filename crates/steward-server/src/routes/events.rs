//! `GET /v1/events`: the audit events a caller has a part in, live, as server-sent events
//! (SPEC §11): a master follows the permits it requested and the workers it owns (so it
//! learns of approval, revocation and breach without admin rights), a worker its own;
//! admins and auditors everything, like `/v1/audit/tail`.
//!
//! Each message is the event as the trail stores it (personal values stay sealed), with
//! its `seq` as the SSE `id`, so `Last-Event-ID` resumes after the last one seen. The
//! events come from the instance's audit feed, so events committed through any instance on
//! the same database arrive.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt, stream};
use steward_policy::Role;
use steward_store::{AuditEntry, Store, StoreError};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::audit::tail::{start_seq, to_event};
use crate::routes::audit::{known_params, parse_number};
use crate::state::AppState;

/// Answers about workers and permits a stream remembers before it forgets them all and
/// asks again (parties never change, so forgetting only costs reads).
const REMEMBERED: usize = 10_000;

/// Streams the caller's events as they are appended, from `from_seq` (default: only new
/// events) or after the `Last-Event-ID` header's seq (which wins). `permit_id` and
/// `worker_id` narrow it further.
#[utoipa::path(get, path = "/v1/events", tag = "audit",
    params(
        ("from_seq" = Option<u64>, Query, description = "first seq to consider; default: the next event appended"),
        ("permit_id" = Option<String>, Query, description = "only events about this permit"),
        ("worker_id" = Option<String>, Query, description = "only events about this worker"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `id` = seq, `data` = the event's JSON. Admins and auditors get every event; everyone else the events they acted, and those about permits they requested or whose worker they own or are, and about workers they own or are"),
        (status = 400, description = "bad query parameter: the problem names it"),
    ),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let mut from_seq = None;
    let mut scope = Scope {
        store: state.store.clone(),
        everything: caller.has(Role::Admin) || caller.has(Role::Auditor),
        principal: caller.id().to_owned(),
        permit: None,
        worker: None,
        workers: HashMap::new(),
        permits: HashMap::new(),
    };
    for (key, value) in known_params(query, &["from_seq", "permit_id", "worker_id"])? {
        match key.as_str() {
            "from_seq" => from_seq = Some(parse_number::<u64>(&key, &value)?.max(1)),
            "permit_id" => scope.permit = Some(value),
            _ => scope.worker = Some(value),
        }
    }
    let next = start_seq(&state, &headers, from_seq).await?;
    // The stream ends when the instance shuts down; the client resumes elsewhere.
    let feed = Box::pin(state.feed.follow(next).take_until(state.stopping.wait()));
    let events = stream::unfold((feed, scope), |(mut feed, mut scope)| async move {
        loop {
            let entry = feed.next().await?;
            match scope.admits(&entry).await {
                Ok(true) => return Some((Ok(to_event(&entry)), (feed, scope))),
                Ok(false) => {}
                Err(error) => {
                    // End the stream rather than skip or leak: the client reconnects with
                    // `Last-Event-ID` and resumes at this event.
                    tracing::warn!(%error, seq = entry.seq, "event stream: deciding visibility failed");
                    return None;
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Which events one stream shows.
struct Scope {
    store: Store,
    /// Admins and auditors see every event.
    everything: bool,
    principal: String,
    /// Only events about this permit / worker (query narrowing).
    permit: Option<String>,
    worker: Option<String>,
    /// Whether the caller has a part in a worker / permit, as far as asked already.
    workers: HashMap<String, bool>,
    permits: HashMap<String, bool>,
}

impl Scope {
    async fn admits(&mut self, entry: &Arc<AuditEntry>) -> Result<bool, StoreError> {
        let subject = &entry.subject;
        if self.permit.is_some() && subject.permit_id != self.permit
            || self.worker.is_some() && subject.worker_id != self.worker
        {
            return Ok(false);
        }
        if self.everything || entry.actor.id == self.principal {
            return Ok(true);
        }
        if let Some(permit) = &subject.permit_id
            && self.has_permit(permit).await?
        {
            return Ok(true);
        }
        match &subject.worker_id {
            Some(worker) => self.has_worker(worker).await,
            None => Ok(false),
        }
    }

    /// The caller requested the permit, owns its worker, or is its worker.
    async fn has_permit(&mut self, id: &str) -> Result<bool, StoreError> {
        if let Some(known) = self.permits.get(id) {
            return Ok(*known);
        }
        let mine = self.store.permit_parties(id).await?.is_some_and(|p| {
            p.requester_id == self.principal
                || p.owner_id == self.principal
                || p.worker_principal_id.as_deref() == Some(self.principal.as_str())
        });
        remember(&mut self.permits, id, mine);
        Ok(mine)
    }

    /// The caller owns the worker or is it.
    async fn has_worker(&mut self, id: &str) -> Result<bool, StoreError> {
        if let Some(known) = self.workers.get(id) {
            return Ok(*known);
        }
        let mine = match self.store.worker(id).await {
            Ok(w) => {
                w.owner_id == self.principal || w.principal_id.as_deref() == Some(&self.principal)
            }
            Err(StoreError::NotFound { .. }) => false,
            Err(other) => return Err(other),
        };
        remember(&mut self.workers, id, mine);
        Ok(mine)
    }
}

fn remember(answers: &mut HashMap<String, bool>, id: &str, mine: bool) {
    if answers.len() >= REMEMBERED {
        answers.clear();
    }
    answers.insert(id.to_owned(), mine);
}
