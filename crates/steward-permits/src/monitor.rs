//! Monitoring triggers of an executing permit (SPEC §6.4, §7): when a breach has been
//! sustained long enough to fire a rollback, and how long that rollback may take.
//!
//! A worker (or its master) posts telemetry samples: an error rate, a p99 latency, a
//! health-check result, any subset of the three. [`observe`] folds one sample into the
//! permit's [`MonitorState`] and says which triggers fired. It is incremental so the shell
//! keeps one small row per permit instead of a window of samples, and [`evaluate`] (a fold
//! over a whole series) is the reference the property tests pin it against.
//!
//! # Semantics
//!
//! - Error rate: fires when every error-rate sample from the first one above the limit up
//!   to the latest is above the limit, and the latest is at least the window (default
//!   120 s) after that first one. A sample at or below the limit ends the run. Samples
//!   without an error rate neither extend nor end it.
//! - p99 latency: the same, with its own limit and window (default 300 s).
//! - Health checks: fires at the Nth consecutive failed check (default 3); a passing check
//!   resets the count.
//!
//! So a breach shorter than its window never fires, a sustained one always does, and
//! healthy samples never fire (property-tested).

use serde::{Deserialize, Serialize};
use steward_policy::{Level, Role};

use crate::names::string_enum;
use crate::time::Timestamp;

mod rollback;

pub use rollback::{
    MonitorRefusal, MonitoredPermit, OpenRollbackPlan, Rollback, RollbackCompletionPlan,
    SamplePlan, breach_revocation, opening_breach, plan_open_rollback, plan_rollback_completion,
    plan_rollback_escalation, plan_sample,
};

/// The SPEC §6.4 default: an error rate above 1 % breaches.
pub const DEFAULT_MAX_ERROR_RATE: f64 = 0.01;
/// The SPEC §6.4 default: a p99 latency above 500 ms breaches.
pub const DEFAULT_MAX_LATENCY_P99_MS: f64 = 500.0;
/// The SPEC §7 default: an error-rate breach must last 120 s to fire.
pub const DEFAULT_ERROR_RATE_WINDOW_SECONDS: u32 = 120;
/// The SPEC §7 default: a latency breach must last 300 s to fire.
pub const DEFAULT_LATENCY_WINDOW_SECONDS: u32 = 300;
/// The SPEC §6.4 default: 3 consecutive failed health checks fire.
pub const DEFAULT_HEALTH_CHECK_FAILURE_LIMIT: u32 = 3;
/// The longest window a trigger may be configured with (one hour).
pub const MAX_WINDOW_SECONDS: u32 = 3_600;
/// The most consecutive failed health checks a trigger may wait for.
pub const MAX_HEALTH_CHECK_FAILURE_LIMIT: u32 = 100;

/// A permit's trigger thresholds (SPEC §6.4 constraints, §7 windows).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TriggerConfig {
    pub max_error_rate: f64,
    pub error_rate_window_seconds: u32,
    pub max_latency_p99_ms: f64,
    pub latency_window_seconds: u32,
    pub health_check_failure_limit: u32,
}

impl Default for TriggerConfig {
    fn default() -> TriggerConfig {
        TriggerConfig {
            max_error_rate: DEFAULT_MAX_ERROR_RATE,
            error_rate_window_seconds: DEFAULT_ERROR_RATE_WINDOW_SECONDS,
            max_latency_p99_ms: DEFAULT_MAX_LATENCY_P99_MS,
            latency_window_seconds: DEFAULT_LATENCY_WINDOW_SECONDS,
            health_check_failure_limit: DEFAULT_HEALTH_CHECK_FAILURE_LIMIT,
        }
    }
}

/// A trigger setting out of range: the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {problem}")]
pub struct ConfigError {
    pub field: &'static str,
    pub problem: String,
}

impl TriggerConfig {
    /// Refuses settings that would make a trigger meaningless: an error rate outside
    /// (0, 1], a non-positive latency, a window of zero or above an hour, a health-check
    /// limit of zero or above 100.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, problem: &str| {
            Err(ConfigError {
                field,
                problem: problem.to_owned(),
            })
        };
        if !(self.max_error_rate > 0.0 && self.max_error_rate <= 1.0) {
            return err("max_error_rate", "must be a fraction above 0 and at most 1");
        }
        if !(self.max_latency_p99_ms.is_finite() && self.max_latency_p99_ms > 0.0) {
            return err("max_latency_p99_ms", "must be above 0");
        }
        for (field, seconds) in [
            ("error_rate_window_seconds", self.error_rate_window_seconds),
            ("latency_window_seconds", self.latency_window_seconds),
        ] {
            if seconds == 0 || seconds > MAX_WINDOW_SECONDS {
                return err(field, "must be 1 to 3600 seconds");
            }
        }
        if self.health_check_failure_limit == 0
            || self.health_check_failure_limit > MAX_HEALTH_CHECK_FAILURE_LIMIT
        {
            return err("health_check_failure_limit", "must be 1 to 100");
        }
        Ok(())
    }
}

/// One telemetry sample, stamped by the server when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at: Timestamp,
    /// Errors / requests over the worker's last interval, 0 to 1.
    pub error_rate: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// The latest health check: `true` passed, `false` failed.
    pub health_ok: Option<bool>,
}

/// A sample value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    #[error("`error_rate` must be a fraction from 0 to 1")]
    ErrorRate,
    #[error("`p99_ms` must be 0 or more")]
    Latency,
    #[error("a telemetry sample needs at least one of `error_rate`, `p99_ms`, `health`")]
    Empty,
}

