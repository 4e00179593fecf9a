//! Workers: every worker with its level and status; one worker's standing (status,
//! probation, recertification due, track record) and its eligibility for the next level
//! criterion by criterion (the use case of `GET /v1/workers/{id}/eligibility`); and the
//! certification actions the person's roles allow: approve a promotion, suspend,
//! reinstate, recertify. Each action calls the same `Store` use case as the JSON route,
//! audited through the dashboard; a refusal is shown as its message.
//!
//! Reading workers is open to every principal in the API; a principal whose only role is
//! `worker` sees only its own worker here (as on History), the list is 403 for it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use serde::Deserialize;
use steward_permits::{Recertification, promotion_approvals};
use steward_policy::{CertificationStatus, Level, Role};
use steward_server::AppState;
use steward_server::routes::workers::{RECERTIFIERS, SUSPENDERS, worker_error};
use steward_store::{PersonalText, PrincipalKind, Worker, WorkerFilter, WorkerPage};

use super::{Layout, Names, WebError, now, own_worker_only, render};
use crate::session::{Posted, Session};
use crate::view;

/// Workers listed at most.
const LISTED: u32 = 500;

#[derive(Template)]
#[template(path = "workers.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<WorkerRow>,
}

#[derive(Debug, Clone)]
struct WorkerRow {
    id: String,
    name: String,
    level: u8,
    status: String,
    status_class: String,
    owner: String,
    recert: String,
    probation: String,
}

pub async fn list(State(state): State<AppState>, session: Session) -> Result<Response, WebError> {
    if own_worker_only(&state, &session.caller).await?.is_some() {
        return Err(WebError::forbidden(
            "A worker may see only its own standing, not the list of workers.",
        ));
    }
    let workers = state
        .store
        .list_workers(
            &WorkerFilter::default(),
            &WorkerPage {
                after_id: None,
                limit: LISTED,
            },
        )
        .await
        .map_err(WebError::internal)?;
    let now = now(&state);
    let mut names = Names::default();
    let mut rows = Vec::new();
    for w in &workers {
        rows.push(WorkerRow {
            id: w.id.clone(),
            name: w.display_name.clone(),
            level: w.level.value(),
            status: view::words(w.status.as_str()),
            status_class: w.status.as_str().to_owned(),
            owner: names.of(&state, &w.owner_id).await,
            recert: recertification(w, now),
            probation: probation(w, now),
        });
    }
    Ok(render(
        StatusCode::OK,
        &ListPage {
            layout: Layout::new("Workers", Some(&session), "workers"),
            rows,
        },
    ))
}

fn recertification(w: &Worker, now: i64) -> String {
    match w.recertification(now) {
        Recertification::NotRequired => "not required (level 0)".to_owned(),
        Recertification::Current { due_in_days } => match w.recertify_by_ms {
            Some(by) => format!("due {} (in {due_in_days} days)", view::date(by)),
            None => format!("due in {due_in_days} days"),
        },
        Recertification::InGrace { grace_left_days } => {
            format!("overdue: {grace_left_days} days of grace left")
        }
        Recertification::Expired => "expired: recertify to restore".to_owned(),
    }
}

fn probation(w: &Worker, now: i64) -> String {
    match w.probation_until_ms {
        Some(until) if until > now => format!(
            "on probation until {} ({})",
            view::date(until),
            view::relative(until, now)
        ),
        Some(until) => format!("probation ended {}", view::date(until)),
        None => "none".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "worker.html")]
