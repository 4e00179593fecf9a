//! A permit request (SPEC §6.1–§6.3), decided in two pure steps: [`admit_request`] checks
//! the request on its own (a permit is needed, the window, evidence, scope, rollback
//! plan), before the store takes any lock; [`plan_request`] then decides, with the
//! worker's standing read under its lock, the hard blocks, auto-approval and the issue.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use steward_audit::event::{PermitApproved, PermitRequested, PermitReviewStarted, TaskFacts};
use steward_policy::{
    Analysis, Evidence, Level, PermitType, Policy, Task, WorkerStanding, hard_blocks_for_worker,
};

use crate::constraints::{ConstraintChoices, PermitConstraints};
use crate::evidence::{missing_evidence, provided_evidence};
use crate::plan::{By, Lifecycle, PermitRefusal, PlannedEvent, issue_if_due, transition};
use crate::rollback_plan::validate_rollback_plan;
use crate::scope::missing_scope;
use crate::state::{PermitEvent, PermitState};
use crate::time::Timestamp;
use crate::window::validity;

/// What a permit request carries, as the store hands it over.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub policy: &'a Policy,
    /// Steward's analysis of the task (never the requester's).
    pub analysis: &'a Analysis,
    pub evidence: &'a BTreeMap<Evidence, Value>,
    pub requested_hours: Option<f64>,
    pub operations: &'a [String],
    pub services: &'a [String],
    pub now: Timestamp,
}

/// A request that passed [`admit_request`]: what the permit will be.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    pub permit_type: PermitType,
    /// The analysis's required level, raised to the permit type's own.
    pub level: Level,
    /// The validity window in hours.
    pub hours: f64,
    /// The evidence kinds actually provided (empty values do not count).
    pub provided: BTreeSet<Evidence>,
}

/// The checks a request passes on its own, in this order (the first failing one is the
/// answer): a permit is needed, the window is one the type allows, the evidence its level
/// requires is provided, from level 2 the task names its operations and services, and the
/// rollback plan meets the level.
pub fn admit_request(facts: &RequestFacts<'_>) -> Result<Admitted, PermitRefusal> {
    let analysis = facts.analysis;
    let required_level = analysis.certification_decision.certification_level_required;
    let Some(permit_type) = analysis.approval_requirements.permit_type else {
        return Err(PermitRefusal::NotRequired {
            level: required_level,
            environment: analysis.environment_detected,
        });
    };
    let spec = facts.policy.permit_type(permit_type);
    let hours = validity(spec, facts.requested_hours).map_err(PermitRefusal::Window)?;
    let provided = provided_evidence(facts.evidence);
    let missing = missing_evidence(&analysis.approval_requirements.evidence_required, &provided);
    if !missing.is_empty() {
        return Err(PermitRefusal::MissingEvidence {
            level: required_level,
            missing,
        });
    }
    let level = required_level.max(spec.level);
    let missing = missing_scope(level, facts.operations, facts.services);
    if !missing.is_empty() {
        return Err(PermitRefusal::MissingScope { level, missing });
    }
    check_rollback_plan(level, facts.evidence, facts.now)?;
    Ok(Admitted {
        permit_type,
        level,
        hours,
        provided,
    })
}

/// The rollback plan in `evidence` meets `level` (`validate_rollback_plan`).
pub fn check_rollback_plan(
    level: Level,
    evidence: &BTreeMap<Evidence, Value>,
    now: Timestamp,
) -> Result<(), PermitRefusal> {
    let problems = validate_rollback_plan(level, evidence, now);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PermitRefusal::InvalidRollbackPlan { level, problems })
    }
}

/// What [`plan_request`] needs besides the admitted request.
#[derive(Debug, Clone, Copy)]
pub struct RequestSnapshot<'a> {
    pub admitted: &'a Admitted,
    pub analysis: &'a Analysis,
    /// The task as requested (its description is summarised in `permit.requested`).
    pub task: &'a Value,
    /// The task parsed, for the constraints.
    pub scope: &'a Task,
    pub policy: &'a Policy,
    pub worker_id: &'a str,
    /// The worker's standing, read under its row lock.
    pub worker: WorkerStanding,
    pub window_start: Option<Timestamp>,
    /// What the requester chose of the constraints.
    pub choices: &'a ConstraintChoices,
    pub now: Timestamp,
}

