//! The certification half of [`Store::run_timers`] (SPEC §5), actor the system principal
//! `steward`:
//!
//! | timer | effect | event |
//! |---|---|---|
//! | `certification_grace` | none: allowed with a warning until the grace ends | `worker.certification_grace` {recertify_by_ms, grace_until_ms} |
//! | `certification_expiry` | `expire` → `expired` (a hard block) | `worker.expired` {automatic} |
//! | `probation_end` | `end_probation` → `active` | `worker.probation_ended` {automatic} |
//!
//! The status changes go through `apply_cert_action` and `row::save` (optimistic version
//! check), like the human use cases in `status.rs`, and record the same event types.

use serde_json::json;
use steward_audit::{Actor, ActorKind};
use steward_permits::{
    CertAction, DueTimer, TimerKind, Timestamp, WorkerRecord, apply_cert_action,
    certification_grace_end, certification_timers,
};

use super::{Worker, WorkerError, row, worker_event};
use crate::audit::append_event;
use crate::error::StoreError;
use crate::store::{Store, Tx, on_pool};
use crate::timers::{FiredTimer, TimerReport, TimerSubject, already_fired, claim, has_unfired};

fn steward() -> Actor {
    Actor {
        kind: ActorKind::System,
        id: "steward".into(),
        roles: Vec::new(),
        channel: None,
    }
}

impl Store {
    pub(crate) async fn run_worker_timers(
        &self,
        now_ms: i64,
        report: &mut TimerReport,
    ) -> Result<(), StoreError> {
        let now = Timestamp(now_ms);
        let mut due = Vec::new();
        for worker in candidates(self, now_ms).await? {
            let timers = certification_timers(&worker.record(), now);
            if !timers.is_empty() {
                due.push((worker.id, timers));
            }
        }
        let ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
        let fired = already_fired(self, TimerSubject::Worker, &ids).await?;
        for (id, timers) in &due {
            if !has_unfired(&fired, id, timers) {
                continue;
            }
            match self.fire_worker_timers(id, now_ms).await {
                Ok(done) => report.fired.extend(done),
                Err(error) => {
                    tracing::warn!(worker = %id, %error, "certification timer failed; retrying next run");
                    report.failed.push((TimerSubject::Worker, id.clone()));
                }
            }
        }
        Ok(())
    }

    /// Fires the due, unfired timers of one worker in one transaction under its lock.
    async fn fire_worker_timers(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Vec<FiredTimer>, WorkerError> {
        let mut tx = self.begin().await?;
        let mut worker = row::lock(&mut tx, id).await?;
        let mut fired = Vec::new();
        for timer in certification_timers(&worker.record(), Timestamp(now_ms)) {
            if !claim(&mut tx, TimerSubject::Worker, id, timer, now_ms).await? {
                continue;
            }
            worker = apply_timer(&mut tx, worker, timer, now_ms).await?;
            fired.push(FiredTimer {
                subject: TimerSubject::Worker,
                subject_id: id.to_owned(),
                timer: timer.kind,
                due_at_ms: timer.due_at.millis(),
            });
        }
        tx.commit().await?;
        Ok(fired)
    }
}

/// Applies one claimed certification timer and appends its event; returns the worker as
/// it now stands.
async fn apply_timer(
    tx: &mut Tx<'_>,
    before: Worker,
    timer: DueTimer,
    now_ms: i64,
) -> Result<Worker, WorkerError> {
    let by = steward();
    let (action, event_type) = match timer.kind {
        TimerKind::CertificationGrace => {
            let grace_until =
                certification_grace_end(before.level, timer.due_at).map(Timestamp::millis);
            append_event(
                tx,
                worker_event(
                    &by,
                    now_ms,
                    "worker.certification_grace",
                    &before,
                    json!({
                        "status": before.status.as_str(),
                        "recertify_by_ms": timer.due_at.millis(),
                        "grace_until_ms": grace_until,
                    }),
                ),
            )
            .await?;
            return Ok(before);
        }
        TimerKind::CertificationExpiry => (CertAction::Expire, "worker.expired"),
        TimerKind::ProbationEnd => (CertAction::EndProbation, "worker.probation_ended"),
        other => {
            return Err(StoreError::Conflict {
                message: format!("`{other}` is not a certification timer"),
            }
            .into());
        }
    };
    let status = apply_cert_action(before.status, action).map_err(|error| {
        WorkerError::IllegalTransition {
            worker_id: before.id.clone(),
            error,
        }
    })?;
    let record = WorkerRecord {
        status,
        ..before.record()
    };
    let after = row::save(tx, &before, &record, now_ms).await?;
    append_event(
        tx,
        worker_event(
            &by,
            now_ms,
            event_type,
            &after,
            json!({
                "automatic": true,
                "from_status": before.status.as_str(),
                "to_status": after.status.as_str(),
                "due_at_ms": timer.due_at.millis(),
                "recertify_by": before.recertify_by_ms,
                "probation_until": before.probation_until_ms,
            }),
        ),
    )
    .await?;
    Ok(after)
}

/// Workers that may have a certification timer due at `now_ms`: in force at level 1–4
/// with a recertification date (or, without one, a grant date) passed, or probationary
/// with a probation end passed. A superset; `certification_timers` decides.
async fn candidates(store: &Store, now_ms: i64) -> Result<Vec<Worker>, StoreError> {
    let sql = format!(
        "SELECT {} FROM workers WHERE (level > 0 AND status IN ('active', 'probationary') \
         AND coalesce(recertify_by, level_granted_at) <= $1) \
         OR (status = 'probationary' AND probation_until <= $1) ORDER BY id",
        row::COLUMNS
    );
    let rows = on_pool!(store.pool, |pool| {
        sqlx::query_as::<_, row::WorkerRow>(&sql)
            .bind(now_ms)
            .fetch_all(pool)
            .await?
    });
    rows.into_iter().map(row::decode).collect()
}