struct DetailPage {
    layout: Layout,
    w: WorkerRow,
    domains: String,
    granted: String,
    record: Vec<(String, String)>,
    target: Option<u8>,
    eligible: bool,
    criteria: Vec<(bool, String)>,
    quorum: String,
    promote_as: Vec<&'static str>,
    may_suspend: bool,
    may_reinstate: bool,
    may_recertify: bool,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Done {
    /// What the last action did, shown once after the redirect.
    #[serde(default)]
    done: String,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    let notice = match done.done.as_str() {
        "suspended" | "reinstated" | "recertified" | "promoted" | "approval_recorded" => {
            Some(format!("Done: {}.", view::words(&done.done)))
        }
        _ => None,
    };
    detail(&state, &session, &id, None, notice, StatusCode::OK).await
}

async fn detail(
    state: &AppState,
    session: &Session,
    id: &str,
    error: Option<String>,
    notice: Option<String>,
    code: StatusCode,
) -> Result<Response, WebError> {
    if let Some(own) = own_worker_only(state, &session.caller).await?
        && own != id
    {
        return Err(WebError::forbidden(
            "A worker may see only its own standing.",
        ));
    }
    let w = state
        .store
        .worker(id)
        .await
        .map_err(|e| WebError::api(steward_server::routes::principals::store_error(e)))?;
    let now = now(state);
    let mut names = Names::default();
    let s = &w.stats;
    let record = vec![
        (
            "Successes at this level".to_owned(),
            s.successes_at_level.to_string(),
        ),
        (
            "Failures at this level".to_owned(),
            s.failures_at_level.to_string(),
        ),
        (
            "Successes by level (0–4)".to_owned(),
            s.successes_by_level
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" · "),
        ),
        (
            "Successes not counted (no evidence Steward saw)".to_owned(),
            s.uncounted_successes.to_string(),
        ),
        (
            "Safety violations".to_owned(),
            s.safety_violations.to_string(),
        ),
        (
            "Consecutive failed union operations".to_owned(),
            s.consecutive_union_failures.to_string(),
        ),
        (
            "Last incident".to_owned(),
            s.last_incident_at
                .map_or_else(|| "none".to_owned(), |t| view::date(t.millis())),
        ),
    ];
    let target = Level::new(w.level.value() + 1);
    let (eligible, criteria, quorum, promote_as) = match target {
        Some(target) => {
            let (_, verdict) = state
                .store
                .eligibility(id, target, now)
                .await
                .map_err(|e| WebError::api(steward_server::routes::principals::store_error(e)))?;
            let rules = promotion_approvals(target);
            let criteria = verdict
                .reasons
                .iter()
                .map(|r| match r.strip_prefix("not met: ") {
                    Some(rest) => (false, rest.to_owned()),
                    None => (true, r.strip_prefix("met: ").unwrap_or(r).to_owned()),
                })
                .collect();
            let quorum = format!(
                "{} approval{} from {}{}",
                rules.approvers_required,
                if rules.approvers_required == 1 {
                    ""
                } else {
                    "s"
                },
                rules
                    .approver_roles
                    .iter()
                    .map(|r| view::words(r.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
                if rules.required_roles.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (including {})",
                        rules
                            .required_roles
                            .iter()
                            .map(|r| view::words(r.as_str()))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    )
                }
            );
            let principal = session.caller.principal();
            let promote_as = if verdict.eligible && principal.kind == PrincipalKind::Human {
                rules
                    .approver_roles
                    .iter()
                    .filter(|r| principal.has_role(**r))
                    .map(|r| r.as_str())
                    .collect()
            } else {
                Vec::new()
            };
            (verdict.eligible, criteria, quorum, promote_as)
        }
        None => (false, Vec::new(), String::new(), Vec::new()),
    };
    let principal = session.caller.principal();
    let holds = |roles: &[Role]| roles.iter().any(|r| principal.has_role(*r));
    let live = !matches!(w.status, CertificationStatus::Revoked);
    let page = DetailPage {
        layout: Layout::new(
            format!("Worker {}", w.display_name),
            Some(session),
            "workers",
        ),
        w: WorkerRow {
            id: w.id.clone(),
            name: w.display_name.clone(),
            level: w.level.value(),
            status: view::words(w.status.as_str()),
            status_class: w.status.as_str().to_owned(),
            owner: names.of(state, &w.owner_id).await,
            recert: recertification(&w, now),
            probation: probation(&w, now),
        },
        domains: if w.domains.is_empty() {
            "any".to_owned()
        } else {
            w.domains.join(", ")
        },
        granted: view::date(w.level_granted_at_ms),
        record,
        target: target.map(|t| t.value()),
        eligible,
        criteria,
        quorum,
        promote_as,
        may_suspend: holds(SUSPENDERS) && live && w.status != CertificationStatus::Suspended,
        may_reinstate: holds(SUSPENDERS) && w.status == CertificationStatus::Suspended,
        may_recertify: holds(RECERTIFIERS)
            && principal.kind == PrincipalKind::Human
            && live
            && w.level.value() > 0
            && w.status != CertificationStatus::Suspended,
        error,
        notice,
    };
    Ok(render(code, &page))
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    level: String,
}

