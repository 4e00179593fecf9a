//! Monitoring of live permits (SPEC §7): telemetry samples, the trigger state of each
//! permit, and the rollbacks a fired trigger opens, tracked against their level's SLA.
//!
//! The rules are `steward_permits`' monitor plans (`plan_sample`, `plan_open_rollback`,
//! `plan_rollback_completion`, `plan_rollback_escalation`, `breach_revocation`); this module keeps their state
//! and writes what they plan:
//!
//! - [`Store::record_telemetry`]: one transaction stores the sample (the latest
//!   [`SAMPLES_KEPT`] per permit), advances the permit's monitor and appends
//!   `telemetry.recorded`; when a trigger fires it also appends `telemetry.breach`, opens
//!   the permit's rollback and appends `rollback.opened`, and revokes the permit with
//!   `constraint_breach` in the same transaction: an open rollback always comes with its
//!   permit revoked, so no authorize in between can allow. ([`Store::sweep_rollbacks`]
//!   still revokes any live permit it finds with an open rollback, for trails written
//!   before this was one transaction.)
//! - [`Store::complete_rollback`]: the worker reports the outcome → `rollback.completed`
//!   with the duration and whether it met the SLA (a late report also escalates, once).
//! - [`Store::sweep_rollbacks`]: open rollbacks past their SLA are marked escalated and get
//!   `rollback.escalated` exactly once each (the claim is an `UPDATE … WHERE escalated_at IS
//!   NULL` in the event's transaction).
//!
//! Every telemetry sample is audited (`telemetry.recorded`): the trail then shows the
//! evidence that led to a revocation, not only the verdict.

use serde::Serialize;
use sqlx::types::Json;
use steward_audit::{Actor, EventPayload};
use steward_permits::{
    Breach, MonitorRefusal, MonitorState, MonitoredPermit, PermitConstraints, PermitState,
    RollbackOutcome, Sample, SampleError, Timestamp, TriggerConfig, TriggerKind, breach_revocation,
    opening_breach, plan_open_rollback, plan_rollback_completion, plan_rollback_escalation,
    plan_sample,
};
use steward_policy::{Level, Role};

pub use steward_permits::Rollback;

use crate::audit::{NewEvent, append_event};
use crate::caller::Caller;
use crate::error::StoreError;
use crate::permit::revoke_by_system_in;
use crate::permit::system_actor;
use crate::store::{Store, Tx, in_pool, in_tx, new_id, on_tx};

/// Samples kept per permit; older ones are pruned (the audit trail keeps every one).
pub const SAMPLES_KEPT: i64 = 200;

/// One telemetry report from a worker (or its master). Steward stamps the time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TelemetryInput {
    pub error_rate: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub health_ok: Option<bool>,
}

/// What a telemetry report led to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TelemetryOutcome {
    pub permit_id: String,
    /// Whether a trigger fired on this sample (the permit is then revoked).
    pub fired: bool,
    pub breaches: Vec<Breach>,
    pub monitor: MonitorState,
    pub triggers: TriggerConfig,
    /// The permit's state after the report.
    pub permit_state: PermitState,
    pub rollback: Option<Rollback>,
}

/// Which rollbacks to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RollbackFilter {
    #[default]
    All,
    /// Not yet reported.
    Open,
    /// Still open past the SLA.
    Overdue,
}

/// Why a monitoring use case refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sample(#[from] SampleError),
    /// The monitor plans' refusal (`steward_permits::MonitorRefusal`).
    #[error(transparent)]
    Refused(#[from] MonitorRefusal),
}

/// The `rollbacks` columns, in [`RollbackRow`]'s names; JSONB columns read as text.
const ROLLBACK_COLUMNS: &str = "id, permit_id, worker_id, level, trigger_kind, \
     CAST(breach AS TEXT) AS breach, sla_minutes, opened_at, due_at, status, completed_at, \
     completed_by, duration_ms, within_sla, notes, escalated_at, \
     CAST(escalated_to AS TEXT) AS escalated_to";

/// One `rollbacks` row as [`ROLLBACK_COLUMNS`] reads it.
#[derive(sqlx::FromRow)]
struct RollbackRow {
    id: String,
    permit_id: String,
    worker_id: String,
    level: i64,
    trigger_kind: String,
    breach: String,
    sla_minutes: i64,
    opened_at: i64,
    due_at: i64,
    status: String,
    completed_at: Option<i64>,
    completed_by: Option<String>,
    duration_ms: Option<i64>,
    /// 0 or 1.
    within_sla: Option<i64>,
    notes: Option<String>,
    escalated_at: Option<i64>,
    escalated_to: Option<String>,
}

