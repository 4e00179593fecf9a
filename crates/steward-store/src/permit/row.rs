//! Permit rows: the SQL for both backends side by side, and decoding rows into `Permit`.
//!
//! Both dialects return the same column types: PostgreSQL casts its JSONB columns to text
//! and its boolean to an integer, so one decoder (a macro over the two row types) serves.

use serde_json::Value;
use sqlx::Row as _;
use steward_permits::{Channel, Decision, Outcome, PermitState, RevocationReason};
use steward_policy::{
    Analysis, ApprovalRequirements, CertificationStatus, Level, PermitType, Role,
};

use super::{ApprovalRecord, PendingRenewal, Permit, PermitError, PermitFilter, PermitRevocation};
use crate::error::StoreError;
use crate::store::{Pool, Store, Tx, TxConn};

/// What the workflow needs to know about the permit's worker.
#[derive(Debug, Clone)]
pub(super) struct WorkerParties {
    pub id: String,
    pub owner_id: String,
    pub principal_id: Option<String>,
    pub level: Level,
    pub status: CertificationStatus,
}

const SELECT_SQLITE: &str = "SELECT id, task_id, task, analysis, permit_type, level, worker_id, \
     requester_id, state, evidence, constraints, requested_window_start, valid_from, expires_at, \
     renewals, total_hours, outcome, revocation_reason, revocation, audit_summary, cab_signed_off, \
     version, created_at, updated_at, round, pending_renewal, policy_version FROM permits";

const SELECT_POSTGRES: &str = "SELECT id, task_id, task::text AS task, analysis::text AS analysis, \
     permit_type, level, worker_id, requester_id, state, evidence::text AS evidence, \
     constraints::text AS constraints, requested_window_start, valid_from, expires_at, renewals, \
     total_hours, outcome, revocation_reason, revocation::text AS revocation, \
     audit_summary::text AS audit_summary, \
     (cab_signed_off::int)::bigint AS cab_signed_off, version, created_at, updated_at, round, \
     pending_renewal::text AS pending_renewal, policy_version FROM permits";

fn corrupt(id: &str, problem: impl ToString) -> StoreError {
    StoreError::corrupt("permit", id, problem)
}

fn json_text(id: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(id, e))
}

fn parse<T: std::str::FromStr>(id: &str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse::<T>().map_err(|e| corrupt(id, e))
}

/// Decodes one permit row (without approvals) from either backend's row type.
macro_rules! decode_permit {
    ($row:expr) => {{
        let row = $row;
        let id: String = row.try_get("id")?;
        let analysis_text: String = row.try_get("analysis")?;
        let analysis: Analysis =
            serde_json::from_str::<Analysis>(&analysis_text).map_err(|e| corrupt(&id, e))?;
        let requirements: ApprovalRequirements = analysis.approval_requirements.clone();
        let level: i64 = row.try_get("level")?;
        let outcome: Option<String> = row.try_get("outcome")?;
        let reason: Option<String> = row.try_get("revocation_reason")?;
        let revocation: Option<String> = row.try_get("revocation")?;
        let summary: Option<String> = row.try_get("audit_summary")?;
        let pending: Option<String> = row.try_get("pending_renewal")?;
        let renewals: i64 = row.try_get("renewals")?;
        let round: i64 = row.try_get("round")?;
        let cab: i64 = row.try_get("cab_signed_off")?;
        Permit {
            task_id: row.try_get("task_id")?,
            task: json_text(&id, &row.try_get::<String, _>("task")?)?,
            permit_type: parse::<PermitType>(&id, &row.try_get::<String, _>("permit_type")?)?,
            level: u8::try_from(level)
                .ok()
                .and_then(Level::new)
                .ok_or_else(|| corrupt(&id, format!("level {level}")))?,
            worker_id: row.try_get("worker_id")?,
            requester_id: row.try_get("requester_id")?,
            state: parse::<PermitState>(&id, &row.try_get::<String, _>("state")?)?,
            policy_version: row.try_get("policy_version")?,
            requirements,
            evidence: json_text(&id, &row.try_get::<String, _>("evidence")?)?,
            constraints: json_text(&id, &row.try_get::<String, _>("constraints")?)?,
            requested_window_start_ms: row.try_get("requested_window_start")?,
            valid_from_ms: row.try_get("valid_from")?,
            expires_at_ms: row.try_get("expires_at")?,
            renewals: u32::try_from(renewals).map_err(|e| corrupt(&id, e))?,
            total_hours: row.try_get("total_hours")?,
            outcome: outcome.map(|o| parse::<Outcome>(&id, &o)).transpose()?,
            revocation_reason: reason
                .map(|r| parse::<RevocationReason>(&id, &r))
                .transpose()?,
            revocation: revocation
                .map(|r| serde_json::from_str::<PermitRevocation>(&r).map_err(|e| corrupt(&id, e)))
                .transpose()?,
            audit_summary: summary.map(|s| json_text(&id, &s)).transpose()?,
            cab_signed_off: cab != 0,
            round: u32::try_from(round).map_err(|e| corrupt(&id, e))?,
            pending_renewal: pending
                .map(|p| serde_json::from_str::<PendingRenewal>(&p).map_err(|e| corrupt(&id, e)))
                .transpose()?,
            approvals: Vec::new(),
            created_at_ms: row.try_get("created_at")?,
            updated_at_ms: row.try_get("updated_at")?,
            version: row.try_get("version")?,
            analysis: Some(std::sync::Arc::new(analysis)),
            id,
        }
    }};
}

