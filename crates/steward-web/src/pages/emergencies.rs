//! Emergencies (SPEC §8): every emergency with its status, the approval window counting
//! down, and its post-incident review (overdue reviews stand out); declaring one;
//! approving it within the 15-minute window (a step-up action: the person re-enters their
//! token); resolving it; filing the review. Each action calls the same use case as the
//! JSON route (`declare_as`, `approve_as`, `resolve_as`, `review_as` of
//! `steward_server::routes::emergencies`), audited through the dashboard.
//!
//! Reading is open to principals with a role other than `worker`, as in the API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_permits::{Channel, EMERGENCY_APPROVER_ROLES, EmergencyStatus};
use steward_policy::Role;
use steward_server::AppState;
use steward_server::routes::emergencies::{
    self as api, ApproveRequest, DeclareRequest, ResolveRequest, ReviewRequest, emergency_error,
};
use steward_store::{Emergency, EmergencyActionError, EmergencyFilter, PersonalText};

use super::{Layout, Names, WebError, now, render};
use crate::session::{Posted, Session};
use crate::view;

/// Emergencies listed at most.
const LISTED: u32 = 200;

/// Every use case of these pages acts through the dashboard.
const WEB: Option<steward_store::Channel> = Some(steward_store::Channel::Web);

#[derive(Template)]
#[template(path = "emergencies.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    error: Option<String>,
    form: DeclareForm,
}

#[derive(Debug, Clone)]
struct Row {
    id: String,
    incident: String,
    worker: String,
    status: String,
    status_class: String,
    declared: String,
    declared_by: String,
    minutes: i64,
    /// The approval window's end (ISO, for the countdown) and in words, while awaiting.
    window_iso: String,
    window: String,
    review: String,
    review_overdue: bool,
    permit_id: String,
}

