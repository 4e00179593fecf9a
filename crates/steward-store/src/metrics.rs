//! The aggregates behind `/metrics` (SPEC §10), computed at scrape time from the audit
//! trail and the permits table, so every instance on one database reports the same.
//!
//! # Cost
//!
//! Each figure is one `GROUP BY` query. The event queries select by `type` (the
//! `audit_events_type (type, seq)` index) and pair events of one permit through
//! `audit_events_permit`; histograms are bucketed in SQL, so a scrape transfers a few
//! hundred rows at most whatever the trail's length. The work is linear in the number of
//! matching events. There is deliberately no cap on scanned rows: Prometheus counters must
//! never go down, and a window would make them. The trail's length is bounded by audit
//! retention instead; `BENCHMARKS.md` records the scrape time of a large trail.

use crate::error::StoreError;
use crate::store::{Backend, Store, on_pool};

/// Upper bounds (seconds) of the approval-time histogram: request → issued.
pub const APPROVAL_BUCKETS_S: &[f64] = &[
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0,
];

/// Upper bounds (seconds) of the rollback-duration histogram: opened → completed.
pub const ROLLBACK_BUCKETS_S: &[f64] = &[30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0];

/// Event types counted as decisions: analyses, run-time authorize decisions, permit
/// decisions.
pub const DECISION_TYPES: &[&str] = &[
    "task.analyzed",
    "authorize.allowed",
    "authorize.denied",
    "permit.approved",
    "permit.rejected",
    "permit.changes_requested",
];

/// Event types counted by type and level only: SLA breaches, expiries, rollbacks,
/// telemetry breaches.
pub const COUNTED_TYPES: &[&str] = &[
    "permit.escalated",
    "permit.expired",
    "rollback.opened",
    "rollback.completed",
    "rollback.escalated",
    "telemetry.breach",
];

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

/// One row of a count query: its columns are aliased `event_type, level, label, count`.
#[derive(sqlx::FromRow)]
struct CountRow {
    event_type: String,
    level: Option<i64>,
    label: String,
    count: i64,
}

