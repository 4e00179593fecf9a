//! Permits (SPEC §6): request → review → approvals → issue → start → complete → close,
//! plus changes requested, rejection, renewal, revocation and archiving.
//!
//! Each public method is one use case and one transaction. It loads the permit under a
//! lock (PostgreSQL `SELECT … FOR UPDATE`; on SQLite every write transaction already holds
//! the database write lock), asks the pure crates what may happen (`steward_permits::apply`
//! for every state change, `check_approver` and `quorum` for decisions), writes the new
//! row with an optimistic version check, and appends its audit events in the same
//! transaction. A refusal writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use steward_audit::{Actor, ActorKind, Subject};
use steward_permits::{
    ApprovalRefusal, Candidate, Channel, Decision, Outcome, Parties, PermitEvent, PermitState,
    RecordedApproval, RenewalApproval, RevocationReason, ScopeField, TransitionError, WindowError,
    apply, check_approver, check_renewal, missing_evidence, missing_report_fields, missing_scope,
    quorum, validity,
};
use steward_permits::{
    PermitTimes, PlanProblem, Timestamp, approval_overdue, validate_rollback_plan,
};
use steward_policy::{
    Analysis, ApprovalRequirements, Block, CertificationStatus, Evidence, Level, PermitType,
    Policy, Refusal, Role, WorkerStanding, hard_blocks_for_worker,
};

use crate::audit::{NewEvent, append_event};
use crate::error::StoreError;
use crate::personal::{PersonalText, PersonalValues, with_personal};
use crate::principal::{Principal, PrincipalKind};
use crate::store::{Pool, Store, Tx, TxConn, new_id, on_pool};

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
    /// The constraints the permit carries (SPEC §6.4), as built by the server.
    pub constraints: Value,
    /// The task's `operations` and `services_affected`: from level 2 up each must name
    /// something (`steward_permits::missing_scope`).
    pub operations: Vec<String>,
    pub services: Vec<String>,
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
    pub constraints: Value,
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

/// A renewal collecting its approvals (types renewed "with one approval" or "with the
/// same quorum").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRenewal {
    pub hours: f64,
    pub approvals: Vec<RenewalApprovalRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalApprovalRecord {
    pub principal_id: String,
    pub role: Role,
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    data: Value,
    now_ms: i64,
) -> Result<Permit, PermitError> {
    let mut permit = row::load_permit(tx, permit_id, true).await?;
    if permit.state == PermitState::Revoked {
        return Ok(permit);
    }
    let mut event = json!({"reason": reason});
    if let (Value::Object(event), Value::Object(extra)) = (&mut event, data) {
        for (key, value) in extra {
            event.entry(key).or_insert(value);
        }
    }
    permit.revocation_reason = Some(reason);
    transition(
        tx,
        &mut permit,
        &system_actor(),
        &PermitEvent::Revoke { reason },
        event,
        now_ms,
    )
    .await?;
    row::update_permit(tx, &mut permit, now_ms).await?;
    Ok(permit)
}