fn decode_rollback(row: RollbackRow) -> Result<Rollback, StoreError> {
    let id = row.id;
    let level = row.level;
    let corrupt = |p: String| StoreError::corrupt("rollback", &id, p);
    Ok(Rollback {
        permit_id: row.permit_id,
        worker_id: row.worker_id,
        level: u8::try_from(level)
            .ok()
            .and_then(Level::new)
            .ok_or_else(|| corrupt(format!("level {level}")))?,
        trigger: row
            .trigger_kind
            .parse::<TriggerKind>()
            .map_err(|e| corrupt(e.to_string()))?,
        breach: serde_json::from_str(&row.breach).map_err(|e| corrupt(e.to_string()))?,
        sla_minutes: u32::try_from(row.sla_minutes).map_err(|e| corrupt(e.to_string()))?,
        opened_at_ms: row.opened_at,
        due_at_ms: row.due_at,
        status: row.status,
        completed_at_ms: row.completed_at,
        completed_by: row.completed_by,
        duration_ms: row.duration_ms,
        within_sla: row.within_sla.map(|w| w != 0),
        notes: row.notes,
        escalated_at_ms: row.escalated_at,
        escalated_to: row
            .escalated_to
            .map(|t| serde_json::from_str(&t).map_err(|e| corrupt(e.to_string())))
            .transpose()?,
        id,
    })
}

/// Appends an event about `permit`, at its level.
async fn event(
    tx: &mut Tx<'_>,
    actor: Actor,
    permit: &MonitoredPermit,
    payload: impl EventPayload,
    now_ms: i64,
) -> Result<(), StoreError> {
    append_event(
        tx,
        NewEvent::typed(now_ms, actor, permit.subject(), Some(permit.level), payload)?,
    )
    .await?;
    Ok(())
}

/// Loads the permit facts, locking the permit row on PostgreSQL (SQLite's write
/// transaction already holds the database lock).
async fn load_permit(tx: &mut Tx<'_>, permit_id: &str) -> Result<MonitoredPermit, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        task_id: String,
        worker_id: String,
        requester_id: String,
        level: i64,
        state: String,
        constraints: String,
        principal_id: Option<String>,
        owner_id: String,
    }
    let sql = format!(
        "SELECT p.id, p.task_id, p.worker_id, p.requester_id, p.level, p.state, \
         CAST(p.constraints AS TEXT) AS constraints, w.principal_id, w.owner_id \
         FROM permits p JOIN workers w ON w.id = p.worker_id WHERE p.id = $1{}",
        tx.for_update_of("p")
    );
    let row = in_tx!(
        tx,
        fetch_optional,
        sqlx::query_as::<_, Row>(&sql),
        permit_id
    )
    .ok_or_else(|| StoreError::NotFound {
        what: "permit",
        id: permit_id.to_owned(),
    })?;
    let id = row.id;
    let level = row.level;
    let corrupt = |p: String| StoreError::corrupt("permit", &id, p);
    Ok(MonitoredPermit {
        task_id: row.task_id,
        worker_id: row.worker_id,
        requester_id: row.requester_id,
        level: u8::try_from(level)
            .ok()
            .and_then(Level::new)
            .ok_or_else(|| corrupt(format!("level {level}")))?,
        state: row
            .state
            .parse::<PermitState>()
            .map_err(|e| corrupt(e.to_string()))?,
        constraints: PermitConstraints::from_stored(&row.constraints),
        worker_principal: row.principal_id,
        worker_owner: row.owner_id,
        id,
    })
}

async fn load_monitor(
    tx: &mut Tx<'_>,
    permit_id: &str,
) -> Result<Option<(MonitorState, i64)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        error_breach_since: Option<i64>,
        latency_breach_since: Option<i64>,
        failed_health_checks: i64,
        last_sample_at: Option<i64>,
        samples: i64,
    }
    const SQL: &str = "SELECT error_breach_since, latency_breach_since, failed_health_checks, \
         last_sample_at, samples FROM permit_monitors WHERE permit_id = $1";
    let row = in_tx!(tx, fetch_optional, sqlx::query_as::<_, Row>(SQL), permit_id);
    Ok(row.map(|row| {
        (
            MonitorState {
                error_breach_since: row.error_breach_since.map(Timestamp),
                latency_breach_since: row.latency_breach_since.map(Timestamp),
                failed_health_checks: u32::try_from(row.failed_health_checks).unwrap_or(u32::MAX),
                last_sample_at: row.last_sample_at.map(Timestamp),
            },
            row.samples,
        )
    }))
}

