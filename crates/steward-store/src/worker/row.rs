//! The `workers` row: reading it (locked, inside a transaction, or plain), inserting it,
//! saving a changed certification under the optimistic lock, and the JSON of `stats`.

use serde_json::{Value, json};
use sqlx::types::Json;
use steward_permits::{OperationStats, Timestamp, WorkerRecord};
use steward_policy::{CertificationStatus, Level};

use super::Worker;
use crate::error::StoreError;
use crate::store::{Store, Tx, in_pool, in_tx};

/// The `workers` columns, in [`WorkerRow`]'s names. JSONB columns are read as text on
/// PostgreSQL (`CAST(… AS TEXT)` is a no-op on SQLite, where they are TEXT).
pub(super) const COLUMNS: &str = "id, display_name, owner_id, principal_id, level, status, \
     CAST(domains AS TEXT) AS domains, level_granted_at, recertify_by, probation_until, \
     CAST(stats AS TEXT) AS stats, version, created_at, updated_at";

/// One `workers` row as [`COLUMNS`] reads it.
#[derive(sqlx::FromRow)]
pub(super) struct WorkerRow {
    id: String,
    display_name: String,
    owner_id: String,
    principal_id: Option<String>,
    level: i64,
    status: String,
    /// JSON array of strings.
    domains: String,
    level_granted_at: i64,
    recertify_by: Option<i64>,
    probation_until: Option<i64>,
    /// JSON, see [`encode_stats`].
    stats: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

/// The worker `id`, read inside `tx` and locked until it ends (PostgreSQL `FOR UPDATE`;
/// SQLite's write transaction already excludes other writers), or `NotFound`.
pub(super) async fn lock(tx: &mut Tx<'_>, id: &str) -> Result<Worker, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM workers WHERE id = $1{}",
        tx.for_update()
    );
    match in_tx!(tx, fetch_optional, sqlx::query_as::<_, WorkerRow>(&sql), id) {
        Some(row) => decode(row),
        None => Err(StoreError::NotFound {
            what: "worker",
            id: id.to_owned(),
        }),
    }
}

/// Every worker whose recertification date (or, without one, grant date) is at or before
/// `due_ms` and whose status can expire, locked like [`lock`].
pub(super) async fn lock_overdue(tx: &mut Tx<'_>, due_ms: i64) -> Result<Vec<Worker>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM workers WHERE level > 0 AND status IN ('active', 'probationary') \
         AND coalesce(recertify_by, level_granted_at) <= $1 ORDER BY id{}",
        tx.for_update()
    );
    let rows = in_tx!(tx, fetch_all, sqlx::query_as::<_, WorkerRow>(&sql), due_ms);
    rows.into_iter().map(decode).collect()
}

/// The worker whose `column` equals `value`. `column` is one of two literals chosen by
/// the callers, never input.
pub(super) async fn fetch_where(
    store: &Store,
    column: &'static str,
    value: &str,
) -> Result<Option<Worker>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM workers WHERE {column} = $1");
    let row = in_pool!(
        store.pool,
        fetch_optional,
        sqlx::query_as::<_, WorkerRow>(&sql),
        value
    );
    row.map(decode).transpose()
}

pub(super) async fn insert(tx: &mut Tx<'_>, worker: &Worker) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO workers (id, display_name, owner_id, principal_id, level, \
         status, domains, level_granted_at, recertify_by, probation_until, stats, version, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
    let stats = encode_stats(&worker.stats);
    in_tx!(
        tx,
        execute,
        sqlx::query(SQL),
        &worker.id,
        &worker.display_name,
        &worker.owner_id,
        &worker.principal_id,
        i64::from(worker.level.value()),
        worker.status.as_str(),
        Json(&worker.domains),
        worker.level_granted_at_ms,
        worker.recertify_by_ms,
        worker.probation_until_ms,
        Json(&stats),
        worker.version,
        worker.created_at_ms,
        worker.updated_at_ms,
    );
    Ok(())
}

/// Saves `record` as `before`'s certification, if the row still has `before.version`,
/// and returns the saved worker. A changed version is a [`StoreError::Conflict`].
///
/// INVARIANT: every change to a worker's certification goes through here, so every
/// change increments `version` and a stale writer fails instead of overwriting.
pub(super) async fn save(
    tx: &mut Tx<'_>,
    before: &Worker,
    record: &WorkerRecord,
    now_ms: i64,
) -> Result<Worker, StoreError> {
    const SQL: &str = "UPDATE workers SET level = $1, status = $2, level_granted_at = $3, \
         recertify_by = $4, probation_until = $5, stats = $6, version = version + 1, \
         updated_at = $7 WHERE id = $8 AND version = $9";
    let after = Worker {
        version: before.version + 1,
        updated_at_ms: now_ms,
        ..before.with_record(record)
    };
    let stats = encode_stats(&after.stats);
    let changed = in_tx!(
        tx,
        execute,
        sqlx::query(SQL),
        i64::from(after.level.value()),
        after.status.as_str(),
        after.level_granted_at_ms,
        after.recertify_by_ms,
        after.probation_until_ms,
        Json(&stats),
        now_ms,
        &before.id,
        before.version,
    );
    expect_one_change(changed, before)?;
    Ok(after)
}

