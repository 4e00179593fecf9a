//! The decisions around a permit's monitor (SPEC §7), as plans: who may post telemetry,
//! what a sample records and whether it opens the permit's rollback, what that rollback
//! and its events are, the revocation it brings, how a reported completion measures
//! against the SLA, and what an escalation names. The store loads a
//! [`MonitoredPermit`] and the permit's [`Rollback`] under the permit's lock, asks, and
//! writes the rows and typed events these return.

use serde::Serialize;
use serde_json::{Value, json};
use steward_audit::event::{
    EscalationTargets, PermitRevoked, RollbackCompleted, RollbackEscalated, RollbackNotify,
    RollbackOpened, TelemetryBreach, TelemetryRecorded,
};
use steward_audit::{Personal, Subject};
use steward_policy::{Level, Refusal, Role};

use super::{
    Breach, MonitorState, RollbackOutcome, Sample, TriggerConfig, TriggerKind, observe,
    rollback_escalation_roles, rollback_sla_minutes, rollback_within_sla,
};
use crate::constraints::PermitConstraints;
use crate::state::{PermitState, RevocationReason};

/// What monitoring needs of a permit, with its worker's parties.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitoredPermit {
    pub id: String,
    pub task_id: String,
    pub worker_id: String,
    pub requester_id: String,
    pub level: Level,
    pub state: PermitState,
    pub constraints: PermitConstraints,
    /// The worker's own principal, if it has one.
    pub worker_principal: Option<String>,
    pub worker_owner: String,
}

impl MonitoredPermit {
    /// The subject of the permit's events.
    pub fn subject(&self) -> Subject {
        Subject {
            task_id: Some(self.task_id.clone()),
            worker_id: Some(self.worker_id.clone()),
            permit_id: Some(self.id.clone()),
        }
    }

    /// The worker's own principal, its owner, or the permit's requester (a master).
    pub fn is_worker_side(&self, caller_id: &str) -> bool {
        self.worker_principal.as_deref() == Some(caller_id)
            || caller_id == self.worker_owner
            || caller_id == self.requester_id
    }
}

/// A rollback opened by a fired trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollback {
    pub id: String,
    pub permit_id: String,
    pub worker_id: String,
    pub level: Level,
    pub trigger: TriggerKind,
    /// The breach that fired: observed value, limit, window.
    pub breach: Value,
    pub sla_minutes: u32,
    pub opened_at_ms: i64,
    pub due_at_ms: i64,
    /// `open`, `succeeded` or `failed`.
    pub status: String,
    pub completed_at_ms: Option<i64>,
    pub completed_by: Option<String>,
    pub duration_ms: Option<i64>,
    pub within_sla: Option<bool>,
    pub notes: Option<String>,
    pub escalated_at_ms: Option<i64>,
    /// Whom the missed SLA was escalated to: `{"roles": [...], "principals": [...]}`.
    pub escalated_to: Option<Value>,
}

impl Rollback {
    /// Not yet reported.
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

/// Why a monitoring use case refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MonitorRefusal {
    /// The caller plays no part that allows this here.
    #[error("{message}")]
    NotAllowed { rule: Refusal, message: String },
    /// Telemetry is taken only for an active or executing permit.
    #[error(
        "permit `{permit_id}` is {state}: telemetry is taken only while it is active or executing"
    )]
    NotLive {
        permit_id: String,
        state: PermitState,
    },
    #[error("permit `{permit_id}` has no rollback: no trigger fired")]
    NoRollback { permit_id: String },
    #[error("the rollback of permit `{permit_id}` was already reported as {status}")]
    RollbackClosed { permit_id: String, status: String },
}

/// What one telemetry sample changes.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplePlan {
    pub triggers: TriggerConfig,
    /// The monitor after the sample.
    pub monitor: MonitorState,
    /// The sample's number for its permit.
    pub seq: i64,
    /// The triggers that fire on it.
    pub breaches: Vec<Breach>,
    /// `telemetry.recorded`, by the reporter.
    pub recorded: TelemetryRecorded,
}