macro_rules! decode_approval {
    ($row:expr, $permit_id:expr) => {{
        let row = $row;
        let id: String = row.try_get("id")?;
        let conditions: String = row.try_get("conditions")?;
        let round: i64 = row.try_get("round")?;
        ApprovalRecord {
            principal_id: row.try_get("principal_id")?,
            role: parse::<Role>($permit_id, &row.try_get::<String, _>("role")?)?,
            decision: parse::<Decision>($permit_id, &row.try_get::<String, _>("decision")?)?,
            channel: parse::<Channel>($permit_id, &row.try_get::<String, _>("channel")?)?,
            comment: row.try_get("comment")?,
            conditions: json_text($permit_id, &conditions)?,
            round: u32::try_from(round).map_err(|e| corrupt($permit_id, e))?,
            created_at_ms: row.try_get("created_at")?,
            id,
        }
    }};
}

/// Loads a permit and the approvals of its current round; `lock` takes the row lock on
/// PostgreSQL for the rest of the transaction.
pub(super) async fn load_permit(
    tx: &mut Tx<'_>,
    id: &str,
    lock: bool,
) -> Result<Permit, PermitError> {
    let not_found = || StoreError::NotFound {
        what: "permit",
        id: id.to_owned(),
    };
    let mut permit = match &mut tx.conn {
        TxConn::Sqlite(conn) => {
            let row = sqlx::query(&format!("{SELECT_SQLITE} WHERE id = ?"))
                .bind(id)
                .fetch_optional(&mut **conn)
                .await
                .map_err(StoreError::from)?
                .ok_or_else(not_found)?;
            decode_sqlite(&row)?
        }
        TxConn::Postgres(conn) => {
            let lock = if lock { " FOR UPDATE" } else { "" };
            let row = sqlx::query(&format!("{SELECT_POSTGRES} WHERE id = $1{lock}"))
                .bind(id)
                .fetch_optional(&mut **conn)
                .await
                .map_err(StoreError::from)?
                .ok_or_else(not_found)?;
            decode_postgres(&row)?
        }
    };
    permit.approvals = load_approvals(tx, &permit.id, permit.round).await?;
    Ok(permit)
}

fn decode_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<Permit, StoreError> {
    Ok(decode_permit!(row))
}

fn decode_postgres(row: &sqlx::postgres::PgRow) -> Result<Permit, StoreError> {
    Ok(decode_permit!(row))
}

