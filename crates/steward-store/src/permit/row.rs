//! Permit rows: the SQL, written once for both backends, and decoding rows into `Permit`.

use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::types::Json;
use steward_permits::{
    Channel, Decision, Outcome, PermitConstraints, PermitState, RevocationReason,
};
use steward_policy::{
    Analysis, ApprovalRequirements, CertificationStatus, Level, PermitType, Role,
};

use super::{ApprovalRecord, PendingRenewal, Permit, PermitError, PermitFilter, PermitRevocation};
use crate::error::StoreError;
use crate::store::{Store, Tx, on_pool, on_tx};

/// What the workflow needs to know about the permit's worker.
#[derive(Debug, Clone)]
pub(super) struct WorkerParties {
    pub id: String,
    pub owner_id: String,
    pub principal_id: Option<String>,
    pub level: Level,
    pub status: CertificationStatus,
}

/// The permit columns of `permits p`, in [`PermitRow`]'s names. JSONB columns are read
/// as text on PostgreSQL (`CAST(… AS TEXT)` is a no-op on SQLite, where they are TEXT).
macro_rules! permit_columns {
    () => {
        "SELECT p.id, p.task_id, CAST(p.task AS TEXT) AS task, \
         CAST(p.analysis AS TEXT) AS analysis, p.permit_type, p.level, p.worker_id, \
         p.requester_id, p.state, CAST(p.evidence AS TEXT) AS evidence, \
         CAST(p.constraints AS TEXT) AS constraints, p.requested_window_start, p.valid_from, \
         p.expires_at, p.renewals, p.total_hours, p.outcome, p.revocation_reason, \
         CAST(p.revocation AS TEXT) AS revocation, CAST(p.audit_summary AS TEXT) AS audit_summary, \
         p.cab_signed_off, p.version, p.created_at, p.updated_at, p.round, \
         CAST(p.pending_renewal AS TEXT) AS pending_renewal, p.policy_version"
    };
}

/// Permit rows, to be followed by `WHERE`.
const SELECT: &str = concat!(permit_columns!(), " FROM permits p");

/// One permit with its worker and the approvals of its current round: a row per approval
/// (one row with `NULL` approval columns when there is none), in the order they were cast.
/// One round trip where a use case would otherwise make three.
const LOAD: &str = concat!(
    permit_columns!(),
    ", w.owner_id AS w_owner_id, w.principal_id AS w_principal_id, w.level AS w_level, \
     w.status AS w_status, a.id AS a_id, a.principal_id AS a_principal_id, a.role AS a_role, \
     a.decision AS a_decision, a.channel AS a_channel, a.comment AS a_comment, \
     CAST(a.conditions AS TEXT) AS a_conditions, a.round AS a_round, \
     a.created_at AS a_created_at FROM permits p JOIN workers w ON w.id = p.worker_id \
     LEFT JOIN approvals a ON a.permit_id = p.id AND a.round = p.round WHERE p.id = $1 \
     ORDER BY a.created_at, a.id"
);

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

/// One `permits` row as [`SELECT`] reads it, on either backend.
#[derive(sqlx::FromRow)]
pub(super) struct PermitRow {
    id: String,
    task_id: String,
    task: String,
    analysis: String,
    permit_type: String,
    level: i64,
    worker_id: String,
    requester_id: String,
    state: String,
    evidence: String,
    constraints: String,
    requested_window_start: Option<i64>,
    valid_from: Option<i64>,
    expires_at: Option<i64>,
    renewals: i64,
    total_hours: f64,
    outcome: Option<String>,
    revocation_reason: Option<String>,
    revocation: Option<String>,
    audit_summary: Option<String>,
    /// BOOLEAN on PostgreSQL, INTEGER 0/1 on SQLite; sqlx decodes both as `bool`.
    cab_signed_off: bool,
    version: i64,
    created_at: i64,
    updated_at: i64,
    round: i64,
    pending_renewal: Option<String>,
    policy_version: String,
}

