//! Emergencies (SPEC §8): break-glass permits for an incident.
//!
//! An emergency is an ordinary permit of type `emergency` at level 3 (so every permit rule,
//! the state machine and authorize see it as a permit) plus one `emergencies` row holding
//! what only an emergency has: the incident id, the reason, the declared minutes, the
//! approval deadline, who approved, the resolution, the end and the post-incident review.
//! The permit's constraints carry `"enhanced_audit": true` (with `emergency_id` and
//! `incident_id`): authorize audits every operation under such a permit, allow or deny.
//!
//! Lifecycle: declare (permit `under_review`) → approve within the approval window (the
//! permit is approved and issued at once, for the declared minutes) → renewals by an
//! incident commander → the end: resolution (`incident_resolved`) or expiry
//! (`time_expiration`), both applied by [`Store::revoke_permit_by_system`] → a review due
//! 24 h after the end, overdue until filed. [`Store::sweep_emergencies`] applies every
//! due end from what is stored, so a restarted Steward catches up on its first run.
//!
//! Each use case is one transaction that appends its events (`emergency.*` at level 4, for
//! retention, plus the permit's own). Lock order: the emergency row, then its permit.

use std::fmt::Display;

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::types::Json;
use steward_permits::{
    ApproveSnapshot, Channel, Decision, Declaration, EmergencyEnd, EmergencyError, EmergencyRef,
    EmergencyRefusal, EmergencyStatus, PermitState, RenewSnapshot, ResolveSnapshot, ReviewFiling,
    ReviewStatus, RevocationReason, SweepAction, SweepView, Timestamp, TransitionError,
    certification_in_force, check_declared_minutes, check_declarer, check_incident_role,
    emergency_status, plan_approve, plan_declare, plan_emergency_renewal, plan_end, plan_lapse,
    plan_resolve, plan_review, review_status, sweep_action,
};
use steward_policy::{Analysis, PermitType, Policy, Refusal, Role, Task};

pub use steward_permits::EmergencyReview;

use super::{
    ApprovalRecord, Permit, PermitError, candidate, parties, row, save, save_events, system_actor,
    write_events,
};
use crate::caller::Caller;
use crate::error::StoreError;
use crate::personal::PersonalText;
use crate::store::{Store, Tx, in_pool, in_tx, new_id};

/// An emergency as the server hands it over. `scope` is a task (SPEC §2) naming what the
/// worker may do (`task` is it parsed); `analysis` is Steward's own analysis of it; the
/// permit's constraints are built from them (`PermitConstraints::for_emergency`).
#[derive(Debug, Clone)]
pub struct NewEmergency {
    pub incident_id: String,
    pub worker_id: String,
    /// The declarer's free text: personal, sealed in the event.
    pub reason: PersonalText,
    pub minutes: i64,
    pub scope: Value,
    pub analysis: Analysis,
    /// The scope parsed: the permit's constraints come from it (SPEC §6.4, the defaults
    /// for everything a scope does not say).
    pub task: Task,
}

/// An emergency with its permit, and its status and review status as of the read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Emergency {
    pub id: String,
    pub incident_id: String,
    pub worker_id: String,
    pub permit_id: String,
    pub declared_by: String,
    pub reason: String,
    pub minutes: i64,
    pub declared_at_ms: i64,
    pub approval_deadline_ms: i64,
    pub approved_by: Option<String>,
    pub approved_role: Option<Role>,
    pub approved_at_ms: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_at_ms: Option<i64>,
    pub resolution: Option<String>,
    /// When the emergency stopped authorizing work, and why.
    pub ended_at_ms: Option<i64>,
    pub end_reason: Option<String>,
    pub review_due_at_ms: Option<i64>,
    pub review_filed_by: Option<String>,
    pub review_filed_at_ms: Option<i64>,
    pub review: Option<Value>,
    pub status: EmergencyStatus,
    pub review_status: ReviewStatus,
    /// `review_status == overdue`, for filters and dashboards.
    pub review_overdue: bool,
    pub permit: Permit,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// An `emergencies` row, as the use cases read and change it ([`SELECT`] names its
