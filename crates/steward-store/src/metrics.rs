//! The aggregates behind `/metrics` (SPEC §10), kept in the database as counters that
//! [`Store::fold_metrics`] advances incrementally from the audit trail, so every instance
//! on one database reports the same. What each event adds is
//! `steward_audit::metrics::fold_event`; this module keeps the cursor and the SQL.
//!
//! # Cost
//!
//! A fold reads only the events appended since the last one (a cursor over the trail, in
//! `metric_fold`), adds their counts to `metric_counts` and `metric_histograms`, and moves
//! the cursor, all in one transaction under the cursor's lock (the same transaction adds
//! the new events' `(worker_id, seq)` pairs to `audit_worker_events`, the index a query
//! by worker reads, so appends do not maintain it): each event counts once
//! across instances and restarts. A scrape folds what is new, then reads the counter
//! tables (a few hundred rows) and the emergency permits by state, so its cost does not
//! grow with the trail. Counters never go down, also when pruning removes the events they
//! counted. The maintenance loop folds every few seconds, so a scrape finds little to do.

use steward_audit::EventType;
use steward_audit::metrics::{
    BucketRow, CountRow, DECISION_TYPES, FoldEvent, MetricDelta, MetricsSnapshot, ends_rollback,
    fold_event, folded_types, snapshot,
};

use crate::error::StoreError;
use crate::store::{Store, Tx, in_pool, in_tx};