/// Decodes one permit row (without approvals).
pub(super) fn decode(row: PermitRow) -> Result<Permit, StoreError> {
    let id = row.id;
    let analysis: Analysis =
        serde_json::from_str::<Analysis>(&row.analysis).map_err(|e| corrupt(&id, e))?;
    let requirements: ApprovalRequirements = analysis.approval_requirements.clone();
    let level = row.level;
    Ok(Permit {
        task_id: row.task_id,
        task: json_text(&id, &row.task)?,
        permit_type: parse::<PermitType>(&id, &row.permit_type)?,
        level: u8::try_from(level)
            .ok()
            .and_then(Level::new)
            .ok_or_else(|| corrupt(&id, format!("level {level}")))?,
        worker_id: row.worker_id,
        requester_id: row.requester_id,
        state: parse::<PermitState>(&id, &row.state)?,
        policy_version: row.policy_version,
        requirements,
        evidence: json_text(&id, &row.evidence)?,
        constraints: PermitConstraints::from_stored(&row.constraints),
        requested_window_start_ms: row.requested_window_start,
        valid_from_ms: row.valid_from,
        expires_at_ms: row.expires_at,
        renewals: u32::try_from(row.renewals).map_err(|e| corrupt(&id, e))?,
        total_hours: row.total_hours,
        outcome: row.outcome.map(|o| parse::<Outcome>(&id, &o)).transpose()?,
        revocation_reason: row
            .revocation_reason
            .map(|r| parse::<RevocationReason>(&id, &r))
            .transpose()?,
        revocation: row
            .revocation
            .map(|r| serde_json::from_str::<PermitRevocation>(&r).map_err(|e| corrupt(&id, e)))
            .transpose()?,
        audit_summary: row.audit_summary.map(|s| json_text(&id, &s)).transpose()?,
        cab_signed_off: row.cab_signed_off,
        round: u32::try_from(row.round).map_err(|e| corrupt(&id, e))?,
        pending_renewal: row
            .pending_renewal
            .map(|p| serde_json::from_str::<PendingRenewal>(&p).map_err(|e| corrupt(&id, e)))
            .transpose()?,
        approvals: Vec::new(),
        created_at_ms: row.created_at,
        updated_at_ms: row.updated_at,
        version: row.version,
        analysis: Some(std::sync::Arc::new(analysis)),
        id,
    })
}

/// One `approvals` row.
#[derive(sqlx::FromRow)]
struct ApprovalRow {
    id: String,
    principal_id: String,
    role: String,
    decision: String,
    channel: String,
    comment: Option<String>,
    conditions: String,
    round: i64,
    created_at: i64,
}

fn decode_approval(row: ApprovalRow, permit_id: &str) -> Result<ApprovalRecord, StoreError> {
    Ok(ApprovalRecord {
        principal_id: row.principal_id,
        role: parse::<Role>(permit_id, &row.role)?,
        decision: parse::<Decision>(permit_id, &row.decision)?,
        channel: parse::<Channel>(permit_id, &row.channel)?,
        comment: row.comment,
        conditions: json_text(permit_id, &row.conditions)?,
        round: u32::try_from(row.round).map_err(|e| corrupt(permit_id, e))?,
        created_at_ms: row.created_at,
        id: row.id,
    })
}

/// Loads a permit and the approvals of its current round; `lock` takes the row lock on
/// PostgreSQL for the rest of the transaction.
pub(super) async fn load_permit(
    tx: &mut Tx<'_>,
    id: &str,
    lock: bool,
) -> Result<Permit, PermitError> {
    Ok(load_with_worker(tx, id, lock).await?.0)
}

