//! Permit rows: the SQL, written once for both backends, and decoding rows into `Permit`.

use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::types::Json;
use steward_permits::{
    Channel, Decision, Outcome, PermitConstraints, PermitState, RevocationReason,
};
use steward_policy::{Analysis, CertificationStatus, Level, PermitType, Role};

use super::{ApprovalRecord, PendingRenewal, Permit, PermitFilter, PermitRevocation};
use crate::error::StoreError;
use crate::store::{Store, Tx, in_pool, in_tx, on_tx};

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

fn json<T: DeserializeOwned>(id: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(id, e))
}

/// A stored level of `what` `id`: 0 to 4.
fn level(what: &'static str, id: &str, level: i64) -> Result<Level, StoreError> {
    u8::try_from(level)
        .ok()
        .and_then(Level::new)
        .ok_or_else(|| StoreError::corrupt(what, id, format!("level {level}")))
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
    let analysis: Analysis = json(&id, &row.analysis)?;
    Ok(Permit {
        task_id: row.task_id,
        task: json(&id, &row.task)?,
        permit_type: parse::<PermitType>(&id, &row.permit_type)?,
        level: level("permit", &id, row.level)?,
        worker_id: row.worker_id,
        requester_id: row.requester_id,
        state: parse::<PermitState>(&id, &row.state)?,
        policy_version: row.policy_version,
        requirements: analysis.approval_requirements.clone(),
        evidence: json(&id, &row.evidence)?,
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
        revocation: row.revocation.map(|r| json(&id, &r)).transpose()?,
        audit_summary: row.audit_summary.map(|s| json(&id, &s)).transpose()?,
        cab_signed_off: row.cab_signed_off,
        round: u32::try_from(row.round).map_err(|e| corrupt(&id, e))?,
        pending_renewal: row.pending_renewal.map(|p| json(&id, &p)).transpose()?,
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
        conditions: json(permit_id, &row.conditions)?,
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
) -> Result<Permit, StoreError> {
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
    let rows = in_tx!(tx, fetch_all, sqlx::query_as::<_, Loaded>(&sql), id);
    let mut rows = rows.into_iter();
    let Some(Loaded {
        permit,
        worker,
        approval,
    }) = rows.next()
    else {
        return Err(StoreError::NotFound {
            what: "permit",
            id: id.to_owned(),
        });
    };
    let approvals = approval.row().into_iter();
    let approvals = approvals.chain(rows.filter_map(|row| row.approval.row()));
    let mut permit = decode(permit)?;
    let worker = worker.decode(permit.worker_id.clone())?;
    permit.approvals = approvals
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
    worker: WorkerRow,
    #[sqlx(flatten)]
    approval: LoadedApproval,
}

/// The worker columns of a [`LOAD`] row, and of [`worker_parties`]' (named alike).
#[derive(sqlx::FromRow)]
struct WorkerRow {
    w_owner_id: String,
    w_principal_id: Option<String>,
    w_level: i64,
    w_status: String,
}

impl WorkerRow {
    /// Decodes the columns of worker `id`.
    fn decode(self, id: String) -> Result<WorkerParties, StoreError> {
        Ok(WorkerParties {
            level: level("worker", &id, self.w_level)?,
            status: self
                .w_status
                .parse::<CertificationStatus>()
                .map_err(|e| StoreError::corrupt("worker", &id, e))?,
            id,
            owner_id: self.w_owner_id,
            principal_id: self.w_principal_id,
        })
    }
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
    let rows = in_tx!(
        tx,
        fetch_all,
        sqlx::query_as::<_, ApprovalRow>(SQL),
        permit_id,
        i64::from(round)
    );
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
    let sql = format!(
        "SELECT owner_id AS w_owner_id, principal_id AS w_principal_id, level AS w_level, \
         status AS w_status FROM workers WHERE id = $1{}",
        if share_lock { tx.for_share() } else { "" }
    );
    in_tx!(
        tx,
        fetch_optional,
        sqlx::query_as::<_, WorkerRow>(&sql),
        worker_id
    )
    .ok_or_else(|| StoreError::NotFound {
        what: "worker",
        id: worker_id.to_owned(),
    })?
    .decode(worker_id.to_owned())
}

/// An owned row write, so that it can wait for the commit ([`held_or_now!`]): `$name`
/// with a field per column, `of` filling them from its arguments, and `push`, which writes
/// the statement on either backend. `INSERT INTO` binds every column; `UPDATE` sets every
/// column and moves `version` on by one, where the columns after `WHERE` are as given.
macro_rules! row_write {
    ($(#[$doc:meta])* $name:ident($($arg:ident: $arg_ty:ty),*) INSERT INTO $table:literal {
        $($col:ident: $ty:ty = $val:expr),* $(,)?
    }) => {
        row_write!(@type $(#[$doc])* $name($($arg: $arg_ty),*) { $($col: $ty = $val),* }
            |row, query| {
            query.push(concat!("INSERT INTO ", $table, " (", stringify!($($col),*), ") VALUES ("));
            let mut values = query.separated(", ");
            $(values.push_bind(row.$col);)*
            query.push(")");
        });
    };
    ($(#[$doc:meta])* $name:ident($($arg:ident: $arg_ty:ty),*) UPDATE $table:literal {
        $($col:ident: $ty:ty = $val:expr),* $(,)?
    } WHERE { $($key:ident: $key_ty:ty = $key_val:expr),* $(,)? }) => {
        row_write!(@type $(#[$doc])* $name($($arg: $arg_ty),*)
            { $($col: $ty = $val,)* $($key: $key_ty = $key_val),* } |row, query| {
            let mut set = query.push(concat!("UPDATE ", $table, " SET ")).separated(", ");
            $(set.push(concat!(stringify!($col), " = ")).push_bind_unseparated(row.$col);)*
            set.push("version = version + 1");
            let mut guard = query.push(" WHERE ").separated(" AND ");
            $(guard.push(concat!(stringify!($key), " = ")).push_bind_unseparated(row.$key);)*
        });
    };
    (@type $(#[$doc:meta])* $name:ident($($arg:ident: $arg_ty:ty),*) {
        $($col:ident: $ty:ty = $val:expr),* $(,)?
    } |$row:ident, $query:ident| $push:block) => {
        $(#[$doc])*
        struct $name {
            $($col: $ty),*
        }

        impl $name {
            fn of($($arg: $arg_ty),*) -> $name {
                $name { $($col: $val),* }
            }

            fn push<'q, DB>(self, $query: &mut QueryBuilder<'q, DB>)
            where
                DB: sqlx::Database,
                $($ty: sqlx::Encode<'q, DB> + sqlx::Type<DB>,)*
            {
                let $row = self;
                $push
            }
        }
    };
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

row_write! {
    /// A new permit row, owned.
    PermitInsert(p: &Permit, analysis: &Analysis) INSERT INTO "permits" {
        id: String = p.id.clone(),
        task_id: String = p.task_id.clone(),
        task: Json<Value> = Json(p.task.clone()),
        analysis: Json<Analysis> = Json(analysis.clone()),
        permit_type: String = p.permit_type.as_str().to_owned(),
        level: i64 = i64::from(p.level.value()),
        worker_id: String = p.worker_id.clone(),
        requester_id: String = p.requester_id.clone(),
        state: String = p.state.as_str().to_owned(),
        evidence: Json<Value> = Json(p.evidence.clone()),
        constraints: Json<PermitConstraints> = Json(p.constraints.clone()),
        requested_window_start: Option<i64> = p.requested_window_start_ms,
        total_hours: f64 = p.total_hours,
        round: i64 = i64::from(p.round),
        policy_version: String = p.policy_version.clone(),
        version: i64 = p.version,
        created_at: i64 = p.created_at_ms,
        updated_at: i64 = p.updated_at_ms,
        valid_from: Option<i64> = p.valid_from_ms,
        expires_at: Option<i64> = p.expires_at_ms,
        renewals: i64 = i64::from(p.renewals),
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
) -> Result<(), StoreError> {
    let changed = held_or_now!(
        tx,
        at_commit,
        Some(conflict(&p.id)),
        PermitWrite::of(p, now_ms)
    );
    if changed.is_some_and(|rows| rows != 1) {
        return Err(conflict(&p.id));
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

row_write! {
    /// The values [`update_permit`] writes, owned, so that the write can wait for the commit.
    PermitWrite(p: &Permit, now_ms: i64) UPDATE "permits" {
        state: String = p.state.as_str().to_owned(),
        evidence: Json<Value> = Json(p.evidence.clone()),
        valid_from: Option<i64> = p.valid_from_ms,
        expires_at: Option<i64> = p.expires_at_ms,
        renewals: i64 = i64::from(p.renewals),
        total_hours: f64 = p.total_hours,
        outcome: Option<String> = p.outcome.map(|o| o.as_str().to_owned()),
        revocation_reason: Option<String> = p.revocation_reason.map(|r| r.as_str().to_owned()),
        audit_summary: Option<Json<Value>> = p.audit_summary.clone().map(Json),
        cab_signed_off: bool = p.cab_signed_off,
        round: i64 = i64::from(p.round),
        pending_renewal: Option<Json<PendingRenewal>> = p.pending_renewal.clone().map(Json),
        updated_at: i64 = now_ms,
        revocation: Option<Json<PermitRevocation>> = p.revocation.clone().map(Json),
    } WHERE {
        id: String = p.id.clone(),
        version: i64 = p.version,
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

row_write! {
    /// A new approval row, owned.
    ApprovalInsert(permit_id: &str, a: &ApprovalRecord) INSERT INTO "approvals" {
        id: String = a.id.clone(),
        permit_id: String = permit_id.to_owned(),
        principal_id: String = a.principal_id.clone(),
        role: String = a.role.as_str().to_owned(),
        decision: String = a.decision.as_str().to_owned(),
        channel: String = a.channel.as_str().to_owned(),
        comment: Option<String> = a.comment.clone(),
        conditions: Json<Value> = Json(a.conditions.clone()),
        round: i64 = i64::from(a.round),
        created_at: i64 = a.created_at_ms,
    }
}

/// Ids of approved permits whose requested window has begun.
pub(super) async fn approved_due(store: &Store, now_ms: i64) -> Result<Vec<String>, StoreError> {
    const SQL: &str = "SELECT id FROM permits WHERE state = 'approved' \
         AND (requested_window_start IS NULL OR requested_window_start <= $1) \
         ORDER BY id LIMIT 500";
    Ok(in_pool!(
        store.pool,
        fetch_all,
        sqlx::query_scalar::<_, String>(SQL),
        now_ms
    ))
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
    let rows = in_pool!(
        store.pool,
        fetch_all,
        sqlx::query_as::<_, PermitRow>(&sql),
        f.state.map(|s| s.as_str()),
        &f.worker_id,
        &f.requester_id,
        after_id,
        i64::from(limit)
    );
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