/// columns alike; [`decode`] parses the two it skips).
#[derive(Debug, Clone, sqlx::FromRow)]
struct Record {
    id: String,
    incident_id: String,
    worker_id: String,
    permit_id: String,
    declared_by: String,
    reason: String,
    minutes: i64,
    declared_at_ms: i64,
    approval_deadline_ms: i64,
    approved_by: Option<String>,
    #[sqlx(skip)]
    approved_role: Option<Role>,
    approved_at_ms: Option<i64>,
    resolved_by: Option<String>,
    resolved_at_ms: Option<i64>,
    resolution: Option<String>,
    ended_at_ms: Option<i64>,
    end_reason: Option<String>,
    review_due_at_ms: Option<i64>,
    review_filed_by: Option<String>,
    review_filed_at_ms: Option<i64>,
    #[sqlx(skip)]
    review: Option<Value>,
    created_at_ms: i64,
    updated_at_ms: i64,
    version: i64,
}

/// An approver's decision on an emergency.
#[derive(Debug, Clone)]
pub struct EmergencyApproval {
    /// `incident_commander` or `on_call_lead`; the approver must hold it.
    pub role: Role,
    /// The approver's free text: personal, sealed in the events.
    pub comment: Option<PersonalText>,
    pub channel: Channel,
}

/// Filters for listing emergencies; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct EmergencyFilter {
    /// `Some(true)`: only emergencies whose review is overdue; `Some(false)`: only others.
    pub overdue: Option<bool>,
    pub worker_id: Option<String>,
    pub incident_id: Option<String>,
}

/// What one [`Store::sweep_emergencies`] run did: permit ids by action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmergencySweep {
    /// Permits revoked with `time_expiration`.
    pub expired: Vec<String>,
    /// Permits revoked with `incident_resolved`.
    pub resolved: Vec<String>,
    /// Permit requests expired unapproved.
    pub lapsed: Vec<String>,
    /// Emergencies whose end (and review deadline) was recorded.
    pub ended: Vec<String>,
}

impl EmergencySweep {
    pub fn is_empty(&self) -> bool {
        self.expired.is_empty()
            && self.resolved.is_empty()
            && self.lapsed.is_empty()
            && self.ended.is_empty()
    }
}

