//! Permits (SPEC §6): request → review → approvals → issue → start → complete → close,
//! plus changes requested, rejection, renewal, revocation and archiving.
//!
//! Each public method is one use case and one transaction. It loads the permit under a
//! lock (PostgreSQL `SELECT … FOR UPDATE`; on SQLite every write transaction already holds
//! the database write lock), asks the pure crates what may happen (`steward_permits::apply`
//! for every state change, `check_approver` and `quorum` for decisions), writes the new
//! row with an optimistic version check, and appends its audit events in the same
//! transaction. A refusal writes nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use steward_audit::event::PermitRevoked;
use steward_audit::{Actor, ActorKind, Subject};
use steward_permits::{
    ApprovalRefusal, By, Candidate, CastDecision, Channel, CloseSnapshot, Completion, Decision,
    DecisionNote, Lifecycle, Outcome, Parties, PermitRefusal, PermitState, PlannedEvent,
    RecordedApproval, RenewalSnapshot, RequestFacts, RequestSnapshot, ResubmitSnapshot, ReviewPlan,
    ReviewSnapshot, RevocationReason, ScopeField, TransitionError, WindowError, admit_request,
    check_approver, check_cab_role, executor_or_requester, may_revoke, plan_archive,
    plan_cab_sign_off, plan_close, plan_complete, plan_decision, plan_renewal, plan_request,
    plan_resubmit, plan_revoke, plan_start, requester_or_admin, revocation_by,
};
use steward_permits::{
    ConstraintChoices, PermitConstraints, PermitTimes, PlanProblem, Timestamp, approval_overdue,
};
use steward_policy::{
    Analysis, ApprovalRequirements, Block, Evidence, Level, PermitType, Policy, Refusal, Role,
    Task, WorkerStanding,
};

use crate::audit::{NewEvent, append_event};
use crate::caller::Caller;
use crate::error::StoreError;
use crate::personal::PersonalText;
use crate::store::{Pool, Store, Tx, TxConn, in_pool, new_id};

mod emergency;
mod row;
mod timers;

pub use emergency::{
    Emergency, EmergencyActionError, EmergencyApproval, EmergencyFilter, EmergencyReview,
    EmergencySweep, NewEmergency,
};

use row::WorkerParties;

/// A permit request as the server hands it over: the task, Steward's own analysis of it
/// (never the requester's), the worker, and the evidence.
#[derive(Debug, Clone)]
pub struct NewPermit {
    pub task: Value,
    pub analysis: Analysis,
    pub worker_id: String,
    pub evidence: BTreeMap<Evidence, Value>,
    /// Validity in hours; the permit type's default when `None`.
    pub requested_hours: Option<f64>,
    /// A later start for the window; the permit is issued at once when `None` or past.
    pub window_start_ms: Option<i64>,
    /// The task parsed: its operations and services (from level 2 up each must name
    /// something, `steward_permits::missing_scope`) and the rest of the permit's scope.
    pub scope: Task,
    /// What the requester chose of the permit's constraints (SPEC §6.4); the request's
    /// plan builds them.
    pub choices: ConstraintChoices,
}

/// One approver's decision.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub decision: Decision,
    pub role: Role,
    pub channel: Channel,
    /// The approver's free text: personal, sealed in the event.
    pub comment: Option<PersonalText>,
    pub conditions: Value,
}

/// A permit as stored, with the approvals of its current round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Permit {
    pub id: String,
    pub task_id: String,
    pub permit_type: PermitType,
    pub level: Level,
    pub worker_id: String,
    pub requester_id: String,
    pub state: PermitState,
    pub policy_version: String,
    pub requirements: ApprovalRequirements,
    pub evidence: Value,
    pub constraints: PermitConstraints,
    pub requested_window_start_ms: Option<i64>,
    pub valid_from_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub renewals: u32,
    pub total_hours: f64,
    pub outcome: Option<Outcome>,
    pub revocation_reason: Option<RevocationReason>,
    /// How it was revoked, once it was: when, by whom, its audit event, and Steward's
    /// evidence for its own revocations.
    pub revocation: Option<PermitRevocation>,
    pub audit_summary: Option<Value>,
    pub cab_signed_off: bool,
    pub round: u32,
    pub pending_renewal: Option<PendingRenewal>,
    pub approvals: Vec<ApprovalRecord>,
    pub task: Value,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    #[serde(skip)]
    pub(crate) version: i64,
    /// Steward's analysis of the task at request time (factors, floors, requirements),
    /// for pages that explain a permit; not part of the permit's JSON.
    #[serde(skip)]
    pub analysis: Option<std::sync::Arc<Analysis>>,
}

