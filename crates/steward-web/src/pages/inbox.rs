//! The approval inbox: permits under review, soonest SLA deadline first. Those the
//! signed-in person may decide now come first; the others say why not (segregation of
//! duties: you requested it, you own the worker; no eligible role; already decided).
//!
//! Whether a person may decide is asked of the pure approval rules
//! (`steward_permits::check_approver`), the same the use case enforces; the page only
//! shows the answer, the decision itself goes through `Store::decide_permit_as`.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use steward_permits::{
    ApprovalRefusal, Candidate, Decision, Parties, PermitState, PermitTimes, RecordedApproval,
    Timestamp, approval_due, approval_overdue, escalation_roles, quorum, request_expiry_due,
};
use steward_server::AppState;
use steward_store::{Permit, PermitFilter, PrincipalKind};

use super::{Layout, Names, WebError, now, own_worker_only, render};
use crate::session::Session;
use crate::view;

/// Permits read per page of the store while building the inbox.
const PAGE: u32 = 200;

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    layout: Layout,
    decide: Vec<Row>,
    others: Vec<Row>,
}

/// One permit in the inbox.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub task: String,
    pub score: String,
    pub level: u8,
    pub permit_type: String,
    pub requester: String,
    pub worker: String,
    pub approvals: String,
    pub roles_missing: String,
    pub cab: String,
    pub sla_deadline: String,
    pub sla_iso: String,
    pub sla_left: String,
    pub overdue: bool,
    pub escalation: String,
    /// The roles the person may decide under (empty: may not decide).
    pub may_decide_as: Vec<String>,
    /// Why the person may not decide, when they may not.
    pub why_not: String,
    deadline_ms: i64,
}

pub async fn inbox(State(state): State<AppState>, session: Session) -> Result<Response, WebError> {
    let own = own_worker_only(&state, &session.caller).await?;
    let filter = PermitFilter {
        state: Some(PermitState::UnderReview),
        worker_id: own,
        requester_id: None,
    };
    let mut permits = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = state
            .store
            .list_permits(&filter, after.as_deref(), PAGE)
            .await
            .map_err(WebError::internal)?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|p| p.id.clone());
        permits.extend(page);
        if !full {
            break;
        }
    }
    let now = now(&state);
    let mut decide = Vec::new();
    let mut others = Vec::new();
    let mut names = Names::default();
    for permit in permits {
        let row = row(&state, &session, &permit, now, &mut names).await?;
        if row.may_decide_as.is_empty() {
            others.push(row);
        } else {
            decide.push(row);
        }
    }
    decide.sort_by_key(|r| r.deadline_ms);
    others.sort_by_key(|r| r.deadline_ms);
    Ok(render(
        StatusCode::OK,
        &InboxPage {
            layout: Layout::new("Approval inbox", Some(&session), "inbox"),
            decide,
            others,
        },
    ))
}

/// The task's description, or its id.
pub fn task_title(permit: &Permit) -> String {
    permit
        .task
        .get("description")
        .and_then(|d| d.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| permit.task_id.clone())
}

/// The permit's risk score out of 50.
pub fn score(permit: &Permit) -> String {
    permit.analysis.as_ref().map_or_else(
        || "unknown".to_owned(),
        |a| format!("{}/50", a.risk_assessment.total_risk_score),
    )
}

