//! Monitoring's responses as the API returns them: the server's own types, built from the
//! store's `TelemetryOutcome` and `Rollback` field by field, with their OpenAPI schemas.

use serde::Serialize;
use serde_json::Value;
use steward_permits::{Breach, MonitorState, PermitState, TriggerConfig, TriggerKind};
use steward_store::{Rollback, TelemetryOutcome};
use utoipa::ToSchema;

/// What a telemetry sample led to.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelemetryOutcomeView {
    pub permit_id: String,
    /// Whether a trigger fired on this sample (the permit is then revoked).
    pub fired: bool,
    /// The triggers in breach on this sample.
    pub breaches: Vec<BreachView>,
    pub monitor: MonitorStateView,
    pub triggers: TriggerConfigView,
    /// The permit's state after the sample.
    #[schema(value_type = String)]
    pub permit_state: PermitState,
    /// The rollback a fired trigger opened.
    pub rollback: Option<RollbackRecordView>,
}

impl From<&TelemetryOutcome> for TelemetryOutcomeView {
    fn from(o: &TelemetryOutcome) -> Self {
        TelemetryOutcomeView {
            permit_id: o.permit_id.clone(),
            fired: o.fired,
            breaches: o.breaches.iter().map(BreachView::from).collect(),
            monitor: MonitorStateView::from(&o.monitor),
            triggers: TriggerConfigView::from(&o.triggers),
            permit_state: o.permit_state,
            rollback: o.rollback.as_ref().map(RollbackRecordView::from),
        }
    }
}

/// A trigger in breach: what was observed against which limit, and for how long.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreachView {
    /// `error_rate`, `latency_p99` or `health_checks`.
    #[schema(value_type = String)]
    pub trigger: TriggerKind,
    /// The latest value (for health checks: the number of consecutive failures).
    pub observed: f64,
    pub limit: f64,
    /// The configured window in seconds (0 for the health-check count).
    pub window_seconds: u32,
    /// When the breach began (unix ms).
    pub since: i64,
    /// How long it has lasted, in milliseconds.
    pub sustained_ms: i64,
}

impl From<&Breach> for BreachView {
    fn from(b: &Breach) -> Self {
        BreachView {
            trigger: b.trigger,
            observed: b.observed,
            limit: b.limit,
            window_seconds: b.window_seconds,
            since: b.since.millis(),
            sustained_ms: b.sustained_ms,
        }
    }
}

/// What the permit's monitor remembers between samples (times in unix ms).
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorStateView {
    /// When the current run of error rates above the limit began.
    pub error_breach_since: Option<i64>,
    /// When the current run of p99 latencies above the limit began.
    pub latency_breach_since: Option<i64>,
    /// Failed health checks in a row.
    pub failed_health_checks: u32,
    /// The latest sample's time.
    pub last_sample_at: Option<i64>,
}

impl From<&MonitorState> for MonitorStateView {
    fn from(m: &MonitorState) -> Self {
        MonitorStateView {
            error_breach_since: m.error_breach_since.map(|t| t.millis()),
            latency_breach_since: m.latency_breach_since.map(|t| t.millis()),
            failed_health_checks: m.failed_health_checks,
            last_sample_at: m.last_sample_at.map(|t| t.millis()),
        }
    }
}

/// The permit's trigger thresholds (SPEC §6.4, §7).
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerConfigView {
    pub max_error_rate: f64,
    pub error_rate_window_seconds: u32,
    pub max_latency_p99_ms: f64,
    pub latency_window_seconds: u32,
    pub health_check_failure_limit: u32,
}

impl From<&TriggerConfig> for TriggerConfigView {
    fn from(t: &TriggerConfig) -> Self {
        TriggerConfigView {
            max_error_rate: t.max_error_rate,
            error_rate_window_seconds: t.error_rate_window_seconds,
            max_latency_p99_ms: t.max_latency_p99_ms,
            latency_window_seconds: t.latency_window_seconds,
            health_check_failure_limit: t.health_check_failure_limit,
        }
    }
}

/// A rollback opened by a fired trigger (SPEC §7).
#[derive(Debug, Serialize, ToSchema)]
pub struct RollbackRecordView {
    pub id: String,
    pub permit_id: String,
    pub worker_id: String,
    /// The permit's certification level (0–4).
    pub level: u8,
    /// `error_rate`, `latency_p99` or `health_checks`.
    #[schema(value_type = String)]
    pub trigger: TriggerKind,
    /// The breach that fired: observed value, limit, window.
    #[schema(value_type = Object)]
    pub breach: Value,
    pub sla_minutes: u32,
    pub opened_at_ms: i64,
    pub due_at_ms: i64,
    /// `open`, `succeeded` or `failed`.
    pub status: String,
    pub completed_at_ms: Option<i64>,
    pub completed_by: Option<String>,
    pub duration_ms: Option<i64>,
    pub within_sla: Option<bool>,
    pub notes: Option<String>,
    pub escalated_at_ms: Option<i64>,
    /// Whom the missed SLA was escalated to: `{"roles": [...], "principals": [...]}`.
    #[schema(value_type = Option<Object>)]
    pub escalated_to: Option<Value>,
}

impl From<&Rollback> for RollbackRecordView {
    fn from(r: &Rollback) -> Self {
        RollbackRecordView {
            id: r.id.clone(),
            permit_id: r.permit_id.clone(),
            worker_id: r.worker_id.clone(),
            level: r.level.value(),
            trigger: r.trigger,
            breach: r.breach.clone(),
            sla_minutes: r.sla_minutes,
            opened_at_ms: r.opened_at_ms,
            due_at_ms: r.due_at_ms,
            status: r.status.clone(),
            completed_at_ms: r.completed_at_ms,
            completed_by: r.completed_by.clone(),
            duration_ms: r.duration_ms,
            within_sla: r.within_sla,
            notes: r.notes.clone(),
            escalated_at_ms: r.escalated_at_ms,
            escalated_to: r.escalated_to.clone(),
        }
    }
}

/// A page of `GET /v1/rollbacks`; pass `next` as `after` for the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct RollbackPageView {
    pub items: Vec<RollbackRecordView>,
    /// `null` on the last page.
    pub next: Option<String>,
}
