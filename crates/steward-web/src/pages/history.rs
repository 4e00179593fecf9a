//! History: every permit ever, rejected, expired, revoked and archived ones included,
//! searchable by worker, requester, state, type, level and time (of the request).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;
use steward_permits::PermitState;
use steward_policy::PermitType;
use steward_server::AppState;
use steward_store::PermitFilter;

use super::{Layout, Names, WebError, inbox, own_worker_only, render};
use crate::session::Session;
use crate::view;

/// Matches shown per page.
const SHOWN: usize = 100;
/// Permits read per store page while searching.
const PAGE: u32 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(default)]
    worker: String,
    #[serde(default)]
    requester: String,
    #[serde(default)]
    state: String,
    #[serde(default, rename = "type")]
    permit_type: String,
    #[serde(default)]
    level: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Continue after this permit id.
    #[serde(default)]
    after: String,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    layout: Layout,
    q: Search,
    states: Vec<&'static str>,
    types: Vec<&'static str>,
    rows: Vec<HistoryRow>,
    next: String,
    next_query: String,
    error: Option<String>,
}

#[derive(Debug, Clone)]
struct HistoryRow {
    id: String,
    task: String,
    state: String,
    state_class: String,
    permit_type: String,
    level: u8,
    worker: String,
    requester: String,
    requested: String,
    requested_iso: String,
}

pub async fn history(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<Search>,
) -> Result<Response, WebError> {
    let own = own_worker_only(&state, &session.caller).await?;
    let mut error = None;
    let state_filter = match q.state.as_str() {
        "" => None,
        s => match s.parse::<PermitState>() {
            Ok(s) => Some(s),
            Err(e) => {
                error = Some(format!("`state`: {e}"));
                None
            }
        },
    };
    let type_filter = match q.permit_type.as_str() {
        "" => None,
        s => match s.parse::<PermitType>() {
            Ok(t) => Some(t),
            Err(e) => {
                error = Some(format!("`type`: {e}"));
                None
            }
        },
    };
    let level_filter = match q.level.as_str() {
        "" => None,
        s => match s.parse::<u8>() {
            Ok(l) if l <= 4 => Some(l),
            _ => {
                error = Some(format!("`level`: expected 0 to 4, got `{s}`"));
                None
            }
        },
    };
    let day = |field: &str, text: &str, end: bool| -> Result<Option<i64>, String> {
        if text.is_empty() {
            return Ok(None);
        }
        let d = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| format!("`{field}`: expected a date like 2026-12-06, got `{text}`"))?;
        let d = if end { d.succ_opt().unwrap_or(d) } else { d };
        Ok(d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis()))
    };
    let from = day("from", &q.from, false).unwrap_or_else(|e| {
        error = Some(e);
        None
    });
    let to = day("to", &q.to, true).unwrap_or_else(|e| {
        error = Some(e);
        None
    });
    let trimmed = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let worker = match (own, trimmed(&q.worker)) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(WebError::forbidden(
                "A worker may see only its own permits.",
            ));
        }
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    let filter = PermitFilter {
        state: state_filter,
        worker_id: worker,
        requester_id: trimmed(&q.requester),
    };
    let mut rows = Vec::new();
    let mut names = Names::default();
    let mut next = String::new();
    let mut after = trimmed(&q.after);
    if error.is_none() {
        'pages: loop {
            let page = state
                .store
                .list_permits(&filter, after.as_deref(), PAGE)
                .await
                .map_err(WebError::internal)?;
            let full = page.len() == PAGE as usize;
            after = page.last().map(|p| p.id.clone());
            for p in page {
                let keep = type_filter.is_none_or(|t| p.permit_type == t)
                    && level_filter.is_none_or(|l| p.level.value() == l)
                    && from.is_none_or(|f| p.created_at_ms >= f)
                    && to.is_none_or(|t| p.created_at_ms < t);
                if !keep {
                    continue;
                }
                if rows.len() == SHOWN {
                    next = rows
                        .last()
                        .map(|r: &HistoryRow| r.id.clone())
                        .unwrap_or_default();
                    break 'pages;
                }
                rows.push(HistoryRow {
                    task: inbox::task_title(&p),
                    state: view::words(p.state.as_str()),
                    state_class: p.state.as_str().to_owned(),
                    permit_type: view::words(p.permit_type.as_str()),
                    level: p.level.value(),
                    worker: p.worker_id.clone(),
                    requester: names.of(&state, &p.requester_id).await,
                    requested: view::date(p.created_at_ms),
                    requested_iso: view::iso(p.created_at_ms),
                    id: p.id,
                });
            }
            if !full {
                break;
            }
        }
    }
    let next_query = if next.is_empty() {
        String::new()
    } else {
        serde_urlencoded::to_string([
            ("worker", q.worker.as_str()),
            ("requester", q.requester.as_str()),
            ("state", q.state.as_str()),
            ("type", q.permit_type.as_str()),
            ("level", q.level.as_str()),
            ("from", q.from.as_str()),
            ("to", q.to.as_str()),
            ("after", next.as_str()),
        ])
        .unwrap_or_default()
    };
    let code = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(
        code,
        &HistoryPage {
            layout: Layout::new("History", Some(&session), "history"),
            q,
            states: PermitState::ALL.iter().map(|s| s.as_str()).collect(),
            types: PermitType::ALL.iter().map(|t| t.as_str()).collect(),
            rows,
            next,
            next_query,
            error,
        },
    ))
}
