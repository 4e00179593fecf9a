//! The constraints a permit carries (SPEC §6.4): one type with one set of defaults, built
//! from the task and Steward's analysis of it when the permit is requested (ordinary or
//! emergency), stored as this type's JSON in the permit's `constraints` column and read
//! back as this type by authorize and monitoring.
//!
//! INVARIANT: no list here means "anything" (issue 9): an empty service or region list
//! admits no named service or region, and a permit whose environment is unknown (a row
//! written without one) authorizes nothing.

use serde::{Deserialize, Serialize};
use steward_policy::{Analysis, Environment, Level, Policy, Task, permit_classes};

use crate::monitor::{
    DEFAULT_ERROR_RATE_WINDOW_SECONDS, DEFAULT_HEALTH_CHECK_FAILURE_LIMIT,
    DEFAULT_LATENCY_WINDOW_SECONDS, DEFAULT_MAX_ERROR_RATE, DEFAULT_MAX_LATENCY_P99_MS,
    TriggerConfig,
};

/// A permit's constraints. Every member has a default, so a stored object lacking some
/// (written before they existed) still reads; a missing `environment` reads as `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PermitConstraints {
    pub worker_id: String,
    pub environment: Option<Environment>,
    /// The task's operations; an action matching one is in scope.
    pub allowed_operations: Vec<String>,
    /// The classes of the permit's analysis (`steward_policy::permit_classes`); absent
    /// in permits requested before issue 9, which cover their listed operations' classes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_classes: Option<Vec<String>>,
    pub allowed_services: Vec<String>,
    pub allowed_regions: Vec<String>,
    /// `None`: every method not forbidden.
    pub allowed_methods: Option<Vec<String>>,
    pub forbidden_methods: Vec<String>,
    pub max_error_rate: f64,
    pub max_latency_p99_ms: u64,
    pub health_check_failure_limit: u32,
    pub error_rate_window_seconds: u32,
    pub latency_window_seconds: u32,
    /// A fired trigger rolls back (SPEC §7); true from level 2.
    pub auto_rollback: bool,
    pub token_budget: u64,
    /// Set on an emergency permit: every operation under it is audited.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enhanced_audit: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
}

impl Default for PermitConstraints {
    fn default() -> PermitConstraints {
        PermitConstraints {
            worker_id: String::new(),
            environment: None,
            allowed_operations: Vec::new(),
            allowed_classes: None,
            allowed_services: Vec::new(),
            allowed_regions: Vec::new(),
            allowed_methods: None,
            forbidden_methods: Vec::new(),
            max_error_rate: DEFAULT_MAX_ERROR_RATE,
            max_latency_p99_ms: DEFAULT_MAX_LATENCY_P99_MS as u64,
            health_check_failure_limit: DEFAULT_HEALTH_CHECK_FAILURE_LIMIT,
            error_rate_window_seconds: DEFAULT_ERROR_RATE_WINDOW_SECONDS,
            latency_window_seconds: DEFAULT_LATENCY_WINDOW_SECONDS,
            auto_rollback: false,
            token_budget: 0,
            enhanced_audit: false,
            emergency_id: None,
            incident_id: None,
        }
    }
}

/// What a requester may choose about a permit's constraints; everything else comes from
/// the task and its analysis. The default is what an emergency gets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConstraintChoices {
    pub allowed_methods: Option<Vec<String>>,
    pub forbidden_methods: Vec<String>,
    /// The monitoring thresholds, validated by the caller (`TriggerConfig::validate`).
    pub triggers: TriggerConfig,
}

/// The emergency a permit belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyMark {
    pub emergency_id: String,
    pub incident_id: String,
}

impl PermitConstraints {
    /// The constraints of a permit at `level` for `task` (analysed as `analysis` under
    /// `policy`) run by `worker_id`: the task's operations, services and regions, the
    /// analysis's classes and environment, the choices' methods and thresholds,
    /// auto-rollback from level 2, and a token budget of the task's estimate (or the
    /// level's allocation), capped by the extended allocation.
    pub fn for_task(
        policy: &Policy,
        task: &Task,
        analysis: &Analysis,
        worker_id: &str,
        level: Level,
        choices: ConstraintChoices,
    ) -> PermitConstraints {
        let limits = &analysis.resource_limits;
        let token_budget = task
            .estimated_tokens
            .unwrap_or(limits.token_allocation)
            .min(
                limits
                    .token_allocation_extended
                    .unwrap_or(limits.token_allocation),
            );
        let t = choices.triggers;
        PermitConstraints {
            worker_id: worker_id.to_owned(),
            environment: Some(analysis.environment_detected),
            allowed_operations: task.operations().to_vec(),
            allowed_classes: Some(
                permit_classes(policy, task, analysis)
                    .names()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            ),
            allowed_services: task.services_affected.clone(),
            allowed_regions: task.regions.clone(),
            allowed_methods: choices.allowed_methods,
            forbidden_methods: choices.forbidden_methods,
            max_error_rate: t.max_error_rate,
            max_latency_p99_ms: t.max_latency_p99_ms.round() as u64,
            health_check_failure_limit: t.health_check_failure_limit,
            error_rate_window_seconds: t.error_rate_window_seconds,
            latency_window_seconds: t.latency_window_seconds,
            auto_rollback: level >= Level::STANDARD,
            token_budget,
            enhanced_audit: false,
            emergency_id: None,
            incident_id: None,
        }
    }

    /// Marks the constraints as an emergency permit's: enhanced audit, and the emergency
    /// and incident it serves.
    pub fn for_emergency(mut self, mark: EmergencyMark) -> PermitConstraints {
        self.enhanced_audit = true;
        self.emergency_id = Some(mark.emergency_id);
        self.incident_id = Some(mark.incident_id);
        self
    }

    /// Constraints as stored (this type's JSON). Constraints that do not decode read as
    /// the defaults without an environment: default thresholds for monitoring, and a
    /// permit authorize refuses (fail closed), never a permit that allows more.
    pub fn from_stored(text: &str) -> PermitConstraints {
        serde_json::from_str(text).unwrap_or_default()
    }

    /// The monitoring thresholds; a value that cannot be one (not positive, not finite)
    /// takes its default.
    pub fn triggers(&self) -> TriggerConfig {
        let d = TriggerConfig::default();
        let positive = |v: f64, default: f64| {
            if v.is_finite() && v > 0.0 { v } else { default }
        };
        let nonzero = |v: u32, default: u32| if v > 0 { v } else { default };
        TriggerConfig {
            max_error_rate: positive(self.max_error_rate, d.max_error_rate),
            error_rate_window_seconds: nonzero(
                self.error_rate_window_seconds,
                d.error_rate_window_seconds,
            ),
            max_latency_p99_ms: positive(self.max_latency_p99_ms as f64, d.max_latency_p99_ms),
            latency_window_seconds: nonzero(self.latency_window_seconds, d.latency_window_seconds),
            health_check_failure_limit: nonzero(
                self.health_check_failure_limit,
                d.health_check_failure_limit,
            ),
        }
    }
}

#[cfg(test)]
mod tests;