async fn load_rollback(tx: &mut Tx<'_>, permit_id: &str) -> Result<Option<Rollback>, StoreError> {
    let sql = format!("SELECT {ROLLBACK_COLUMNS} FROM rollbacks WHERE permit_id = $1");
    let row = in_tx!(
        tx,
        fetch_optional,
        sqlx::query_as::<_, RollbackRow>(&sql),
        permit_id
    );
    row.map(decode_rollback).transpose()
}

/// The permit's approvers, by principal id: notified of its rollback, escalated to.
async fn approvers(tx: &mut Tx<'_>, permit_id: &str) -> Result<Vec<String>, StoreError> {
    const SQL: &str = "SELECT DISTINCT principal_id FROM approvals WHERE permit_id = $1 \
         AND decision = 'approve' ORDER BY principal_id";
    Ok(in_tx!(tx, fetch_all, sqlx::query_scalar(SQL), permit_id))
}

impl Store {
    /// Records one telemetry sample for a live permit and evaluates its triggers. On the
    /// first firing: `telemetry.breach`, a rollback (SLA by level) with `rollback.opened`,
    /// then the permit revoked with `constraint_breach`. Allowed to the worker's own
    /// principal, its owner, the permit's requester, and admins.
    pub async fn record_telemetry(
        &self,
        by: &Caller,
        permit_id: &str,
        input: TelemetryInput,
        now_ms: i64,
    ) -> Result<TelemetryOutcome, MonitoringError> {
        let sample = Sample {
            at: Timestamp(now_ms),
            error_rate: input.error_rate,
            latency_p99_ms: input.latency_p99_ms,
            health_ok: input.health_ok,
        };
        sample.validate()?;
        let mut tx = self.begin().await?;
        let permit = load_permit(&mut tx, permit_id).await?;
        let monitor = load_monitor(&mut tx, permit_id).await?.unwrap_or_default();
        let plan = plan_sample(&permit, &by.id, by.has_role(Role::Admin), monitor, &sample)?;
        let (monitor, seq) = (plan.monitor, plan.seq);
        in_tx!(
            tx,
            execute,
            sqlx::query(
                "INSERT INTO permit_monitors (permit_id, error_breach_since, \
                 latency_breach_since, failed_health_checks, last_sample_at, samples, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (permit_id) DO UPDATE SET \
                 error_breach_since = excluded.error_breach_since, \
                 latency_breach_since = excluded.latency_breach_since, \
                 failed_health_checks = excluded.failed_health_checks, \
                 last_sample_at = excluded.last_sample_at, samples = excluded.samples, \
                 updated_at = excluded.updated_at",
            ),
            permit_id,
            monitor.error_breach_since.map(Timestamp::millis),
            monitor.latency_breach_since.map(Timestamp::millis),
            i64::from(monitor.failed_health_checks),
            monitor.last_sample_at.map(Timestamp::millis),
            seq,
            now_ms,
        );
        in_tx!(
            tx,
            execute,
            sqlx::query(
                "INSERT INTO telemetry_samples (permit_id, seq, ts, error_rate, latency_p99_ms, \
                 health_ok, reported_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            ),
            permit_id,
            seq,
            now_ms,
            input.error_rate,
            input.latency_p99_ms,
            input.health_ok.map(i64::from),
            &by.id,
        );
        const PRUNE: &str = "DELETE FROM telemetry_samples WHERE permit_id = $1 AND seq <= $2";
        in_tx!(
            tx,
            execute,
            sqlx::query(PRUNE),
            permit_id,
            seq - SAMPLES_KEPT
        );
        event(&mut tx, by.actor(), &permit, plan.recorded, now_ms).await?;

        let mut rollback = load_rollback(&mut tx, permit_id).await?;
        let opening = opening_breach(&plan.breaches, rollback.as_ref());
        if let Some(breach) = &opening {
            rollback = Some(open_rollback(&mut tx, &by.actor(), &permit, breach, now_ms).await?);
        }
        // A live permit with an open rollback is revoked in the same transaction, so no
        // authorize between the breach and the revocation can allow.
        let mut permit_state = permit.state;
        if let Some(r) = &rollback {
            // The permit was checked live under its lock above, so it can be revoked.
            permit_state = revoke_for_breach(&mut tx, r, now_ms)
                .await?
                .unwrap_or(permit_state);
        }
        tx.commit().await?;
        Ok(TelemetryOutcome {
            permit_id: permit_id.to_owned(),
            fired: opening.is_some(),
            breaches: plan.breaches,
            monitor,
            triggers: plan.triggers,
            permit_state,
            rollback,
        })
    }

    /// The worker (its principal, owner or the permit's requester) reports how the
    /// rollback ended: `rollback.completed` with its duration and whether it met the SLA.
    /// A report past the SLA escalates too, unless the sweep already did.
    pub async fn complete_rollback(
        &self,
        by: &Caller,
        permit_id: &str,
        outcome: RollbackOutcome,
        notes: Option<String>,
        now_ms: i64,
    ) -> Result<Rollback, MonitoringError> {
        let mut tx = self.begin().await?;
        let permit = load_permit(&mut tx, permit_id).await?;
        let rollback = load_rollback(&mut tx, permit_id).await?;
        let plan = plan_rollback_completion(
            &permit,
            &by.id,
            rollback.as_ref(),
            outcome,
            notes.as_deref(),
            now_ms,
        )?;
        let rollback = rollback.ok_or_else(|| StoreError::NotFound {
            what: "rollback",
            id: permit_id.to_owned(),
        })?;
        in_tx!(
            tx,
            execute,
            sqlx::query(
                "UPDATE rollbacks SET status = $1, completed_at = $2, completed_by = $3, \
                 duration_ms = $4, within_sla = $5, notes = $6 WHERE id = $7 AND status = 'open'",
            ),
            outcome.as_str(),
            now_ms,
            &by.id,
            plan.duration_ms,
            i64::from(plan.within_sla),
            notes.as_deref(),
            &rollback.id,
        );
        event(&mut tx, by.actor(), &permit, plan.completed, now_ms).await?;
        if plan.escalate {
            escalate(&mut tx, &permit, &rollback, outcome.as_str(), now_ms).await?;
        }
        let done =
            load_rollback(&mut tx, permit_id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "rollback",
                    id: rollback.id.clone(),
                })?;
        tx.commit().await?;
        Ok(done)
    }

