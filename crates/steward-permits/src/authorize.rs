//! The run-time check a worker makes before each operation (SPEC §7): `authorize` answers
//! allow or deny with the rule that decided, in the SPEC's order — certification status →
//! access matrix (§4) → sensitive data → permit (exists, live, the worker's, in its window,
//! covering the operation, not breached) → token budget.
//!
//! Pure and allocation-free on every path: the shell keeps the worker's standing and the
//! live permits in memory and passes views of them, and classifies the action once
//! (`steward_policy::classify_action`), so this runs on the hot path.
//!
//! INVARIANT: no list in a permit's constraints means "anything". An action is in the
//! permit's scope only when it matches one of the permit's listed operations or every
//! class it has is one the permit's analysis contained (a read is in every permit's
//! scope); a service or region is in scope only when the permit lists it (an action that
//! names none is in scope only when the permit lists none).

use steward_policy::{
    Action, ActionClass, ActionClasses, CertificationStatus, Environment, Level, ListedOperation,
};

use crate::state::{PermitState, RevocationReason};
use crate::time::Timestamp;

/// The worker's certification as the cache holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerView {
    pub level: Level,
    pub status: CertificationStatus,
}

/// What the worker is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation<'a> {
    pub environment: Environment,
    /// The operation (`deploy api`, `SELECT …`, a full command line), classified with the
    /// policy's vocabulary and matched against the permit's listed operations.
    pub action: &'a Action,
    pub service: Option<&'a str>,
    pub region: Option<&'a str>,
    /// An HTTP-like method (`GET`, `POST`, `DELETE`, …).
    pub method: &'a str,
    /// The operation only reads.
    pub read_only: bool,
    /// The target is a critical production system (needs level 3).
    pub critical: bool,
    /// The operation touches sensitive data (PII, PHI, financial, credentials).
    pub sensitive_data: bool,
    /// Tokens this operation will spend.
    pub tokens: u64,
}

/// A live permit's constraints as the cache holds them (SPEC §6.4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PermitView<'a> {
    pub worker_id: &'a str,
    pub state: PermitState,
    pub revocation_reason: Option<RevocationReason>,
    pub valid_from: Timestamp,
    pub expires_at: Timestamp,
    pub environment: Environment,
    /// The task's operations, normalized once.
    pub listed_operations: &'a [ListedOperation],
    /// The classes the permit's analysis contained: an action of only these classes is in
    /// scope even when it matches no listed operation.
    pub allowed_classes: ActionClasses,
    /// Empty means no service: an action naming one is out of scope.
    pub allowed_services: &'a [String],
    /// Empty means no region: an action naming one is out of scope.
    pub allowed_regions: &'a [String],
    /// `None` means every method not forbidden.
    pub allowed_methods: Option<&'a [String]>,
    pub forbidden_methods: &'a [String],
    /// A monitoring trigger fired.
    pub breached: bool,
    pub token_budget: u64,
    pub tokens_used: u64,
}

/// The rule that decided, in SPEC §7's order. Stable names for audit and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    CertificationNotInForce,
    NonUnionOutsideDevelopment,
    StagingNeedsCertification,
    ReadOnlyLevel,
    CriticalNeedsLevel3,
    SensitiveDataNeedsLevel3,
    PermitRequired,
    PermitNotActive,
    RollbackRequired,
    PermitOfAnotherWorker,
    OutsideWindow,
    ScopeViolation,
    TokenBudget,
    Allowed,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::CertificationNotInForce => "certification_not_in_force",
            Rule::NonUnionOutsideDevelopment => "non_union_outside_development",
            Rule::StagingNeedsCertification => "staging_needs_certification",
            Rule::ReadOnlyLevel => "read_only_level",
            Rule::CriticalNeedsLevel3 => "critical_needs_level_3",
            Rule::SensitiveDataNeedsLevel3 => "sensitive_data_needs_level_3",
            Rule::PermitRequired => "permit_required",
            Rule::PermitNotActive => "permit_not_active",
            Rule::RollbackRequired => "rollback_required",
            Rule::PermitOfAnotherWorker => "permit_of_another_worker",
            Rule::OutsideWindow => "outside_window",
            Rule::ScopeViolation => "scope_violation",
            Rule::TokenBudget => "token_budget",
            Rule::Allowed => "allowed",
        }
    }
}

/// Which constraint of the permit an operation fell outside of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeMiss {
    Environment,
    /// Matches no listed operation and has a class the permit's analysis did not contain.
    Operation,
    Service,
    Region,
    Method,
}