async fn load_approvals(
    tx: &mut Tx<'_>,
    permit_id: &str,
    round: u32,
) -> Result<Vec<ApprovalRecord>, StoreError> {
    let mut out = Vec::new();
    match &mut tx.conn {
        TxConn::Sqlite(conn) => {
            let rows = sqlx::query(
                "SELECT id, principal_id, role, decision, channel, comment, conditions, round, \
                 created_at FROM approvals WHERE permit_id = ? AND round = ? ORDER BY created_at, id",
            )
            .bind(permit_id)
            .bind(i64::from(round))
            .fetch_all(&mut **conn)
            .await?;
            for row in &rows {
                out.push(decode_approval!(row, permit_id));
            }
        }
        TxConn::Postgres(conn) => {
            let rows = sqlx::query(
                "SELECT id, principal_id, role, decision, channel, comment, \
                 conditions::text AS conditions, round, created_at FROM approvals \
                 WHERE permit_id = $1 AND round = $2 ORDER BY created_at, id",
            )
            .bind(permit_id)
            .bind(i64::from(round))
            .fetch_all(&mut **conn)
            .await?;
            for row in &rows {
                out.push(decode_approval!(row, permit_id));
            }
        }
    }
    Ok(out)
}

/// The permit's worker. `share_lock` takes `FOR SHARE` on PostgreSQL, so that a request
/// and a certification revocation (which locks the worker `FOR UPDATE` and then revokes its
/// live permits) never interleave: either the revocation sees the new permit, or the
/// request sees the revoked certification. SQLite serialises all writers anyway.
pub(super) async fn worker_parties(
    tx: &mut Tx<'_>,
    worker_id: &str,
    share_lock: bool,
) -> Result<WorkerParties, StoreError> {
    let row: Option<(String, String, Option<String>, i64, String)> = match &mut tx.conn {
        TxConn::Sqlite(conn) => {
            sqlx::query_as(
                "SELECT id, owner_id, principal_id, level, status FROM workers WHERE id = ?",
            )
            .bind(worker_id)
            .fetch_optional(&mut **conn)
            .await?
        }
        TxConn::Postgres(conn) => {
            let lock = if share_lock { " FOR SHARE" } else { "" };
            sqlx::query_as(&format!(
                "SELECT id, owner_id, principal_id, level, status FROM workers WHERE id = $1{lock}"
            ))
            .bind(worker_id)
            .fetch_optional(&mut **conn)
            .await?
        }
    };
    let (id, owner_id, principal_id, level, status) = row.ok_or_else(|| StoreError::NotFound {
        what: "worker",
        id: worker_id.to_owned(),
    })?;
    Ok(WorkerParties {
        level: u8::try_from(level)
            .ok()
            .and_then(Level::new)
            .ok_or_else(|| StoreError::corrupt("worker", &id, format!("level {level}")))?,
        status: status
            .parse::<CertificationStatus>()
            .map_err(|e| StoreError::corrupt("worker", &id, e))?,
        id,
        owner_id,
        principal_id,
    })
}