    /// Escalates every open rollback past its SLA, once each (`rollback.escalated`, naming
    /// the roles and people escalated to), and revokes any permit whose rollback is open
    /// but which is still live (a telemetry report interrupted between its two steps).
    /// Returns the ids of the rollbacks escalated now. Safe on several instances at once.
    pub async fn sweep_rollbacks(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        let mut read = self.begin_read().await?;
        const DUE: &str = "SELECT permit_id FROM rollbacks WHERE status = 'open' \
             AND due_at < $1 AND escalated_at IS NULL ORDER BY due_at, id";
        let due = in_tx!(
            read,
            fetch_all,
            sqlx::query_scalar::<_, String>(DUE),
            now_ms
        );
        let sql = format!(
            "SELECT {ROLLBACK_COLUMNS} FROM rollbacks WHERE status = 'open' AND permit_id IN \
             (SELECT id FROM permits WHERE state IN ('active', 'executing'))"
        );
        let unrevoked = in_tx!(read, fetch_all, sqlx::query_as::<_, RollbackRow>(&sql))
            .into_iter()
            .map(decode_rollback)
            .collect::<Result<Vec<_>, _>>()?;
        read.rollback().await?;

        for r in &unrevoked {
            let mut tx = self.begin().await?;
            if revoke_for_breach(&mut tx, r, now_ms).await?.is_some() {
                tx.commit().await?;
            }
        }
        let mut escalated = Vec::new();
        for permit_id in due {
            let mut tx = self.begin().await?;
            let permit = load_permit(&mut tx, &permit_id).await?;
            let Some(rollback) = load_rollback(&mut tx, &permit_id).await? else {
                continue;
            };
            if rollback.is_open() && escalate(&mut tx, &permit, &rollback, "open", now_ms).await? {
                tx.commit().await?;
                escalated.push(rollback.id);
            }
        }
        Ok(escalated)
    }

    /// Rollbacks, newest first, `limit` (1–200) at a time, after the rollback `after_id`
    /// of the previous page. `overdue` compares with `now_ms`.
    pub async fn list_rollbacks(
        &self,
        filter: RollbackFilter,
        after_id: Option<&str>,
        limit: u32,
        now_ms: i64,
    ) -> Result<Vec<Rollback>, StoreError> {
        let condition = match filter {
            RollbackFilter::All => "1 = 1",
            RollbackFilter::Open => "status = 'open'",
            RollbackFilter::Overdue => "status = 'open' AND due_at < $3",
        };
        let sql = format!(
            "SELECT {ROLLBACK_COLUMNS} FROM rollbacks WHERE ({condition}) \
             AND ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2"
        );
        let after = after_id.unwrap_or("");
        let limit = i64::from(limit.clamp(1, 200));
        let mut read = self.begin_read().await?;
        let rows = on_tx!(read, |conn| {
            let mut query = sqlx::query_as::<_, RollbackRow>(&sql)
                .bind(after)
                .bind(limit);
            if filter == RollbackFilter::Overdue {
                query = query.bind(now_ms);
            }
            query.fetch_all(&mut **conn).await?
        })
        .into_iter()
        .map(decode_rollback)
        .collect::<Result<Vec<_>, _>>()?;
        read.rollback().await?;
        Ok(rows)
    }

