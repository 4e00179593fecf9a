//! The certification half of [`Store::run_timers`] (SPEC §5), actor the system principal
//! `steward`:
//!
//! | timer | effect | event |
//! |---|---|---|
//! | `certification_grace` | none: allowed with a warning until the grace ends | `worker.certification_grace` {recertify_by_ms, grace_until_ms} |
//! | `certification_expiry` | `expire` → `expired` (a hard block) | `worker.expired` {automatic} |
//! | `probation_end` | `end_probation` → `active` | `worker.probation_ended` {automatic} |
//!
//! `steward_permits::plan_certification_timer` decides each (status changes through `apply_cert_action`);
//! `row::save` writes them with the optimistic version check, like the human use cases in
//! `status.rs`, and they record the same event types.

use steward_permits::{DueTimer, Timestamp, certification_timers, plan_certification_timer};

use super::{Worker, WorkerError, append_events, row};
use crate::error::StoreError;
use crate::permit::system_actor;
use crate::store::{Store, Tx, in_pool};
use crate::timers::{FiredTimer, TimerReport, TimerSubject, claim, with_unfired};

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
        for id in with_unfired(self, TimerSubject::Worker, due).await? {
            match self.fire_worker_timers(&id, now_ms).await {
                Ok(done) => report.fired.extend(done),
                Err(error) => {
                    tracing::warn!(worker = %id, %error, "certification timer failed; retrying next run");
                    report.failed.push((TimerSubject::Worker, id));
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
            let Some(claimed) = claim(&mut tx, TimerSubject::Worker, id, timer, now_ms).await?
            else {
                continue;
            };
            worker = apply_timer(&mut tx, worker, timer, now_ms).await?;
            fired.push(claimed);
        }
        tx.commit().await?;
        Ok(fired)
    }
}

/// Applies one claimed certification timer as `plan_certification_timer` plans and appends its event;
/// returns the worker as it now stands.
async fn apply_timer(
    tx: &mut Tx<'_>,
    before: Worker,
    timer: DueTimer,
    now_ms: i64,
) -> Result<Worker, WorkerError> {
    let (record, event) = plan_certification_timer(&before.id, &before.record(), timer)?;
    let after = match record {
        Some(record) => row::save(tx, &before, &record, now_ms).await?,
        None => before,
    };
    append_events(tx, &system_actor(), &after.id, vec![event], now_ms).await?;
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
    let rows = in_pool!(
        store.pool,
        fetch_all,
        sqlx::query_as::<_, row::WorkerRow>(&sql),
        now_ms
    );
    rows.into_iter().map(row::decode).collect()
}