/// [`load_permit`] with the permit's worker, in one statement ([`LOAD`]).
pub(super) async fn load_with_worker(
    tx: &mut Tx<'_>,
    id: &str,
    lock: bool,
) -> Result<(Permit, WorkerParties), StoreError> {
    let lock = if lock {
        tx.for_update_of("p")
    } else {
        String::new()
    };
    let sql = format!("{LOAD}{lock}");
    let rows = on_tx!(tx, |conn| {
        sqlx::query_as::<_, Loaded>(&sql)
            .bind(id)
            .fetch_all(&mut **conn)
            .await?
    });
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Err(StoreError::NotFound {
            what: "permit",
            id: id.to_owned(),
        });
    };
    let mut approvals = Vec::new();
    let Loaded {
        permit,
        worker,
        approval,
    } = first;
    approvals.extend(approval.row());
    approvals.extend(rows.filter_map(|row| row.approval.row()));
    let mut permit = decode(permit)?;
    let worker = worker_of(
        permit.worker_id.clone(),
        worker.w_owner_id,
        worker.w_principal_id,
        worker.w_level,
        &worker.w_status,
    )?;
    permit.approvals = approvals
        .into_iter()
        .map(|row| decode_approval(row, &permit.id))
        .collect::<Result<_, _>>()?;
    Ok((permit, worker))
}

/// A row of [`LOAD`].
#[derive(sqlx::FromRow)]
struct Loaded {
    #[sqlx(flatten)]
    permit: PermitRow,
    #[sqlx(flatten)]
    worker: LoadedWorker,
    #[sqlx(flatten)]
    approval: LoadedApproval,
}

#[derive(sqlx::FromRow)]
struct LoadedWorker {
    w_owner_id: String,
    w_principal_id: Option<String>,
    w_level: i64,
    w_status: String,
}

/// The approval columns of a [`LOAD`] row: all `NULL` when the round has no approval.
#[derive(sqlx::FromRow)]
struct LoadedApproval {
    a_id: Option<String>,
    a_principal_id: Option<String>,
    a_role: Option<String>,
    a_decision: Option<String>,
    a_channel: Option<String>,
    a_comment: Option<String>,
    a_conditions: Option<String>,
    a_round: Option<i64>,
    a_created_at: Option<i64>,
}

impl LoadedApproval {
    fn row(self) -> Option<ApprovalRow> {
        Some(ApprovalRow {
            id: self.a_id?,
            principal_id: self.a_principal_id?,
            role: self.a_role?,
            decision: self.a_decision?,
            channel: self.a_channel?,
            comment: self.a_comment,
            conditions: self.a_conditions?,
            round: self.a_round?,
            created_at: self.a_created_at?,
        })
    }
}

async fn load_approvals(
    tx: &mut Tx<'_>,
    permit_id: &str,
    round: u32,
) -> Result<Vec<ApprovalRecord>, StoreError> {
    const SQL: &str = "SELECT id, principal_id, role, decision, channel, comment, \
         CAST(conditions AS TEXT) AS conditions, round, created_at FROM approvals \
         WHERE permit_id = $1 AND round = $2 ORDER BY created_at, id";
    let rows = on_tx!(tx, |conn| {
        sqlx::query_as::<_, ApprovalRow>(SQL)
            .bind(permit_id)
            .bind(i64::from(round))
            .fetch_all(&mut **conn)
            .await?
    });
    rows.into_iter()
        .map(|row| decode_approval(row, permit_id))
        .collect()
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
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        owner_id: String,
        principal_id: Option<String>,
        level: i64,
        status: String,
    }
    let sql = format!(
        "SELECT id, owner_id, principal_id, level, status FROM workers WHERE id = $1{}",
        if share_lock { tx.for_share() } else { "" }
    );
    let row = on_tx!(tx, |conn| {
        sqlx::query_as::<_, Row>(&sql)
            .bind(worker_id)
            .fetch_optional(&mut **conn)
            .await?
    })
    .ok_or_else(|| StoreError::NotFound {
        what: "worker",
        id: worker_id.to_owned(),
    })?;
    worker_of(
        row.id,
        row.owner_id,
        row.principal_id,
        row.level,
        &row.status,
    )
}