/// Binds `principal_id` as the identity of `before`, which has none, if the row still has
/// `before.version`; returns the saved worker. The version moves on, so every instance's
/// authorize cache sees the new identity at its next decision.
pub(super) async fn bind_identity(
    tx: &mut Tx<'_>,
    before: &Worker,
    principal_id: &str,
    now_ms: i64,
) -> Result<Worker, StoreError> {
    const SQL: &str = "UPDATE workers SET principal_id = $1, version = version + 1, \
         updated_at = $2 WHERE id = $3 AND version = $4 AND principal_id IS NULL";
    let changed = in_tx!(
        tx,
        execute,
        sqlx::query(SQL),
        principal_id,
        now_ms,
        &before.id,
        before.version
    );
    expect_one_change(changed, before)?;
    Ok(Worker {
        principal_id: Some(principal_id.to_owned()),
        version: before.version + 1,
        updated_at_ms: now_ms,
        ..before.clone()
    })
}

/// The optimistic version check of an update of `before`'s row: it must have changed
/// exactly one row, or the row no longer has `before.version` and the update is a
/// [`StoreError::Conflict`].
fn expect_one_change(changed: u64, before: &Worker) -> Result<(), StoreError> {
    if changed != 1 {
        return Err(StoreError::Conflict {
            message: format!(
                "worker `{}` changed while this request was handled (version {} is stale); retry",
                before.id, before.version
            ),
        });
    }
    Ok(())
}

pub(super) fn decode(row: WorkerRow) -> Result<Worker, StoreError> {
    let bad = |problem: String| StoreError::corrupt("worker", &row.id, problem);
    let level = u8::try_from(row.level)
        .ok()
        .and_then(Level::new)
        .ok_or_else(|| bad(format!("level {} is not 0 to 4", row.level)))?;
    let status = row
        .status
        .parse::<CertificationStatus>()
        .map_err(|e| bad(e.to_string()))?;
    let domains: Vec<String> =
        serde_json::from_str(&row.domains).map_err(|e| bad(format!("domains: {e}")))?;
    let stats = serde_json::from_str(&row.stats)
        .map_err(|e| e.to_string())
        .and_then(|value| decode_stats(&value))
        .map_err(|e| bad(format!("stats: {e}")))?;
    Ok(Worker {
        id: row.id,
        display_name: row.display_name,
        owner_id: row.owner_id,
        principal_id: row.principal_id,
        level,
        status,
        domains,
        level_granted_at_ms: row.level_granted_at,
        recertify_by_ms: row.recertify_by,
        probation_until_ms: row.probation_until,
        stats,
        version: row.version,
        created_at_ms: row.created_at,
        updated_at_ms: row.updated_at,
    })
}

/// The stored JSON of `stats`. Written out by hand, with the field names of
/// [`OperationStats`], so that the stored shape changes only on purpose.
pub(super) fn encode_stats(stats: &OperationStats) -> Value {
    json!({
        "successes_at_level": stats.successes_at_level,
        "failures_at_level": stats.failures_at_level,
        "successes_by_level": stats.successes_by_level,
        "last_incident_at": stats.last_incident_at.map(Timestamp::millis),
        "safety_violations": stats.safety_violations,
        "consecutive_union_failures": stats.consecutive_union_failures,
        "uncounted_successes": stats.uncounted_successes,
    })
}

fn decode_stats(value: &Value) -> Result<OperationStats, String> {
    let as_count = |n: &Value| n.as_u64().and_then(|n| u32::try_from(n).ok());
    let count = |name: &str| -> Result<u32, String> {
        value
            .get(name)
            .and_then(as_count)
            .ok_or_else(|| format!("`{name}` is not a count"))
    };
    let successes_by_level: [u32; 5] = value
        .get("successes_by_level")
        .and_then(Value::as_array)
        .and_then(|counts| counts.iter().map(as_count).collect::<Option<Vec<u32>>>())
        .ok_or("`successes_by_level` is not an array of counts")?
        .try_into()
        .map_err(|_| "`successes_by_level` does not have 5 entries")?;
    let last_incident_at = match value.get("last_incident_at") {
        None | Some(Value::Null) => None,
        Some(at) => Some(Timestamp(
            at.as_i64().ok_or("`last_incident_at` is not unix ms")?,
        )),
    };
    Ok(OperationStats {
        successes_at_level: count("successes_at_level")?,
        failures_at_level: count("failures_at_level")?,
        successes_by_level,
        last_incident_at,
        safety_violations: count("safety_violations")?,
        consecutive_union_failures: count("consecutive_union_failures")?,
        // Absent from rows written outside Steward (test fixtures): none uncounted.
        uncounted_successes: match value.get("uncounted_successes") {
            None => 0,
            Some(_) => count("uncounted_successes")?,
        },
    })
}
