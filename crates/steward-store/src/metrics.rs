//! The aggregates behind `/metrics` (SPEC §10), kept in the database as counters that
//! [`Store::fold_metrics`] advances incrementally from the audit trail, so every instance
//! on one database reports the same.
//!
//! # Cost
//!
//! A fold reads only the events appended since the last one (a cursor over the trail, in
//! `metric_fold`), adds their counts to `metric_counts` and `metric_histograms`, and moves
//! the cursor, all in one transaction under the cursor's lock: each event counts once
//! across instances and restarts. A scrape folds what is new, then reads the counter
//! tables (a few hundred rows) and the emergency permits by state, so its cost does not
//! grow with the trail. Counters never go down, also when pruning removes the events they
//! counted. The maintenance loop folds every few seconds, so a scrape finds little to do.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use steward_audit::EventType;
use steward_audit::event::{
    AuthorizeDecided, EventPayload as _, PermitClosed, PermitCompleted, PermitHardBlocked,
    TaskAnalyzed,
};

use crate::error::StoreError;
use crate::store::{Store, Tx, on_pool, on_tx};

/// Upper bounds (seconds) of the approval-time histogram: request → issued.
pub const APPROVAL_BUCKETS_S: &[f64] = &[
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0,
];

/// Upper bounds (seconds) of the rollback-duration histogram: opened → completed.
pub const ROLLBACK_BUCKETS_S: &[f64] = &[30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0];

/// Event types counted as decisions: analyses, run-time authorize decisions, permit
/// decisions.
pub const DECISION_TYPES: &[EventType] = &[
    EventType::TaskAnalyzed,
    EventType::AuthorizeAllowed,
    EventType::AuthorizeDenied,
    EventType::PermitApproved,
    EventType::PermitRejected,
    EventType::PermitChangesRequested,
];

/// Event types counted by type and level only: SLA breaches, expiries, rollbacks,
/// telemetry breaches.
pub const COUNTED_TYPES: &[EventType] = &[
    EventType::PermitEscalated,
    EventType::PermitExpired,
    EventType::RollbackOpened,
    EventType::RollbackCompleted,
    EventType::RollbackEscalated,
    EventType::TelemetryBreach,
];

/// Event types folded for what their data says, beyond their count.
const READ_TYPES: &[EventType] = &[
    EventType::PermitCompleted,
    EventType::PermitClosed,
    EventType::PermitHardBlocked,
    EventType::PermitIssued,
];

/// `types` as an SQL list of their names.
fn sql_list(types: &[EventType]) -> String {
    types
        .iter()
        .map(|t| format!("'{}'", t.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A count of events (or permits) of one type, level and label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub event_type: String,
    /// The event's (permit's) level, when it has one.
    pub level: Option<i64>,
    /// What the count is split by beyond type and level: the worker type for decisions,
    /// the outcome for completions, the actual level for close feedback, the rule for
    /// authorize denials, the state for emergency permits; empty otherwise.
    pub label: String,
    pub count: i64,
}

/// One histogram series: cumulative counts per upper bound (`le`), sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub level: Option<i64>,
    /// `(upper bound in seconds, observations <= it)`; `+Inf` is `count`.
    pub buckets: Vec<(f64, i64)>,
    pub sum_seconds: f64,
    pub count: i64,
}

/// Everything `/metrics` renders.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// [`DECISION_TYPES`] by level and worker type (label).
    pub decisions: Vec<Count>,
    /// `permit.completed` by level and outcome (label).
    pub outcomes: Vec<Count>,
    /// `permit.closed` carrying `actual_level` (label), by required level.
    pub feedback: Vec<Count>,
    /// [`COUNTED_TYPES`] by type and level.
    pub events: Vec<Count>,
    /// Hard blocks: permit requests refused by one (`permit.hard_blocked`, by its first
    /// rule) and `authorize.denied` events by the rule that refused (label). (An analysis
    /// without a named worker never has hard blocks, so `task.analyzed` is not scanned.)
    pub hard_blocks: Vec<Count>,
    /// Emergency permits (`permit_type = 'emergency'`) by level and state (label).
    pub emergency_permits: Vec<Count>,
    pub approval_time: Vec<Histogram>,
    pub rollback_time: Vec<Histogram>,
}

/// Events read per query while folding.
const FOLD_PAGE: i64 = 1000;

/// The most of the trail (in `seq`) one fold transaction covers.
const FOLD_CHUNK: i64 = 10_000;

/// The level stored for an event without one.
const NO_LEVEL: i64 = -1;