impl Sample {
    /// Refuses values no monitor could have measured, and a sample that says nothing.
    pub fn validate(&self) -> Result<(), SampleError> {
        if self
            .error_rate
            .is_some_and(|r| !(r.is_finite() && (0.0..=1.0).contains(&r)))
        {
            return Err(SampleError::ErrorRate);
        }
        if self
            .latency_p99_ms
            .is_some_and(|l| !(l.is_finite() && l >= 0.0))
        {
            return Err(SampleError::Latency);
        }
        if self.error_rate.is_none() && self.latency_p99_ms.is_none() && self.health_ok.is_none() {
            return Err(SampleError::Empty);
        }
        Ok(())
    }
}

/// What a permit's monitor remembers between samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MonitorState {
    /// When the current run of error rates above the limit began.
    pub error_breach_since: Option<Timestamp>,
    /// When the current run of p99 latencies above the limit began.
    pub latency_breach_since: Option<Timestamp>,
    /// Failed health checks in a row.
    pub failed_health_checks: u32,
    /// The latest sample's time; a sample stamped earlier counts as at this time.
    pub last_sample_at: Option<Timestamp>,
}

string_enum! {
    /// Which trigger fired.
    TriggerKind, "trigger" {
        ErrorRate = "error_rate",
        LatencyP99 = "latency_p99",
        HealthChecks = "health_checks",
    }
}

string_enum! {
    /// How the worker says a rollback ended.
    RollbackOutcome, "rollback outcome" {
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

/// A trigger that fired: what was observed against which limit, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Breach {
    pub trigger: TriggerKind,
    /// The latest value (for health checks: the number of consecutive failures).
    pub observed: f64,
    pub limit: f64,
    /// The configured window in seconds (0 for the health-check count).
    pub window_seconds: u32,
    /// When the breach began (the first failed check, for health checks).
    pub since: Timestamp,
    /// How long it has lasted, in milliseconds.
    pub sustained_ms: i64,
}

/// Folds one sample into `state` and returns the triggers that fire on it, in the order
/// error rate, latency, health checks. A breach keeps firing on every further breaching
/// sample; the shell acts on the first firing only (the permit is revoked then).
pub fn observe(config: &TriggerConfig, state: &mut MonitorState, sample: &Sample) -> Vec<Breach> {
    let at = state
        .last_sample_at
        .map_or(sample.at, |last| last.max(sample.at));
    state.last_sample_at = Some(at);
    let mut fired = Vec::new();
    let runs = [
        (
            TriggerKind::ErrorRate,
            sample.error_rate,
            config.max_error_rate,
            config.error_rate_window_seconds,
            &mut state.error_breach_since,
        ),
        (
            TriggerKind::LatencyP99,
            sample.latency_p99_ms,
            config.max_latency_p99_ms,
            config.latency_window_seconds,
            &mut state.latency_breach_since,
        ),
    ];
    for (trigger, value, limit, window_seconds, since) in runs {
        let Some(value) = value else { continue };
        if value <= limit {
            *since = None;
            continue;
        }
        let start = *since.get_or_insert(at);
        let sustained_ms = at.0.saturating_sub(start.0);
        if sustained_ms >= i64::from(window_seconds) * 1_000 {
            fired.push(Breach {
                trigger,
                observed: value,
                limit,
                window_seconds,
                since: start,
                sustained_ms,
            });
        }
    }
    if let Some(ok) = sample.health_ok {
        if ok {
            state.failed_health_checks = 0;
        } else {
            state.failed_health_checks = state.failed_health_checks.saturating_add(1);
            if state.failed_health_checks >= config.health_check_failure_limit {
                fired.push(Breach {
                    trigger: TriggerKind::HealthChecks,
                    observed: f64::from(state.failed_health_checks),
                    limit: f64::from(config.health_check_failure_limit),
                    window_seconds: 0,
                    since: at,
                    sustained_ms: 0,
                });
            }
        }
    }
    fired
}

/// The first breach over a whole series of samples (in arrival order), if any: the
/// reference semantics, a fold of [`observe`] from an empty state.
pub fn evaluate(config: &TriggerConfig, samples: &[Sample]) -> Option<Breach> {
    let mut state = MonitorState::default();
    samples
        .iter()
        .find_map(|s| observe(config, &mut state, s).into_iter().next())
}

/// How long a rollback of a permit at `level` may take, in minutes (SPEC §7: level 2 →
/// 30, 3 → 15, 4 → 10). Levels below 2 need no rollback plan; a rollback there is held to
/// the level-2 SLA.
pub fn rollback_sla_minutes(level: Level) -> u32 {
    match level.value() {
        0..=2 => 30,
        3 => 15,
        _ => 10,
    }
}

/// The roles a missed rollback SLA escalates to (besides the permit's approvers and its
/// requester): the incident commander always, then one tier above the level's approvers —
/// an engineering director for level ≤ 2, a VP of engineering for 3, the CTO for 4.
pub fn rollback_escalation_roles(level: Level) -> &'static [Role] {
    match level.value() {
        0..=2 => &[Role::IncidentCommander, Role::EngineeringDirector],
        3 => &[Role::IncidentCommander, Role::VpEngineering],
        _ => &[Role::IncidentCommander, Role::Cto],
    }
}

/// Whether a rollback that took `duration_ms` met the SLA of `level`.
pub fn rollback_within_sla(level: Level, duration_ms: i64) -> bool {
    duration_ms <= i64::from(rollback_sla_minutes(level)) * 60_000
}

#[cfg(test)]
mod tests;