/// How and why a permit was revoked, kept on the permit so whoever waits on it or reads
/// it learns the cause without reading the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermitRevocation {
    pub reason: RevocationReason,
    pub revoked_at_ms: i64,
    /// The revoker's principal id; `steward` for Steward's own revocations (a scope
    /// violation, a breach, expiry).
    pub revoked_by: String,
    /// The `seq` of the `permit.revoked` event.
    pub audit_seq: u64,
    /// What Steward saw when it revoked on its own authority: for a scope violation the
    /// `rule` and the `operation` that violated the permit's scope; for a breach the
    /// trigger, the reading and the limit; for expiry the time. Never personal values: a
    /// revoker's comment stays sealed in the audit event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
}

impl PermitRevocation {
    /// The revocation recorded by `entry`, a `permit.revoked` event whose data is
    /// `data` (as given to the event, before sealing): the evidence is that data without
    /// the members every revocation event has and without personal values.
    pub(crate) fn recorded(
        reason: RevocationReason,
        actor: &Actor,
        data: &Value,
        audit_seq: u64,
        now_ms: i64,
    ) -> PermitRevocation {
        let evidence = data.as_object().map(|map| {
            map.iter()
                .filter(|(key, _)| !matches!(key.as_str(), "reason" | "from" | "to" | "personal"))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect::<serde_json::Map<String, Value>>()
        });
        PermitRevocation {
            reason,
            revoked_at_ms: now_ms,
            revoked_by: actor.id.clone(),
            audit_seq,
            evidence: evidence.filter(|e| !e.is_empty()).map(Value::Object),
        }
    }
}

pub use steward_permits::{PendingRenewal, RenewalApprovalRecord};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRecord {
    pub id: String,
    pub principal_id: String,
    pub role: Role,
    pub decision: Decision,
    pub channel: Channel,
    pub comment: Option<String>,
    pub conditions: Value,
    pub round: u32,
    pub created_at_ms: i64,
}

/// Who has a part in a permit ([`Store::permit_parties`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PermitParties {
    pub requester_id: String,
    pub worker_id: String,
    /// The owner of the permit's worker.
    pub owner_id: String,
    /// The agent identity of the permit's worker, if it has one.
    pub worker_principal_id: Option<String>,
}

/// Filters for listing permits; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct PermitFilter {
    pub state: Option<PermitState>,
    pub worker_id: Option<String>,
    pub requester_id: Option<String>,
}

