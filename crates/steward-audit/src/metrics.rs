//! The `/metrics` aggregates (SPEC §10) as a fold over audit events: which counter each
//! event increments and which histogram bucket it observes ([`fold_event`] into a
//! [`MetricDelta`]), and how the stored counters read back as a [`MetricsSnapshot`]
//! ([`snapshot`]). The store keeps the fold's cursor, reads the events and the counters,
//! and writes what the delta adds.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::EventType;
use crate::event::{
    AuthorizeDecided, EventPayload as _, PermitClosed, PermitCompleted, PermitHardBlocked,
    TaskAnalyzed,
};

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

/// The level stored for an event without one.
pub const NO_LEVEL: i64 = -1;

/// Counter families, as stored in `metric_counts.family`.
const DECISIONS: &str = "decisions";
const OUTCOMES: &str = "outcomes";
const FEEDBACK: &str = "feedback";
const EVENTS: &str = "events";
const HARD_BLOCKS: &str = "hard_blocks";
/// Histogram families, as stored in `metric_histograms.family`.
const APPROVAL: &str = "approval";
const ROLLBACK: &str = "rollback";

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

/// Every event type some figure counts, sorted by name, each once: the events a fold
/// reads.
pub fn folded_types() -> Vec<EventType> {
    let mut types: Vec<EventType> = DECISION_TYPES.to_vec();
    types.extend_from_slice(COUNTED_TYPES);
    types.extend_from_slice(READ_TYPES);
    types.sort_unstable_by_key(|t| t.as_str());
    types.dedup();
    types
}

/// Whether an event of `event_type` ends a rollback, whose duration the fold observes:
/// the store then looks up the rollback it ends ([`FoldEvent::rollback_opened`]).
pub fn ends_rollback(event_type: &str) -> bool {
    event_type == EventType::RollbackCompleted.as_str()
}

/// One event as the fold reads it, with what the store looked up for it.
#[derive(Debug, Clone, Copy)]
pub struct FoldEvent<'a> {
    pub ts_ms: i64,
    pub event_type: &'a str,
    pub level: Option<i64>,
    /// The event's data, as JSON text.
    pub data: &'a str,
    /// For a decision, the analysis of its permit (JSON text): its worker type may live
    /// there.
    pub analysis: Option<&'a str>,
    /// For `permit.issued`, when the permit was requested.
    pub requested_at_ms: Option<i64>,
    /// For a rollback's end ([`ends_rollback`]): the time and level of the
    /// `rollback.opened` it ends, if any.
    pub rollback_opened: Option<(i64, Option<i64>)>,
}

/// A count's key: `(family, event type, level or NO_LEVEL, label)`.
pub type CountKey = (&'static str, String, i64, String);

/// A histogram bucket's key: `(family, level or NO_LEVEL, bucket index)`.
pub type BucketKey = (&'static str, i64, i64);

/// What a fold adds: counts, and histogram observations as `(count, sum_ms)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricDelta {
    pub counts: BTreeMap<CountKey, i64>,
    pub histograms: BTreeMap<BucketKey, (i64, i64)>,
}

impl MetricDelta {
    fn count(&mut self, family: &'static str, event: &FoldEvent<'_>, label: String) {
        let key = (
            family,
            event.event_type.to_owned(),
            event.level.unwrap_or(NO_LEVEL),
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

/// Adds one event's contributions to `delta`. Events of a type no figure counts add
/// nothing.
pub fn fold_event(delta: &mut MetricDelta, event: &FoldEvent<'_>) {
    let data: Value = serde_json::from_str(event.data).unwrap_or(Value::Null);
    let Some(kind) = EventType::of(event.event_type) else {
        return;
    };
    let known = |text: Option<String>| {
        text.filter(|text| !text.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    if DECISION_TYPES.contains(&kind) {
        let from_analysis = || {
            let analysis: Value = serde_json::from_str(event.analysis?).ok()?;
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
        delta.count(DECISIONS, event, worker_type);
    }
    if COUNTED_TYPES.contains(&kind) {
        delta.count(EVENTS, event, String::new());
    }
    match kind {
        EventType::PermitCompleted => {
            let outcome = PermitCompleted::from_data(&data).ok().map(|c| c.outcome);
            delta.count(OUTCOMES, event, known(outcome));
        }
        EventType::PermitClosed => {
            let closed = PermitClosed::from_data(&data).ok();
            if let Some(actual) = closed.and_then(|c| c.actual_level) {
                delta.count(FEEDBACK, event, actual.to_string());
            }
        }
        EventType::AuthorizeDenied => {
            let rule = AuthorizeDecided::from_data(&data).ok().map(|d| d.rule);
            delta.count(HARD_BLOCKS, event, known(rule));
        }
        EventType::PermitHardBlocked => {
            let rule = PermitHardBlocked::from_data(&data)
                .ok()
                .and_then(|b| b.rule);
            delta.count(HARD_BLOCKS, event, known(rule));
        }
        EventType::PermitIssued => {
            if let Some(requested) = event.requested_at_ms {
                let ms = event.ts_ms - requested;
                delta.observe(APPROVAL, event.level, APPROVAL_BUCKETS_S, ms);
            }
        }
        EventType::RollbackCompleted => {
            if let Some((opened_ts, level)) = event.rollback_opened {
                let ms = event.ts_ms - opened_ts;
                delta.observe(ROLLBACK, level, ROLLBACK_BUCKETS_S, ms);
            }
        }
        _ => {}
    }
}

/// A stored counter row: `(family, event type, level or NO_LEVEL, label, count)`.
pub type CountRow = (String, String, i64, String, i64);

/// A stored histogram row: `(family, level or NO_LEVEL, bucket, count, sum_ms)`.
pub type BucketRow = (String, i64, i64, i64, i64);

/// The snapshot `/metrics` renders from the stored counter and histogram rows and the
/// emergency permits by `(level, state, count)`.
pub fn snapshot(
    counts: Vec<CountRow>,
    emergencies: Vec<(i64, String, i64)>,
    buckets: &[BucketRow],
) -> MetricsSnapshot {
    let mut snapshot = MetricsSnapshot::default();
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
    snapshot.emergency_permits = emergencies
        .into_iter()
        .map(|(level, state, count)| Count {
            event_type: "permit".to_owned(),
            level: Some(level),
            label: state,
            count,
        })
        .collect();
    snapshot.approval_time = histograms(buckets, APPROVAL, APPROVAL_BUCKETS_S);
    snapshot.rollback_time = histograms(buckets, ROLLBACK, ROLLBACK_BUCKETS_S);
    snapshot
}

/// The histograms of one family by level, cumulative per bound, from the stored
/// per-bucket rows.
fn histograms(rows: &[BucketRow], family: &str, bounds: &[f64]) -> Vec<Histogram> {
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

#[cfg(test)]
mod tests;
