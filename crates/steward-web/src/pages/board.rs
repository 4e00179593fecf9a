//! The live board: approved, active and executing permits with their error rate against
//! its limit and the time left, emergencies highlighted with their auto-revoke countdown,
//! and the revocations of the last day as they happen. The board updates over
//! server-sent events from the audit feed (see `live`), across instances.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use serde_json::Value;
use std::convert::Infallible;
use steward_permits::PermitState;
use steward_policy::PermitType;
use steward_server::AppState;
use steward_store::{EventQuery, PermitFilter, TypeFilter};

use super::{Layout, Names, WebError, inbox, now, own_worker_only, render};
use crate::live;
use crate::session::Session;
use crate::view;

/// Revocations shown: those of the last day, newest first, at most this many.
const REVOCATIONS: usize = 20;
const DAY_MS: i64 = 24 * 3_600_000;

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    layout: Layout,
    fragment: String,
}

#[derive(Template)]
#[template(path = "board_live.html")]
struct BoardLive {
    rows: Vec<BoardRow>,
    revocations: Vec<(String, String, String, String, String)>,
    updated: String,
}

#[derive(Debug, Clone)]
struct BoardRow {
    id: String,
    task: String,
    worker: String,
    level: u8,
    state: String,
    emergency: bool,
    error_rate: String,
    breach: bool,
    ends: String,
    ends_iso: String,
    left: String,
}

pub async fn board(State(state): State<AppState>, session: Session) -> Result<Response, WebError> {
    let fragment = fragment(&state, &session).await?;
    Ok(render(
        StatusCode::OK,
        &BoardPage {
            layout: Layout::new("Live board", Some(&session), "board"),
            fragment,
        },
    ))
}

pub async fn live(
    State(state): State<AppState>,
    session: Session,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    Ok(live::stream(
        state,
        session,
        |entry| entry.subject.permit_id.is_some(),
        |state, session| async move { fragment(&state, &session).await },
    ))
}

async fn fragment(state: &AppState, session: &Session) -> Result<String, WebError> {
    let own = own_worker_only(state, &session.caller).await?;
    let now = now(state);
    let mut rows = Vec::new();
    for wanted in [
        PermitState::Executing,
        PermitState::Active,
        PermitState::Approved,
    ] {
        let filter = PermitFilter {
            state: Some(wanted),
            worker_id: own.clone(),
            requester_id: None,
        };
        let mut after: Option<String> = None;
        loop {
            let page = state
                .store
                .list_permits(&filter, after.as_deref(), 200)
                .await
                .map_err(WebError::internal)?;
            let full = page.len() == 200;
            after = page.last().map(|p| p.id.clone());
            for p in page {
                let limit = Some(p.constraints.max_error_rate);
                let latest = state
                    .store
                    .latest_telemetry(&p.id)
                    .await
                    .map_err(WebError::internal)?;
                let rate = latest.and_then(|t| t.error_rate);
                let error_rate = match (rate, limit) {
                    (Some(r), Some(l)) => format!("{:.1}% of {:.1}% allowed", r * 100.0, l * 100.0),
                    (None, Some(l)) => format!("no reading yet ({:.1}% allowed)", l * 100.0),
                    (Some(r), None) => format!("{:.1}%", r * 100.0),
                    (None, None) => "no reading yet".to_owned(),
                };
                rows.push(BoardRow {
                    task: inbox::task_title(&p),
                    worker: p.worker_id.clone(),
                    level: p.level.value(),
                    state: view::words(p.state.as_str()),
                    emergency: p.permit_type == PermitType::Emergency,
                    breach: matches!((rate, limit), (Some(r), Some(l)) if r > l),
                    error_rate,
                    ends: p
                        .expires_at_ms
                        .map_or_else(|| "not issued yet".to_owned(), view::date),
                    ends_iso: p.expires_at_ms.map_or_else(String::new, view::iso),
                    left: p
                        .expires_at_ms
                        .map_or_else(String::new, |e| view::relative(e, now)),
                    id: p.id,
                });
            }
            if !full {
                break;
            }
        }
    }
    // Emergencies first, then the soonest to end.
    rows.sort_by(|a, b| {
        b.emergency
            .cmp(&a.emergency)
            .then(a.ends_iso.cmp(&b.ends_iso))
    });
    let revoked = state
        .store
        .query_events(
            &EventQuery {
                event_type: Some(TypeFilter::Exact("permit.revoked".to_owned())),
                worker_id: own,
                from_ts_ms: Some(now - DAY_MS),
                ..EventQuery::default()
            },
            1,
            500,
        )
        .await
        .map_err(WebError::internal)?;
    let mut names = Names::default();
    let mut revocations = Vec::new();
    for e in revoked.iter().rev().take(REVOCATIONS) {
        revocations.push((
            e.subject.permit_id.clone().unwrap_or_default(),
            view::date(e.ts_ms),
            view::iso(e.ts_ms),
            names.of(state, &e.actor.id).await,
            e.data
                .get("reason")
                .and_then(Value::as_str)
                .map(view::words)
                .unwrap_or_default(),
        ));
    }
    BoardLive {
        rows,
        revocations,
        updated: view::date(now),
    }
    .render()
    .map_err(WebError::internal)
}