impl ScopeMiss {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeMiss::Environment => "environment",
            ScopeMiss::Operation => "operation",
            ScopeMiss::Service => "service",
            ScopeMiss::Region => "region",
            ScopeMiss::Method => "method",
        }
    }
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allow: bool,
    pub rule: Rule,
    /// For a scope violation, the constraint the operation fell outside of.
    pub scope: Option<ScopeMiss>,
    /// The permit must be revoked now, for this reason (a scope violation).
    pub revoke: Option<RevocationReason>,
    /// SPEC §7: every deny and every allow at level ≥ 2 is audited.
    pub audit: bool,
}

impl Verdict {
    fn deny(rule: Rule) -> Verdict {
        Verdict {
            allow: false,
            rule,
            scope: None,
            revoke: None,
            audit: true,
        }
    }
}

/// Decides whether `worker` may perform `op` now, under `permit` if it names one.
pub fn authorize(
    worker: WorkerView,
    op: &Operation<'_>,
    permit: Option<&PermitView<'_>>,
    worker_id: &str,
    now: Timestamp,
) -> Verdict {
    use Verdict as D;
    // 1. Certification status.
    if !worker.status.in_force() {
        return D::deny(Rule::CertificationNotInForce);
    }
    // 2. Access matrix (SPEC §4).
    let env = op.environment;
    let production = env.is_production_like();
    if worker.level == Level::NON_UNION && !env.is_dev_like() {
        return D::deny(Rule::NonUnionOutsideDevelopment);
    }
    if env == Environment::Staging && worker.level < Level::BASIC {
        return D::deny(Rule::StagingNeedsCertification);
    }
    if production && worker.level == Level::BASIC && !op.read_only {
        return D::deny(Rule::ReadOnlyLevel);
    }
    if production && op.critical && worker.level < Level::ADVANCED {
        return D::deny(Rule::CriticalNeedsLevel3);
    }
    // 3. Sensitive data.
    if op.sensitive_data && worker.level < Level::ADVANCED {
        return D::deny(Rule::SensitiveDataNeedsLevel3);
    }
    // 4. The permit: needed for all production work (level 1 read-only included).
    let Some(p) = permit else {
        if production {
            return D::deny(Rule::PermitRequired);
        }
        return allowed(worker.level);
    };
    if p.state == PermitState::Revoked
        && p.revocation_reason == Some(RevocationReason::ConstraintBreach)
        || p.breached
    {
        return D::deny(Rule::RollbackRequired);
    }
    if !matches!(p.state, PermitState::Active | PermitState::Executing) {
        return D::deny(Rule::PermitNotActive);
    }
    if p.worker_id != worker_id {
        return D::deny(Rule::PermitOfAnotherWorker);
    }
    if now < p.valid_from || now >= p.expires_at {
        return D::deny(Rule::OutsideWindow);
    }
    if let Err(miss) = covers(p, op) {
        return Verdict {
            allow: false,
            rule: Rule::ScopeViolation,
            scope: Some(miss),
            revoke: Some(RevocationReason::ScopeExpansion),
            audit: true,
        };
    }
    // 5. Token budget.
    if p.tokens_used.saturating_add(op.tokens) > p.token_budget {
        return D::deny(Rule::TokenBudget);
    }
    allowed(worker.level)
}

fn allowed(level: Level) -> Verdict {
    Verdict {
        allow: true,
        rule: Rule::Allowed,
        scope: None,
        revoke: None,
        audit: level >= Level::STANDARD,
    }
}

/// Whether the permit's scope covers the operation, or the first constraint it falls
/// outside of. Forbidden methods win over allowed.
fn covers(p: &PermitView<'_>, op: &Operation<'_>) -> Result<(), ScopeMiss> {
    let listed = |list: &[String], item: &str| list.iter().any(|x| x.eq_ignore_ascii_case(item));
    // No list means nothing: a named item must be listed; an unnamed one is in scope only
    // when the permit lists none either.
    let in_scope = |list: &[String], item: Option<&str>| match item {
        Some(item) => listed(list, item),
        None => list.is_empty(),
    };
    if p.environment != op.environment {
        return Err(ScopeMiss::Environment);
    }
    if !in_operations(p, op.action) {
        return Err(ScopeMiss::Operation);
    }
    if !in_scope(p.allowed_services, op.service) {
        return Err(ScopeMiss::Service);
    }
    if !in_scope(p.allowed_regions, op.region) {
        return Err(ScopeMiss::Region);
    }
    if listed(p.forbidden_methods, op.method)
        || !p
            .allowed_methods
            .is_none_or(|allowed| listed(allowed, op.method))
    {
        return Err(ScopeMiss::Method);
    }
    Ok(())
}

/// The action matches a listed operation, or its every class is one the permit's analysis
/// contained. Reading is in every permit's scope.
fn in_operations(p: &PermitView<'_>, action: &Action) -> bool {
    action
        .classes()
        .is_subset_of(p.allowed_classes.with(ActionClass::Read))
        || p.listed_operations.iter().any(|l| l.matches(action))
}

#[cfg(test)]
mod tests;
