//! The permit page (`AppState::permit_link` points here): the analysis explained, the
//! evidence with the rollback plan rendered, the constraints, the timeline of every audit
//! event of the permit, and the decisions the person may take. Each action calls the same
//! use case as the JSON route (`decide_permit_as`, `cab_sign_off_as`, `revoke_permit_as`,
//! audited through the dashboard); a refusal is shown as its message.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use steward_permits::{Decision, PermitState, RevocationReason};
use steward_policy::Role;
use steward_server::AppState;
use steward_server::routes::permits::{permit_error, visible_permit};
use steward_store::{EventQuery, NewDecision, Permit, PermitError, PersonalText};

use super::inbox::{self, Row};
use super::{Layout, Names, WebError, now, render};
use crate::live;
use crate::session::{Posted, Session};
use crate::view::{self, escape};

/// Events shown on the timeline at most.
const TIMELINE: u32 = 500;

#[derive(Template)]
#[template(path = "permit.html")]
struct PermitPage {
    layout: Layout,
    p: Detail,
    status: String,
    error: Option<String>,
}

/// The part of the page that updates live.
#[derive(Template, Debug)]
#[template(path = "permit_status.html")]
pub struct Status {
    pub id: String,
    pub state: String,
    pub state_class: String,
    pub row: Row,
    pub approvals: Vec<ApprovalView>,
    pub valid: String,
    pub revocation: String,
}

#[derive(Debug, Clone)]
pub struct ApprovalView {
    pub who: String,
    pub role: String,
    pub decision: String,
    pub channel: String,
    pub comment: String,
    pub when: String,
}

#[derive(Debug, Clone)]
struct Detail {
    id: String,
    task: String,
    level: u8,
    permit_type: String,
    score: String,
    risk_level: String,
    factors: Vec<(String, String, u8, String)>,
    base_level: String,
    floors: Vec<(String, String, String)>,
    reasoning: String,
    why_type: String,
    evidence: Vec<(String, String)>,
    constraints: Vec<(String, String)>,
    timeline: Vec<TimelineEntry>,
    /// Decision forms: the roles the person may decide under.
    decide_as: Vec<String>,
    why_not: String,
    under_review: bool,
    step_up_approve: bool,
    cab_open: bool,
    may_cab: bool,
    may_revoke: bool,
    reasons: Vec<&'static str>,
}

#[derive(Debug, Clone)]
struct TimelineEntry {
    seq: u64,
    when: String,
    iso: String,
    event: String,
    actor: String,
    details: String,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    page(&state, &session, &id, None, StatusCode::OK).await
}

async fn page(
    state: &AppState,
    session: &Session,
    id: &str,
    error: Option<String>,
    code: StatusCode,
) -> Result<Response, WebError> {
    let permit = visible_permit(state, &session.caller, id)
        .await
        .map_err(WebError::api)?;
    let now = now(state);
    let status = status(state, session, &permit, now).await?;
    let detail = detail(state, session, &permit, &status.row, now).await?;
    Ok(render(
        code,
        &PermitPage {
            layout: Layout::new(
                format!("Permit {}", inbox::task_title(&permit)),
                Some(session),
                "",
            ),
            p: detail,
            status: status.render().map_err(WebError::internal)?,
            error,
        },
    ))
}

/// The live part: state, approvals against the quorum, CAB, SLA.
pub async fn status(
    state: &AppState,
    session: &Session,
    permit: &Permit,
    now: i64,
) -> Result<Status, WebError> {
    let mut names = Names::default();
    let row = inbox::row(state, session, permit, now, &mut names).await?;
    let mut approvals = Vec::new();
    for a in permit.approvals.iter().filter(|a| a.round == permit.round) {
        approvals.push(ApprovalView {
            who: names.of(state, &a.principal_id).await,
            role: view::words(a.role.as_str()),
            decision: match a.decision {
                Decision::Approve => "approved",
                Decision::Reject => "rejected",
                Decision::RequestChanges => "requested changes",
            }
            .to_owned(),
            channel: a.channel.as_str().to_owned(),
            comment: a.comment.clone().unwrap_or_default(),
            when: view::date(a.created_at_ms),
        });
    }
    let valid = match (permit.valid_from_ms, permit.expires_at_ms) {
        (Some(from), Some(to)) => format!(
            "{} to {} ({}; ends {})",
            view::date(from),
            view::date(to),
            view::duration(to - from),
            view::relative(to, now)
        ),
        _ => "not issued yet".to_owned(),
    };
    let revoked_by = match &permit.revocation {
        Some(r) => names.of(state, &r.revoked_by).await,
        None => String::new(),
    };
    let revocation = permit.revocation.as_ref().map_or_else(String::new, |r| {
        format!(
            "Revoked {} by {}: {}",
            view::date(r.revoked_at_ms),
            revoked_by,
            view::words(r.reason.as_str())
        )
    });
    Ok(Status {
        id: permit.id.clone(),
        state: view::words(permit.state.as_str()),
        state_class: permit.state.as_str().to_owned(),
        row,
        approvals,
        valid,
        revocation,
    })
}

