//! Timers (SPEC §5, §6.2, §6.3): [`Store::run_timers`] fires every timer that is due —
//! approval SLAs (overdue and escalation, request expiry at 2 × SLA), permit expiry
//! warnings, expiry and the in-flight grace, certification grace and expiry, and the end
//! of probation. Which timers are due is decided by `steward_permits::{permit_timers,
//! certification_timers}` from stored rows; this module and its two halves
//! (`permit::timers`, `worker::timers`) apply them.
//!
//! # Invariants
//!
//! - Each timer is `(subject, kind, due_at)`, with `due_at` derived from stored times, and
//!   fires at most once: firing it inserts that key into `timer_firings` (the claim) in
//!   the same transaction as its effect and its audit event. Several instances on one
//!   PostgreSQL may run the timers at once; the subject's row lock serialises them, and
//!   the primary key makes the loser's claim a no-op, so it skips. Nothing is kept in
//!   memory, so a restart (or a crash between two timers) loses and repeats nothing.
//! - A timer's effect goes through the same primitives as the use cases: permit state
//!   changes through `steward_permits::apply` (`transition`), certification changes
//!   through `apply_cert_action`, with the optimistic version check.
//! - Emergency permits are the emergency path's (SPEC §8): their auto-revocation and
//!   approval clock are not fired here.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;
use steward_permits::{DueTimer, TimerKind};

use crate::error::StoreError;
use crate::store::{Pool, Store, Tx, in_pool, in_tx};

/// What a timer is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerSubject {
    Permit,
    Worker,
}

impl TimerSubject {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerSubject::Permit => "permit",
            TimerSubject::Worker => "worker",
        }
    }
}

/// One timer fired by this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FiredTimer {
    pub subject: TimerSubject,
    pub subject_id: String,
    pub timer: TimerKind,
    pub due_at_ms: i64,
}

/// What one [`Store::run_timers`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TimerReport {
    /// Timers this instance claimed and applied, in order.
    pub fired: Vec<FiredTimer>,
    /// Subjects whose timers could not be applied this time (a conflicting change, a
    /// row that no longer decodes); they are retried on the next run. Each was logged.
    pub failed: Vec<(TimerSubject, String)>,
}

impl Store {
    /// Fires every timer due at `now_ms`: each in one transaction with its claim, its
    /// effect and its audit event, skipping those already fired (by this or another
    /// instance). Called once a tick by the server's maintenance loop; idempotent.
    ///
    /// Errors only when the due timers cannot be found at all; a subject whose timers
    /// fail is reported in [`TimerReport::failed`] and retried on the next call.
    pub async fn run_timers(&self, now_ms: i64) -> Result<TimerReport, StoreError> {
        let mut report = TimerReport::default();
        self.run_permit_timers(now_ms, &mut report).await?;
        self.run_worker_timers(now_ms, &mut report).await?;
        Ok(report)
    }

    /// The timers of `subject_id` recorded as fired, oldest first: `(timer, due_at_ms,
    /// fired_at_ms)`. For reads (an overdue flag, a grace) and tests.
    pub async fn fired_timers(
        &self,
        subject: TimerSubject,
        subject_id: &str,
    ) -> Result<Vec<(TimerKind, i64, i64)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            timer: String,
            due_at: i64,
            fired_at: i64,
        }
        const SQL: &str = "SELECT timer, due_at, fired_at FROM timer_firings \
             WHERE subject_kind = $1 AND subject_id = $2 ORDER BY fired_at, due_at, timer";
        let rows = in_pool!(
            self.pool,
            fetch_all,
            sqlx::query_as::<_, Row>(SQL),
            subject.as_str(),
            subject_id
        );
        rows.into_iter()
            .map(|row| {
                let kind = row
                    .timer
                    .parse::<TimerKind>()
                    .map_err(|e| StoreError::corrupt("timer firing", subject_id, e))?;
                Ok((kind, row.due_at, row.fired_at))
            })
            .collect()
    }
}

/// The subjects of `due` (each with the timers due now) that have a timer not yet fired,
/// in `due`'s order, so that a run opens no write transaction for a subject with nothing
/// new.
pub(crate) async fn with_unfired(
    store: &Store,
    subject: TimerSubject,
    due: Vec<(String, Vec<DueTimer>)>,
) -> Result<Vec<String>, StoreError> {
    let ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
    let fired = already_fired(store, subject, &ids).await?;
    Ok(due
        .into_iter()
        .filter(|(id, timers)| has_unfired(&fired, id, timers))
        .map(|(id, _)| id)
        .collect())
}

/// The `(subject_id, timer, due_at)` keys already fired among `ids`.
async fn already_fired(
    store: &Store,
    subject: TimerSubject,
    ids: &[&str],
) -> Result<BTreeSet<(String, String, i64)>, StoreError> {
    if ids.is_empty() {
        return Ok(BTreeSet::new());
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        subject_id: String,
        timer: String,
        due_at: i64,
    }
    // The one place the backends differ: SQLite has no array parameters, so the ids go
    // in as a JSON array that `json_each` unpacks; PostgreSQL takes them as `text[]`.
    let rows = match &store.pool {
        Pool::Sqlite(pool) => {
            sqlx::query_as::<_, Row>(
                "SELECT subject_id, timer, due_at FROM timer_firings WHERE subject_kind = $1 \
                 AND subject_id IN (SELECT value FROM json_each($2))",
            )
            .bind(subject.as_str())
            .bind(Value::from(ids.to_vec()).to_string())
            .fetch_all(pool)
            .await?
        }
        Pool::Postgres(pool) => {
            sqlx::query_as::<_, Row>(
                "SELECT subject_id, timer, due_at FROM timer_firings WHERE subject_kind = $1 \
                 AND subject_id = ANY($2)",
            )
            .bind(subject.as_str())
            .bind(ids)
            .fetch_all(pool)
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|row| (row.subject_id, row.timer, row.due_at))
        .collect())
}

/// Whether `due` has timers of `id` not in `fired`.
fn has_unfired(fired: &BTreeSet<(String, String, i64)>, id: &str, due: &[DueTimer]) -> bool {
    due.iter()
        .any(|t| !fired.contains(&(id.to_owned(), t.kind.as_str().to_owned(), t.due_at.millis())))
}

/// Claims `timer` of `subject_id` inside `tx`: the timer as fired when this transaction
/// recorded it (and so must apply it), `None` when it had fired already. On PostgreSQL a
/// concurrent claim of the same key waits for the other transaction and then finds the
/// row.
pub(crate) async fn claim(
    tx: &mut Tx<'_>,
    subject: TimerSubject,
    subject_id: &str,
    timer: DueTimer,
    now_ms: i64,
) -> Result<Option<FiredTimer>, StoreError> {
    const SQL: &str = "INSERT INTO timer_firings (subject_kind, subject_id, timer, due_at, \
         fired_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
    let inserted = in_tx!(
        tx,
        execute,
        sqlx::query(SQL),
        subject.as_str(),
        subject_id,
        timer.kind.as_str(),
        timer.due_at.millis(),
        now_ms
    );
    Ok((inserted == 1).then(|| FiredTimer {
        subject,
        subject_id: subject_id.to_owned(),
        timer: timer.kind,
        due_at_ms: timer.due_at.millis(),
    }))
}