/// Why a permit use case refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum PermitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The permit's state does not allow the action.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The approver may not decide on this permit (roles, segregation of duties).
    #[error(transparent)]
    Approval(#[from] ApprovalRefusal),
    #[error("missing evidence for a level-{level} permit: {}", names(.missing))]
    MissingEvidence {
        level: Level,
        missing: Vec<Evidence>,
    },
    /// A level-2+ request that does not name the operations or services it covers: no
    /// list in a permit ever means "anything".
    #[error("a level-{level} permit must name what it covers: the task lacks {}", .missing.iter().map(|f| format!("`task.{f}`")).collect::<Vec<_>>().join(" and "))]
    MissingScope {
        level: Level,
        missing: Vec<ScopeField>,
    },
    #[error("the worker may not run this task: {}", .0.iter().map(|b| b.message.as_str()).collect::<Vec<_>>().join("; "))]
    HardBlocks(Vec<Block>),
    #[error("this task needs no permit: it requires level {level} in {environment}")]
    NotRequired { level: Level, environment: String },
    #[error(transparent)]
    Window(#[from] WindowError),
    /// The caller is authenticated but plays no part that allows this action here.
    #[error("{message}")]
    NotAllowed { rule: Refusal, message: String },
    #[error("{message}")]
    OutsideWindow { message: String },
    /// The rollback plan (or its tested / rehearsed dates) does not meet the level's rules
    /// (SPEC §7); every problem names its JSON path.
    #[error("the rollback plan does not meet level {level}: {}", .problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>().join("; "))]
    InvalidRollbackPlan {
        level: Level,
        problems: Vec<PlanProblem>,
    },
    /// A completed-operation report lacks fields its level requires.
    #[error("the completed-operation report of a level-{level} permit lacks: {}", .missing.join(", "))]
    IncompleteReport { level: Level, missing: Vec<String> },
}

impl Permit {
    /// The parts of the permit its lifecycle changes, as the pure plans take them.
    pub(crate) fn lifecycle(&self) -> Lifecycle {
        Lifecycle {
            state: self.state,
            valid_from: self.valid_from_ms.map(Timestamp),
            expires_at: self.expires_at_ms.map(Timestamp),
            renewals: self.renewals,
            total_hours: self.total_hours,
        }
    }

    /// The stored times its timers are due from, as `steward_permits::permit_timers` and
    /// `approval_overdue` take them.
    pub(crate) fn times(&self) -> PermitTimes {
        PermitTimes {
            state: self.state,
            requested_at: Timestamp(self.created_at_ms),
            approval_sla_hours: self.requirements.max_approval_time_hours,
            expires_at: self.expires_at_ms.map(Timestamp),
        }
    }

    /// Takes a plan's lifecycle.
    pub(crate) fn set_lifecycle(&mut self, life: Lifecycle) {
        self.state = life.state;
        self.valid_from_ms = life.valid_from.map(Timestamp::millis);
        self.expires_at_ms = life.expires_at.map(Timestamp::millis);
        self.renewals = life.renewals;
        self.total_hours = life.total_hours;
    }
}

impl From<PermitRefusal> for PermitError {
    fn from(refusal: PermitRefusal) -> Self {
        match refusal {
            PermitRefusal::NotRequired { level, environment } => PermitError::NotRequired {
                level,
                environment: environment.to_string(),
            },
            PermitRefusal::Window(e) => PermitError::Window(e),
            PermitRefusal::MissingEvidence { level, missing } => {
                PermitError::MissingEvidence { level, missing }
            }
            PermitRefusal::MissingScope { level, missing } => {
                PermitError::MissingScope { level, missing }
            }
            PermitRefusal::InvalidRollbackPlan { level, problems } => {
                PermitError::InvalidRollbackPlan { level, problems }
            }
            PermitRefusal::HardBlocks(blocks) => PermitError::HardBlocks(blocks),
            PermitRefusal::Transition(e) => PermitError::Transition(e),
            PermitRefusal::Approval(e) => PermitError::Approval(e),
            PermitRefusal::EmergencyPath => PermitError::not_allowed(
                Refusal::EmergencyPath,
                "an emergency permit is decided and renewed through its emergency, not the permit workflow",
            ),
            PermitRefusal::NotAllowed { rule, message } => {
                PermitError::NotAllowed { rule, message }
            }
            PermitRefusal::OutsideWindow { message } => PermitError::OutsideWindow { message },
            PermitRefusal::IncompleteReport { level, missing } => {
                PermitError::IncompleteReport { level, missing }
            }
        }
    }
}

fn names(list: &[Evidence]) -> String {
    list.iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl PermitError {
    fn not_allowed(rule: Refusal, message: impl Into<String>) -> PermitError {
        PermitError::NotAllowed {
            rule,
            message: message.into(),
        }
    }
}

/// [`Store::revoke_permit_by_system`] inside `tx`, for a use case whose own change and the
/// revocation must commit together (a fired monitoring trigger).
pub(crate) async fn revoke_by_system_in(
    tx: &mut Tx<'_>,
    permit_id: &str,
    reason: RevocationReason,
    evidence: PermitRevoked,
    now_ms: i64,
) -> Result<Permit, PermitError> {
    let mut permit = row::load_permit(tx, permit_id, true).await?;
    let Some((life, revoked)) = plan_revoke(permit.lifecycle(), reason, By::System, evidence)?
    else {
        return Ok(permit);
    };
    permit.set_lifecycle(life);
    write_events(tx, &mut permit, &system_actor(), vec![revoked], now_ms).await?;
    row::update_permit(tx, &mut permit, now_ms, false).await?;
    Ok(permit)
}

/// Steward itself, for automatic steps (auto-approval, issue at window start, system
/// revocations).
pub(crate) fn system_actor() -> Actor {
    Actor {
        kind: ActorKind::System,
        id: "steward".into(),
        roles: Vec::new(),
        channel: None,
    }
}

impl Store {
    /// Requests a permit: refuses hard blocks, tasks that need none, missing evidence,
    /// and (from level 2) a task that names no operations or no services;
    /// otherwise creates it and starts its review. A level-1 read-only permit for a worker
    /// holding level ≥ 1 is approved and issued at once (SPEC §3.4).
    pub async fn request_permit(
        &self,
        by: &Caller,
        new: NewPermit,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let analysis = &new.analysis;
        let admitted = admit_request(&RequestFacts {
            policy,
            analysis,
            evidence: &new.evidence,
            requested_hours: new.requested_hours,
            operations: new.scope.operations(),
            services: &new.scope.services_affected,
            now: Timestamp(now_ms),
        })?;

        let mut tx = self.begin().await?;
        let worker = row::worker_parties(&mut tx, &new.worker_id, true).await?;
        let plan = plan_request(&RequestSnapshot {
            admitted: &admitted,
            analysis,
            task: &new.task,
            scope: &new.scope,
            policy,
            worker_id: &new.worker_id,
            worker: WorkerStanding {
                level: worker.level,
                status: worker.status,
            },
            window_start: new.window_start_ms.map(Timestamp),
            choices: &new.choices,
            now: Timestamp(now_ms),
        })?;

        let task_id = analysis
            .task_id
            .clone()
            .unwrap_or_else(|| format!("task-{}", new_id()));
        let mut permit = Permit {
            id: new_id(),
            task_id,
            permit_type: admitted.permit_type,
            level: admitted.level,
            worker_id: new.worker_id.clone(),
            requester_id: by.id.clone(),
            state: PermitState::Requested,
            policy_version: analysis.policy_version.clone(),
            requirements: analysis.approval_requirements.clone(),
            evidence: serde_json::to_value(&new.evidence).unwrap_or(Value::Null),
            constraints: plan.constraints,
            requested_window_start_ms: new.window_start_ms,
            valid_from_ms: None,
            expires_at_ms: None,
            renewals: 0,
            total_hours: admitted.hours,
            outcome: None,
            revocation_reason: None,
            revocation: None,
            audit_summary: None,
            cab_signed_off: false,
            round: 1,
            pending_renewal: None,
            approvals: Vec::new(),
            task: new.task.clone(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            version: 1,
            analysis: Some(std::sync::Arc::new(new.analysis.clone())),
        };
        // Inserted as the plan leaves it: a new permit is written once.
        permit.set_lifecycle(plan.lifecycle);
        row::insert_permit(&mut tx, &permit, &new.analysis, true).await?;
        write_events(&mut tx, &mut permit, &by.actor(), plan.events, now_ms).await?;
        tx.commit().await?;
        Ok(permit)
    }

    /// Records an approver's decision. Approve counts towards the quorum and, when it is
    /// met, approves and (at its window start) issues the permit; reject is final;
    /// request changes sends it back to the requester.
    pub async fn decide_permit(
        &self,
        by: &Caller,
        permit_id: &str,
        decision: NewDecision,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let (mut permit, worker) = row::load_with_worker(&mut tx, permit_id, true).await?;
        let parties = parties(&permit, &worker);
        let cast = cast_decisions(&permit);
        let plan = plan_decision(
            &review_snapshot(&permit, &parties, &worker, &cast, now_ms),
            &candidate(by),
            decision.decision,
            decision.role,
            DecisionNote {
                channel: decision.channel,
                conditions: &decision.conditions,
                comment: decision.comment.as_ref(),
            },
        )
        .map_err(|r| refused(&permit, "decided", r))?;
        let record = ApprovalRecord {
            id: new_id(),
            principal_id: by.id.clone(),
            role: decision.role,
            decision: decision.decision,
            channel: decision.channel,
            comment: decision.comment.clone().map(PersonalText::into_column),
            conditions: decision.conditions.clone(),
            round: permit.round,
            created_at_ms: now_ms,
        };
        row::insert_approval(&mut tx, &permit.id, &record, true).await?;
        permit.approvals.push(record);
        let events = review(&mut permit, plan);
        save_events(tx, permit, &by.actor(), events, now_ms).await
    }

    /// Records the change-advisory-board sign-off a level-4 permit needs, then issues the
    /// permit if that completes its quorum.
    pub async fn cab_sign_off(
        &self,
        by: &Caller,
        permit_id: &str,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let who = candidate(by);
        check_cab_role(&who)?;
        let mut tx = self.begin().await?;
        let (mut permit, worker) = row::load_with_worker(&mut tx, permit_id, true).await?;
        let parties = parties(&permit, &worker);
        let cast = cast_decisions(&permit);
        let plan = plan_cab_sign_off(
            &review_snapshot(&permit, &parties, &worker, &cast, now_ms),
            &who,
            &permit.id,
        )?;
        if plan.events.is_empty() {
            return Ok(permit);
        }
        let events = review(&mut permit, plan);
        save_events(tx, permit, &by.actor(), events, now_ms).await
    }

    /// Resubmits a permit whose changes were requested: new evidence, a new round, and
    /// every approval (and the CAB sign-off) reset.
    pub async fn resubmit_permit(
        &self,
        by: &Caller,
        permit_id: &str,
        evidence: BTreeMap<Evidence, Value>,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        let snap = ResubmitSnapshot {
            permit_id: &permit.id,
            life: permit.lifecycle(),
            level: permit.level,
            requirements: &permit.requirements,
            requester_id: &permit.requester_id,
            round: permit.round,
            now: Timestamp(now_ms),
        };
        let (life, resubmitted) = plan_resubmit(&snap, &candidate(by), &evidence)?;
        permit.set_lifecycle(life);
        permit.evidence = serde_json::to_value(&evidence).unwrap_or(Value::Null);
        permit.round += 1;
        permit.cab_signed_off = false;
        permit.approvals.clear();
        save_events(tx, permit, &by.actor(), vec![resubmitted], now_ms).await
    }

    /// The worker (or its requester) starts executing an active permit inside its window.
    pub async fn start_permit(
        &self,
        by: &Caller,
        permit_id: &str,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let (mut permit, worker) = load_for_executor(&mut tx, by, permit_id, "start").await?;
        let (life, started) = plan_start(
            permit.lifecycle(),
            worker.status,
            &permit.id,
            Timestamp(now_ms),
        )?;
        permit.set_lifecycle(life);
        save_events(tx, permit, &by.actor(), vec![started], now_ms).await
    }

    /// Records how the execution ended.
    pub async fn complete_permit(
        &self,
        by: &Caller,
        permit_id: &str,
        outcome: Outcome,
        report: Value,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let (mut permit, _) = load_for_executor(&mut tx, by, permit_id, "complete").await?;
        // Steward adds what it knows itself to the worker's report.
        let done = Completion {
            worker_id: &permit.worker_id,
            decisions: &timed_decisions(&permit),
            started_at: Timestamp(permit.updated_at_ms),
            now: Timestamp(now_ms),
        };
        let (life, completed) =
            plan_complete(permit.lifecycle(), permit.level, outcome, &report, done)?;
        permit.set_lifecycle(life);
        permit.outcome = Some(outcome);
        save_events(tx, permit, &by.actor(), vec![completed], now_ms).await
    }

    /// Closes a completed permit with its audit summary: what was performed, whether the
    /// constraints held, and the approvals verified against the quorum. Outcome feedback
    /// (SPEC §10): `actual_level` is the risk the closer observed, if given. The
    /// `permit.closed` event records it with the verdict against the permit's level:
    /// `over_certified` (actual below the level required), `under_certified` (above) or
    /// `matched`; `/metrics` counts these.
    pub async fn close_permit_with_feedback(
        &self,
        by: &Caller,
        permit_id: &str,
        notes: Value,
        actual_level: Option<Level>,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        requester_or_admin(&permit.requester_id, &candidate(by), &permit.id, "close")?;
        let decisions = timed_decisions(&permit);
        let operations = permit.task.get("operations").cloned().unwrap_or(json!([]));
        let (life, summary, closed) = plan_close(
            &CloseSnapshot {
                life: permit.lifecycle(),
                level: permit.level,
                requirements: &permit.requirements,
                decisions: &decisions,
                cab_signed_off: permit.cab_signed_off,
                operations: &operations,
                outcome: permit.outcome,
                revoked: permit.revocation_reason.is_some(),
            },
            notes,
            actual_level,
        )?;
        permit.set_lifecycle(life);
        permit.audit_summary = Some(summary);
        save_events(tx, permit, &by.actor(), vec![closed], now_ms).await
    }

    /// Revokes a live permit (terminal, idempotent: revoking a revoked permit changes
    /// nothing and records nothing).
    pub async fn revoke_permit(
        &self,
        by: &Caller,
        permit_id: &str,
        reason: RevocationReason,
        comment: Option<PersonalText>,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        let approvers: Vec<&str> = permit
            .approvals
            .iter()
            .map(|a| a.principal_id.as_str())
            .collect();
        may_revoke(&candidate(by), &permit.requester_id, &approvers, &permit.id)?;
        // The comment is the revoker's free text: sealed for them.
        let evidence = revocation_by(&by.id, comment.as_ref());
        let Some((life, revoked)) = plan_revoke(permit.lifecycle(), reason, By::Caller, evidence)?
        else {
            return Ok(permit);
        };
        permit.set_lifecycle(life);
        save_events(tx, permit, &by.actor(), vec![revoked], now_ms).await
    }

    /// Revokes a live permit on Steward's own authority: an authorize that found a scope
    /// violation (`scope_expansion`), a monitoring trigger (`constraint_breach`), an
    /// emergency permit's expiry or its incident's resolution (`time_expiration`). The
    /// event's actor is the system principal `steward`; `evidence` is the `permit.revoked`
    /// event's payload (its reason set to `reason`). Idempotent like [`Store::revoke_permit`]:
    /// a permit already revoked is returned unchanged and nothing is recorded; a permit
    /// in any other terminal state is a transition error.
    pub async fn revoke_permit_by_system(
        &self,
        permit_id: &str,
        reason: RevocationReason,
        evidence: PermitRevoked,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let permit = revoke_by_system_in(&mut tx, permit_id, reason, evidence, now_ms).await?;
        tx.commit().await?;
        Ok(permit)
    }

    /// Renews an active or executing permit by `hours`, as its type allows: `read_only` at
    /// once; `standard_production` when one eligible approver renews; `advanced_production`
    /// once the original quorum has approved the renewal; others never.
    pub async fn renew_permit(
        &self,
        by: &Caller,
        permit_id: &str,
        hours: f64,
        role: Option<Role>,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let (mut permit, worker) = row::load_with_worker(&mut tx, permit_id, true).await?;
        let parties = parties(&permit, &worker);
        let plan = plan_renewal(
            &RenewalSnapshot {
                permit_id: &permit.id,
                life: permit.lifecycle(),
                spec: policy.permit_type(permit.permit_type),
                requirements: &permit.requirements,
                parties: &parties,
                requester_id: &permit.requester_id,
                pending: permit.pending_renewal.as_ref(),
                now: Timestamp(now_ms),
            },
            &candidate(by),
            hours,
            role,
        )
        .map_err(|r| refused(&permit, "renewed", r))?;
        permit.set_lifecycle(plan.life);
        permit.pending_renewal = plan.pending;
        save_events(tx, permit, &by.actor(), plan.events, now_ms).await
    }

    /// Archives a permit in a terminal state.
    pub async fn archive_permit(
        &self,
        by: &Caller,
        permit_id: &str,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        requester_or_admin(&permit.requester_id, &candidate(by), &permit.id, "archive")?;
        let (life, archived) = plan_archive(permit.lifecycle())?;
        permit.set_lifecycle(life);
        save_events(tx, permit, &by.actor(), vec![archived], now_ms).await
    }

    /// Issues every approved permit whose requested window has begun. Returns their ids.
    /// Called periodically by the server; safe to run on several instances at once (each
    /// permit is issued under its row lock, and an issued permit is no longer approved).
    pub async fn issue_due_permits(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        let due = row::approved_due(self, now_ms).await?;
        let mut issued = Vec::new();
        for id in due {
            let mut tx = self.begin().await?;
            let mut permit = row::load_permit(&mut tx, &id, true).await?;
            let mut life = permit.lifecycle();
            let start = permit.requested_window_start_ms.map(Timestamp);
            // Not due yet, or no longer approved: nothing to do.
            let Ok(Some(event)) = steward_permits::issue_if_due(
                &mut life,
                start,
                &permit.constraints,
                Timestamp(now_ms),
            ) else {
                continue;
            };
            permit.set_lifecycle(life);
            write_events(&mut tx, &mut permit, &system_actor(), vec![event], now_ms).await?;
            row::update_permit(&mut tx, &mut permit, now_ms, false).await?;
            tx.commit().await?;
            issued.push(id);
        }
        Ok(issued)
    }

    /// One permit with the approvals of its current round.
    pub async fn permit(&self, permit_id: &str) -> Result<Permit, StoreError> {
        let mut tx = self.begin_read().await?;
        let permit = row::load_permit(&mut tx, permit_id, false).await?;
        tx.rollback().await?;
        Ok(permit)
    }

    /// Who has a part in permit `permit_id` (its requester, its worker, the worker's owner
    /// and identity), or `None` for an unknown permit: one indexed read, for deciding
    /// who may follow the permit's events. None of these ever changes but the worker's
    /// identity, which is bound once.
    pub async fn permit_parties(
        &self,
        permit_id: &str,
    ) -> Result<Option<PermitParties>, StoreError> {
        const SQL: &str = "SELECT p.requester_id, p.worker_id, w.owner_id, \
             w.principal_id AS worker_principal_id \
             FROM permits p JOIN workers w ON w.id = p.worker_id WHERE p.id = $1";
        Ok(in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as::<_, PermitParties>(SQL),
            permit_id
        ))
    }

    /// Permits matching `filter`, ordered by id (creation time), after `after_id`.
    pub async fn list_permits(
        &self,
        filter: &PermitFilter,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Permit>, StoreError> {
        row::list_permits(self, filter, after_id, limit.clamp(1, 200)).await
    }

    /// Permits waiting for a decision (requested or under review) that match `queue`,
    /// ordered by id, after `after_id`, at most `limit`: the approvers' queue. With
    /// `awaiting`, only those that principal may decide now under one of its roles
    /// (`steward_permits::check_approver`: eligible role, segregation of duties, not voted
    /// yet); with `overdue_at`, only those past their approval SLA at that time.
    pub async fn review_queue(
        &self,
        queue: &ReviewQueue<'_>,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Permit>, StoreError> {
        let limit = limit.clamp(1, 200) as usize;
        let mut out = Vec::new();
        let mut after = after_id.map(str::to_owned);
        for state in [PermitState::UnderReview, PermitState::Requested] {
            let filter = PermitFilter {
                state: Some(state),
                worker_id: queue.worker_id.map(str::to_owned),
                ..PermitFilter::default()
            };
            loop {
                let page = row::list_permits(self, &filter, after.as_deref(), 200).await?;
                let full = page.len() == 200;
                for permit in page {
                    after = Some(permit.id.clone());
                    if self.in_queue(queue, &permit).await? {
                        out.push(permit);
                    }
                }
                if !full {
                    break;
                }
            }
            after = after_id.map(str::to_owned);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.truncate(limit);
        Ok(out)
    }

    async fn in_queue(&self, queue: &ReviewQueue<'_>, permit: &Permit) -> Result<bool, StoreError> {
        if let Some(now_ms) = queue.overdue_at
            && !approval_overdue(&permit.times(), Timestamp(now_ms))
        {
            return Ok(false);
        }
        let Some(by) = queue.awaiting else {
            return Ok(true);
        };
        let Some(parties) = self.permit_parties(&permit.id).await? else {
            return Ok(false);
        };
        let parties = Parties {
            requester: parties.requester_id,
            worker_id: parties.worker_principal_id.unwrap_or(parties.worker_id),
            worker_owner: parties.owner_id,
        };
        let existing = recorded(permit);
        let candidate = candidate(by);
        Ok(by.roles.iter().any(|role| {
            check_approver(&permit.requirements, &parties, &candidate, *role, &existing).is_ok()
        }))
    }
}

/// Which requests [`Store::review_queue`] lists; every field given narrows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReviewQueue<'a> {
    /// Only requests this principal may decide now.
    pub awaiting: Option<&'a Caller>,
    /// Only requests past their approval SLA at this time (Unix ms).
    pub overdue_at: Option<i64>,
    /// Only requests for this worker.
    pub worker_id: Option<&'a str>,
}

/// Writes the permit's new state (version-checked) and commits the use case.
async fn save(mut tx: Tx<'_>, mut permit: Permit, now_ms: i64) -> Result<Permit, PermitError> {
    row::update_permit(&mut tx, &mut permit, now_ms, true).await?;
    tx.commit().await?;
    Ok(permit)
}

/// Writes the permit's new state and a plan's events about it, then commits.
///
/// The row goes first: on PostgreSQL the first append locks the audit head until the
/// commit, and every writer waits for that lock, so a transaction takes it last. A
/// revoking event leaves its `seq` on the permit, so then the row follows the events. On
/// SQLite the row's `UPDATE` goes in the commit's round trip either way.
async fn save_events(
    mut tx: Tx<'_>,
    mut permit: Permit,
    actor: &Actor,
    events: Vec<PlannedEvent>,
    now_ms: i64,
) -> Result<Permit, PermitError> {
    if events.iter().any(|event| event.revocation.is_some()) {
        write_events(&mut tx, &mut permit, actor, events, now_ms).await?;
        return save(tx, permit, now_ms).await;
    }
    row::update_permit(&mut tx, &mut permit, now_ms, true).await?;
    write_events(&mut tx, &mut permit, actor, events, now_ms).await?;
    tx.commit().await?;
    Ok(permit)
}

fn recorded(permit: &Permit) -> Vec<RecordedApproval> {
    permit
        .approvals
        .iter()
        .filter(|a| a.round == permit.round)
        .map(|a| RecordedApproval {
            principal_id: a.principal_id.clone(),
            role: a.role,
        })
        .collect()
}

fn parties(permit: &Permit, worker: &WorkerParties) -> Parties {
    Parties {
        requester: permit.requester_id.clone(),
        worker_id: worker
            .principal_id
            .clone()
            .unwrap_or_else(|| worker.id.clone()),
        worker_owner: worker.owner_id.clone(),
    }
}

/// Loads and locks permit `permit_id` with its worker, if `by` may `action` it as the
/// one executing it: the worker holding the permit (its agent identity) or its requester.
async fn load_for_executor(
    tx: &mut Tx<'_>,
    by: &Caller,
    permit_id: &str,
    action: &str,
) -> Result<(Permit, WorkerParties), PermitError> {
    let (permit, worker) = row::load_with_worker(tx, permit_id, true).await?;
    executor_or_requester(
        &parties(&permit, &worker),
        &permit.requester_id,
        &candidate(by),
        &permit.id,
        action,
    )?;
    Ok((permit, worker))
}

fn candidate(by: &Caller) -> Candidate {
    Candidate {
        principal_id: by.id.clone(),
        human: by.is_human(),
        roles: by.roles.clone(),
    }
}

/// The current round's decisions as the pure rules take them.
fn cast_decisions(permit: &Permit) -> Vec<CastDecision> {
    permit
        .approvals
        .iter()
        .filter(|a| a.round == permit.round)
        .map(cast_decision)
        .collect()
}

fn cast_decision(a: &ApprovalRecord) -> CastDecision {
    CastDecision {
        principal_id: a.principal_id.clone(),
        role: a.role,
        decision: a.decision,
    }
}

/// Every decision on `permit`, with when it was cast.
fn timed_decisions(permit: &Permit) -> Vec<(CastDecision, i64)> {
    permit
        .approvals
        .iter()
        .map(|a| (cast_decision(a), a.created_at_ms))
        .collect()
}

/// What the review decisions read of `permit`.
fn review_snapshot<'a>(
    permit: &'a Permit,
    parties: &'a Parties,
    worker: &WorkerParties,
    decisions: &'a [CastDecision],
    now_ms: i64,
) -> ReviewSnapshot<'a> {
    ReviewSnapshot {
        life: permit.lifecycle(),
        permit_type: permit.permit_type,
        requirements: &permit.requirements,
        parties,
        worker_status: worker.status,
        decisions,
        cab_signed_off: permit.cab_signed_off,
        round: permit.round,
        requested_start: permit.requested_window_start_ms.map(Timestamp),
        constraints: &permit.constraints,
        now: Timestamp(now_ms),
    }
}

/// Takes a review plan's lifecycle and sign-off into `permit`; returns its events.
fn review(permit: &mut Permit, plan: ReviewPlan) -> Vec<PlannedEvent> {
    permit.set_lifecycle(plan.life);
    permit.cab_signed_off = plan.cab_signed_off;
    plan.events
}

/// A refusal of a use case on `permit` (`action` names it for the emergency path's
/// message) as the store's error.
fn refused(permit: &Permit, action: &str, refusal: PermitRefusal) -> PermitError {
    match refusal {
        PermitRefusal::EmergencyPath => emergency::through_the_emergency_path(permit, action),
        other => other.into(),
    }
}

/// Appends a plan's events about `permit`, in order: [`By::Caller`] as `actor`,
/// [`By::System`] as Steward. A revoking event leaves its record on the permit.
async fn write_events(
    tx: &mut Tx<'_>,
    permit: &mut Permit,
    actor: &Actor,
    events: Vec<PlannedEvent>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let system = system_actor();
    for planned in events {
        let by = match planned.by {
            By::Caller => actor,
            By::System => &system,
        };
        let revocation = planned.revocation.map(|reason| (reason, planned.data()));
        let subject = Subject {
            task_id: Some(permit.task_id.clone()),
            worker_id: Some(permit.worker_id.clone()),
            permit_id: Some(permit.id.clone()),
        };
        let level = Some(planned.payload.level(permit.level));
        let event = NewEvent::typed(now_ms, by.clone(), subject, level, planned.payload)?;
        let seq = append_event(tx, event).await?.seq;
        if let Some((reason, data)) = revocation {
            permit.revocation_reason = Some(reason);
            permit.revocation = Some(PermitRevocation::recorded(reason, by, &data, seq, now_ms));
        }
    }
    Ok(())
}

impl Store {
    /// A read transaction (plain `BEGIN` on both backends): consistent reads without
    /// taking SQLite's write lock.
    pub(crate) async fn begin_read(&self) -> Result<Tx<'static>, StoreError> {
        Ok(Tx {
            conn: match &self.pool {
                Pool::Sqlite(pool) => TxConn::Sqlite(pool.begin().await?),
                Pool::Postgres(pool) => TxConn::Postgres(pool.begin().await?),
            },
            _writer: None,
            rehearsal: self.is_rehearsal(),
        })
    }
}