/// A validated sample for `permit` from `caller_id` (an admin when `caller_is_admin`),
/// its monitor before it and the number of samples so far: allowed to the worker's side
/// and admins, for a live permit only; folds the sample into the monitor ([`observe`]).
pub fn plan_sample(
    permit: &MonitoredPermit,
    caller_id: &str,
    caller_is_admin: bool,
    (mut monitor, samples): (MonitorState, i64),
    sample: &Sample,
) -> Result<SamplePlan, MonitorRefusal> {
    if !permit.is_worker_side(caller_id) && !caller_is_admin {
        return Err(MonitorRefusal::NotAllowed {
            rule: Refusal::NotExecutor,
            message: format!(
                "only the worker of permit `{}`, its owner, the permit's requester or an admin may post its telemetry",
                permit.id
            ),
        });
    }
    if !matches!(permit.state, PermitState::Active | PermitState::Executing) {
        return Err(MonitorRefusal::NotLive {
            permit_id: permit.id.clone(),
            state: permit.state,
        });
    }
    let triggers = permit.constraints.triggers();
    let breaches = observe(&triggers, &mut monitor, sample);
    let seq = samples + 1;
    let recorded = TelemetryRecorded {
        error_rate: sample.error_rate,
        p99_ms: sample.latency_p99_ms,
        health: sample
            .health_ok
            .map(|ok| if ok { "ok" } else { "fail" }.to_owned()),
        seq,
        fired: breaches
            .iter()
            .map(|b| b.trigger.as_str().to_owned())
            .collect(),
    };
    Ok(SamplePlan {
        triggers,
        monitor,
        seq,
        breaches,
        recorded,
    })
}

/// The breach that opens the permit's rollback: the first that fired, when the permit
/// has no rollback yet (a permit has one rollback at most).
pub fn opening_breach(breaches: &[Breach], rollback: Option<&Rollback>) -> Option<Breach> {
    match (breaches.first(), rollback) {
        (Some(breach), None) => Some(*breach),
        _ => None,
    }
}

/// The rollback a breach opens and its two events, both by Steward.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRollbackPlan {
    pub rollback: Rollback,
    /// `telemetry.breach`, before the rollback.
    pub breach: TelemetryBreach,
    /// `rollback.opened`, naming the parties to notify.
    pub opened: RollbackOpened,
}

/// Opens `permit`'s rollback `rollback_id` for `breach`, reported by `reported_by`, with
/// the SLA of the permit's level; `approver_ids` are the permit's approvers, notified.
pub fn plan_open_rollback(
    permit: &MonitoredPermit,
    breach: &Breach,
    reported_by: &str,
    rollback_id: String,
    approver_ids: Vec<String>,
    now_ms: i64,
) -> OpenRollbackPlan {
    let sla_minutes = rollback_sla_minutes(permit.level);
    let sustained_seconds = breach.sustained_ms as f64 / 1000.0;
    let breach_json = json!({
        "trigger": breach.trigger,
        "observed": breach.observed,
        "limit": breach.limit,
        "window_seconds": breach.window_seconds,
        "since_ms": breach.since.millis(),
        "sustained_seconds": sustained_seconds,
    });
    let due_at_ms = now_ms + i64::from(sla_minutes) * 60_000;
    OpenRollbackPlan {
        breach: TelemetryBreach {
            trigger: breach.trigger.as_str().to_owned(),
            observed: breach.observed,
            limit: breach.limit,
            window_seconds: breach.window_seconds,
            since_ms: breach.since.millis(),
            sustained_seconds,
            reported_by: reported_by.to_owned(),
        },
        opened: RollbackOpened {
            rollback_id: rollback_id.clone(),
            trigger: breach.trigger.as_str().to_owned(),
            breach: breach_json.clone(),
            sla_minutes,
            due_at_ms: Some(due_at_ms),
            notify: RollbackNotify {
                requester_id: permit.requester_id.clone(),
                worker_owner_id: permit.worker_owner.clone(),
                approver_ids,
            },
        },
        rollback: Rollback {
            id: rollback_id,
            permit_id: permit.id.clone(),
            worker_id: permit.worker_id.clone(),
            level: permit.level,
            trigger: breach.trigger,
            breach: breach_json,
            sla_minutes,
            opened_at_ms: now_ms,
            due_at_ms,
            status: "open".to_owned(),
            completed_at_ms: None,
            completed_by: None,
            duration_ms: None,
            within_sla: None,
            notes: None,
            escalated_at_ms: None,
            escalated_to: None,
        },
    }
}