/// A JSON member of a column as text, in the backend's dialect: the databases' JSON path
/// syntaxes differ, so this is the one per-backend piece of the metrics' statements.
fn json_text(backend: Backend, column: &str, path: &[&str]) -> String {
    match backend {
        Backend::Sqlite => format!("json_extract({column}, '$.{}')", path.join(".")),
        Backend::Postgres => {
            let (last, init) = path.split_last().expect("a JSON path has a member");
            let mut expr = column.to_owned();
            for member in init {
                expr.push_str(&format!("->'{member}'"));
            }
            format!("({expr}->>'{last}')")
        }
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SELECT of a histogram by level over `durations` (a subquery with columns `level`
/// and `d`, in milliseconds).
fn histogram_sql(durations: &str, bounds: &[f64]) -> String {
    let mut columns = String::new();
    for bound in bounds {
        let ms = (bound * 1000.0) as i64;
        columns.push_str(&format!(", SUM(CASE WHEN d <= {ms} THEN 1 ELSE 0 END)"));
    }
    format!(
        "SELECT level, COUNT(*), CAST(COALESCE(SUM(d), 0) AS BIGINT){columns} \
         FROM ({durations}) durations GROUP BY level ORDER BY level"
    )
}

impl Store {
    /// Reads every aggregate `/metrics` shows (see the module docs on cost).
    pub async fn metrics_snapshot(&self) -> Result<MetricsSnapshot, StoreError> {
        let backend = self.backend();
        let worker_type = format!(
            "COALESCE({}, {}, 'unknown')",
            json_text(backend, "e.data", &["worker_type"]),
            json_text(
                backend,
                "p.analysis",
                &["certification_decision", "worker_type"]
            ),
        );
        let decisions = format!(
            "SELECT e.type AS event_type, e.level AS level, {worker_type} AS label, \
             COUNT(*) AS count FROM audit_events e \
             LEFT JOIN permits p ON p.id = e.permit_id WHERE e.type IN ({}) \
             GROUP BY e.type, e.level, {worker_type} ORDER BY 1, 2, 3",
            quoted_list(DECISION_TYPES)
        );
        let outcome = format!(
            "COALESCE({}, 'unknown')",
            json_text(backend, "data", &["outcome"])
        );
        let outcomes = format!(
            "SELECT type AS event_type, level, {outcome} AS label, COUNT(*) AS count \
             FROM audit_events \
             WHERE type = 'permit.completed' GROUP BY type, level, {outcome} ORDER BY 2, 3"
        );
        let actual = json_text(backend, "data", &["actual_level"]);
        let actual_text = format!("CAST({actual} AS TEXT)");
        let feedback = format!(
            "SELECT type AS event_type, level, {actual_text} AS label, COUNT(*) AS count \
             FROM audit_events \
             WHERE type = 'permit.closed' AND {actual} IS NOT NULL \
             GROUP BY type, level, {actual_text} ORDER BY 2, 3"
        );
        let events = format!(
            "SELECT type AS event_type, level, '' AS label, COUNT(*) AS count FROM audit_events \
             WHERE type IN ({}) GROUP BY type, level ORDER BY 1, 2",
            quoted_list(COUNTED_TYPES)
        );
        let rule = format!(
            "COALESCE({}, {}, 'unknown')",
            json_text(backend, "data", &["rule"]),
            json_text(backend, "data", &["reason"]),
        );
        let hard_blocks = format!(
            "SELECT type AS event_type, level, {rule} AS label, COUNT(*) AS count \
             FROM audit_events \
             WHERE type IN ('authorize.denied', 'permit.hard_blocked') \
             GROUP BY type, level, {rule} ORDER BY 1, 2, 3"
        );
        let emergency_permits =
            "SELECT 'permit' AS event_type, level, state AS label, COUNT(*) AS count \
             FROM permits \
             WHERE permit_type = 'emergency' GROUP BY level, state ORDER BY 2, 3"
                .to_owned();
        let approval = histogram_sql(
            "SELECT i.level AS level, i.ts - MIN(r.ts) AS d FROM audit_events i \
             JOIN audit_events r ON r.permit_id = i.permit_id AND r.type = 'permit.requested' \
             WHERE i.type = 'permit.issued' GROUP BY i.seq, i.level, i.ts",
            APPROVAL_BUCKETS_S,
        );
        let rollback = histogram_sql(
            "SELECT o.level AS level, MIN(c.ts) - o.ts AS d FROM audit_events o \
             JOIN audit_events c ON c.permit_id = o.permit_id \
             AND c.type = 'rollback.completed' AND c.seq > o.seq \
             WHERE o.type = 'rollback.opened' GROUP BY o.seq, o.level, o.ts",
            ROLLBACK_BUCKETS_S,
        );
        Ok(MetricsSnapshot {
            decisions: self.counts(&decisions).await?,
            outcomes: self.counts(&outcomes).await?,
            feedback: self.counts(&feedback).await?,
            events: self.counts(&events).await?,
            hard_blocks: self.counts(&hard_blocks).await?,
            emergency_permits: self.counts(&emergency_permits).await?,
            approval_time: self.histograms(&approval, APPROVAL_BUCKETS_S).await?,
            rollback_time: self.histograms(&rollback, ROLLBACK_BUCKETS_S).await?,
        })
    }

    async fn counts(&self, sql: &str) -> Result<Vec<Count>, StoreError> {
        let rows = on_pool!(self.pool, |pool| {
            sqlx::query_as::<_, CountRow>(sql).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|row| Count {
                event_type: row.event_type,
                level: row.level,
                label: row.label,
                count: row.count,
            })
            .collect())
    }

    async fn histograms(&self, sql: &str, bounds: &[f64]) -> Result<Vec<Histogram>, StoreError> {
        use sqlx::Row;
        let decode =
            |level: Option<i64>, count: i64, sum_ms: i64, cumulative: Vec<i64>| Histogram {
                level,
                buckets: bounds.iter().copied().zip(cumulative).collect(),
                sum_seconds: sum_ms as f64 / 1000.0,
                count,
            };
        // One column per bound, so the rows are read by position.
        let mut out = Vec::new();
        on_pool!(self.pool, |pool| {
            for row in sqlx::query(sql).fetch_all(pool).await? {
                let mut cumulative = Vec::with_capacity(bounds.len());
                for i in 0..bounds.len() {
                    cumulative.push(row.try_get::<Option<i64>, _>(3 + i)?.unwrap_or(0));
                }
                out.push(decode(
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    cumulative,
                ));
            }
        });
        Ok(out)
    }
}