fn worker_of(
    id: String,
    owner_id: String,
    principal_id: Option<String>,
    level: i64,
    status: &str,
) -> Result<WorkerParties, StoreError> {
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

/// Inserts a new permit; `at_commit` holds the INSERT for the commit's round trip on
/// SQLite's writer ([`Tx::defer_write`]): nothing in the transaction may read or refer to
/// the row after this.
pub(super) async fn insert_permit(
    tx: &mut Tx<'_>,
    p: &Permit,
    analysis: &Analysis,
    at_commit: bool,
) -> Result<(), StoreError> {
    held_or_now!(tx, at_commit, None, PermitInsert::of(p, analysis));
    Ok(())
}

/// A new permit row, owned.
struct PermitInsert {
    id: String,
    task_id: String,
    task: Json<Value>,
    analysis: Json<Analysis>,
    permit_type: String,
    level: i64,
    worker_id: String,
    requester_id: String,
    state: String,
    evidence: Json<Value>,
    constraints: Json<PermitConstraints>,
    requested_window_start: Option<i64>,
    total_hours: f64,
    round: i64,
    policy_version: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
    valid_from: Option<i64>,
    expires_at: Option<i64>,
    renewals: i64,
}

impl PermitInsert {
    fn of(p: &Permit, analysis: &Analysis) -> PermitInsert {
        PermitInsert {
            id: p.id.clone(),
            task_id: p.task_id.clone(),
            task: Json(p.task.clone()),
            analysis: Json(analysis.clone()),
            permit_type: p.permit_type.as_str().to_owned(),
            level: i64::from(p.level.value()),
            worker_id: p.worker_id.clone(),
            requester_id: p.requester_id.clone(),
            state: p.state.as_str().to_owned(),
            evidence: Json(p.evidence.clone()),
            constraints: Json(p.constraints.clone()),
            requested_window_start: p.requested_window_start_ms,
            total_hours: p.total_hours,
            round: i64::from(p.round),
            policy_version: p.policy_version.clone(),
            version: p.version,
            created_at: p.created_at_ms,
            updated_at: p.updated_at_ms,
            valid_from: p.valid_from_ms,
            expires_at: p.expires_at_ms,
            renewals: i64::from(p.renewals),
        }
    }

    fn push<'q, DB>(self, query: &mut QueryBuilder<'q, DB>)
    where
        DB: sqlx::Database,
        String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Json<Value>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Json<Analysis>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Json<PermitConstraints>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query.push(
            "INSERT INTO permits (id, task_id, task, analysis, permit_type, level, worker_id, \
             requester_id, state, evidence, constraints, requested_window_start, total_hours, \
             round, policy_version, version, created_at, updated_at, valid_from, expires_at, \
             renewals) VALUES (",
        );
        let mut values = query.separated(", ");
        values
            .push_bind(self.id)
            .push_bind(self.task_id)
            .push_bind(self.task)
            .push_bind(self.analysis)
            .push_bind(self.permit_type)
            .push_bind(self.level)
            .push_bind(self.worker_id)
            .push_bind(self.requester_id)
            .push_bind(self.state)
            .push_bind(self.evidence)
            .push_bind(self.constraints)
            .push_bind(self.requested_window_start)
            .push_bind(self.total_hours)
            .push_bind(self.round)
            .push_bind(self.policy_version)
            .push_bind(self.version)
            .push_bind(self.created_at)
            .push_bind(self.updated_at)
            .push_bind(self.valid_from)
            .push_bind(self.expires_at)
            .push_bind(self.renewals);
        query.push(")");
    }
}

/// Runs a row write (a type with `of` and `push`, `$write` building it) now, or with
/// `$held` holds it for the commit's round trip on SQLite's writer ([`Tx::defer_write`],
/// guarded by `$conflict`). Evaluates to the rows it changed when it ran now.
macro_rules! held_or_now {
    ($tx:expr, $held:expr, $conflict:expr, $write:expr) => {{
        let held = $held && {
            let write = $write;
            $tx.defer_write(Box::new(move |query| write.push(query)), $conflict)
                .is_ok()
        };
        if held {
            None
        } else {
            let write = $write;
            Some(on_tx!($tx, |conn| {
                let mut query = QueryBuilder::new("");
                write.push(&mut query);
                query
                    .build()
                    .execute(&mut **conn)
                    .await
                    .map_err(StoreError::from)?
                    .rows_affected()
            }))
        }
    }};
}
use held_or_now;