/// The revocation an open rollback brings its permit (`constraint_breach`, with the
/// breach as evidence); `None` once the rollback is reported.
pub fn breach_revocation(rollback: &Rollback) -> Option<(RevocationReason, PermitRevoked)> {
    if !rollback.is_open() {
        return None;
    }
    let reason = RevocationReason::ConstraintBreach;
    let breach = |member: &str| Some(rollback.breach.get(member).cloned().unwrap_or_default());
    let evidence = PermitRevoked {
        trigger: Some(rollback.trigger.as_str().to_owned()),
        observed: breach("observed"),
        limit: breach("limit"),
        window_seconds: breach("window_seconds"),
        rollback_id: Some(rollback.id.clone()),
        ..PermitRevoked::new(reason.as_str())
    };
    Some((reason, evidence))
}

/// A reported rollback: its measures, its event, and whether it escalates.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackCompletionPlan {
    pub duration_ms: i64,
    pub within_sla: bool,
    /// `rollback.completed`, by the reporter (the notes sealed for them).
    pub completed: RollbackCompleted,
    /// Past the SLA: escalate too, unless the sweep already did.
    pub escalate: bool,
}

/// The worker's side (`caller_id`) reports how `permit`'s rollback ended: refused to
/// anyone else, without a rollback, or once it was reported.
pub fn plan_rollback_completion(
    permit: &MonitoredPermit,
    caller_id: &str,
    rollback: Option<&Rollback>,
    outcome: RollbackOutcome,
    notes: Option<&str>,
    now_ms: i64,
) -> Result<RollbackCompletionPlan, MonitorRefusal> {
    if !permit.is_worker_side(caller_id) {
        return Err(MonitorRefusal::NotAllowed {
            rule: Refusal::NotExecutor,
            message: format!(
                "only the worker of permit `{}`, its owner or the permit's requester may report its rollback",
                permit.id
            ),
        });
    }
    let Some(rollback) = rollback else {
        return Err(MonitorRefusal::NoRollback {
            permit_id: permit.id.clone(),
        });
    };
    if !rollback.is_open() {
        return Err(MonitorRefusal::RollbackClosed {
            permit_id: permit.id.clone(),
            status: rollback.status.clone(),
        });
    }
    let duration_ms = (now_ms - rollback.opened_at_ms).max(0);
    let within_sla = rollback_within_sla(rollback.level, duration_ms);
    Ok(RollbackCompletionPlan {
        duration_ms,
        within_sla,
        completed: RollbackCompleted {
            rollback_id: rollback.id.clone(),
            outcome: outcome.as_str().to_owned(),
            opened_at_ms: rollback.opened_at_ms,
            completed_at_ms: Some(now_ms),
            duration_seconds: duration_ms as f64 / 1000.0,
            sla_minutes: rollback.sla_minutes,
            within_sla,
            sla_buffer_seconds: (rollback.due_at_ms - now_ms) as f64 / 1000.0,
            // The notes are the reporter's free text: stored encrypted for them.
            personal: Some(Personal::of(caller_id).plain("notes", json!(notes))),
        },
        escalate: !within_sla,
    })
}

/// `rollback.escalated` for `rollback` past its SLA (its status then: `open`, or how it
/// completed), escalated to the level's roles ([`rollback_escalation_roles`]), the
/// permit's requester, the worker's owner and the permit's approvers.
pub fn plan_rollback_escalation(
    permit: &MonitoredPermit,
    rollback: &Rollback,
    status: &str,
    approver_ids: Vec<String>,
    now_ms: i64,
) -> RollbackEscalated {
    RollbackEscalated {
        rollback_id: rollback.id.clone(),
        sla_minutes: rollback.sla_minutes,
        due_at_ms: rollback.due_at_ms,
        overdue_seconds: (now_ms - rollback.due_at_ms) as f64 / 1000.0,
        status: status.to_owned(),
        escalated_to: EscalationTargets {
            roles: rollback_escalation_roles(permit.level)
                .iter()
                .map(|r: &Role| r.as_str().to_owned())
                .collect(),
            requester_id: permit.requester_id.clone(),
            worker_owner_id: permit.worker_owner.clone(),
            approver_ids,
        },
    }
}

#[cfg(test)]
mod tests;
