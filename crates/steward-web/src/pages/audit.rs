//! The audit viewer (admin, auditor: the roles of `/v1/audit`): search the trail by type,
//! worker, permit, actor, level and time, page by page; one event with its data (personal
//! values revealed as the API reveals them), its hash and previous hash, and its inclusion
//! proof checked here against the latest signed checkpoint; "verify the trail" (the same
//! check as `GET /v1/audit/verify`); and the JSON Lines export of `GET /v1/audit/export`.
//!
//! Every read goes through the JSON route's handler with the session's caller, so the
//! role check, the parameter checks and the personal-value rules are the API's.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use steward_audit::{AuditEntry, Hash, leaf_hash, verify_checkpoint, verify_inclusion};
use steward_policy::Role;
use steward_server::AppState;
use steward_server::routes::audit::{self as api, checkpoints, export, proofs};

use super::{Layout, Names, WebError, day_ms, render, require_any};
use crate::session::Session;
use crate::view;

/// Events per page of results.
const PAGE: u32 = 50;

/// The roles of the audit routes.
pub const READERS: [Role; 2] = [Role::Admin, Role::Auditor];

#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(default, rename = "type")]
    event_type: String,
    #[serde(default)]
    worker: String,
    #[serde(default)]
    permit: String,
    /// A principal's name or id.
    #[serde(default)]
    actor: String,
    #[serde(default)]
    level: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    from_seq: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    q: Search,
    rows: Vec<EventRow>,
    next_query: String,
    error: Option<String>,
    verification: Option<VerifyView>,
}

#[derive(Debug, Clone)]
struct EventRow {
    seq: u64,
    when: String,
    iso: String,
    event: String,
    actor: String,
    subject: String,
    level: String,
}

#[derive(Debug, Clone)]
struct VerifyView {
    ok: bool,
    text: String,
}

pub async fn search(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<Search>,
) -> Result<Response, WebError> {
    require_any(&session.caller, &READERS, "reading the audit trail")?;
    page(&state, &session, q, None).await
}

async fn page(
    state: &AppState,
    session: &Session,
    q: Search,
    verification: Option<VerifyView>,
) -> Result<Response, WebError> {
    let mut error = None;
    let mut pairs = vec![("limit".to_owned(), PAGE.to_string())];
    let mut add = |key: &str, value: &str| {
        let value = value.trim();
        if !value.is_empty() {
            pairs.push((key.to_owned(), value.to_owned()));
        }
    };
    add("type", &q.event_type);
    add("worker_id", &q.worker);
    add("permit_id", &q.permit);
    add("level", &q.level);
    add("from_seq", &q.from_seq);
    let actor = q.actor.trim();
    if !actor.is_empty() {
        // A name is what people know; the trail records ids.
        let id = match state.store.principal_by_name(actor).await {
            Ok(p) => p.id,
            Err(_) => actor.to_owned(),
        };
        pairs.push(("actor_id".to_owned(), id));
    }
    match day_ms("from", &q.from, false) {
        Ok(Some(ms)) => pairs.push(("from_ts_ms".to_owned(), ms.to_string())),
        Ok(None) => {}
        Err(e) => error = Some(e),
    }
    match day_ms("to", &q.to, true) {
        Ok(Some(ms)) => pairs.push(("to_ts_ms".to_owned(), ms.to_string())),
        Ok(None) => {}
        Err(e) => error = Some(e),
    }
    let mut rows = Vec::new();
    let mut next_query = String::new();
    if error.is_none() {
        match api::list_events(
            State(state.clone()),
            session.caller.clone(),
            Ok(Query(pairs)),
        )
        .await
        {
            Ok(axum::Json(events)) => {
                let mut names = Names::default();
                for e in &events.items {
                    rows.push(row(state, e, &mut names).await);
                }
                if events.items.len() == PAGE as usize {
                    next_query = serde_urlencoded::to_string([
                        ("type", q.event_type.as_str()),
                        ("worker", q.worker.as_str()),
                        ("permit", q.permit.as_str()),
                        ("actor", q.actor.as_str()),
                        ("level", q.level.as_str()),
                        ("from", q.from.as_str()),
                        ("to", q.to.as_str()),
                        ("from_seq", events.next_from_seq.to_string().as_str()),
                    ])
                    .unwrap_or_default();
                }
            }
            Err(e) if e.status().is_client_error() && e.status() != StatusCode::FORBIDDEN => {
                error = Some(e.to_string());
            }
            Err(e) => return Err(WebError::api(e)),
        }
    }
    let code = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(
        code,
        &AuditPage {
            layout: Layout::new("Audit trail", Some(session), "audit"),
            q,
            rows,
            next_query,
            error,
            verification,
        },
    ))
}