/// Writes every mutable column, guarded by the version read with the row. `at_commit`:
/// the last write of the transaction, held for the commit's round trip on SQLite's writer
/// (nothing in the transaction may read the row after this).
///
/// INVARIANT: a permit row changes only here, and only when its version is the one this
/// transaction read; the version then moves on by one. Two racing use cases can never
/// both win: the second sees 0 rows and gets `Conflict`.
pub(super) async fn update_permit(
    tx: &mut Tx<'_>,
    p: &mut Permit,
    now_ms: i64,
    at_commit: bool,
) -> Result<(), PermitError> {
    let changed = held_or_now!(
        tx,
        at_commit,
        Some(conflict(&p.id)),
        PermitWrite::of(p, now_ms)
    );
    if changed.is_some_and(|rows| rows != 1) {
        return Err(conflict(&p.id).into());
    }
    p.version += 1;
    p.updated_at_ms = now_ms;
    Ok(())
}

fn conflict(id: &str) -> StoreError {
    StoreError::Conflict {
        message: format!("permit `{id}` was changed by another request; retry"),
    }
}

/// The values [`update_permit`] writes, owned, so that the write can wait for the commit.
struct PermitWrite {
    state: String,
    evidence: Json<Value>,
    valid_from: Option<i64>,
    expires_at: Option<i64>,
    renewals: i64,
    total_hours: f64,
    outcome: Option<String>,
    reason: Option<String>,
    audit_summary: Option<Json<Value>>,
    cab_signed_off: bool,
    round: i64,
    pending_renewal: Option<Json<PendingRenewal>>,
    updated_at: i64,
    revocation: Option<Json<PermitRevocation>>,
    id: String,
    version: i64,
}

impl PermitWrite {
    fn of(p: &Permit, now_ms: i64) -> PermitWrite {
        PermitWrite {
            state: p.state.as_str().to_owned(),
            evidence: Json(p.evidence.clone()),
            valid_from: p.valid_from_ms,
            expires_at: p.expires_at_ms,
            renewals: i64::from(p.renewals),
            total_hours: p.total_hours,
            outcome: p.outcome.map(|o| o.as_str().to_owned()),
            reason: p.revocation_reason.map(|r| r.as_str().to_owned()),
            audit_summary: p.audit_summary.clone().map(Json),
            cab_signed_off: p.cab_signed_off,
            round: i64::from(p.round),
            pending_renewal: p.pending_renewal.clone().map(Json),
            updated_at: now_ms,
            revocation: p.revocation.clone().map(Json),
            id: p.id.clone(),
            version: p.version,
        }
    }

    fn push<'q, DB>(self, query: &mut QueryBuilder<'q, DB>)
    where
        DB: sqlx::Database,
        String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Json<Value>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<Json<Value>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<Json<PendingRenewal>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<Json<PermitRevocation>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let mut set = query.push("UPDATE permits SET ").separated(", ");
        set.push("state = ").push_bind_unseparated(self.state);
        set.push("evidence = ").push_bind_unseparated(self.evidence);
        set.push("valid_from = ")
            .push_bind_unseparated(self.valid_from);
        set.push("expires_at = ")
            .push_bind_unseparated(self.expires_at);
        set.push("renewals = ").push_bind_unseparated(self.renewals);
        set.push("total_hours = ")
            .push_bind_unseparated(self.total_hours);
        set.push("outcome = ").push_bind_unseparated(self.outcome);
        set.push("revocation_reason = ")
            .push_bind_unseparated(self.reason);
        set.push("audit_summary = ")
            .push_bind_unseparated(self.audit_summary);
        set.push("cab_signed_off = ")
            .push_bind_unseparated(self.cab_signed_off);
        set.push("round = ").push_bind_unseparated(self.round);
        set.push("pending_renewal = ")
            .push_bind_unseparated(self.pending_renewal);
        set.push("updated_at = ")
            .push_bind_unseparated(self.updated_at);
        set.push("revocation = ")
            .push_bind_unseparated(self.revocation);
        set.push("version = version + 1");
        query
            .push(" WHERE id = ")
            .push_bind(self.id)
            .push(" AND version = ")
            .push_bind(self.version);
    }
}