/// Counter families, as stored in `metric_counts.family`.
const DECISIONS: &str = "decisions";
const OUTCOMES: &str = "outcomes";
const FEEDBACK: &str = "feedback";
const EVENTS: &str = "events";
const HARD_BLOCKS: &str = "hard_blocks";
/// Histogram families, as stored in `metric_histograms.family`.
const APPROVAL: &str = "approval";
const ROLLBACK: &str = "rollback";

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

/// What a fold adds: counts by `(family, type, level, label)`, histogram observations
/// by `(family, level, bucket)` as `(count, sum_ms)`.
#[derive(Default)]
struct Delta {
    counts: HashMap<(&'static str, String, i64, String), i64>,
    histograms: HashMap<(&'static str, i64, i64), (i64, i64)>,
}

impl Delta {
    fn count(&mut self, family: &'static str, row: &FoldRow, label: String) {
        let key = (
            family,
            row.event_type.clone(),
            row.level.unwrap_or(NO_LEVEL),
            label,
        );
        *self.counts.entry(key).or_default() += 1;
    }

    fn observe(&mut self, family: &'static str, level: Option<i64>, bounds: &[f64], ms: i64) {
        let bucket = bounds
            .iter()
            .position(|bound| ms <= (bound * 1000.0) as i64)
            .unwrap_or(bounds.len());
        let entry = self
            .histograms
            .entry((family, level.unwrap_or(NO_LEVEL), bucket as i64))
            .or_default();
        entry.0 += 1;
        entry.1 += ms;
    }
}

/// A member of an event's data as a label: a string as it is, another value as its JSON
/// text; `None` when absent or null.
fn member(data: &Value, name: &str) -> Option<String> {
    label(data.get(name)?)
}

/// A value as a label: a string as it is, another value as JSON, `None` for `null`.
fn label(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

impl Store {
    /// Every aggregate `/metrics` shows: folds the events appended since the last fold,
    /// then reads the counters (see the module docs on cost).
    pub async fn metrics_snapshot(&self) -> Result<MetricsSnapshot, StoreError> {
        self.fold_metrics().await?;
        let mut snapshot = MetricsSnapshot::default();
        let counts: Vec<(String, String, i64, String, i64)> = on_pool!(self.pool, |pool| {
            sqlx::query_as(
                "SELECT family, event_type, CAST(level AS BIGINT), label, CAST(count AS BIGINT) \
                 FROM metric_counts",
            )
            .fetch_all(pool)
            .await?
        });
        for (family, event_type, level, label, count) in counts {
            let list = match family.as_str() {
                DECISIONS => &mut snapshot.decisions,
                OUTCOMES => &mut snapshot.outcomes,
                FEEDBACK => &mut snapshot.feedback,
                EVENTS => &mut snapshot.events,
                HARD_BLOCKS => &mut snapshot.hard_blocks,
                _ => continue,
            };
            list.push(Count {
                event_type,
                level: (level != NO_LEVEL).then_some(level),
                label,
                count,
            });
        }
        for list in [
            &mut snapshot.decisions,
            &mut snapshot.outcomes,
            &mut snapshot.feedback,
            &mut snapshot.events,
            &mut snapshot.hard_blocks,
        ] {
            list.sort_by(|a, b| {
                (&a.event_type, a.level, &a.label).cmp(&(&b.event_type, b.level, &b.label))
            });
        }
        let emergencies: Vec<(i64, String, i64)> = on_pool!(self.pool, |pool| {
            sqlx::query_as(
                "SELECT CAST(level AS BIGINT), state, CAST(COUNT(*) AS BIGINT) FROM permits \
                 WHERE permit_type = 'emergency' GROUP BY level, state ORDER BY 1, 2",
            )
            .fetch_all(pool)
            .await?
        });
        snapshot.emergency_permits = emergencies
            .into_iter()
            .map(|(level, state, count)| Count {
                event_type: "permit".to_owned(),
                level: Some(level),
                label: state,
                count,
            })
            .collect();
        let rows: Vec<(String, i64, i64, i64, i64)> = on_pool!(self.pool, |pool| {
            sqlx::query_as(
                "SELECT family, CAST(level AS BIGINT), CAST(bucket AS BIGINT), \
                 CAST(count AS BIGINT), CAST(sum_ms AS BIGINT) FROM metric_histograms",
            )
            .fetch_all(pool)
            .await?
        });
        snapshot.approval_time = histograms(&rows, APPROVAL, APPROVAL_BUCKETS_S);
        snapshot.rollback_time = histograms(&rows, ROLLBACK, ROLLBACK_BUCKETS_S);
        Ok(snapshot)
    }

    /// Folds the events appended since the last fold into the counters, in transactions
    /// of at most [`FOLD_CHUNK`] events each under the fold cursor's lock (so a long
    /// backlog, such as a large trail's first fold, never holds the write lock for long);
    /// returns how far the cursor moved. Cheap when nothing is new (two point reads, no
    /// write lock).
    pub async fn fold_metrics(&self) -> Result<u64, StoreError> {
        let folded: i64 = on_pool!(self.pool, |pool| {
            sqlx::query_scalar("SELECT CAST(seq AS BIGINT) FROM metric_fold WHERE id = 1")
                .fetch_one(pool)
                .await?
        });
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
        let select_cursor = format!(
            "SELECT CAST(seq AS BIGINT) FROM metric_fold WHERE id = 1{}",
            tx.for_update()
        );
        let mut at: i64 = on_tx!(tx, |conn| {
            sqlx::query_scalar(&select_cursor)
                .fetch_one(&mut **conn)
                .await?
        });
        // Every event up to the head read now is committed: appends hold the head's lock
        // until they commit.
        let head_now: i64 = on_tx!(tx, |conn| {
            sqlx::query_scalar("SELECT CAST(seq AS BIGINT) FROM audit_head WHERE id = 1")
                .fetch_one(&mut **conn)
                .await?
        });
        let head = head_now.min(at.saturating_add(FOLD_CHUNK));
        let read_from = at;
        let types = folded_types();
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
        let mut delta = Delta::default();
        while at < head {
            let rows: Vec<FoldRow> = on_tx!(tx, |conn| {
                sqlx::query_as(&select_events)
                    .bind(at)
                    .bind(head)
                    .bind(FOLD_PAGE)
                    .fetch_all(&mut **conn)
                    .await?
            });
            let Some(last) = rows.last().map(|row| row.seq) else {
                break;
            };
            for row in &rows {
                fold_event(&mut tx, &mut delta, row).await?;
            }
            at = last;
            if rows.len() < FOLD_PAGE as usize {
                break;
            }
        }
        write_delta(&mut tx, &delta).await?;
        on_tx!(tx, |conn| {
            sqlx::query("UPDATE metric_fold SET seq = $1 WHERE id = 1")
                .bind(head)
                .execute(&mut **conn)
                .await?
                .rows_affected()
        });
        tx.commit().await?;
        Ok((
            u64::try_from(head - read_from).unwrap_or(0),
            head >= head_now,
        ))
    }
}

/// Every event type some figure counts, as an SQL list.
fn folded_types() -> String {
    let mut types: Vec<EventType> = DECISION_TYPES.to_vec();
    types.extend_from_slice(COUNTED_TYPES);
    types.extend_from_slice(READ_TYPES);
    types.sort_unstable_by_key(|t| t.as_str());
    types.dedup();
    sql_list(&types)
}

/// Adds one event's contributions to `delta` (the histograms look up the event that
/// starts the duration).
async fn fold_event(tx: &mut Tx<'_>, delta: &mut Delta, row: &FoldRow) -> Result<(), StoreError> {
    let data: Value = serde_json::from_str(&row.data).unwrap_or(Value::Null);
    let Some(kind) = EventType::of(&row.event_type) else {
        return Ok(());
    };
    let known = |text: Option<String>| {
        text.filter(|text| !text.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    if DECISION_TYPES.contains(&kind) {
        let from_analysis = || {
            let analysis: Value = serde_json::from_str(row.analysis.as_deref()?).ok()?;
            member(analysis.get("certification_decision")?, "worker_type")
        };
        // Of the decisions Steward writes, only an analysis records the worker type; the
        // others are about a permit, whose analysis has it (one that does record it, an
        // older version's or a fixture's, is counted under it).
        let recorded = match kind {
            EventType::TaskAnalyzed => TaskAnalyzed::from_data(&data)
                .ok()
                .and_then(|analyzed| label(&analyzed.worker_type)),
            _ => member(&data, "worker_type"),
        };
        let worker_type = known(recorded.or_else(from_analysis));
        delta.count(DECISIONS, row, worker_type);
    }
    if COUNTED_TYPES.contains(&kind) {
        delta.count(EVENTS, row, String::new());
    }
    match kind {
        EventType::PermitCompleted => {
            let outcome = PermitCompleted::from_data(&data).ok().map(|c| c.outcome);
            delta.count(OUTCOMES, row, known(outcome));
        }
        EventType::PermitClosed => {
            let closed = PermitClosed::from_data(&data).ok();
            if let Some(actual) = closed.and_then(|c| c.actual_level) {
                delta.count(FEEDBACK, row, actual.to_string());
            }
        }
        EventType::AuthorizeDenied => {
            let rule = AuthorizeDecided::from_data(&data).ok().map(|d| d.rule);
            delta.count(HARD_BLOCKS, row, known(rule));
        }
        EventType::PermitHardBlocked => {
            let rule = PermitHardBlocked::from_data(&data)
                .ok()
                .and_then(|b| b.rule);
            delta.count(HARD_BLOCKS, row, known(rule));
        }
        EventType::PermitIssued => {
            if let Some(requested) = row.requested_at {
                delta.observe(APPROVAL, row.level, APPROVAL_BUCKETS_S, row.ts - requested);
            }
        }
        _ => {}
    }
    if kind == EventType::RollbackCompleted
        && let Some(permit) = &row.permit_id
    {
        // The rollback this completion ends: the latest one opened before it, unless an
        // earlier completion ended that one already.
        let opened: Option<(i64, i64, Option<i64>)> = on_tx!(tx, |conn| {
            sqlx::query_as(
                "SELECT o.seq, o.ts, CAST(o.level AS BIGINT) FROM audit_events o \
                 WHERE o.permit_id = $1 AND o.type = $3 AND o.seq < $2 \
                 AND NOT EXISTS (SELECT 1 FROM audit_events c WHERE c.permit_id = $1 \
                 AND c.type = $4 AND c.seq > o.seq AND c.seq < $2) \
                 ORDER BY o.seq DESC LIMIT 1",
            )
            .bind(permit)
            .bind(row.seq)
            .bind(EventType::RollbackOpened.as_str())
            .bind(EventType::RollbackCompleted.as_str())
            .fetch_optional(&mut **conn)
            .await?
        });
        if let Some((_, opened_ts, level)) = opened {
            delta.observe(ROLLBACK, level, ROLLBACK_BUCKETS_S, row.ts - opened_ts);
        }
    }
    Ok(())
}

/// Adds `delta` to the counter tables.
async fn write_delta(tx: &mut Tx<'_>, delta: &Delta) -> Result<(), StoreError> {
    for ((family, event_type, level, label), count) in &delta.counts {
        on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO metric_counts (family, event_type, level, label, count) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (family, event_type, level, label) \
                 DO UPDATE SET count = metric_counts.count + excluded.count",
            )
            .bind(*family)
            .bind(event_type)
            .bind(level)
            .bind(label)
            .bind(count)
            .execute(&mut **conn)
            .await?
            .rows_affected()
        });
    }
    for ((family, level, bucket), (count, sum_ms)) in &delta.histograms {
        on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO metric_histograms (family, level, bucket, count, sum_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (family, level, bucket) \
                 DO UPDATE SET count = metric_histograms.count + excluded.count, \
                 sum_ms = metric_histograms.sum_ms + excluded.sum_ms",
            )
            .bind(*family)
            .bind(level)
            .bind(bucket)
            .bind(count)
            .bind(sum_ms)
            .execute(&mut **conn)
            .await?
            .rows_affected()
        });
    }
    Ok(())
}

/// The histograms of one family by level, cumulative per bound, from the stored
/// per-bucket rows `(family, level, bucket, count, sum_ms)`.
fn histograms(
    rows: &[(String, i64, i64, i64, i64)],
    family: &str,
    bounds: &[f64],
) -> Vec<Histogram> {
    let mut by_level: BTreeMap<i64, (Vec<i64>, i64, i64)> = BTreeMap::new();
    for (_, level, bucket, count, sum_ms) in rows.iter().filter(|row| row.0 == family) {
        let entry = by_level
            .entry(*level)
            .or_insert_with(|| (vec![0; bounds.len()], 0, 0));
        // Bucket b counts in every cumulative bound from b on.
        for cumulative in entry
            .0
            .iter_mut()
            .skip(usize::try_from(*bucket).unwrap_or(usize::MAX))
        {
            *cumulative += count;
        }
        entry.1 += count;
        entry.2 += sum_ms;
    }
    by_level
        .into_iter()
        .map(|(level, (cumulative, count, sum_ms))| Histogram {
            level: (level != NO_LEVEL).then_some(level),
            buckets: bounds.iter().copied().zip(cumulative).collect(),
            sum_seconds: sum_ms as f64 / 1000.0,
            count,
        })
        .collect()
}