/// Why an emergency use case refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum EmergencyActionError {
    /// A permit rule refused (roles, segregation of duties, state, store failures).
    #[error(transparent)]
    Permit(#[from] PermitError),
    /// An emergency rule refused (duration, approval window, renewal limits).
    #[error(transparent)]
    Rule(#[from] EmergencyError),
    /// The emergency is not in a state that allows the action (already resolved, review
    /// not due or already filed); `rule` names which.
    #[error("{message}")]
    State { rule: Refusal, message: String },
}

impl From<StoreError> for EmergencyActionError {
    fn from(e: StoreError) -> Self {
        EmergencyActionError::Permit(PermitError::Store(e))
    }
}

impl From<TransitionError> for EmergencyActionError {
    fn from(e: TransitionError) -> Self {
        EmergencyActionError::Permit(PermitError::Transition(e))
    }
}

impl From<EmergencyRefusal> for EmergencyActionError {
    fn from(refusal: EmergencyRefusal) -> Self {
        match refusal {
            EmergencyRefusal::Permit(r) => EmergencyActionError::Permit(r.into()),
            EmergencyRefusal::Rule(e) => EmergencyActionError::Rule(e),
            EmergencyRefusal::State { rule, message } => {
                EmergencyActionError::State { rule, message }
            }
        }
    }
}

impl Store {
    /// Declares an emergency: creates its level-3 `emergency` permit (under review, waiting
    /// for an incident commander or on-call lead) and its record. The worker's owner, a
    /// master, an incident commander, an on-call lead or an admin may declare; the worker's
    /// certification must be in force (suspended, expired and revoked workers get none).
    pub async fn declare_emergency(
        &self,
        by: &Caller,
        new: NewEmergency,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<Emergency, EmergencyActionError> {
        check_declared_minutes(new.minutes)?;
        let spec = policy.permit_type(PermitType::Emergency);
        let mut tx = self.begin().await?;
        let worker = row::worker_parties(&mut tx, &new.worker_id, true).await?;
        check_declarer(&candidate(by), &worker.owner_id).map_err(PermitError::from)?;
        // SPEC §4: a certification not in force is a hard block.
        certification_in_force(worker.status).map_err(PermitError::from)?;

        let emergency_id = new_id();
        let plan = plan_declare(&Declaration {
            emergency: EmergencyRef {
                id: &emergency_id,
                incident_id: &new.incident_id,
            },
            declared_by: &by.id,
            reason: &new.reason,
            minutes: new.minutes,
            worker_id: &new.worker_id,
            scope: &new.scope,
            task: &new.task,
            analysis: &new.analysis,
            policy,
            now: Timestamp(now_ms),
        })?;
        let analysis = plan.analysis;
        let mut permit = Permit {
            id: new_id(),
            task_id: analysis
                .task_id
                .clone()
                .unwrap_or_else(|| format!("incident-{}", new.incident_id)),
            permit_type: PermitType::Emergency,
            level: spec.level,
            worker_id: new.worker_id.clone(),
            requester_id: by.id.clone(),
            state: PermitState::Requested,
            policy_version: analysis.policy_version.clone(),
            requirements: analysis.approval_requirements.clone(),
            evidence: json!({}),
            constraints: plan.constraints,
            requested_window_start_ms: None,
            valid_from_ms: None,
            expires_at_ms: None,
            renewals: 0,
            total_hours: plan.life.total_hours,
            outcome: None,
            revocation_reason: None,
            revocation: None,
            audit_summary: None,
            cab_signed_off: false,
            round: 1,
            pending_renewal: None,
            approvals: Vec::new(),
            task: new.scope.clone(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            version: 1,
            analysis: Some(std::sync::Arc::new(analysis.clone())),
        };
        row::insert_permit(&mut tx, &permit, &analysis, false).await?;
        let deadline = plan.approval_deadline.millis();
        insert_emergency(
            &mut tx,
            &emergency_id,
            &new,
            &permit.id,
            &by.id,
            deadline,
            now_ms,
        )
        .await?;
        permit.set_lifecycle(plan.life);
        save_events(tx, permit, &by.actor(), plan.events, now_ms).await?;
        Ok(self.emergency(&emergency_id, now_ms).await?)
    }

    /// Approves an emergency: a human incident commander or on-call lead, acting under
    /// that role, who is not its declarer, the worker's owner or the worker, inside the
    /// approval window. The permit is approved and issued at once for the declared minutes.
    pub async fn approve_emergency(
        &self,
        by: &Caller,
        emergency_id: &str,
        approval: EmergencyApproval,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<Emergency, EmergencyActionError> {
        let EmergencyApproval {
            role,
            comment,
            channel,
        } = approval;
        let mut tx = self.begin().await?;
        let mut e = load_emergency(&mut tx, emergency_id, true).await?;
        let (mut permit, worker) = row::load_with_worker(&mut tx, &e.permit_id, true).await?;
        let snap = ApproveSnapshot {
            emergency: e.as_ref(),
            resolved: e.resolved_at_ms.is_some(),
            declared_at: Timestamp(e.declared_at_ms),
            spec: policy.permit_type(PermitType::Emergency),
            life: permit.lifecycle(),
            requirements: &permit.requirements,
            parties: &parties(&permit, &worker),
            worker_status: worker.status,
            round: permit.round,
            constraints: &permit.constraints,
            now: Timestamp(now_ms),
        };
        let (life, events) = plan_approve(&snap, &candidate(by), role, channel, comment.as_ref())?;
        let record = ApprovalRecord {
            id: new_id(),
            principal_id: by.id.clone(),
            role,
            decision: Decision::Approve,
            channel,
            comment: comment.map(PersonalText::into_column),
            conditions: json!({}),
            round: permit.round,
            created_at_ms: now_ms,
        };
        row::insert_approval(&mut tx, &permit.id, &record, false).await?;
        permit.approvals.push(record);
        permit.set_lifecycle(life);
        write_events(&mut tx, &mut permit, &by.actor(), events, now_ms).await?;
        e.approved_by = Some(by.id.clone());
        e.approved_role = Some(role);
        e.approved_at_ms = Some(now_ms);
        update_emergency(&mut tx, &mut e, now_ms).await?;
        save(tx, permit, now_ms).await?;
        Ok(self.emergency(emergency_id, now_ms).await?)
    }

    /// Marks the incident resolved (a human incident commander or on-call lead). The
    /// emergency ends now (unless it already had), its review falls due 24 h later if its
    /// permit was granted, an unapproved request expires, and a live permit is revoked with
    /// `incident_resolved` right after the commit; should that revocation not happen (a
    /// crash, a racing write), the next sweep does it.
    pub async fn resolve_emergency(
        &self,
        by: &Caller,
        emergency_id: &str,
        resolution: Option<PersonalText>,
        now_ms: i64,
    ) -> Result<Emergency, EmergencyActionError> {
        check_incident_role(&candidate(by), "resolve an emergency").map_err(PermitError::from)?;
        let mut tx = self.begin().await?;
        let mut e = load_emergency(&mut tx, emergency_id, true).await?;
        let mut permit = row::load_permit(&mut tx, &e.permit_id, true).await?;
        let plan = plan_resolve(
            &ResolveSnapshot {
                emergency: e.as_ref(),
                resolved: e.resolved_at_ms.is_some(),
                life: permit.lifecycle(),
                approved: e.approved_at_ms.is_some(),
                ended: e.ended_at_ms.is_some(),
                review_due: e.review_due_at_ms.map(Timestamp),
                now: Timestamp(now_ms),
            },
            &by.id,
            resolution.as_ref(),
        )?;
        e.resolved_by = Some(by.id.clone());
        e.resolved_at_ms = Some(now_ms);
        e.resolution = resolution.map(PersonalText::into_column);
        if let Some(end) = plan.end {
            e.end(end);
        }
        let changed = plan.life != permit.lifecycle();
        permit.set_lifecycle(plan.life);
        write_events(&mut tx, &mut permit, &by.actor(), plan.events, now_ms).await?;
        update_emergency(&mut tx, &mut e, now_ms).await?;
        if changed {
            save(tx, permit, now_ms).await?;
        } else {
            tx.commit().await?;
        }
        if plan.revoke {
            // The resolution is committed; the revocation follows on Steward's authority.
            // A failure here is retried by the sweep, which revokes every live permit of a
            // resolved emergency, so it is not the caller's error.
            let _revoked = self
                .revoke_permit_by_system(
                    &e.permit_id,
                    RevocationReason::IncidentResolved,
                    e.as_ref().revocation(),
                    now_ms,
                )
                .await;
        }
        Ok(self.emergency(emergency_id, now_ms).await?)
    }

    /// Renews a live emergency permit by `minutes`: a human incident commander (not its
    /// declarer, the worker's owner or the worker), at most `max_renewals` times and never
    /// beyond `max_total_hours` in total (3 and 4 h in the built-in policy).
    pub async fn renew_emergency(
        &self,
        by: &Caller,
        emergency_id: &str,
        minutes: i64,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<Emergency, EmergencyActionError> {
        let mut tx = self.begin().await?;
        let mut e = load_emergency(&mut tx, emergency_id, true).await?;
        let (mut permit, worker) = row::load_with_worker(&mut tx, &e.permit_id, true).await?;
        let snap = RenewSnapshot {
            emergency: e.as_ref(),
            resolved: e.resolved_at_ms.is_some(),
            permit_id: &permit.id,
            life: permit.lifecycle(),
            spec: policy.permit_type(PermitType::Emergency),
            requirements: &permit.requirements,
            parties: &parties(&permit, &worker),
            now: Timestamp(now_ms),
        };
        let (life, events) = plan_emergency_renewal(&snap, &candidate(by), minutes)?;
        permit.set_lifecycle(life);
        write_events(&mut tx, &mut permit, &by.actor(), events, now_ms).await?;
        update_emergency(&mut tx, &mut e, now_ms).await?;
        save(tx, permit, now_ms).await?;
        Ok(self.emergency(emergency_id, now_ms).await?)
    }

    /// Files the post-incident review of an emergency that has ended (once). Its declarer,
    /// its approver, an incident commander, an on-call lead or an admin may file it.
    pub async fn file_emergency_review(
        &self,
        by: &Caller,
        emergency_id: &str,
        review: EmergencyReview,
        now_ms: i64,
    ) -> Result<Emergency, EmergencyActionError> {
        let mut tx = self.begin().await?;
        let mut e = load_emergency(&mut tx, emergency_id, true).await?;
        // The review gets its own id, which the audit catalog's emergency items name
        // (`post_incident_review_id`).
        let review_id = new_id();
        let filing = ReviewFiling {
            emergency: e.as_ref(),
            declared_by: &e.declared_by,
            approved_by: e.approved_by.as_deref(),
            filed: e.review_filed_at_ms.is_some(),
            review_due: e.review_due_at_ms.map(Timestamp),
            now: Timestamp(now_ms),
        };
        let filed = plan_review(&filing, &candidate(by), &review_id, &review)?;
        let mut permit = row::load_permit(&mut tx, &e.permit_id, false).await?;
        write_events(&mut tx, &mut permit, &by.actor(), vec![filed], now_ms).await?;
        // The stored copy (erased with its filer) keeps the review's shape.
        let EmergencyReview {
            summary,
            root_cause,
            actions,
        } = review;
        e.review = Some(json!({
            "summary": summary.into_column(),
            "root_cause": root_cause.map(PersonalText::into_column),
            "actions": actions.into_iter().map(PersonalText::into_column).collect::<Vec<_>>(),
            "id": review_id,
        }));
        e.review_filed_by = Some(by.id.clone());
        e.review_filed_at_ms = Some(now_ms);
        update_emergency(&mut tx, &mut e, now_ms).await?;
        tx.commit().await?;
        Ok(self.emergency(emergency_id, now_ms).await?)
    }

    /// Applies every emergency end that is due at `now_ms`: revokes live permits past
    /// their expiry (`time_expiration`) or of resolved incidents (`incident_resolved`)
    /// through [`Store::revoke_permit_by_system`], expires requests not approved in time,
    /// and records each end with its review deadline. Called by the server's maintenance
    /// loop, whose first run is at startup: state, not timers in memory, drives it, so a
    /// restart catches up. Safe on several instances at once (row locks and version
    /// checks; a lost race is skipped and the next run sees the result).
    pub async fn sweep_emergencies(&self, now_ms: i64) -> Result<EmergencySweep, StoreError> {
        let mut out = EmergencySweep::default();
        let now = Timestamp(now_ms);
        for (view, c) in sweep_candidates(self).await? {
            let result = match sweep_action(&view, now) {
                SweepAction::Nothing => continue,
                SweepAction::ExpireRequest => {
                    let lapsed = self.expire_emergency_request(&c.id, now_ms).await;
                    if let Ok(true) = lapsed {
                        out.lapsed.push(c.permit_id.clone());
                    }
                    lapsed
                }
                SweepAction::Revoke(reason) => {
                    let evidence = EmergencyRef {
                        id: &c.id,
                        incident_id: &c.incident_id,
                    }
                    .revocation();
                    let revoked = self
                        .revoke_permit_by_system(&c.permit_id, reason, evidence, now_ms)
                        .await;
                    if let Err(e) = revoked {
                        skip_or_fail(e)?;
                        continue;
                    }
                    match reason {
                        RevocationReason::IncidentResolved => &mut out.resolved,
                        _ => &mut out.expired,
                    }
                    .push(c.permit_id.clone());
                    self.record_emergency_end(&c.id, now_ms).await
                }
                SweepAction::RecordEnd => self.record_emergency_end(&c.id, now_ms).await,
            };
            match result {
                Ok(true) => out.ended.push(c.id),
                Ok(false) => {}
                Err(e) => skip_or_fail(e)?,
            }
        }
        Ok(out)
    }

    /// One emergency with its permit, its status and review status as of `now_ms`.
    pub async fn emergency(
        &self,
        emergency_id: &str,
        now_ms: i64,
    ) -> Result<Emergency, StoreError> {
        let mut tx = self.begin_read().await?;
        let record = load_emergency(&mut tx, emergency_id, false).await?;
        let e = present(&mut tx, record, now_ms).await?;
        tx.rollback().await?;
        Ok(e)
    }

    /// Emergencies matching `filter` (overdue as of `now_ms`), ordered by id (declaration
    /// time), after `after_id`, at most `limit` (1 to 200).
    pub async fn list_emergencies(
        &self,
        filter: &EmergencyFilter,
        after_id: Option<&str>,
        limit: u32,
        now_ms: i64,
    ) -> Result<Vec<Emergency>, StoreError> {
        let limit = i64::from(limit.clamp(1, 200));
        // 0 = any, 1 = overdue only, 2 = not overdue.
        let overdue: i64 = match filter.overdue {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        };
        const OVERDUE: &str =
            "(review_filed_at IS NULL AND review_due_at IS NOT NULL AND review_due_at <= $1)";
        // `CAST` gives PostgreSQL the type of a parameter only compared with NULL.
        let sql = format!(
            "{SELECT} WHERE ($2 = 0 OR ($2 = 1 AND {OVERDUE}) OR ($2 = 2 AND NOT {OVERDUE})) \
             AND (CAST($3 AS TEXT) IS NULL OR worker_id = $3) \
             AND (CAST($4 AS TEXT) IS NULL OR incident_id = $4) \
             AND (CAST($5 AS TEXT) IS NULL OR id > $5) ORDER BY id LIMIT $6"
        );
        let mut tx = self.begin_read().await?;
        let list = in_tx!(
            tx,
            fetch_all,
            sqlx::query_as::<_, EmergencyRow>(&sql),
            now_ms,
            overdue,
            &filter.worker_id,
            &filter.incident_id,
            after_id,
            limit
        )
        .into_iter()
        .map(decode)
        .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(list.len());
        for record in list {
            out.push(present(&mut tx, record, now_ms).await?);
        }
        tx.rollback().await?;
        Ok(out)
    }

    /// Expires an emergency's permit request that was not approved in time (or whose
    /// incident was resolved first) and records the end. `Ok(false)` when a racing
    /// request got there first.
    async fn expire_emergency_request(
        &self,
        emergency_id: &str,
        now_ms: i64,
    ) -> Result<bool, PermitError> {
        let mut tx = self.begin().await?;
        let mut e = load_emergency(&mut tx, emergency_id, true).await?;
        let mut permit = row::load_permit(&mut tx, &e.permit_id, true).await?;
        let view = view_of(&e, &permit);
        if sweep_action(&view, Timestamp(now_ms)) != SweepAction::ExpireRequest {
            return Ok(false);
        }
        let (life, events, end) =
            plan_lapse(e.as_ref(), permit.lifecycle(), &view, Timestamp(now_ms))?;
        permit.set_lifecycle(life);
        write_events(&mut tx, &mut permit, &system_actor(), events, now_ms).await?;
        if let Some(end) = end {
            e.end(end);
            update_emergency(&mut tx, &mut e, now_ms).await?;
        }
        save(tx, permit, now_ms).await?;
        Ok(true)
    }

    /// Records the end of an emergency whose permit no longer authorizes work, with its
    /// review deadline. An expiry ends at the permit's `expires_at` (not when the sweep
    /// noticed), so a restart does not move the review deadline. `Ok(false)` when the end
    /// was already recorded.
    async fn record_emergency_end(
        &self,
        emergency_id: &str,
        now_ms: i64,
    ) -> Result<bool, PermitError> {
        let mut tx = self.begin().await?;
        let mut e = load_emergency(&mut tx, emergency_id, true).await?;
        if e.ended_at_ms.is_some() {
            return Ok(false);
        }
        let mut permit = row::load_permit(&mut tx, &e.permit_id, false).await?;
        let Some((end, ended)) = plan_end(
            e.as_ref(),
            permit.state,
            permit.revocation_reason,
            permit.expires_at_ms.map(Timestamp),
            e.approved_at_ms.is_some(),
            Timestamp(now_ms),
        ) else {
            return Ok(false);
        };
        e.end(end);
        write_events(&mut tx, &mut permit, &system_actor(), vec![ended], now_ms).await?;
        update_emergency(&mut tx, &mut e, now_ms).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Refuses to decide or renew an emergency permit through the general permit workflow:
/// its approval window, approver record and renewal rules live on the emergency path
/// (`/v1/emergencies/{id}/approve`, `/renew`), which the general path would bypass.
pub(super) fn through_the_emergency_path(permit: &Permit, action: &str) -> PermitError {
    let emergency = permit.constraints.emergency_id.as_deref().unwrap_or("?");
    PermitError::not_allowed(
        Refusal::EmergencyPath,
        format!(
            "permit `{}` is an emergency permit: it is {action} through emergency `{emergency}` (`/v1/emergencies/{emergency}`), not the permit workflow",
            permit.id
        ),
    )
}

/// A sweep skips an emergency another request or instance changed under it (the next run
/// sees the result) and stops on a database failure.
fn skip_or_fail(e: PermitError) -> Result<(), StoreError> {
    match e {
        PermitError::Store(StoreError::Conflict { .. }) => Ok(()),
        PermitError::Store(other) => Err(other),
        _ => Ok(()),
    }
}

impl Record {
    /// How its events name it.
    fn as_ref(&self) -> EmergencyRef<'_> {
        EmergencyRef {
            id: &self.id,
            incident_id: &self.incident_id,
        }
    }

    /// Records its end.
    fn end(&mut self, end: EmergencyEnd) {
        self.ended_at_ms = Some(end.at.millis());
        self.end_reason = Some(end.reason.to_owned());
        self.review_due_at_ms = end.review_due.map(Timestamp::millis);
    }
}

fn view_of(e: &Record, permit: &Permit) -> SweepView {
    SweepView {
        permit_state: permit.state,
        expires_at: permit.expires_at_ms.map(Timestamp),
        approval_deadline: Timestamp(e.approval_deadline_ms),
        resolved: e.resolved_at_ms.is_some(),
        ended: e.ended_at_ms.is_some(),
    }
}

/// The emergency as the API shows it: the record, its permit, and its statuses at `now_ms`.
async fn present(tx: &mut Tx<'_>, r: Record, now_ms: i64) -> Result<Emergency, StoreError> {
    let permit = row::load_permit(tx, &r.permit_id, false).await?;
    let review = review_status(
        r.review_due_at_ms.map(Timestamp),
        r.review_filed_at_ms.is_some(),
        Timestamp(now_ms),
    );
    Ok(Emergency {
        status: emergency_status(permit.state, r.resolved_at_ms.is_some()),
        review_status: review,
        review_overdue: review == ReviewStatus::Overdue,
        permit,
        id: r.id,
        incident_id: r.incident_id,
        worker_id: r.worker_id,
        permit_id: r.permit_id,
        declared_by: r.declared_by,
        reason: r.reason,
        minutes: r.minutes,
        declared_at_ms: r.declared_at_ms,
        approval_deadline_ms: r.approval_deadline_ms,
        approved_by: r.approved_by,
        approved_role: r.approved_role,
        approved_at_ms: r.approved_at_ms,
        resolved_by: r.resolved_by,
        resolved_at_ms: r.resolved_at_ms,
        resolution: r.resolution,
        ended_at_ms: r.ended_at_ms,
        end_reason: r.end_reason,
        review_due_at_ms: r.review_due_at_ms,
        review_filed_by: r.review_filed_by,
        review_filed_at_ms: r.review_filed_at_ms,
        review: r.review,
        created_at_ms: r.created_at_ms,
        updated_at_ms: r.updated_at_ms,
    })
}

/// The `emergencies` columns, in [`EmergencyRow`]'s names; `review` (JSONB on
/// PostgreSQL) is read as text.
const SELECT: &str = "SELECT id, incident_id, permit_id, worker_id, declared_by, reason, \
     minutes, declared_at AS declared_at_ms, approval_deadline AS approval_deadline_ms, \
     approved_by, approved_role, approved_at AS approved_at_ms, resolved_by, \
     resolved_at AS resolved_at_ms, resolution, ended_at AS ended_at_ms, end_reason, \
     review_due_at AS review_due_at_ms, review_filed_by, review_filed_at AS review_filed_at_ms, \
     CAST(review AS TEXT) AS review, version, created_at AS created_at_ms, \
     updated_at AS updated_at_ms FROM emergencies";

/// One `emergencies` row as [`SELECT`] reads it: the record, and the approver's role and
/// the review as stored.
#[derive(sqlx::FromRow)]
struct EmergencyRow {
    #[sqlx(flatten)]
    record: Record,
    approved_role: Option<String>,
    review: Option<String>,
}

fn decode(row: EmergencyRow) -> Result<Record, StoreError> {
    let corrupt = |e: &dyn Display| StoreError::corrupt("emergency", &row.record.id, e);
    let role = row
        .approved_role
        .map(|r| r.parse::<Role>().map_err(|e| corrupt(&e)));
    let review = row
        .review
        .map(|t| serde_json::from_str(&t).map_err(|e| corrupt(&e)));
    Ok(Record {
        approved_role: role.transpose()?,
        review: review.transpose()?,
        ..row.record
    })
}

/// Loads an emergency row; `lock` takes its row lock on PostgreSQL for the rest of the
/// transaction (SQLite writers hold the database lock anyway).
async fn load_emergency(tx: &mut Tx<'_>, id: &str, lock: bool) -> Result<Record, StoreError> {
    let sql = format!(
        "{SELECT} WHERE id = $1{}",
        if lock { tx.for_update() } else { "" }
    );
    let row = in_tx!(
        tx,
        fetch_optional,
        sqlx::query_as::<_, EmergencyRow>(&sql),
        id
    )
    .ok_or_else(|| StoreError::NotFound {
        what: "emergency",
        id: id.to_owned(),
    })?;
    decode(row)
}

async fn insert_emergency(
    tx: &mut Tx<'_>,
    id: &str,
    new: &NewEmergency,
    permit_id: &str,
    declared_by: &str,
    deadline_ms: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO emergencies (id, incident_id, permit_id, worker_id, \
         declared_by, reason, minutes, declared_at, approval_deadline, version, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11)";
    in_tx!(
        tx,
        execute,
        sqlx::query(SQL),
        id,
        &new.incident_id,
        permit_id,
        &new.worker_id,
        declared_by,
        new.reason.as_column(),
        new.minutes,
        now_ms,
        deadline_ms,
        now_ms,
        now_ms
    );
    Ok(())
}

/// Writes every mutable column of an emergency, guarded by the version read with it.
///
/// INVARIANT: an emergency row changes only here, and only when its version is the one
/// this transaction read; the version then moves on by one.
async fn update_emergency(tx: &mut Tx<'_>, r: &mut Record, now_ms: i64) -> Result<(), StoreError> {
    const SQL: &str = "UPDATE emergencies SET approved_by = $1, approved_role = $2, \
         approved_at = $3, resolved_by = $4, resolved_at = $5, resolution = $6, ended_at = $7, \
         end_reason = $8, review_due_at = $9, review_filed_by = $10, review_filed_at = $11, \
         review = $12, updated_at = $13, version = version + 1 WHERE id = $14 AND version = $15";
    let role = r.approved_role.map(|role| role.as_str());
    let affected = in_tx!(
        tx,
        execute,
        sqlx::query(SQL),
        &r.approved_by,
        role,
        r.approved_at_ms,
        &r.resolved_by,
        r.resolved_at_ms,
        &r.resolution,
        r.ended_at_ms,
        &r.end_reason,
        r.review_due_at_ms,
        &r.review_filed_by,
        r.review_filed_at_ms,
        r.review.as_ref().map(Json),
        now_ms,
        &r.id,
        r.version
    );
    if affected != 1 {
        return Err(StoreError::Conflict {
            message: format!("emergency `{}` was changed by another request; retry", r.id),
        });
    }
    r.version += 1;
    r.updated_at_ms = now_ms;
    Ok(())
}

/// One emergency the sweep looks at, with its permit's state and expiry.
#[derive(sqlx::FromRow)]
struct Candidate {
    id: String,
    incident_id: String,
    permit_id: String,
    state: String,
    expires_at: Option<i64>,
    approval_deadline: i64,
    resolved_at: Option<i64>,
    ended_at: Option<i64>,
}

/// Emergencies that may need the sweep: not yet ended, or ended with a live permit (a
/// resolution whose revocation has not happened). At most 500 per run.
async fn sweep_candidates(store: &Store) -> Result<Vec<(SweepView, Candidate)>, StoreError> {
    const SQL: &str = "SELECT e.id, e.incident_id, e.permit_id, p.state, p.expires_at, \
         e.approval_deadline, e.resolved_at, e.ended_at FROM emergencies e \
         JOIN permits p ON p.id = e.permit_id \
         WHERE e.ended_at IS NULL OR p.state IN ('approved', 'active', 'executing') \
         ORDER BY e.id LIMIT 500";
    let rows = in_pool!(store.pool, fetch_all, sqlx::query_as::<_, Candidate>(SQL));
    rows.into_iter()
        .map(|c| {
            let view = SweepView {
                permit_state: c
                    .state
                    .parse::<PermitState>()
                    .map_err(|err| StoreError::corrupt("permit", &c.permit_id, err))?,
                expires_at: c.expires_at.map(Timestamp),
                approval_deadline: Timestamp(c.approval_deadline),
                resolved: c.resolved_at.is_some(),
                ended: c.ended_at.is_some(),
            };
            Ok((view, c))
        })
        .collect()
}