async fn detail(
    state: &AppState,
    session: &Session,
    permit: &Permit,
    row: &Row,
    now: i64,
) -> Result<Detail, WebError> {
    let principal = session.caller.principal();
    let (score, risk_level, factors, base_level, floors, reasoning) = match &permit.analysis {
        Some(a) => (
            inbox::score(permit),
            view::words(&json_name(&a.risk_assessment.risk_level)),
            a.risk_assessment
                .factors
                .iter()
                .map(|f| {
                    (
                        view::words(&json_name(&f.factor)),
                        view::words(&f.category),
                        f.points,
                        f.evidence.join("; "),
                    )
                })
                .collect(),
            format!("Level {}", a.certification_decision.base_level.value()),
            a.certification_decision
                .floors_applied
                .iter()
                .map(|f| {
                    (
                        view::words(&json_name(&f.rule)),
                        format!("Level {}", f.level.value()),
                        f.reason.clone(),
                    )
                })
                .collect(),
            a.certification_decision.reasoning.clone(),
        ),
        None => (
            "unknown".to_owned(),
            "unknown".to_owned(),
            Vec::new(),
            String::new(),
            Vec::new(),
            String::new(),
        ),
    };
    let req = &permit.requirements;
    let why_type = format!(
        "Level {} needs {} {} permit: {} approver{} from {}{}{}, decided within {}.",
        permit.level.value(),
        if permit.permit_type.as_str().starts_with(['a', 'e']) {
            "an"
        } else {
            "a"
        },
        view::words(permit.permit_type.as_str()),
        req.approvers_required,
        if req.approvers_required == 1 { "" } else { "s" },
        req.approver_roles
            .iter()
            .map(|r| view::words(r.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        if req.required_roles.is_empty() {
            String::new()
        } else {
            format!(
                " (including {})",
                req.required_roles
                    .iter()
                    .map(|r| view::words(r.as_str()))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        },
        if req.change_advisory_board_required {
            ", and a change-advisory-board sign-off"
        } else {
            ""
        },
        view::duration((req.max_approval_time_hours * 3_600_000.0) as i64)
    );
    let evidence = match &permit.evidence {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (view::words(k), render_json(v)))
            .collect(),
        _ => Vec::new(),
    };
    let tokens_used = state
        .store
        .authz_versions(&permit.worker_id, Some(&permit.id))
        .await
        .map_err(WebError::internal)?
        .and_then(|v| v.permit)
        .map_or(0, |p| p.tokens_used);
    let constraints = constraints(permit, tokens_used, now);
    let events = state
        .store
        .query_events(
            &EventQuery {
                permit_id: Some(permit.id.clone()),
                ..EventQuery::default()
            },
            1,
            TIMELINE,
        )
        .await
        .map_err(WebError::internal)?;
    let mut names = Names::default();
    let mut timeline = Vec::new();
    for e in &events {
        let who = names.of(state, &e.actor.id).await;
        timeline.push(TimelineEntry {
            seq: e.seq,
            when: view::date(e.ts_ms),
            iso: view::iso(e.ts_ms),
            event: e.event_type.clone(),
            actor: if e.actor.roles.is_empty() {
                who
            } else {
                format!("{who} ({})", e.actor.roles.join(", "))
            },
            details: event_details(&e.data),
        });
    }
    let under_review = permit.state == PermitState::UnderReview;
    const CAB_ROLES: [Role; 5] = [
        Role::Admin,
        Role::VpEngineering,
        Role::Cto,
        Role::Ciso,
        Role::Coo,
    ];
    let live = !permit.state.is_terminal() && permit.state != PermitState::Completed;
    Ok(Detail {
        id: permit.id.clone(),
        task: inbox::task_title(permit),
        level: permit.level.value(),
        permit_type: view::words(permit.permit_type.as_str()),
        score,
        risk_level,
        factors,
        base_level,
        floors,
        reasoning,
        why_type,
        evidence,
        constraints,
        timeline,
        decide_as: if under_review {
            row.may_decide_as.clone()
        } else {
            Vec::new()
        },
        why_not: row.why_not.clone(),
        under_review,
        step_up_approve: permit.level.value() >= 3,
        cab_open: under_review && req.change_advisory_board_required && !permit.cab_signed_off,
        may_cab: CAB_ROLES.iter().any(|r| principal.has_role(*r)),
        // Shown to those the use case lets revoke; it still decides.
        may_revoke: live
            && (principal.id == permit.requester_id
                || [Role::Admin, Role::SecurityLead, Role::IncidentCommander]
                    .iter()
                    .any(|r| principal.has_role(*r))
                || permit
                    .approvals
                    .iter()
                    .any(|a| a.principal_id == principal.id)),
        reasons: RevocationReason::ALL.iter().map(|r| r.as_str()).collect(),
    })
}

/// A serde enum's wire name.
fn json_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn constraints(permit: &Permit, tokens_used: u64, now: i64) -> Vec<(String, String)> {
    let c = &permit.constraints;
    let list = |items: Option<&Vec<String>>| match items {
        Some(items) if !items.is_empty() => items.join(", "),
        Some(_) => "none".to_owned(),
        None => "any".to_owned(),
    };
    let mut out = vec![(
        "Window".to_owned(),
        match (permit.valid_from_ms, permit.expires_at_ms) {
            (Some(from), Some(to)) => format!(
                "{} to {} ({}, ends {})",
                view::date(from),
                view::date(to),
                view::duration(to - from),
                view::relative(to, now)
            ),
            _ => match permit.requested_window_start_ms {
                Some(start) => format!(
                    "requested from {} for {}",
                    view::date(start),
                    view::duration((permit.total_hours * 3_600_000.0) as i64)
                ),
                None => format!(
                    "{} from issue",
                    view::duration((permit.total_hours * 3_600_000.0) as i64)
                ),
            },
        },
    )];
    out.push((
        "Environment".to_owned(),
        c.environment
            .map_or_else(|| "unknown".to_owned(), |env| env.to_string()),
    ));
    out.push(("Operations".to_owned(), list(Some(&c.allowed_operations))));
    out.push(("Services".to_owned(), list(Some(&c.allowed_services))));
    out.push(("Regions".to_owned(), list(Some(&c.allowed_regions))));
    out.push((
        "Allowed methods".to_owned(),
        list(c.allowed_methods.as_ref()),
    ));
    out.push((
        "Forbidden methods".to_owned(),
        list(Some(&c.forbidden_methods)),
    ));
    out.push((
        "Error rate limit".to_owned(),
        format!(
            "{:.1}% over {}",
            c.max_error_rate * 100.0,
            view::duration(i64::from(c.error_rate_window_seconds) * 1000)
        ),
    ));
    out.push((
        "Latency limit (p99)".to_owned(),
        format!("{} ms", c.max_latency_p99_ms),
    ));
    let budget = c.token_budget;
    out.push((
        "Token budget".to_owned(),
        format!("{tokens_used} of {budget} used"),
    ));
    out
}

/// The data of an audit event in a line, without sealed personal values.
fn event_details(data: &Value) -> String {
    let Value::Object(map) = data else {
        return String::new();
    };
    map.iter()
        .filter(|(k, _)| k.as_str() != "personal")
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}: {v}", view::words(k))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Evidence as HTML: objects as definition lists, arrays as lists, text escaped.
fn render_json(value: &Value) -> String {
    match value {
        Value::Null => "<em>none</em>".to_owned(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => escape(s),
        Value::Array(items) => format!(
            "<ol>{}</ol>",
            items
                .iter()
                .map(|v| format!("<li>{}</li>", render_json(v)))
                .collect::<String>()
        ),
        Value::Object(map) => format!(
            "<dl class=\"json\">{}</dl>",
            map.iter()
                .map(|(k, v)| format!(
                    "<div><dt>{}</dt><dd>{}</dd></div>",
                    escape(&view::words(k)),
                    render_json(v)
                ))
                .collect::<String>()
        ),
    }
}

/// The live part of the page over server-sent events: re-rendered whenever an event
/// about this permit is committed (through any instance); the first message is the
/// current state, so a reconnect misses nothing.
pub async fn live(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    visible_permit(&state, &session.caller, &id)
        .await
        .map_err(WebError::api)?;
    let wanted = id.clone();
    Ok(live::stream(
        state,
        session,
        move |entry| entry.subject.permit_id.as_deref() == Some(wanted.as_str()),
        move |state, session| {
            let id = id.clone();
            async move {
                let permit = visible_permit(&state, &session.caller, &id)
                    .await
                    .map_err(WebError::api)?;
                let now = now(&state);
                let status = status(&state, &session, &permit, now).await?;
                status.render().map_err(WebError::internal)
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    decision: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    /// Step-up: the person's token again.
    #[serde(default)]
    token: Option<String>,
}

/// Approve, reject or request changes, as the session's principal.
pub async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<DecideForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let comment = form
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        "request_changes" => Decision::RequestChanges,
        other => {
            return refused(
                &state,
                &session,
                &id,
                StatusCode::BAD_REQUEST,
                format!("`decision`: unknown decision `{other}`"),
            )
            .await;
        }
    };
    if decision != Decision::Approve && comment.is_none() {
        return refused(
            &state,
            &session,
            &id,
            StatusCode::BAD_REQUEST,
            "A reason is required: say why in the `reason` field.".to_owned(),
        )
        .await;
    }
    let Some(role) = form.role.as_deref().and_then(|r| r.parse::<Role>().ok()) else {
        return refused(
            &state,
            &session,
            &id,
            StatusCode::BAD_REQUEST,
            "`role`: choose the role you decide under.".to_owned(),
        )
        .await;
    };
    if decision == Decision::Approve {
        let permit = visible_permit(&state, &session.caller, &id)
            .await
            .map_err(WebError::api)?;
        if permit.level.value() >= 3
            && let Err(error) = session.step_up(&state, form.token.as_deref()).await
        {
            return refused_with(&state, &session, &id, error).await;
        }
    }
    let result = state
        .store
        .decide_permit(
            &session.by(),
            &id,
            NewDecision {
                decision,
                role,
                channel: steward_permits::Channel::Web,
                comment: comment.map(PersonalText::from),
                conditions: json!({}),
            },
            now(&state),
        )
        .await;
    done(&state, &session, &id, result).await
}

#[derive(Debug, Deserialize)]
pub struct StepUpForm {
    #[serde(default)]
    token: Option<String>,
}

/// The change-advisory-board sign-off (step-up required).
pub async fn cab_signoff(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<StepUpForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    if let Err(error) = session.step_up(&state, form.token.as_deref()).await {
        return refused_with(&state, &session, &id, error).await;
    }
    let result = state
        .store
        .cab_sign_off(&session.by(), &id, now(&state))
        .await;
    done(&state, &session, &id, result).await
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    reason: String,
    #[serde(default)]
    comment: Option<String>,
}

/// Revokes the permit with a reason from the closed set.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<RevokeForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let Ok(reason) = form.reason.parse::<RevocationReason>() else {
        return refused(
            &state,
            &session,
            &id,
            StatusCode::BAD_REQUEST,
            format!("`reason`: unknown revocation reason `{}`", form.reason),
        )
        .await;
    };
    let comment = form
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let result = state
        .store
        .revoke_permit(
            &session.by(),
            &id,
            reason,
            comment.map(PersonalText::from),
            now(&state),
        )
        .await;
    done(&state, &session, &id, result).await
}

/// After an action: back to the permit page, or the page with the refusal.
async fn done(
    state: &AppState,
    session: &Session,
    id: &str,
    result: Result<Permit, PermitError>,
) -> Result<Response, WebError> {
    match result {
        Ok(_) => {
            state.authz.forget_permit(id);
            Ok(Redirect::to(&format!("/permits/{id}")).into_response())
        }
        Err(error) => {
            let api = permit_error(error);
            let code = api.status();
            if code.is_server_error() {
                return Err(WebError::internal(api));
            }
            refused(state, session, id, code, api.to_string()).await
        }
    }
}

async fn refused(
    state: &AppState,
    session: &Session,
    id: &str,
    code: StatusCode,
    message: String,
) -> Result<Response, WebError> {
    page(state, session, id, Some(message), code).await
}

async fn refused_with(
    state: &AppState,
    session: &Session,
    id: &str,
    error: WebError,
) -> Result<Response, WebError> {
    match error {
        WebError::Page {
            status, message, ..
        } => refused(state, session, id, status, message).await,
        other => Err(other),
    }
}