/// `types` as an SQL list of their names.
fn sql_list(types: &[EventType]) -> String {
    types
        .iter()
        .map(|t| format!("'{}'", t.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Events read per query while folding.
const FOLD_PAGE: i64 = 1000;

/// The most of the trail (in `seq`) one fold transaction covers.
const FOLD_CHUNK: i64 = 10_000;

/// The fold cursor: the `seq` up to which events are folded.
const SELECT_CURSOR: &str = "SELECT CAST(seq AS BIGINT) FROM metric_fold WHERE id = 1";

/// One event as the fold reads it: the permit's analysis only for decisions (their worker
/// type may live there).
#[derive(sqlx::FromRow)]
struct FoldRow {
    seq: i64,
    ts: i64,
    event_type: String,
    level: Option<i64>,
    permit_id: Option<String>,
    data: String,
    analysis: Option<String>,
    /// When the permit was requested, for `permit.issued` (the permit row's creation, in
    /// the transaction of its `permit.requested`).
    requested_at: Option<i64>,
}

impl Store {
    /// Every aggregate `/metrics` shows: folds the events appended since the last fold,
    /// then reads the counters (see the module docs on cost).
    pub async fn metrics_snapshot(&self) -> Result<MetricsSnapshot, StoreError> {
        self.fold_metrics().await?;
        const COUNTS: &str = "SELECT family, event_type, CAST(level AS BIGINT), label, \
             CAST(count AS BIGINT) FROM metric_counts";
        const EMERGENCIES: &str = "SELECT CAST(level AS BIGINT), state, CAST(COUNT(*) AS BIGINT) \
             FROM permits WHERE permit_type = 'emergency' GROUP BY level, state ORDER BY 1, 2";
        const BUCKETS: &str = "SELECT family, CAST(level AS BIGINT), CAST(bucket AS BIGINT), \
             CAST(count AS BIGINT), CAST(sum_ms AS BIGINT) FROM metric_histograms";
        let counts: Vec<CountRow> = in_pool!(self.pool, fetch_all, sqlx::query_as(COUNTS));
        let emergencies: Vec<(i64, String, i64)> =
            in_pool!(self.pool, fetch_all, sqlx::query_as(EMERGENCIES));
        let buckets: Vec<BucketRow> = in_pool!(self.pool, fetch_all, sqlx::query_as(BUCKETS));
        Ok(snapshot(counts, emergencies, &buckets))
    }

    /// Folds the events appended since the last fold into the counters and into the
    /// per-worker event index (`audit_worker_events`), in transactions of at most
    /// [`FOLD_CHUNK`] events each under the fold cursor's lock (so a long backlog, such as
    /// a large trail's first fold, never holds the write lock for long); returns how far
    /// the cursor moved. Cheap when nothing is new (two point reads, no write lock).
    pub async fn fold_metrics(&self) -> Result<u64, StoreError> {
        let folded: i64 = in_pool!(self.pool, fetch_one, sqlx::query_scalar(SELECT_CURSOR));
        let head = i64::try_from(self.audit_head().await?.seq).unwrap_or(i64::MAX);
        if folded >= head {
            return Ok(0);
        }
        let mut moved = 0;
        loop {
            let (chunk, caught_up) = self.fold_chunk().await?;
            moved += chunk;
            if caught_up {
                return Ok(moved);
            }
        }
    }

    /// One transaction of [`Store::fold_metrics`]: how far the cursor moved, and whether
    /// it reached the head.
    async fn fold_chunk(&self) -> Result<(u64, bool), StoreError> {
        let mut tx = self.begin().await?;
        let select_cursor = format!("{SELECT_CURSOR}{}", tx.for_update());
        let mut at: i64 = in_tx!(tx, fetch_one, sqlx::query_scalar(&select_cursor));
        // Every event up to the head read now is committed: appends hold the head's lock
        // until they commit.
        const HEAD: &str = "SELECT CAST(seq AS BIGINT) FROM audit_head WHERE id = 1";
        let head_now: i64 = in_tx!(tx, fetch_one, sqlx::query_scalar(HEAD));
        let head = head_now.min(at.saturating_add(FOLD_CHUNK));
        let read_from = at;
        let types = sql_list(&folded_types());
        let decisions = sql_list(DECISION_TYPES);
        let issued = EventType::PermitIssued.as_str();
        let select_events = format!(
            "SELECT e.seq, e.ts, e.type AS event_type, CAST(e.level AS BIGINT) AS level, \
             e.permit_id, CAST(e.data AS TEXT) AS data, \
             CASE WHEN e.type IN ({decisions}) THEN CAST(p.analysis AS TEXT) END AS analysis, \
             CASE WHEN e.type = '{issued}' THEN p.created_at END AS requested_at \
             FROM audit_events e LEFT JOIN permits p ON p.id = e.permit_id \
             WHERE e.seq > $1 AND e.seq <= $2 AND e.type IN ({types}) ORDER BY e.seq LIMIT $3"
        );
        let mut delta = MetricDelta::default();
        while at < head {
            let rows: Vec<FoldRow> = in_tx!(
                tx,
                fetch_all,
                sqlx::query_as(&select_events),
                at,
                head,
                FOLD_PAGE
            );
            let Some(last) = rows.last().map(|row| row.seq) else {
                break;
            };
            for row in &rows {
                fold_row(&mut tx, &mut delta, row).await?;
            }
            at = last;
            if rows.len() < FOLD_PAGE as usize {
                break;
            }
        }
        write_delta(&mut tx, &delta).await?;
        // The per-worker event index moves with the same cursor (migration 0026).
        const INDEX: &str = "INSERT INTO audit_worker_events (worker_id, seq) \
             SELECT worker_id, seq FROM audit_events \
             WHERE seq > $1 AND seq <= $2 AND worker_id IS NOT NULL";
        in_tx!(tx, execute, sqlx::query(INDEX), read_from, head);
        const MOVE: &str = "UPDATE metric_fold SET seq = $1 WHERE id = 1";
        in_tx!(tx, execute, sqlx::query(MOVE), head);
        tx.commit().await?;
        Ok((
            u64::try_from(head - read_from).unwrap_or(0),
            head >= head_now,
        ))
    }
}

/// Adds one event's contributions to `delta`, looking up the rollback a
/// `rollback.completed` ends: the latest one opened before it, unless an earlier
/// completion ended that one already.
async fn fold_row(
    tx: &mut Tx<'_>,
    delta: &mut MetricDelta,
    row: &FoldRow,
) -> Result<(), StoreError> {
    let mut rollback_opened = None;
    if ends_rollback(&row.event_type)
        && let Some(permit) = &row.permit_id
    {
        rollback_opened = in_tx!(
            tx,
            fetch_optional,
            sqlx::query_as(
                "SELECT o.ts, CAST(o.level AS BIGINT) FROM audit_events o \
                 WHERE o.permit_id = $1 AND o.type = $3 AND o.seq < $2 \
                 AND NOT EXISTS (SELECT 1 FROM audit_events c WHERE c.permit_id = $1 \
                 AND c.type = $4 AND c.seq > o.seq AND c.seq < $2) \
                 ORDER BY o.seq DESC LIMIT 1",
            ),
            permit,
            row.seq,
            EventType::RollbackOpened.as_str(),
            EventType::RollbackCompleted.as_str(),
        );
    }
    fold_event(
        delta,
        &FoldEvent {
            ts_ms: row.ts,
            event_type: &row.event_type,
            level: row.level,
            data: &row.data,
            analysis: row.analysis.as_deref(),
            requested_at_ms: row.requested_at,
            rollback_opened,
        },
    );
    Ok(())
}

/// Adds `delta` to the counter tables.
async fn write_delta(tx: &mut Tx<'_>, delta: &MetricDelta) -> Result<(), StoreError> {
    for ((family, event_type, level, label), count) in &delta.counts {
        in_tx!(
            tx,
            execute,
            sqlx::query(
                "INSERT INTO metric_counts (family, event_type, level, label, count) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (family, event_type, level, label) \
                 DO UPDATE SET count = metric_counts.count + excluded.count",
            ),
            *family,
            event_type,
            level,
            label,
            count,
        );
    }
    for ((family, level, bucket), (count, sum_ms)) in &delta.histograms {
        in_tx!(
            tx,
            execute,
            sqlx::query(
                "INSERT INTO metric_histograms (family, level, bucket, count, sum_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (family, level, bucket) \
                 DO UPDATE SET count = metric_histograms.count + excluded.count, \
                 sum_ms = metric_histograms.sum_ms + excluded.sum_ms",
            ),
            *family,
            level,
            bucket,
            count,
            sum_ms,
        );
    }
    Ok(())
}