async fn row(state: &AppState, e: &AuditEntry, names: &mut Names) -> EventRow {
    let who = names.of(state, &e.actor.id).await;
    EventRow {
        seq: e.seq,
        when: view::date(e.ts_ms),
        iso: view::iso(e.ts_ms),
        event: e.event_type.clone(),
        actor: match e.actor.channel {
            Some(c) => format!("{who} via {}", c.as_str()),
            None => who,
        },
        subject: subject(e),
        level: e.level.map_or_else(String::new, |l| format!("Level {l}")),
    }
}

fn subject(e: &AuditEntry) -> String {
    let s = &e.subject;
    [
        s.permit_id.as_ref().map(|p| format!("permit {p}")),
        s.worker_id.as_ref().map(|w| format!("worker {w}")),
        s.task_id.as_ref().map(|t| format!("task {t}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ")
}

/// "Verify the trail": the result of `GET /v1/audit/verify`, on the search page.
pub async fn verify(State(state): State<AppState>, session: Session) -> Result<Response, WebError> {
    let axum::Json(v) = api::verify(State(state.clone()), session.caller.clone())
        .await
        .map_err(WebError::api)?;
    let view = if v.ok {
        VerifyView {
            ok: true,
            text: format!(
                "The trail verifies: {} events, every hash and link intact (head {}).",
                v.head_seq,
                v.head_hash.unwrap_or_default()
            ),
        }
    } else {
        VerifyView {
            ok: false,
            text: format!(
                "Verification failed at seq {}: {} ({})",
                v.first_bad_seq
                    .map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
                v.problem.unwrap_or_default(),
                v.kind.map_or("damage", |kind| kind.as_str())
            ),
        }
    };
    page(&state, &session, Search::default(), Some(view)).await
}

/// The export of `GET /v1/audit/export`, as a download.
pub async fn download(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, WebError> {
    let mut response = export::export(State(state), session.caller.clone(), Ok(Query(vec![])))
        .await
        .map_err(WebError::api)?;
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"steward-audit.jsonl\""),
    );
    Ok(response.into_response())
}

#[derive(Template)]
#[template(path = "audit_event.html")]
struct EventPage {
    layout: Layout,
    e: EventRow,
    data: String,
    personal: String,
    hash: String,
    prev_hash: String,
    computed_ok: bool,
    proof: ProofView,
}

#[derive(Debug, Clone)]
struct ProofView {
    ok: bool,
    text: String,
    path: Vec<String>,
}

pub async fn event(
    State(state): State<AppState>,
    session: Session,
    Path(seq): Path<u64>,
) -> Result<Response, WebError> {
    let axum::Json(events) = api::list_events(
        State(state.clone()),
        session.caller.clone(),
        Ok(Query(vec![
            ("from_seq".to_owned(), seq.to_string()),
            ("limit".to_owned(), "1".to_owned()),
        ])),
    )
    .await
    .map_err(WebError::api)?;
    let Some(entry) = events.items.first().filter(|e| e.seq == seq) else {
        return Err(WebError::not_found(format!(
            "There is no audit event {seq}."
        )));
    };
    let mut names = Names::default();
    let e = row(&state, entry, &mut names).await;
    let personal = events.personal.get(&seq).map(pretty).unwrap_or_default();
    let proof = proof(&state, &session, entry).await?;
    Ok(render(
        StatusCode::OK,
        &EventPage {
            layout: Layout::new(format!("Audit event {seq}"), Some(&session), "audit"),
            e,
            data: pretty(&entry.data),
            personal,
            hash: entry.hash.to_string(),
            prev_hash: entry.prev_hash.to_string(),
            computed_ok: entry.computed_hash() == entry.hash,
            proof,
        },
    ))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The inclusion proof of `entry` (from `GET /v1/audit/proofs/inclusion`), checked here
/// against the latest checkpoint: its signature with the server's public key, the leaf
/// recomputed from the event itself, and the path up to the signed root.
async fn proof(
    state: &AppState,
    session: &Session,
    entry: &AuditEntry,
) -> Result<ProofView, WebError> {
    let fail = |text: String| ProofView {
        ok: false,
        text,
        path: Vec::new(),
    };
    let latest =
        match checkpoints::latest_checkpoint(State(state.clone()), session.caller.clone()).await {
            Ok(axum::Json(c)) => c,
            Err(e) if e.status() == StatusCode::NOT_FOUND => {
                return Ok(fail(
                "No checkpoint has been signed yet, so there is nothing to prove inclusion against."
                    .to_owned(),
            ));
            }
            Err(e) => return Err(WebError::api(e)),
        };
    let number = checkpoint_number(state, latest.tree_size).await?;
    if entry.seq > latest.tree_size {
        return Ok(fail(format!(
            "This event came after the latest checkpoint #{number} (tree size {}); the next \
             checkpoint will cover it.",
            latest.tree_size
        )));
    }
    let axum::Json(p) = proofs::inclusion(
        State(state.clone()),
        session.caller.clone(),
        Ok(Query(vec![
            ("seq".to_owned(), entry.seq.to_string()),
            ("tree_size".to_owned(), latest.tree_size.to_string()),
        ])),
    )
    .await
    .map_err(WebError::api)?;
    let signed = state
        .store
        .checkpoint(latest.tree_size)
        .await
        .map_err(WebError::internal)?;
    if let Some(key) = &state.audit_key
        && let Err(e) = verify_checkpoint(&signed, key.public_key())
    {
        return Ok(fail(format!(
            "The checkpoint #{number}'s signature does not verify: {e}"
        )));
    }
    let path: Vec<Hash> = p.proof.iter().filter_map(|h| h.parse().ok()).collect();
    // The leaf from the event as it reads now, not from the stored hash.
    let leaf = leaf_hash(&entry.computed_hash());
    let result = verify_inclusion(
        &leaf,
        p.leaf_index,
        p.tree_size,
        &path,
        &signed.checkpoint.root_hash,
    );
    Ok(match result {
        Ok(()) => ProofView {
            ok: true,
            text: format!(
                "Proof verified against checkpoint #{number} (tree size {}), signed {}.",
                latest.tree_size,
                view::date(latest.ts_ms)
            ),
            path: p.proof,
        },
        Err(e) => ProofView {
            ok: false,
            text: format!(
                "The proof does NOT verify against checkpoint #{number} (tree size {}): {e}",
                latest.tree_size
            ),
            path: p.proof,
        },
    })
}

/// The ordinal of the checkpoint of `tree_size` (1 for the first ever signed).
async fn checkpoint_number(state: &AppState, tree_size: u64) -> Result<u64, WebError> {
    let mut after = 0;
    let mut n = 0;
    loop {
        let page = state
            .store
            .list_checkpoints(after, steward_store::MAX_CHECKPOINT_PAGE)
            .await
            .map_err(WebError::internal)?;
        let Some(last) = page.last() else {
            return Ok(n);
        };
        after = last.checkpoint.tree_size;
        for c in &page {
            if c.checkpoint.tree_size <= tree_size {
                n += 1;
            }
        }
        if after >= tree_size {
            return Ok(n);
        }
    }
}
