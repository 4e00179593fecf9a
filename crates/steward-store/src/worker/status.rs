//! Certification status changes (SPEC §5), each planned by
//! `steward_permits::plan_status_change` through `apply_cert_action`: suspend,
//! reinstate, revoke (which revokes the worker's live permits in the same transaction),
//! recertify, end of probation, and expiry past the recertification grace period.

use sqlx::types::Json;
use steward_audit::{Actor, ActorKind, Subject};
use steward_permits::{
    CascadeRevocation, CertAction, LivePermit, PermitState, StatusSnapshot, Timestamp,
    check_status_request, plan_expiry, plan_status_change,
};
use steward_policy::Level;

use super::promotion::{ClosedBy, close_open_approvals};
use super::{Worker, WorkerError, append_events, row};
use crate::audit::{NewEvent, append_event};
use crate::caller::Caller;
use crate::error::StoreError;
use crate::permit::PermitRevocation;
use crate::store::{Store, Tx, in_tx};

/// What [`Store::revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub worker: Worker,
    /// The permits revoked with the certification (reason `certification_revoked`).
    pub revoked_permits: Vec<String>,
}

impl Store {
    /// Suspends the worker's certification (`worker.suspended`) and voids its pending
    /// promotion approvals. Suspending a suspended worker changes and records nothing.
    pub async fn suspend(
        &self,
        by: &Caller,
        worker_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        self.change_worker_status(by, worker_id, CertAction::Suspend, Some(reason), now_ms)
            .await
    }

    /// Reinstates a suspended worker to `active` (`worker.reinstated`).
    pub async fn reinstate(
        &self,
        by: &Caller,
        worker_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        self.change_worker_status(by, worker_id, CertAction::Reinstate, Some(reason), now_ms)
            .await
    }