/// Suspend, reinstate, recertify or approve a promotion, as the session's principal.
pub async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    posted: Posted<ActionForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let reason = form.reason.trim();
    let by = session.by();
    let now = now(&state);
    let refused = |status: StatusCode, message: String| (status, message);
    let outcome: Result<String, (StatusCode, String)> = match action.as_str() {
        "suspend" | "reinstate" | "recertify" => {
            let roles = if action == "recertify" {
                RECERTIFIERS
            } else {
                SUSPENDERS
            };
            if let Err(e) = session
                .caller
                .require_any(roles, "changing a certification")
            {
                Err(refused(e.status(), e.to_string()))
            } else if reason.is_empty() {
                Err(refused(
                    StatusCode::BAD_REQUEST,
                    "A reason is required: say why in the `reason` field.".to_owned(),
                ))
            } else {
                let result = match action.as_str() {
                    "suspend" => state.store.suspend(&by, &id, reason, now).await,
                    "reinstate" => state.store.reinstate(&by, &id, reason, now).await,
                    _ => state.store.recertify(&by, &id, reason, now).await,
                };
                match result {
                    Ok(_) => Ok(match action.as_str() {
                        "suspend" => "suspended",
                        "reinstate" => "reinstated",
                        _ => "recertified",
                    }
                    .to_owned()),
                    Err(e) => {
                        let e = worker_error(e);
                        Err(refused(e.status(), e.to_string()))
                    }
                }
            }
        }
        "promote" => {
            let target = form
                .level
                .parse::<u8>()
                .ok()
                .and_then(Level::new)
                .filter(|l| l.is_union());
            let role = form.role.parse::<Role>().ok();
            match (target, role) {
                (None, _) => Err(refused(
                    StatusCode::BAD_REQUEST,
                    "`level`: a promotion target is 1 to 4.".to_owned(),
                )),
                (_, None) => Err(refused(
                    StatusCode::BAD_REQUEST,
                    "`role`: choose the role you approve under.".to_owned(),
                )),
                (Some(_), Some(role)) if !session.caller.has(role) => Err(refused(
                    StatusCode::FORBIDDEN,
                    format!("You do not hold the role `{role}`."),
                )),
                (Some(target), Some(role)) => {
                    let comment = Some(reason.to_owned())
                        .filter(|c| !c.is_empty())
                        .map(PersonalText::from);
                    match state
                        .store
                        .approve_promotion(&by, &id, target, role, comment, now)
                        .await
                    {
                        Ok(p) if p.promoted => Ok("promoted".to_owned()),
                        Ok(_) => Ok("approval_recorded".to_owned()),
                        Err(e) => {
                            let e = worker_error(e);
                            Err(refused(e.status(), e.to_string()))
                        }
                    }
                }
            }
        }
        other => Err(refused(
            StatusCode::NOT_FOUND,
            format!("There is no worker action `{other}`."),
        )),
    };
    match outcome {
        Ok(done) => Ok(axum::response::IntoResponse::into_response(Redirect::to(
            &format!("/workers/{id}?done={done}"),
        ))),
        Err((status, message)) => detail(&state, &session, &id, Some(message), None, status).await,
    }
}