/// Inserts an approval of the current round; `at_commit` as for [`insert_permit`].
pub(super) async fn insert_approval(
    tx: &mut Tx<'_>,
    permit_id: &str,
    a: &ApprovalRecord,
    at_commit: bool,
) -> Result<(), StoreError> {
    held_or_now!(tx, at_commit, None, ApprovalInsert::of(permit_id, a));
    Ok(())
}

/// A new approval row, owned.
struct ApprovalInsert {
    id: String,
    permit_id: String,
    principal_id: String,
    role: String,
    decision: String,
    channel: String,
    comment: Option<String>,
    conditions: Json<Value>,
    round: i64,
    created_at: i64,
}

impl ApprovalInsert {
    fn of(permit_id: &str, a: &ApprovalRecord) -> ApprovalInsert {
        ApprovalInsert {
            id: a.id.clone(),
            permit_id: permit_id.to_owned(),
            principal_id: a.principal_id.clone(),
            role: a.role.as_str().to_owned(),
            decision: a.decision.as_str().to_owned(),
            channel: a.channel.as_str().to_owned(),
            comment: a.comment.clone(),
            conditions: Json(a.conditions.clone()),
            round: i64::from(a.round),
            created_at: a.created_at_ms,
        }
    }

    fn push<'q, DB>(self, query: &mut QueryBuilder<'q, DB>)
    where
        DB: sqlx::Database,
        String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Json<Value>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query.push(
            "INSERT INTO approvals (id, permit_id, principal_id, role, decision, channel, \
             comment, conditions, round, created_at) VALUES (",
        );
        query
            .separated(", ")
            .push_bind(self.id)
            .push_bind(self.permit_id)
            .push_bind(self.principal_id)
            .push_bind(self.role)
            .push_bind(self.decision)
            .push_bind(self.channel)
            .push_bind(self.comment)
            .push_bind(self.conditions)
            .push_bind(self.round)
            .push_bind(self.created_at);
        query.push(")");
    }
}

/// Ids of approved permits whose requested window has begun.
pub(super) async fn approved_due(store: &Store, now_ms: i64) -> Result<Vec<String>, StoreError> {
    const SQL: &str = "SELECT id FROM permits WHERE state = 'approved' \
         AND (requested_window_start IS NULL OR requested_window_start <= $1) \
         ORDER BY id LIMIT 500";
    Ok(on_pool!(store.pool, |pool| {
        sqlx::query_scalar::<_, String>(SQL)
            .bind(now_ms)
            .fetch_all(pool)
            .await?
    }))
}

pub(super) async fn list_permits(
    store: &Store,
    f: &PermitFilter,
    after_id: Option<&str>,
    limit: u32,
) -> Result<Vec<Permit>, StoreError> {
    // `CAST($n AS TEXT)` gives PostgreSQL the parameter's type where it is only compared
    // with NULL.
    let sql = format!(
        "{SELECT} WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) \
         AND (CAST($2 AS TEXT) IS NULL OR worker_id = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR requester_id = $3) \
         AND (CAST($4 AS TEXT) IS NULL OR id > $4) ORDER BY id LIMIT $5"
    );
    let rows = on_pool!(store.pool, |pool| {
        sqlx::query_as::<_, PermitRow>(&sql)
            .bind(f.state.map(|s| s.as_str()))
            .bind(&f.worker_id)
            .bind(&f.requester_id)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
    });
    let mut permits = rows
        .into_iter()
        .map(decode)
        .collect::<Result<Vec<_>, _>>()?;
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