    /// The rollback of a permit, if a trigger fired.
    pub async fn rollback_of(&self, permit_id: &str) -> Result<Option<Rollback>, StoreError> {
        let mut read = self.begin_read().await?;
        let r = load_rollback(&mut read, permit_id).await?;
        read.rollback().await?;
        Ok(r)
    }

    /// The latest telemetry sample of a permit, if any was reported (the live board).
    pub async fn latest_telemetry(
        &self,
        permit_id: &str,
    ) -> Result<Option<LatestTelemetry>, StoreError> {
        const LATEST: &str = "SELECT ts AS ts_ms, error_rate, latency_p99_ms FROM telemetry_samples \
             WHERE permit_id = $1 ORDER BY seq DESC LIMIT 1";
        let latest = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as::<_, LatestTelemetry>(LATEST),
            permit_id
        );
        Ok(latest)
    }
}

/// A permit's latest telemetry sample ([`Store::latest_telemetry`]).
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct LatestTelemetry {
    pub ts_ms: i64,
    pub error_rate: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

/// Opens the permit's rollback for `breach` as [`plan_open_rollback`] plans it:
/// `telemetry.breach`, the row, `rollback.opened` (which names the parties to notify).
async fn open_rollback(
    tx: &mut Tx<'_>,
    by: &Actor,
    permit: &MonitoredPermit,
    breach: &Breach,
    now_ms: i64,
) -> Result<Rollback, StoreError> {
    let approver_ids = approvers(tx, &permit.id).await?;
    let plan = plan_open_rollback(permit, breach, &by.id, new_id(), approver_ids, now_ms);
    let rollback = plan.rollback;
    event(tx, system_actor(), permit, plan.breach, now_ms).await?;
    in_tx!(
        tx,
        execute,
        sqlx::query(
            "INSERT INTO rollbacks (id, permit_id, worker_id, level, trigger_kind, breach, \
             sla_minutes, opened_at, due_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open')",
        ),
        &rollback.id,
        &rollback.permit_id,
        &rollback.worker_id,
        i64::from(rollback.level.value()),
        rollback.trigger.as_str(),
        Json(&rollback.breach),
        i64::from(rollback.sla_minutes),
        now_ms,
        rollback.due_at_ms,
    );
    event(tx, system_actor(), permit, plan.opened, now_ms).await?;
    Ok(rollback)
}

/// Claims the escalation of a rollback past its SLA and appends `rollback.escalated`
/// ([`plan_rollback_escalation`]); `false` when another run already claimed it (then nothing is
/// written).
async fn escalate(
    tx: &mut Tx<'_>,
    permit: &MonitoredPermit,
    rollback: &Rollback,
    status: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let approver_ids = approvers(tx, &permit.id).await?;
    let escalated = plan_rollback_escalation(permit, rollback, status, approver_ids, now_ms);
    const CLAIM: &str = "UPDATE rollbacks SET escalated_at = $1, escalated_to = $2 \
         WHERE id = $3 AND escalated_at IS NULL";
    let to = Json(&escalated.escalated_to);
    let claimed = in_tx!(tx, execute, sqlx::query(CLAIM), now_ms, to, &rollback.id);
    if claimed != 1 {
        return Ok(false);
    }
    event(tx, system_actor(), permit, escalated, now_ms).await?;
    Ok(true)
}

/// Revokes the permit of an open rollback as [`breach_revocation`] says, inside `tx`
/// (idempotent), and returns the permit's state after it; `None` when the rollback is
/// reported, or the permit ended otherwise meanwhile (completed, say) and there is
/// nothing to revoke.
async fn revoke_for_breach(
    tx: &mut Tx<'_>,
    rollback: &Rollback,
    now_ms: i64,
) -> Result<Option<PermitState>, StoreError> {
    let Some((reason, evidence)) = breach_revocation(rollback) else {
        return Ok(None);
    };
    match revoke_by_system_in(tx, &rollback.permit_id, reason, evidence, now_ms).await {
        Ok(p) => Ok(Some(p.state)),
        Err(crate::PermitError::Store(e)) => Err(e),
        Err(other) => {
            tracing::warn!(permit_id = %rollback.permit_id, error = %other, "could not revoke the permit of a fired trigger");
            Ok(None)
        }
    }
}