    /// Revokes the worker's certification (`worker.revoked`), voids its pending
    /// promotion approvals, and revokes every live permit of the worker (approved,
    /// active or executing) with reason `certification_revoked`, one `permit.revoked`
    /// event each, all in one transaction (SPEC §5).
    ///
    /// Idempotent: revoking a revoked worker with no live permit changes and records
    /// nothing; one that somehow still has a live permit gets it revoked.
    pub async fn revoke(
        &self,
        by: &Caller,
        worker_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Revocation, WorkerError> {
        self.change_status(
            &by.actor(),
            worker_id,
            CertAction::Revoke,
            Some(reason),
            now_ms,
        )
        .await
    }

    /// Recertifies the worker, a human act (`worker.recertified`): the next
    /// recertification falls one period (365 days for levels 1–2, 90 for 3–4) from now,
    /// and an `expired` certification becomes `active` again. Level 0 is never
    /// recertified.
    pub async fn recertify(
        &self,
        by: &Caller,
        worker_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        self.change_worker_status(by, worker_id, CertAction::Recertify, Some(reason), now_ms)
            .await
    }

    /// Ends a probation whose period is over (`worker.probation_ended`): the worker
    /// becomes `active`. Before `probation_until` it is [`WorkerError::ProbationNotOver`].
    pub async fn end_probation(
        &self,
        by: &Caller,
        worker_id: &str,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        self.change_worker_status(by, worker_id, CertAction::EndProbation, None, now_ms)
            .await
    }

    /// Expires every `active` or `probationary` certification past its recertification
    /// grace period at `now_ms` (`worker.expired` each), in one transaction, and returns
    /// the expired workers. For a timer; `by` is normally the system actor.
    pub async fn expire_overdue_certifications(
        &self,
        by: &Caller,
        now_ms: i64,
    ) -> Result<Vec<Worker>, StoreError> {
        let mut tx = self.begin().await?;
        let mut expired = Vec::new();
        for before in row::lock_overdue(&mut tx, now_ms).await? {
            let Some((record, event)) = plan_expiry(&before.record(), Timestamp(now_ms)) else {
                continue;
            };
            let after = row::save(&mut tx, &before, &record, now_ms).await?;
            append_events(&mut tx, &by.actor(), &after.id, vec![event], now_ms).await?;
            expired.push(after);
        }
        tx.commit().await?;
        Ok(expired)
    }

    /// [`Self::change_status`] for an action that revokes no permit: the worker as the
    /// change left it.
    async fn change_worker_status(
        &self,
        by: &Caller,
        worker_id: &str,
        action: CertAction,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        self.change_status(&by.actor(), worker_id, action, reason, now_ms)
            .await
            .map(|done| done.worker)
    }

    /// One status change, `reason` a person's (checked by `check_status_request`),
    /// planned by `plan_status_change`.
    async fn change_status(
        &self,
        by: &Actor,
        worker_id: &str,
        action: CertAction,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<Revocation, WorkerError> {
        let reason = check_status_request(action, reason, by.kind == ActorKind::Human)?;
        let mut tx = self.begin().await?;
        let before = row::lock(&mut tx, worker_id).await?;
        let live_permits = if action == CertAction::Revoke {
            live_permits(&mut tx, &before.id).await?
        } else {
            Vec::new()
        };
        let plan = plan_status_change(&StatusSnapshot {
            worker: &before.facts(),
            action,
            reason,
            caller_id: &by.id,
            live_permits: &live_permits,
            now: Timestamp(now_ms),
        })?;
        let Some(plan) = plan else {
            // An idempotent repeat: nothing to change, so nothing to record.
            tx.rollback().await?;
            return Ok(Revocation {
                worker: before,
                revoked_permits: Vec::new(),
            });
        };
        let after = row::save(&mut tx, &before, &plan.record, now_ms).await?;
        if plan.void_approvals {
            close_open_approvals(&mut tx, &after.id, ClosedBy::Voided, now_ms).await?;
        }
        append_events(&mut tx, by, &after.id, vec![plan.event], now_ms).await?;
        let mut revoked_permits = Vec::with_capacity(plan.revocations.len());
        for revocation in plan.revocations {
            revoke_permit(&mut tx, by, &after.id, &revocation, now_ms).await?;
            revoked_permits.push(revocation.permit_id);
        }
        tx.commit().await?;
        Ok(Revocation {
            worker: after,
            revoked_permits,
        })
    }
}

/// The worker's live permits, locked (PostgreSQL `FOR UPDATE`) so that each one's state
/// cannot change before it is revoked and its event names the state it left.
async fn live_permits(tx: &mut Tx<'_>, worker_id: &str) -> Result<Vec<LivePermit>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        state: String,
        level: i64,
    }
    // The live states are the enum's own literals, never input, so they are written into
    // the statement: one text for both backends (SQLite has no array parameters).
    let live = PermitState::ALL
        .iter()
        .filter(|state| state.is_live())
        .map(|state| format!("'{}'", state.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT id, state, level FROM permits WHERE worker_id = $1 AND state IN ({live}) \
         ORDER BY id{}",
        tx.for_update()
    );
    let rows = in_tx!(tx, fetch_all, sqlx::query_as::<_, Row>(&sql), worker_id);
    rows.into_iter()
        .map(|Row { id, state, level }| {
            let state = state
                .parse::<PermitState>()
                .map_err(|e| StoreError::corrupt("permit", &id, e))?;
            let level = u8::try_from(level).ok().and_then(Level::new);
            Ok(LivePermit { id, state, level })
        })
        .collect()
}

/// Revokes one live permit as `revocation` plans, because its worker's certification was
/// revoked, and records `permit.revoked`.
async fn revoke_permit(
    tx: &mut Tx<'_>,
    by: &Actor,
    worker_id: &str,
    revocation: &CascadeRevocation,
    now_ms: i64,
) -> Result<(), StoreError> {
    let CascadeRevocation {
        permit_id,
        from,
        to,
        level,
        reason,
        event,
    } = revocation;
    let about = Subject {
        permit_id: Some(permit_id.clone()),
        worker_id: Some(worker_id.to_owned()),
        ..Subject::default()
    };
    // The event first, so the permit's revocation can name its seq; both commit or
    // neither does.
    let event = NewEvent::typed(now_ms, by.clone(), about, *level, event.clone())?;
    let data = event.data.clone();
    let entry = append_event(tx, event).await?;
    let recorded = PermitRevocation::recorded(*reason, by, &data, entry.seq, now_ms);
    // By id and the state just read, not by worker: a permit that appeared or moved
    // since (it cannot, under the lock) is left alone rather than revoked unrecorded.
    const SQL: &str = "UPDATE permits SET state = $1, revocation_reason = $2, revocation = $3, \
         updated_at = $4, version = version + 1 WHERE id = $5 AND state = $6";
    let changed = in_tx!(
        tx,
        execute,
        sqlx::query(SQL),
        to.as_str(),
        reason.as_str(),
        Json(&recorded),
        now_ms,
        permit_id,
        from.as_str(),
    );
    if changed != 1 {
        return Err(StoreError::Conflict {
            message: format!(
                "permit `{permit_id}` changed while its worker's certification was revoked; retry"
            ),
        });
    }
    Ok(())
}