async fn row(state: &AppState, e: &Emergency, now: i64, names: &mut Names) -> Row {
    let awaiting = e.status == EmergencyStatus::AwaitingApproval;
    Row {
        id: e.id.clone(),
        incident: e.incident_id.clone(),
        worker: e.worker_id.clone(),
        status: view::words(e.status.as_str()),
        status_class: e.status.as_str().to_owned(),
        declared: view::date(e.declared_at_ms),
        declared_by: names.of(state, &e.declared_by).await,
        minutes: e.minutes,
        window_iso: if awaiting {
            view::iso(e.approval_deadline_ms)
        } else {
            String::new()
        },
        window: if awaiting {
            if e.approval_deadline_ms > now {
                format!(
                    "approve by {} ({})",
                    view::date(e.approval_deadline_ms),
                    view::relative(e.approval_deadline_ms, now)
                )
            } else {
                "the approval window has closed".to_owned()
            }
        } else {
            String::new()
        },
        review: match (e.review_filed_at_ms, e.review_due_at_ms) {
            (Some(at), _) => format!("filed {}", view::date(at)),
            (None, Some(due)) if e.review_overdue => {
                format!("OVERDUE since {}", view::date(due))
            }
            (None, Some(due)) => format!("due {} ({})", view::date(due), view::relative(due, now)),
            (None, None) => "not due yet".to_owned(),
        },
        review_overdue: e.review_overdue,
        permit_id: e.permit_id.clone(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DeclareForm {
    #[serde(default)]
    incident_id: String,
    #[serde(default)]
    worker_id: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    environment: String,
    /// One operation per line.
    #[serde(default)]
    operations: String,
    /// Comma-separated.
    #[serde(default)]
    services: String,
}

pub async fn list(State(state): State<AppState>, session: Session) -> Result<Response, WebError> {
    list_page(
        &state,
        &session,
        None,
        DeclareForm::default(),
        StatusCode::OK,
    )
    .await
}

async fn list_page(
    state: &AppState,
    session: &Session,
    error: Option<String>,
    form: DeclareForm,
    code: StatusCode,
) -> Result<Response, WebError> {
    api::require_reader(&session.caller).map_err(WebError::api)?;
    let now = now(state);
    let items = state
        .store
        .list_emergencies(&EmergencyFilter::default(), None, LISTED, now)
        .await
        .map_err(|e| WebError::api(emergency_error(EmergencyActionError::from(e))))?;
    let mut names = Names::default();
    let mut rows = Vec::new();
    for e in &items {
        rows.push(row(state, e, now, &mut names).await);
    }
    // Overdue reviews first, then the newest.
    rows.sort_by_key(|r| !r.review_overdue);
    Ok(render(
        code,
        &ListPage {
            layout: Layout::new("Emergencies", Some(session), "emergencies"),
            rows,
            error,
            form,
        },
    ))
}

/// Declares an emergency from the form: its scope is a task like any other.
pub async fn declare(
    State(state): State<AppState>,
    posted: Posted<DeclareForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    api::require_reader(&session.caller).map_err(WebError::api)?;
    let Ok(minutes) = form.minutes.trim().parse::<i64>() else {
        return list_page(
            &state,
            &session,
            Some("`minutes`: a whole number of minutes, such as 60.".to_owned()),
            form,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let operations: Vec<&str> = form
        .operations
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let services: Vec<&str> = form
        .services
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let scope = json!({
        "id": form.incident_id.trim(),
        "description": form.description.trim(),
        "environment": form.environment.trim(),
        "operations": operations,
        "services_affected": services,
    });
    let body = DeclareRequest {
        incident_id: form.incident_id.clone(),
        worker_id: form.worker_id.trim().to_owned(),
        scope,
        reason: form.reason.clone().into(),
        minutes,
    };
    match api::declare_via(&state, &session.caller, WEB, body).await {
        Ok(e) => Ok(Redirect::to(&format!("/emergencies/{}", e.id)).into_response()),
        Err(e) if e.status().is_server_error() => Err(WebError::api(e)),
        Err(e) => list_page(&state, &session, Some(e.to_string()), form, e.status()).await,
    }
}

#[derive(Template)]
#[template(path = "emergency.html")]
struct DetailPage {
    layout: Layout,
    e: Row,
    reason: String,
    approved: String,
    resolved: String,
    review: Vec<(String, String)>,
    approve_as: Vec<&'static str>,
    may_resolve: bool,
    may_review: bool,
    error: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    detail(&state, &session, &id, None, StatusCode::OK).await
}

async fn detail(
    state: &AppState,
    session: &Session,
    id: &str,
    error: Option<String>,
    code: StatusCode,
) -> Result<Response, WebError> {
    api::require_reader(&session.caller).map_err(WebError::api)?;
    let now = now(state);
    let e = state
        .store
        .emergency(id, now)
        .await
        .map_err(|e| WebError::api(emergency_error(EmergencyActionError::from(e))))?;
    let mut names = Names::default();
    let r = row(state, &e, now, &mut names).await;
    let principal = session.caller.principal();
    let incident_role = EMERGENCY_APPROVER_ROLES
        .iter()
        .any(|r| principal.has_role(*r));
    let approved = match (&e.approved_by, e.approved_at_ms) {
        (Some(by), Some(at)) => format!(
            "by {} as {} on {}",
            names.of(state, by).await,
            e.approved_role
                .map_or_else(String::new, |r| view::words(r.as_str())),
            view::date(at)
        ),
        _ => "not approved".to_owned(),
    };
    let resolved = match (&e.resolved_by, e.resolved_at_ms) {
        (Some(by), Some(at)) => format!(
            "by {} on {}{}",
            names.of(state, by).await,
            view::date(at),
            e.resolution
                .as_ref()
                .map_or_else(String::new, |r| format!(": {r}"))
        ),
        _ => "not resolved".to_owned(),
    };
    let review = match &e.review {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                (
                    view::words(k),
                    match v {
                        Value::String(s) => s.clone(),
                        Value::Array(items) => items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join("; "),
                        Value::Null => "none".to_owned(),
                        other => other.to_string(),
                    },
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let page = DetailPage {
        layout: Layout::new(
            format!("Emergency {}", e.incident_id),
            Some(session),
            "emergencies",
        ),
        reason: e.reason.clone(),
        approved,
        resolved,
        review,
        // Shown to those the use case may let approve; it still decides (window,
        // segregation of duties).
        approve_as: if e.status == EmergencyStatus::AwaitingApproval {
            EMERGENCY_APPROVER_ROLES
                .iter()
                .filter(|r| principal.has_role(**r))
                .map(|r| r.as_str())
                .collect()
        } else {
            Vec::new()
        },
        may_resolve: incident_role && e.resolved_at_ms.is_none() && e.approved_at_ms.is_some(),
        may_review: e.review_filed_at_ms.is_none()
            && e.review_due_at_ms.is_some()
            && (incident_role
                || principal.has_role(Role::Admin)
                || principal.id == e.declared_by
                || e.approved_by.as_deref() == Some(principal.id.as_str())),
        error,
        e: r,
    };
    Ok(render(code, &page))
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    comment: String,
    /// Step-up: the person's token again (approval).
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    resolution: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    root_cause: String,
    /// One action per line.
    #[serde(default)]
    actions: String,
}

/// Approve (with step-up), resolve or file the review, as the session's principal.
pub async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    posted: Posted<ActionForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let result = match action.as_str() {
        "approve" => {
            if let Err(WebError::Page {
                status, message, ..
            }) = session.step_up(&state, form.token.as_deref()).await
            {
                return detail(&state, &session, &id, Some(message), status).await;
            }
            let Ok(role) = form.role.parse::<Role>() else {
                return detail(
                    &state,
                    &session,
                    &id,
                    Some("`role`: choose the role you approve under.".to_owned()),
                    StatusCode::BAD_REQUEST,
                )
                .await;
            };
            api::approve_via(
                &state,
                &session.caller,
                WEB,
                &id,
                ApproveRequest {
                    role,
                    comment: text(&form.comment).map(PersonalText::from),
                    channel: Some(Channel::Web),
                },
            )
            .await
        }
        "resolve" => {
            api::resolve_via(
                &state,
                &session.caller,
                WEB,
                &id,
                ResolveRequest {
                    resolution: text(&form.resolution).map(PersonalText::from),
                },
            )
            .await
        }
        "review" => {
            api::review_via(
                &state,
                &session.caller,
                WEB,
                &id,
                ReviewRequest {
                    summary: form.summary.clone().into(),
                    root_cause: text(&form.root_cause).map(PersonalText::from),
                    actions: form
                        .actions
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(|l| PersonalText::from(l.to_owned()))
                        .collect(),
                },
            )
            .await
        }
        other => {
            return Err(WebError::not_found(format!(
                "There is no emergency action `{other}`."
            )));
        }
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/emergencies/{id}")).into_response()),
        Err(e) if e.status().is_server_error() => Err(WebError::api(e)),
        Err(e) => detail(&state, &session, &id, Some(e.to_string()), e.status()).await,
    }
}
