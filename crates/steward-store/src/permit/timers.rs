//! The permit half of [`Store::run_timers`]: approval SLA (overdue and escalation, expiry
//! at 2 × SLA), expiry warnings, expiry and the in-flight grace (SPEC §6.2, §6.3).
//!
//! Effects and their audit events (actor: the system principal `steward`):
//!
//! | timer | effect | event(s) |
//! |---|---|---|
//! | `approval_overdue` | none (the ledger row is the overdue flag) | `permit.approval_overdue`, `permit.escalated` {roles} |
//! | `request_expiry` | `expire` → `expired` | `permit.expired` |
//! | `expiry_warning_{30,15,5}` | none | `permit.expiry_warning` {minutes} |
//! | `permit_expiry` (active) | `revoke` (`time_expiration`) → `revoked` | `permit.revoked` |
//! | `grace_start` (executing) | none: the in-flight operation may complete, `authorize` already refuses new ones past `expires_at` | `permit.expiry_grace_started` {grace_until_ms} |
//! | `grace_end` (still executing) | `revoke` (`time_expiration`) → `revoked` | `permit.revoked` {in_flight_grace_ended} |

use steward_permits::{
    EXPIRY_WARNING_MINUTES, PermitState, PermitTimes, TimerFacts, Timestamp, permit_timers,
    plan_timer,
};
use steward_policy::PermitType;

use super::{PermitError, row, system_actor, write_events};
use crate::error::StoreError;
use crate::store::{Backend, Store, in_pool};
use crate::timers::{FiredTimer, TimerReport, TimerSubject, claim, with_unfired};

/// A permit that may have a timer due, as the candidate scan reads it.
#[derive(sqlx::FromRow)]
struct Candidate {
    id: String,
    state: String,
    created_at: i64,
    expires_at: Option<i64>,
    /// The approval SLA from the analysis, when it has one.
    sla_hours: Option<f64>,
}

impl Store {
    pub(crate) async fn run_permit_timers(
        &self,
        now_ms: i64,
        report: &mut TimerReport,
    ) -> Result<(), StoreError> {
        let now = Timestamp(now_ms);
        let mut due = Vec::new();
        for c in candidates(self, now_ms).await? {
            let Ok(state) = c.state.parse::<PermitState>() else {
                report.failed.push((TimerSubject::Permit, c.id));
                continue;
            };
            let times = PermitTimes {
                state,
                requested_at: Timestamp(c.created_at),
                approval_sla_hours: c.sla_hours.unwrap_or(0.0),
                expires_at: c.expires_at.map(Timestamp),
            };
            let timers = permit_timers(&times, now);
            if !timers.is_empty() {
                due.push((c.id, timers));
            }
        }
        for id in with_unfired(self, TimerSubject::Permit, due).await? {
            match self.fire_permit_timers(&id, now_ms).await {
                Ok(done) => report.fired.extend(done),
                Err(error) => {
                    tracing::warn!(permit = %id, %error, "permit timer failed; retrying next run");
                    report.failed.push((TimerSubject::Permit, id));
                }
            }
        }
        Ok(())
    }

    /// Fires the timers of one permit that are due at `now_ms` and not yet fired, in one
    /// transaction under the permit's lock.
    async fn fire_permit_timers(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Vec<FiredTimer>, PermitError> {
        let mut tx = self.begin().await?;
        let mut permit = row::load_permit(&mut tx, id, true).await?;
        if permit.permit_type == PermitType::Emergency {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let mut fired = Vec::new();
        let before = permit.state;
        for timer in permit_timers(&permit.times(), Timestamp(now_ms)) {
            let Some(claimed) = claim(&mut tx, TimerSubject::Permit, id, timer, now_ms).await?
            else {
                continue;
            };
            let facts = TimerFacts {
                level: permit.level,
                requested_at: Timestamp(permit.created_at_ms),
                approval_sla_hours: permit.requirements.max_approval_time_hours,
                approver_roles: &permit.requirements.approver_roles,
            };
            let mut life = permit.lifecycle();
            let events = plan_timer(&mut life, &facts, timer)?;
            permit.set_lifecycle(life);
            write_events(&mut tx, &mut permit, &system_actor(), events, now_ms).await?;
            fired.push(claimed);
        }
        if permit.state != before {
            row::update_permit(&mut tx, &mut permit, now_ms, false).await?;
        }
        tx.commit().await?;
        Ok(fired)
    }
}

/// Permits that may have a timer due at `now_ms`: every request waiting for approval (its
/// SLA is in the analysis), and live permits within the first warning of their expiry or
/// past it. Emergency permits are the emergency path's.
async fn candidates(store: &Store, now_ms: i64) -> Result<Vec<Candidate>, StoreError> {
    let first_warning = EXPIRY_WARNING_MINUTES.iter().max().copied().unwrap_or(0);
    let horizon = now_ms.saturating_add(first_warning * 60_000);
    // The databases' JSON path syntaxes differ; the rest of the statement is one text.
    let sla_hours = match store.backend() {
        Backend::Sqlite => {
            "CAST(json_extract(analysis, '$.approval_requirements.max_approval_time_hours') \
             AS REAL)"
        }
        Backend::Postgres => {
            "CAST(analysis #>> '{approval_requirements,max_approval_time_hours}' \
             AS DOUBLE PRECISION)"
        }
    };
    let sql = format!(
        "SELECT id, state, created_at, expires_at, {sla_hours} AS sla_hours FROM permits \
         WHERE permit_type <> 'emergency' AND (state IN ('requested', 'under_review', \
         'changes_requested') OR (state IN ('active', 'executing') AND expires_at <= $1)) \
         ORDER BY id"
    );
    Ok(in_pool!(
        store.pool,
        fetch_all,
        sqlx::query_as::<_, Candidate>(&sql),
        horizon
    ))
}