/// A new permit's plan: its constraints (SPEC §6.4), its lifecycle after the request and the events to append after
/// inserting it (`permit.requested`, `permit.review_started`, and for an auto-approved
/// permit `permit.approved` and, once its window began, `permit.issued`).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPlan {
    pub constraints: PermitConstraints,
    pub lifecycle: Lifecycle,
    pub events: Vec<PlannedEvent>,
}

/// Whether a permit with these requirements is approved without a person: read-only
/// access with no sensitive data (`auto_approve`) for a worker holding level 1 or more
/// (SPEC §3.4).
pub fn auto_approves(auto_approve: bool, worker: WorkerStanding) -> bool {
    auto_approve && worker.level >= Level::BASIC
}

/// Decides a request the worker's standing allows: refuses its hard blocks, otherwise
/// starts the review and, for an auto-approved permit, approves and issues it.
pub fn plan_request(snapshot: &RequestSnapshot<'_>) -> Result<RequestPlan, PermitRefusal> {
    let mut checked = snapshot.analysis.clone();
    hard_blocks_for_worker(&mut checked, snapshot.worker);
    if !checked.safety_checks.hard_blocks.is_empty() {
        return Err(PermitRefusal::HardBlocks(checked.safety_checks.hard_blocks));
    }
    let admitted = snapshot.admitted;
    let analysis = snapshot.analysis;
    let constraints = PermitConstraints::for_task(
        snapshot.policy,
        snapshot.scope,
        analysis,
        snapshot.worker_id,
        admitted.level,
        snapshot.choices.clone(),
    );
    let mut life = Lifecycle {
        state: PermitState::Requested,
        valid_from: None,
        expires_at: None,
        renewals: 0,
        total_hours: admitted.hours,
    };
    let requested = PermitRequested {
        permit_type: admitted.permit_type.to_string(),
        level: admitted.level.value(),
        total_risk_score: analysis.risk_assessment.total_risk_score,
        policy_version: analysis.policy_version.clone(),
        evidence: Some(admitted.provided.iter().map(|e| e.to_string()).collect()),
        hours: admitted.hours,
        window_start_ms: Some(snapshot.window_start.map(Timestamp::millis)),
        emergency_id: None,
        task: Some(task_facts(snapshot.task, analysis)),
    };
    let mut events = vec![PlannedEvent::record(By::Caller, requested)];
    events.push(transition(
        &mut life.state,
        PermitEvent::StartReview,
        By::Caller,
        PermitReviewStarted::default(),
    )?);
    if auto_approves(analysis.approval_requirements.auto_approve, snapshot.worker) {
        let approved = PermitApproved {
            auto_approved: Some(true),
            reason: Some(
                "read-only access, no sensitive data, worker holds level 1 or more".to_owned(),
            ),
            ..PermitApproved::default()
        };
        events.push(transition(
            &mut life.state,
            PermitEvent::QuorumMet,
            By::System,
            approved,
        )?);
        events.extend(issue_if_due(
            &mut life,
            snapshot.window_start,
            &constraints,
            snapshot.now,
        )?);
    }
    Ok(RequestPlan {
        constraints,
        lifecycle: life,
        events,
    })
}

/// What a compliance report needs to know of a permit's task, recorded with its request
/// (`permit.requested`'s `data.task`): its description and the scope facts of its
/// analysis (frameworks named, sensitive data kinds, risky operations, environment). The
/// task is operational text (SPEC §2), shown to approvers already; no personal value.
pub fn task_facts(task: &Value, analysis: &Analysis) -> TaskFacts {
    const SUMMARY_CHARS: usize = 200;
    let summary = task
        .get("description")
        .and_then(Value::as_str)
        .map(|text| text.chars().take(SUMMARY_CHARS).collect::<String>());
    let signals = &analysis.signals;
    TaskFacts {
        summary,
        environment: Value::from(analysis.environment_detected.as_str()),
        compliance_frameworks: signals
            .compliance_frameworks
            .iter()
            .map(|f| f.to_string())
            .collect(),
        sensitive_data: signals
            .sensitive_data
            .iter()
            .map(|k| k.to_string())
            .collect(),
        risky_operations: signals
            .risky_operations
            .iter()
            .map(|o| o.to_string())
            .collect(),
    }
}

#[cfg(test)]
mod tests;