pub(super) async fn insert_permit(
    tx: &mut Tx<'_>,
    p: &Permit,
    analysis: &Analysis,
) -> Result<(), StoreError> {
    let task = p.task.to_string();
    let analysis = serde_json::to_string(analysis).map_err(|e| corrupt(&p.id, e))?;
    let evidence = p.evidence.to_string();
    let constraints = p.constraints.to_string();
    match &mut tx.conn {
        TxConn::Sqlite(conn) => {
            sqlx::query(
                "INSERT INTO permits (id, task_id, task, analysis, permit_type, level, worker_id, \
                 requester_id, state, evidence, constraints, requested_window_start, total_hours, \
                 round, policy_version, version, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&p.id)
            .bind(&p.task_id)
            .bind(task)
            .bind(analysis)
            .bind(p.permit_type.as_str())
            .bind(i64::from(p.level.value()))
            .bind(&p.worker_id)
            .bind(&p.requester_id)
            .bind(p.state.as_str())
            .bind(evidence)
            .bind(constraints)
            .bind(p.requested_window_start_ms)
            .bind(p.total_hours)
            .bind(i64::from(p.round))
            .bind(&p.policy_version)
            .bind(p.version)
            .bind(p.created_at_ms)
            .bind(p.updated_at_ms)
            .execute(&mut **conn)
            .await?;
        }
        TxConn::Postgres(conn) => {
            sqlx::query(
                "INSERT INTO permits (id, task_id, task, analysis, permit_type, level, worker_id, \
                 requester_id, state, evidence, constraints, requested_window_start, total_hours, \
                 round, policy_version, version, created_at, updated_at) \
                 VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, \
                 $12, $13, $14, $15, $16, $17, $18)",
            )
            .bind(&p.id)
            .bind(&p.task_id)
            .bind(task)
            .bind(analysis)
            .bind(p.permit_type.as_str())
            .bind(i64::from(p.level.value()))
            .bind(&p.worker_id)
            .bind(&p.requester_id)
            .bind(p.state.as_str())
            .bind(evidence)
            .bind(constraints)
            .bind(p.requested_window_start_ms)
            .bind(p.total_hours)
            .bind(i64::from(p.round))
            .bind(&p.policy_version)
            .bind(p.version)
            .bind(p.created_at_ms)
            .bind(p.updated_at_ms)
            .execute(&mut **conn)
            .await?;
        }
    }
    Ok(())
}

/// Writes every mutable column, guarded by the version read with the row.
///
/// INVARIANT: a permit row changes only here, and only when its version is the one this
/// transaction read; the version then moves on by one. Two racing use cases can never
/// both win: the second sees 0 rows and gets `Conflict`.
pub(super) async fn update_permit(
    tx: &mut Tx<'_>,
    p: &mut Permit,
    now_ms: i64,
) -> Result<(), PermitError> {
    let evidence = p.evidence.to_string();
    let summary = p.audit_summary.as_ref().map(Value::to_string);
    let pending = p
        .pending_renewal
        .as_ref()
        .map(|r| serde_json::to_string(r).unwrap_or_default());
    let outcome = p.outcome.map(|o| o.as_str());
    let reason = p.revocation_reason.map(|r| r.as_str());
    let revocation = p
        .revocation
        .as_ref()
        .map(|r| serde_json::to_string(r).unwrap_or_default());
    let affected = match &mut tx.conn {
        TxConn::Sqlite(conn) => sqlx::query(
            "UPDATE permits SET state = ?, evidence = ?, valid_from = ?, expires_at = ?, \
             renewals = ?, total_hours = ?, outcome = ?, revocation_reason = ?, audit_summary = ?, \
             cab_signed_off = ?, round = ?, pending_renewal = ?, updated_at = ?, \
             revocation = ?, version = version + 1 WHERE id = ? AND version = ?",
        )
        .bind(p.state.as_str())
        .bind(evidence)
        .bind(p.valid_from_ms)
        .bind(p.expires_at_ms)
        .bind(i64::from(p.renewals))
        .bind(p.total_hours)
        .bind(outcome)
        .bind(reason)
        .bind(summary)
        .bind(i64::from(p.cab_signed_off))
        .bind(i64::from(p.round))
        .bind(pending)
        .bind(now_ms)
        .bind(revocation)
        .bind(&p.id)
        .bind(p.version)
        .execute(&mut **conn)
        .await
        .map_err(StoreError::from)?
        .rows_affected(),
        TxConn::Postgres(conn) => sqlx::query(
            "UPDATE permits SET state = $1, evidence = $2::jsonb, valid_from = $3, expires_at = $4, \
             renewals = $5, total_hours = $6, outcome = $7, revocation_reason = $8, \
             audit_summary = $9::jsonb, cab_signed_off = $10, round = $11, \
             pending_renewal = $12::jsonb, updated_at = $13, revocation = $14::jsonb, \
             version = version + 1 WHERE id = $15 AND version = $16",
        )
        .bind(p.state.as_str())
        .bind(evidence)
        .bind(p.valid_from_ms)
        .bind(p.expires_at_ms)
        .bind(i64::from(p.renewals))
        .bind(p.total_hours)
        .bind(outcome)
        .bind(reason)
        .bind(summary)
        .bind(p.cab_signed_off)
        .bind(i64::from(p.round))
        .bind(pending)
        .bind(now_ms)
        .bind(revocation)
        .bind(&p.id)
        .bind(p.version)
        .execute(&mut **conn)
        .await
        .map_err(StoreError::from)?
        .rows_affected(),
    };
    if affected != 1 {
        return Err(StoreError::Conflict {
            message: format!("permit `{}` was changed by another request; retry", p.id),
        }
        .into());
    }
    p.version += 1;
    p.updated_at_ms = now_ms;
    Ok(())
}

pub(super) async fn insert_approval(
    tx: &mut Tx<'_>,
    permit_id: &str,
    a: &ApprovalRecord,
) -> Result<(), StoreError> {
    let conditions = a.conditions.to_string();
    match &mut tx.conn {
        TxConn::Sqlite(conn) => {
            sqlx::query(
                "INSERT INTO approvals (id, permit_id, principal_id, role, decision, channel, \
                 comment, conditions, round, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&a.id)
            .bind(permit_id)
            .bind(&a.principal_id)
            .bind(a.role.as_str())
            .bind(a.decision.as_str())
            .bind(a.channel.as_str())
            .bind(&a.comment)
            .bind(conditions)
            .bind(i64::from(a.round))
            .bind(a.created_at_ms)
            .execute(&mut **conn)
            .await?;
        }
        TxConn::Postgres(conn) => {
            sqlx::query(
                "INSERT INTO approvals (id, permit_id, principal_id, role, decision, channel, \
                 comment, conditions, round, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)",
            )
            .bind(&a.id)
            .bind(permit_id)
            .bind(&a.principal_id)
            .bind(a.role.as_str())
            .bind(a.decision.as_str())
            .bind(a.channel.as_str())
            .bind(&a.comment)
            .bind(conditions)
            .bind(i64::from(a.round))
            .bind(a.created_at_ms)
            .execute(&mut **conn)
            .await?;
        }
    }
    Ok(())
}

/// Ids of approved permits whose requested window has begun.
pub(super) async fn approved_due(store: &Store, now_ms: i64) -> Result<Vec<String>, StoreError> {
    let ids: Vec<(String,)> = match &store.pool {
        Pool::Sqlite(pool) => {
            sqlx::query_as(
                "SELECT id FROM permits WHERE state = 'approved' \
                 AND (requested_window_start IS NULL OR requested_window_start <= ?) ORDER BY id LIMIT 500",
            )
            .bind(now_ms)
            .fetch_all(pool)
            .await?
        }
        Pool::Postgres(pool) => {
            sqlx::query_as(
                "SELECT id FROM permits WHERE state = 'approved' \
                 AND (requested_window_start IS NULL OR requested_window_start <= $1) ORDER BY id LIMIT 500",
            )
            .bind(now_ms)
            .fetch_all(pool)
            .await?
        }
    };
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

pub(super) async fn list_permits(
    store: &Store,
    f: &PermitFilter,
    after_id: Option<&str>,
    limit: u32,
) -> Result<Vec<Permit>, StoreError> {
    let state = f.state.map(|s| s.as_str());
    let mut permits = match &store.pool {
        Pool::Sqlite(pool) => {
            let rows = sqlx::query(&format!(
                "{SELECT_SQLITE} WHERE (? IS NULL OR state = ?) AND (? IS NULL OR worker_id = ?) \
                 AND (? IS NULL OR requester_id = ?) AND (? IS NULL OR id > ?) ORDER BY id LIMIT ?"
            ))
            .bind(state)
            .bind(state)
            .bind(&f.worker_id)
            .bind(&f.worker_id)
            .bind(&f.requester_id)
            .bind(&f.requester_id)
            .bind(after_id)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(decode_sqlite)
                .collect::<Result<Vec<_>, _>>()?
        }
        Pool::Postgres(pool) => {
            let rows = sqlx::query(&format!(
                "{SELECT_POSTGRES} WHERE ($1::text IS NULL OR state = $1) \
                 AND ($2::text IS NULL OR worker_id = $2) AND ($3::text IS NULL OR requester_id = $3) \
                 AND ($4::text IS NULL OR id > $4) ORDER BY id LIMIT $5"
            ))
            .bind(state)
            .bind(&f.worker_id)
            .bind(&f.requester_id)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(decode_postgres)
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    // Lists show each permit's current-round approvals too; one query per permit keeps the
    // SQL simple, and pages are at most 200.
    if !permits.is_empty() {
        let mut tx = store.begin_read().await?;
        for p in &mut permits {
            p.approvals = load_approvals(&mut tx, &p.id, p.round).await?;
        }
        tx.rollback().await?;
    }
    Ok(permits)
}