pub async fn row(
    state: &AppState,
    session: &Session,
    permit: &Permit,
    now: i64,
    names: &mut Names,
) -> Result<Row, WebError> {
    let parties = state
        .store
        .permit_parties(&permit.id)
        .await
        .map_err(WebError::internal)?
        .ok_or_else(|| WebError::not_found(format!("permit `{}` not found", permit.id)))?;
    let requirements = &permit.requirements;
    let this_round: Vec<&steward_store::ApprovalRecord> = permit
        .approvals
        .iter()
        .filter(|a| a.round == permit.round)
        .collect();
    let recorded: Vec<RecordedApproval> = this_round
        .iter()
        .map(|a| RecordedApproval {
            principal_id: a.principal_id.clone(),
            role: a.role,
        })
        .collect();
    let approved: Vec<RecordedApproval> = this_round
        .iter()
        .filter(|a| a.decision == Decision::Approve)
        .map(|a| RecordedApproval {
            principal_id: a.principal_id.clone(),
            role: a.role,
        })
        .collect();
    let status = quorum(requirements, &approved, permit.cab_signed_off);
    let distinct = {
        let mut ids: Vec<&str> = approved.iter().map(|a| a.principal_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    let principal = session.caller.principal();
    let candidate = Candidate {
        principal_id: principal.id.clone(),
        human: principal.kind == PrincipalKind::Human,
        roles: principal.roles.clone(),
    };
    let parties = Parties {
        requester: parties.requester_id.clone(),
        worker_id: parties
            .worker_principal_id
            .clone()
            .unwrap_or_else(|| parties.worker_id.clone()),
        worker_owner: parties.owner_id.clone(),
    };
    let mut may = Vec::new();
    let mut refusals = Vec::new();
    for role in principal.roles.iter().filter(|r| r.is_approver()) {
        match steward_permits::check_approver(requirements, &parties, &candidate, *role, &recorded)
        {
            Ok(()) => may.push(role.as_str().to_owned()),
            Err(refusal) => refusals.push(refusal),
        }
    }
    let why_not = if may.is_empty() {
        explain(&refusals, principal.roles.iter().any(|r| r.is_approver()))
    } else {
        String::new()
    };
    let times = PermitTimes {
        state: permit.state,
        requested_at: Timestamp(permit.created_at_ms),
        approval_sla_hours: requirements.max_approval_time_hours,
        expires_at: permit.expires_at_ms.map(Timestamp),
    };
    let due = approval_due(
        Timestamp(permit.created_at_ms),
        requirements.max_approval_time_hours,
    );
    let deadline_ms = due.map_or(i64::MAX, |t| t.0);
    let overdue = approval_overdue(&times, Timestamp(now));
    let escalation = if overdue {
        let expiry = request_expiry_due(
            Timestamp(permit.created_at_ms),
            requirements.max_approval_time_hours,
        );
        format!(
            "Overdue: escalated to {}{}",
            escalation_roles(permit.level)
                .iter()
                .map(|r| view::words(r.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
            expiry.map_or_else(String::new, |e| format!(
                "; the request expires {}",
                view::relative(e.0, now)
            ))
        )
    } else {
        "Within the SLA".to_owned()
    };
    Ok(Row {
        id: permit.id.clone(),
        task: task_title(permit),
        score: score(permit),
        level: permit.level.value(),
        permit_type: view::words(permit.permit_type.as_str()),
        requester: names.of(state, &permit.requester_id).await,
        worker: permit.worker_id.clone(),
        approvals: format!(
            "{distinct} of {}",
            if requirements.auto_approve {
                0
            } else {
                requirements.approvers_required
            }
        ),
        roles_missing: status
            .roles_missing
            .iter()
            .map(|r| view::words(r.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        cab: if !requirements.change_advisory_board_required {
            "not needed".to_owned()
        } else if permit.cab_signed_off {
            "signed off".to_owned()
        } else {
            "awaiting sign-off".to_owned()
        },
        sla_deadline: due.map_or_else(|| "none".to_owned(), |t| view::date(t.0)),
        sla_iso: due.map_or_else(String::new, |t| view::iso(t.0)),
        sla_left: due.map_or_else(String::new, |t| view::relative(t.0, now)),
        overdue,
        escalation,
        may_decide_as: may,
        why_not,
        deadline_ms,
    })
}

/// Why a person may decide on none of their roles, segregation of duties first.
fn explain(refusals: &[ApprovalRefusal], approver: bool) -> String {
    if !approver {
        return "You hold no approver role.".to_owned();
    }
    let any = |f: fn(&ApprovalRefusal) -> bool| refusals.iter().any(f);
    if any(|r| matches!(r, ApprovalRefusal::Requester { .. })) {
        return "Segregation of duties: you requested it.".to_owned();
    }
    if any(|r| matches!(r, ApprovalRefusal::WorkerOwner { .. })) {
        return "Segregation of duties: you own the worker.".to_owned();
    }
    if any(|r| matches!(r, ApprovalRefusal::Executor { .. })) {
        return "Segregation of duties: you are the worker.".to_owned();
    }
    if any(|r| matches!(r, ApprovalRefusal::NotHuman { .. })) {
        return "Only people approve permits.".to_owned();
    }
    if any(|r| matches!(r, ApprovalRefusal::AlreadyApproved { .. })) {
        return "You already decided on this permit.".to_owned();
    }
    "None of your roles may approve this permit.".to_owned()
}