/// Refuses an audit actor that is not the principal acting (a use case `…_as` records
/// `by` through a channel, never someone else).
pub(crate) fn same_actor(by: &Principal, actor: &Actor) -> Result<(), PermitError> {
    if actor.id == by.id {
        Ok(())
    } else {
        Err(PermitError::not_allowed(
            Refusal::ActorMismatch,
            format!("`{}` may not act as `{}`", by.id, actor.id),
        ))
    }
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

const HOUR_MS: f64 = 3_600_000.0;

impl Store {
    /// Requests a permit: refuses hard blocks, tasks that need none, missing evidence,
    /// and (from level 2) a task that names no operations or no services;
    /// otherwise creates it and starts its review. A level-1 read-only permit for a worker
    /// holding level ≥ 1 is approved and issued at once (SPEC §3.4).
    pub async fn request_permit(
        &self,
        by: &Principal,
        channel: Option<steward_audit::Channel>,
        new: NewPermit,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let analysis = &new.analysis;
        let decision = &analysis.certification_decision;
        let Some(permit_type) = analysis.approval_requirements.permit_type else {
            return Err(PermitError::NotRequired {
                level: decision.certification_level_required,
                environment: analysis.environment_detected.to_string(),
            });
        };
        let spec = policy.permit_type(permit_type);
        let hours = validity(spec, new.requested_hours)?;
        let required = &analysis.approval_requirements.evidence_required;
        let provided: BTreeSet<Evidence> = new
            .evidence
            .iter()
            .filter(|(_, v)| !is_empty_evidence(v))
            .map(|(k, _)| *k)
            .collect();
        let missing = missing_evidence(required, &provided);
        if !missing.is_empty() {
            return Err(PermitError::MissingEvidence {
                level: decision.certification_level_required,
                missing,
            });
        }
        let level = decision.certification_level_required.max(spec.level);
        let missing = missing_scope(level, &new.operations, &new.services);
        if !missing.is_empty() {
            return Err(PermitError::MissingScope { level, missing });
        }
        check_rollback_plan(level, &new.evidence, now_ms)?;

        let mut tx = self.begin().await?;
        let worker = row::worker_parties(&mut tx, &new.worker_id, true).await?;
        let mut checked = analysis.clone();
        hard_blocks_for_worker(
            &mut checked,
            WorkerStanding {
                level: worker.level,
                status: worker.status,
            },
        );
        if !checked.safety_checks.hard_blocks.is_empty() {
            return Err(PermitError::HardBlocks(checked.safety_checks.hard_blocks));
        }

        let task_id = analysis
            .task_id
            .clone()
            .unwrap_or_else(|| format!("task-{}", new_id()));
        let mut permit = Permit {
            id: new_id(),
            task_id,
            permit_type,
            level,
            worker_id: new.worker_id.clone(),
            requester_id: by.id.clone(),
            state: PermitState::Requested,
            policy_version: analysis.policy_version.clone(),
            requirements: analysis.approval_requirements.clone(),
            evidence: serde_json::to_value(&new.evidence).unwrap_or(Value::Null),
            constraints: new.constraints.clone(),
            requested_window_start_ms: new.window_start_ms,
            valid_from_ms: None,
            expires_at_ms: None,
            renewals: 0,
            total_hours: hours,
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
        row::insert_permit(&mut tx, &permit, &new.analysis).await?;
        let actor = by.actor_via(channel);
        event(
            &mut tx,
            &actor,
            "permit.requested",
            &permit,
            json!({
                "permit_type": permit_type,
                "level": permit.level,
                "total_risk_score": analysis.risk_assessment.total_risk_score,
                "policy_version": analysis.policy_version,
                "evidence": provided.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
                "hours": hours,
                "window_start_ms": new.window_start_ms,
                "task": task_facts(&new.task, analysis),
            }),
            now_ms,
        )
        .await?;
        transition(
            &mut tx,
            &mut permit,
            &actor,
            &PermitEvent::StartReview,
            json!({}),
            now_ms,
        )
        .await?;

        let auto = permit.requirements.auto_approve && worker.level >= Level::BASIC;
        if auto {
            let system = system_actor();
            transition(
                &mut tx,
                &mut permit,
                &system,
                &PermitEvent::QuorumMet,
                json!({"auto_approved": true, "reason": "read-only access, no sensitive data, worker holds level 1 or more"}),
                now_ms,
            )
            .await?;
            issue_if_due(&mut tx, &mut permit, &system, now_ms).await?;
        }
        save(tx, permit, now_ms).await
    }

    /// Records an approver's decision. Approve counts towards the quorum and, when it is
    /// met, approves and (at its window start) issues the permit; reject is final;
    /// request changes sends it back to the requester.
    pub async fn decide_permit(
        &self,
        by: &Principal,
        permit_id: &str,
        decision: NewDecision,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        self.decide_permit_as(by, &by.actor(), permit_id, decision, now_ms)
            .await
    }

    /// [`Store::decide_permit`] audited as `actor`: `by` acting through another door
    /// (the dashboard passes `Caller::actor_via(Channel::Web)`). `actor` must be `by`.
    pub async fn decide_permit_as(
        &self,
        by: &Principal,
        actor: &Actor,
        permit_id: &str,
        decision: NewDecision,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        same_actor(by, actor)?;
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        emergency::not_through_the_permit_path(&permit, "decided")?;
        let action = match decision.decision {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
            Decision::RequestChanges => "request_changes",
        };
        if permit.state != PermitState::UnderReview {
            return Err(PermitError::Transition(TransitionError {
                from: permit.state,
                event: match decision.decision {
                    Decision::Approve => steward_permits::PermitEventKind::QuorumMet,
                    Decision::Reject => steward_permits::PermitEventKind::Reject,
                    Decision::RequestChanges => steward_permits::PermitEventKind::RequestChanges,
                },
            }));
        }
        let worker = row::worker_parties(&mut tx, &permit.worker_id, false).await?;
        if decision.decision == Decision::Approve {
            // A certification suspended, expired or revoked after the request blocks it.
            certification_in_force(&worker)?;
        }
        let existing = recorded(&permit);
        check_approver(
            &permit.requirements,
            &parties(&permit, &worker),
            &candidate(by),
            decision.role,
            &existing,
        )?;
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
        row::insert_approval(&mut tx, &permit.id, &record).await?;
        permit.approvals.push(record);
        // The comment is the approver's free text: personal data, stored encrypted for them.
        let data = with_personal(
            json!({
                "decision": action,
                "role": decision.role,
                "channel": decision.channel,
                "conditions": decision.conditions,
                "round": permit.round,
            }),
            &by.id,
            PersonalValues::new().text("comment", decision.comment.as_ref()),
        );
        match decision.decision {
            Decision::Approve => {
                event(
                    &mut tx,
                    actor,
                    "permit.approval_recorded",
                    &permit,
                    data,
                    now_ms,
                )
                .await?;
                approve_if_quorum(&mut tx, &mut permit, actor, now_ms).await?;
            }
            Decision::Reject => {
                transition(
                    &mut tx,
                    &mut permit,
                    actor,
                    &PermitEvent::Reject,
                    data,
                    now_ms,
                )
                .await?;
            }
            Decision::RequestChanges => {
                transition(
                    &mut tx,
                    &mut permit,
                    actor,
                    &PermitEvent::RequestChanges,
                    data,
                    now_ms,
                )
                .await?;
            }
        }
        save(tx, permit, now_ms).await
    }

    /// Records the change-advisory-board sign-off a level-4 permit needs, then issues the
    /// permit if that completes its quorum.
    pub async fn cab_sign_off(
        &self,
        by: &Principal,
        permit_id: &str,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        self.cab_sign_off_as(by, &by.actor(), permit_id, now_ms)
            .await
    }

    /// [`Store::cab_sign_off`] audited as `actor` (see [`Store::decide_permit_as`]).
    pub async fn cab_sign_off_as(
        &self,
        by: &Principal,
        actor: &Actor,
        permit_id: &str,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        same_actor(by, actor)?;
        const CAB_ROLES: [Role; 5] = [
            Role::Admin,
            Role::VpEngineering,
            Role::Cto,
            Role::Ciso,
            Role::Coo,
        ];
        if by.kind != PrincipalKind::Human || !CAB_ROLES.iter().any(|r| by.has_role(*r)) {
            return Err(PermitError::not_allowed(
                Refusal::RoleNotEligible,
                "a change-advisory-board sign-off is recorded by a human admin, vp_engineering, cto, ciso or coo",
            ));
        }
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        if !permit.requirements.change_advisory_board_required {
            return Err(PermitError::not_allowed(
                Refusal::CabNotRequired,
                format!(
                    "permit `{}` needs no change-advisory-board sign-off",
                    permit.id
                ),
            ));
        }
        if permit.state != PermitState::UnderReview {
            return Err(PermitError::Transition(TransitionError {
                from: permit.state,
                event: steward_permits::PermitEventKind::QuorumMet,
            }));
        }
        let worker = row::worker_parties(&mut tx, &permit.worker_id, false).await?;
        segregation(by, &permit, &worker)?;
        if !permit.cab_signed_off {
            permit.cab_signed_off = true;
            event(
                &mut tx,
                actor,
                "permit.cab_signed_off",
                &permit,
                json!({}),
                now_ms,
            )
            .await?;
            approve_if_quorum(&mut tx, &mut permit, actor, now_ms).await?;
            row::update_permit(&mut tx, &mut permit, now_ms).await?;
        }
        tx.commit().await?;
        Ok(permit)
    }

    /// Resubmits a permit whose changes were requested: new evidence, a new round, and
    /// every approval (and the CAB sign-off) reset.
    pub async fn resubmit_permit(
        &self,
        by: &Principal,
        permit_id: &str,
        evidence: BTreeMap<Evidence, Value>,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        if by.id != permit.requester_id && !by.has_role(Role::Admin) {
            return Err(PermitError::not_allowed(
                Refusal::NotRequester,
                format!(
                    "only the requester of permit `{}` (or an admin) may resubmit it",
                    permit.id
                ),
            ));
        }
        let next = apply(permit.state, &PermitEvent::Resubmit)?;
        let provided: BTreeSet<Evidence> = evidence
            .iter()
            .filter(|(_, v)| !is_empty_evidence(v))
            .map(|(k, _)| *k)
            .collect();
        let missing = missing_evidence(&permit.requirements.evidence_required, &provided);
        if !missing.is_empty() {
            return Err(PermitError::MissingEvidence {
                level: permit.level,
                missing,
            });
        }
        check_rollback_plan(permit.level, &evidence, now_ms)?;
        permit.evidence = serde_json::to_value(&evidence).unwrap_or(Value::Null);
        permit.round += 1;
        permit.cab_signed_off = false;
        permit.approvals.clear();
        let from = permit.state;
        permit.state = next;
        event(
            &mut tx,
            &by.actor(),
            "permit.resubmitted",
            &permit,
            json!({"from": from, "to": next, "round": permit.round,
                   "evidence": provided.iter().map(|e| e.as_str()).collect::<Vec<_>>()}),
            now_ms,
        )
        .await?;
        save(tx, permit, now_ms).await
    }

    /// The worker (or its requester) starts executing an active permit inside its window.
    pub async fn start_permit(
        &self,
        by: &Principal,
        permit_id: &str,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        let worker = row::worker_parties(&mut tx, &permit.worker_id, false).await?;
        executor_or_requester(by, &permit, &worker, "start")?;
        let next = apply(permit.state, &PermitEvent::Start)?;
        certification_in_force(&worker)?;
        match (permit.valid_from_ms, permit.expires_at_ms) {
            (Some(from), _) if now_ms < from => {
                return Err(PermitError::OutsideWindow {
                    message: format!(
                        "permit `{}` is valid from {from} (unix ms); it is {now_ms}",
                        permit.id
                    ),
                });
            }
            (_, Some(until)) if now_ms >= until => {
                return Err(PermitError::OutsideWindow {
                    message: format!(
                        "permit `{}` expired at {until} (unix ms); it is {now_ms}",
                        permit.id
                    ),
                });
            }
            _ => {}
        }
        let from = permit.state;
        permit.state = next;
        event(
            &mut tx,
            &by.actor(),
            "permit.started",
            &permit,
            json!({"from": from}),
            now_ms,
        )
        .await?;
        save(tx, permit, now_ms).await
    }

    /// Records how the execution ended.
    pub async fn complete_permit(
        &self,
        by: &Principal,
        permit_id: &str,
        outcome: Outcome,
        report: Value,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        let worker = row::worker_parties(&mut tx, &permit.worker_id, false).await?;
        executor_or_requester(by, &permit, &worker, "complete")?;
        // Reject before any write: a completed operation without its level's report
        // would leave a gap in the audit trail.
        let missing = missing_report_fields(permit.level, outcome, &report);
        if !missing.is_empty() && permit.state == PermitState::Executing {
            return Err(PermitError::IncompleteReport {
                level: permit.level,
                missing,
            });
        }
        permit.outcome = Some(outcome);
        // Steward adds what it knows itself to the worker's report.
        let approvers: Vec<Value> = permit
            .approvals
            .iter()
            .filter(|a| a.decision == Decision::Approve)
            .map(|a| json!({"approver_id": a.principal_id, "role": a.role, "approval_timestamp_ms": a.created_at_ms}))
            .collect();
        let data = json!({
            "outcome": outcome,
            "report": report,
            "worker_id": permit.worker_id,
            "certification_level": permit.level,
            "approvals": approvers,
            "started_at_ms": permit.updated_at_ms,
            "completed_at_ms": now_ms,
        });
        transition(
            &mut tx,
            &mut permit,
            &by.actor(),
            &PermitEvent::Complete { outcome },
            data,
            now_ms,
        )
        .await?;
        save(tx, permit, now_ms).await
    }

    /// Closes a completed permit with its audit summary: what was performed, whether the
    /// constraints held, and the approvals verified against the quorum.
    pub async fn close_permit(
        &self,
        by: &Principal,
        permit_id: &str,
        notes: Value,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        self.close_permit_with_feedback(by, permit_id, notes, None, now_ms)
            .await
    }

    /// [`Store::close_permit`] with outcome feedback (SPEC §10): `actual_level` is the
    /// risk the closer observed. The `permit.closed` event records it with the verdict
    /// against the permit's level: `over_certified` (actual below the level required),
    /// `under_certified` (above) or `matched`; `/metrics` counts these.
    pub async fn close_permit_with_feedback(
        &self,
        by: &Principal,
        permit_id: &str,
        notes: Value,
        actual_level: Option<Level>,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        requester_or_admin(by, &permit, "close")?;
        let approvals: Vec<Value> = permit
            .approvals
            .iter()
            .filter(|a| a.decision == Decision::Approve)
            .map(|a| json!({"principal_id": a.principal_id, "role": a.role, "at_ms": a.created_at_ms}))
            .collect();
        let status = quorum(
            &permit.requirements,
            &recorded(&permit),
            permit.cab_signed_off,
        );
        let summary = json!({
            "operations_performed": permit.task.get("operations").cloned().unwrap_or(json!([])),
            "outcome": permit.outcome,
            "constraints_met": permit.revocation_reason.is_none(),
            "approvals_verified": status.met,
            "approvals": approvals,
            "cab_signed_off": permit.cab_signed_off,
            "notes": notes,
        });
        permit.audit_summary = Some(summary.clone());
        let mut data = json!({"audit_summary": summary});
        if let Some(actual) = actual_level {
            let verdict = match actual.cmp(&permit.level) {
                std::cmp::Ordering::Less => "over_certified",
                std::cmp::Ordering::Equal => "matched",
                std::cmp::Ordering::Greater => "under_certified",
            };
            data["actual_level"] = json!(actual);
            data["certification_feedback"] = json!(verdict);
        }
        transition(
            &mut tx,
            &mut permit,
            &by.actor(),
            &PermitEvent::Close,
            data,
            now_ms,
        )
        .await?;
        save(tx, permit, now_ms).await
    }

    /// Revokes a live permit (terminal, idempotent: revoking a revoked permit changes
    /// nothing and records nothing).
    pub async fn revoke_permit(
        &self,
        by: &Principal,
        permit_id: &str,
        reason: RevocationReason,
        comment: Option<PersonalText>,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        self.revoke_permit_as(by, &by.actor(), permit_id, reason, comment, now_ms)
            .await
    }

    /// [`Store::revoke_permit`] audited as `actor` (see [`Store::decide_permit_as`]).
    pub async fn revoke_permit_as(
        &self,
        by: &Principal,
        actor: &Actor,
        permit_id: &str,
        reason: RevocationReason,
        comment: Option<PersonalText>,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        same_actor(by, actor)?;
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        let may = by.id == permit.requester_id
            || [Role::Admin, Role::SecurityLead, Role::IncidentCommander]
                .iter()
                .any(|r| by.has_role(*r))
            || permit.approvals.iter().any(|a| a.principal_id == by.id);
        if !may {
            return Err(PermitError::not_allowed(
                Refusal::NotAParty,
                format!(
                    "only the requester, an approver of permit `{}`, an admin, a security_lead or an incident_commander may revoke it",
                    permit.id
                ),
            ));
        }
        if permit.state == PermitState::Revoked {
            return Ok(permit);
        }
        permit.revocation_reason = Some(reason);
        transition(
            &mut tx,
            &mut permit,
            actor,
            &PermitEvent::Revoke { reason },
            // The comment is the revoker's free text: stored encrypted for them.
            with_personal(
                json!({"reason": reason}),
                &by.id,
                PersonalValues::new().text("comment", comment.as_ref()),
            ),
            now_ms,
        )
        .await?;
        save(tx, permit, now_ms).await
    }

    /// Revokes a live permit on Steward's own authority: an authorize that found a scope
    /// violation (`scope_expansion`), a monitoring trigger (`constraint_breach`), an
    /// emergency permit's expiry or its incident's resolution (`time_expiration`). The
    /// event's actor is the system principal `steward`; `data` (an object) adds the
    /// evidence to the `permit.revoked` event. Idempotent like [`Store::revoke_permit`]:
    /// a permit already revoked is returned unchanged and nothing is recorded; a permit
    /// in any other terminal state is a transition error.
    pub async fn revoke_permit_by_system(
        &self,
        permit_id: &str,
        reason: RevocationReason,
        data: Value,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let permit = revoke_by_system_in(&mut tx, permit_id, reason, data, now_ms).await?;
        tx.commit().await?;
        Ok(permit)
    }

    /// Renews an active or executing permit by `hours`, as its type allows: `read_only` at
    /// once; `standard_production` when one eligible approver renews; `advanced_production`
    /// once the original quorum has approved the renewal; others never.
    pub async fn renew_permit(
        &self,
        by: &Principal,
        permit_id: &str,
        hours: f64,
        role: Option<Role>,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        emergency::not_through_the_permit_path(&permit, "renewed")?;
        if !matches!(permit.state, PermitState::Active | PermitState::Executing) {
            return Err(PermitError::not_allowed(
                Refusal::PermitNotLive,
                format!(
                    "cannot renew a permit in state `{}`: only active or executing permits are renewed",
                    permit.state
                ),
            ));
        }
        let spec = policy.permit_type(permit.permit_type);
        let needs = check_renewal(spec, permit.renewals, permit.total_hours, hours)?;
        let worker = row::worker_parties(&mut tx, &permit.worker_id, false).await?;
        let actor = by.actor();
        let ready = match needs {
            RenewalApproval::Automatic => {
                executor_or_requester(by, &permit, &worker, "renew")?;
                true
            }
            RenewalApproval::OneApproval
            | RenewalApproval::SameQuorum
            | RenewalApproval::IncidentCommander => {
                let role = role.ok_or_else(|| {
                    PermitError::not_allowed(
                        Refusal::RoleRequired,
                        "renewing this permit is an approval: name the `role` you approve under",
                    )
                })?;
                let mut pending = match permit.pending_renewal.take() {
                    Some(p) if (p.hours - hours).abs() < f64::EPSILON => p,
                    _ => PendingRenewal {
                        hours,
                        approvals: Vec::new(),
                    },
                };
                let existing: Vec<RecordedApproval> = pending
                    .approvals
                    .iter()
                    .map(|a| RecordedApproval {
                        principal_id: a.principal_id.clone(),
                        role: a.role,
                    })
                    .collect();
                let mut req = permit.requirements.clone();
                if needs == RenewalApproval::OneApproval {
                    req.approvers_required = 1;
                    req.required_roles.clear();
                }
                check_approver(
                    &req,
                    &parties(&permit, &worker),
                    &candidate(by),
                    role,
                    &existing,
                )?;
                pending.approvals.push(RenewalApprovalRecord {
                    principal_id: by.id.clone(),
                    role,
                });
                let all: Vec<RecordedApproval> = existing
                    .into_iter()
                    .chain(std::iter::once(RecordedApproval {
                        principal_id: by.id.clone(),
                        role,
                    }))
                    .collect();
                let met = quorum(&req, &all, true).met;
                event(
                    &mut tx,
                    &actor,
                    "permit.renewal_approval_recorded",
                    &permit,
                    json!({"role": role, "hours": hours, "quorum_met": met}),
                    now_ms,
                )
                .await?;
                if !met {
                    permit.pending_renewal = Some(pending);
                }
                met
            }
        };
        if ready {
            let until = permit.expires_at_ms.unwrap_or(now_ms).max(now_ms);
            permit.expires_at_ms = Some(until + (hours * HOUR_MS) as i64);
            permit.renewals += 1;
            permit.total_hours += hours;
            permit.pending_renewal = None;
            event(
                &mut tx,
                &actor,
                "permit.renewed",
                &permit,
                json!({"hours": hours, "renewals": permit.renewals, "total_hours": permit.total_hours, "expires_at_ms": permit.expires_at_ms}),
                now_ms,
            )
            .await?;
        }
        save(tx, permit, now_ms).await
    }

    /// Archives a permit in a terminal state.
    pub async fn archive_permit(
        &self,
        by: &Principal,
        permit_id: &str,
        now_ms: i64,
    ) -> Result<Permit, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, permit_id, true).await?;
        requester_or_admin(by, &permit, "archive")?;
        transition(
            &mut tx,
            &mut permit,
            &by.actor(),
            &PermitEvent::Archive,
            json!({}),
            now_ms,
        )
        .await?;
        save(tx, permit, now_ms).await
    }

    /// Issues every approved permit whose requested window has begun. Returns their ids.
    /// Called periodically by the server; safe to run on several instances at once (each
    /// permit is issued under its row lock, and an issued permit is no longer approved).
    pub async fn issue_due_permits(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        let due = row::approved_due(self, now_ms).await?;
        let mut issued = Vec::new();
        for id in due {
            let mut tx = self.begin().await?;
            let mut permit = match row::load_permit(&mut tx, &id, true).await {
                Ok(p) => p,
                Err(PermitError::Store(e)) => return Err(e),
                Err(_) => continue,
            };
            if permit.state != PermitState::Approved {
                continue;
            }
            match issue_if_due(&mut tx, &mut permit, &system_actor(), now_ms).await {
                Ok(true) => {
                    row::update_permit(&mut tx, &mut permit, now_ms)
                        .await
                        .map_err(|e| match e {
                            PermitError::Store(e) => e,
                            other => StoreError::Conflict {
                                message: other.to_string(),
                            },
                        })?;
                    tx.commit().await?;
                    issued.push(id);
                }
                Ok(false) => {}
                Err(PermitError::Store(e)) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(issued)
    }

    /// One permit with the approvals of its current round.
    pub async fn permit(&self, permit_id: &str) -> Result<Permit, StoreError> {
        let mut tx = self.begin_read().await?;
        let permit = row::load_permit(&mut tx, permit_id, false)
            .await
            .map_err(|e| match e {
                PermitError::Store(e) => e,
                other => StoreError::Conflict {
                    message: other.to_string(),
                },
            })?;
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
        const SQL: &str = "SELECT p.requester_id, p.worker_id, w.owner_id, w.principal_id \
             FROM permits p JOIN workers w ON w.id = p.worker_id WHERE p.id = $1";
        #[derive(sqlx::FromRow)]
        struct Row {
            requester_id: String,
            worker_id: String,
            owner_id: String,
            principal_id: Option<String>,
        }
        let row = on_pool!(self.pool, |pool| {
            sqlx::query_as::<_, Row>(SQL)
                .bind(permit_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|row| PermitParties {
            requester_id: row.requester_id,
            worker_id: row.worker_id,
            owner_id: row.owner_id,
            worker_principal_id: row.principal_id,
        }))
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
        if let Some(now_ms) = queue.overdue_at {
            let times = PermitTimes {
                state: permit.state,
                requested_at: Timestamp(permit.created_at_ms),
                approval_sla_hours: permit.requirements.max_approval_time_hours,
                expires_at: permit.expires_at_ms.map(Timestamp),
            };
            if !approval_overdue(&times, Timestamp(now_ms)) {
                return Ok(false);
            }
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
    pub awaiting: Option<&'a Principal>,
    /// Only requests past their approval SLA at this time (Unix ms).
    pub overdue_at: Option<i64>,
    /// Only requests for this worker.
    pub worker_id: Option<&'a str>,
}

/// Writes the permit's new state (version-checked) and commits the use case.
async fn save(mut tx: Tx<'_>, mut permit: Permit, now_ms: i64) -> Result<Permit, PermitError> {
    row::update_permit(&mut tx, &mut permit, now_ms).await?;
    tx.commit().await?;
    Ok(permit)
}

/// Refuses when the worker's certification is suspended, expired or revoked (SPEC §4 hard
/// block).
fn certification_in_force(worker: &WorkerParties) -> Result<(), PermitError> {
    match worker.status {
        CertificationStatus::Suspended
        | CertificationStatus::Expired
        | CertificationStatus::Revoked => Err(PermitError::HardBlocks(vec![Block {
            rule: format!("certification_{}", worker.status),
            message: format!("the worker's certification is {}", worker.status),
        }])),
        CertificationStatus::Active | CertificationStatus::Probationary => Ok(()),
    }
}

/// Refuses a request whose rollback plan does not meet its level (`validate_rollback_plan`).
fn check_rollback_plan(
    level: Level,
    evidence: &BTreeMap<Evidence, Value>,
    now_ms: i64,
) -> Result<(), PermitError> {
    let problems = validate_rollback_plan(level, evidence, Timestamp(now_ms));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PermitError::InvalidRollbackPlan { level, problems })
    }
}

fn is_empty_evidence(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) => false,
    }
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

fn approved_only(permit: &Permit) -> Vec<RecordedApproval> {
    permit
        .approvals
        .iter()
        .filter(|a| a.round == permit.round && a.decision == Decision::Approve)
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

fn candidate(by: &Principal) -> Candidate {
    Candidate {
        principal_id: by.id.clone(),
        human: by.kind == PrincipalKind::Human,
        roles: by.roles.clone(),
    }
}

/// Segregation of duties for acts other than decisions (the CAB sign-off).
fn segregation(by: &Principal, permit: &Permit, worker: &WorkerParties) -> Result<(), PermitError> {
    let p = parties(permit, worker);
    let principal = by.id.clone();
    if by.id == p.requester {
        return Err(ApprovalRefusal::Requester { principal }.into());
    }
    if by.id == p.worker_owner {
        return Err(ApprovalRefusal::WorkerOwner { principal }.into());
    }
    if by.id == p.worker_id {
        return Err(ApprovalRefusal::Executor { principal }.into());
    }
    Ok(())
}

fn executor_or_requester(
    by: &Principal,
    permit: &Permit,
    worker: &WorkerParties,
    action: &str,
) -> Result<(), PermitError> {
    let executor = worker.principal_id.as_deref() == Some(by.id.as_str());
    if executor || by.id == permit.requester_id {
        Ok(())
    } else {
        Err(PermitError::not_allowed(
            Refusal::NotExecutor,
            format!(
                "only the worker holding permit `{}` or its requester may {action} it",
                permit.id
            ),
        ))
    }
}

fn requester_or_admin(by: &Principal, permit: &Permit, action: &str) -> Result<(), PermitError> {
    if by.id == permit.requester_id || by.has_role(Role::Admin) {
        Ok(())
    } else {
        Err(PermitError::not_allowed(
            Refusal::NotRequester,
            format!(
                "only the requester of permit `{}` (or an admin) may {action} it",
                permit.id
            ),
        ))
    }
}

/// Approves when the quorum of the current round is met, then issues if the window began.
async fn approve_if_quorum(
    tx: &mut Tx<'_>,
    permit: &mut Permit,
    actor: &Actor,
    now_ms: i64,
) -> Result<(), PermitError> {
    let status = quorum(
        &permit.requirements,
        &approved_only(permit),
        permit.cab_signed_off,
    );
    if !status.met {
        return Ok(());
    }
    let approvers: Vec<Value> = approved_only(permit)
        .iter()
        .map(|a| json!({"principal_id": a.principal_id, "role": a.role}))
        .collect();
    transition(
        tx,
        permit,
        actor,
        &PermitEvent::QuorumMet,
        json!({"approvers": approvers, "cab_signed_off": permit.cab_signed_off}),
        now_ms,
    )
    .await?;
    issue_if_due(tx, permit, &system_actor(), now_ms).await?;
    Ok(())
}

/// Issues an approved permit when its window has begun. Returns whether it issued.
async fn issue_if_due(
    tx: &mut Tx<'_>,
    permit: &mut Permit,
    actor: &Actor,
    now_ms: i64,
) -> Result<bool, PermitError> {
    if permit
        .requested_window_start_ms
        .is_some_and(|start| start > now_ms)
    {
        return Ok(false);
    }
    let from = permit
        .requested_window_start_ms
        .unwrap_or(now_ms)
        .max(now_ms);
    let until = from + (permit.total_hours * HOUR_MS) as i64;
    permit.valid_from_ms = Some(from);
    permit.expires_at_ms = Some(until);
    transition(
        tx,
        permit,
        actor,
        &PermitEvent::Issue,
        json!({"valid_from_ms": from, "expires_at_ms": until, "hours": permit.total_hours, "constraints": permit.constraints}),
        now_ms,
    )
    .await?;
    Ok(true)
}

/// Applies one state change through the one transition function and records it.
async fn transition(
    tx: &mut Tx<'_>,
    permit: &mut Permit,
    actor: &Actor,
    change: &PermitEvent,
    mut data: Value,
    now_ms: i64,
) -> Result<(), PermitError> {
    let from = permit.state;
    let to = apply(from, change)?;
    permit.state = to;
    if let Value::Object(map) = &mut data {
        map.insert("from".into(), json!(from));
        map.insert("to".into(), json!(to));
    }
    let event_type = match change {
        PermitEvent::StartReview => "permit.review_started",
        PermitEvent::QuorumMet => "permit.approved",
        PermitEvent::Reject => "permit.rejected",
        PermitEvent::RequestChanges => "permit.changes_requested",
        PermitEvent::Resubmit => "permit.resubmitted",
        PermitEvent::Issue => "permit.issued",
        PermitEvent::Start => "permit.started",
        PermitEvent::Complete { .. } => "permit.completed",
        PermitEvent::Close => "permit.closed",
        PermitEvent::Revoke { .. } => "permit.revoked",
        PermitEvent::Expire => "permit.expired",
        PermitEvent::Archive => "permit.archived",
    };
    let revoked = match change {
        PermitEvent::Revoke { reason } if from != PermitState::Revoked => {
            Some((*reason, data.clone()))
        }
        _ => None,
    };
    let seq = event(tx, actor, event_type, permit, data, now_ms).await?;
    if let Some((reason, data)) = revoked {
        permit.revocation = Some(PermitRevocation::recorded(
            reason, actor, &data, seq, now_ms,
        ));
    }
    Ok(())
}

/// What a compliance report needs to know of a permit's task, recorded with its request
/// (`permit.requested`'s `data.task`): its description and the scope facts of its
/// analysis (frameworks named, sensitive data kinds, risky operations, environment). The
/// task is operational text (SPEC §2), shown to approvers already; no personal value.
pub(crate) fn task_facts(task: &Value, analysis: &Analysis) -> Value {
    const SUMMARY_CHARS: usize = 200;
    let summary = task
        .get("description")
        .and_then(Value::as_str)
        .map(|text| text.chars().take(SUMMARY_CHARS).collect::<String>());
    json!({
        "summary": summary,
        "environment": analysis.environment_detected,
        "compliance_frameworks": analysis.signals.compliance_frameworks,
        "sensitive_data": analysis.signals.sensitive_data,
        "risky_operations": analysis.signals.risky_operations,
    })
}

/// Appends an event about `permit`; returns its `seq`.
async fn event(
    tx: &mut Tx<'_>,
    actor: &Actor,
    event_type: &str,
    permit: &Permit,
    data: Value,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let entry = append_event(
        tx,
        NewEvent {
            ts_ms: now_ms,
            event_type: event_type.to_owned(),
            actor: actor.clone(),
            subject: Subject {
                task_id: Some(permit.task_id.clone()),
                worker_id: Some(permit.worker_id.clone()),
                permit_id: Some(permit.id.clone()),
            },
            level: Some(permit.level),
            data,
        },
    )
    .await?;
    Ok(entry.seq)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_evidence_does_not_count() {
        assert!(is_empty_evidence(&json!(null)));
        assert!(is_empty_evidence(&json!("  ")));
        assert!(is_empty_evidence(&json!({})));
        assert!(is_empty_evidence(&json!(false)));
        assert!(!is_empty_evidence(&json!("https://ci.example.com/run/42")));
        assert!(!is_empty_evidence(&json!({"steps": ["revert"]})));
    }
}
