//! The worker certification lifecycle (SPEC §5): promotion eligibility and approvals,
//! probation, recertification, automatic suspension from operation outcomes, and the status
//! transitions.

use std::fmt;

use steward_policy::{ApprovalRequirements, CertificationStatus, Level, Role};

use crate::approval::{QuorumStatus, RecordedApproval, quorum};
use crate::names::string_enum;
use crate::outcome::OutcomeBasis;
use crate::time::Timestamp;

/// What the rules need to know about one worker's certification. A plain value: the store
/// loads it, these functions return a new one, the store saves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRecord {
    pub level: Level,
    pub status: CertificationStatus,
    /// When the current level was granted (registration time for level 0).
    pub level_granted_at: Timestamp,
    /// When recertification is due; `None` means "one period after `level_granted_at`" for
    /// levels 1–4 and "never" for level 0.
    pub recertify_by: Option<Timestamp>,
    /// End of probation after a promotion, if any.
    pub probation_until: Option<Timestamp>,
    pub stats: OperationStats,
}

impl WorkerRecord {
    /// A newly registered, active, level-0 worker with no history.
    pub fn registered(at: Timestamp) -> WorkerRecord {
        WorkerRecord {
            level: Level::NON_UNION,
            status: CertificationStatus::Active,
            level_granted_at: at,
            recertify_by: None,
            probation_until: None,
            stats: OperationStats::default(),
        }
    }
}

/// A worker's operation history, as counters. Successes count only when Steward saw the
/// work (see `outcome`); the others are kept apart in `uncounted_successes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OperationStats {
    /// Successful operations since the current level was granted.
    pub successes_at_level: u32,
    /// Failed operations (including incidents and safety violations) since the current
    /// level was granted.
    pub failures_at_level: u32,
    /// Lifetime successful operations, indexed by the level the operation required.
    pub successes_by_level: [u32; 5],
    pub last_incident_at: Option<Timestamp>,
    /// Lifetime safety violations. SPEC §5's "no security violation ever" reads this.
    pub safety_violations: u32,
    /// Failed union (level ≥ 1) operations since the last successful union operation.
    pub consecutive_union_failures: u32,
    /// Lifetime successes reported without evidence Steward saw: history only, never
    /// counted towards promotion, and they break no failure streak.
    pub uncounted_successes: u32,
}

/// Whether a worker may be promoted to a level, with one sentence per criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligibility {
    pub eligible: bool,
    /// Every criterion checked, each starting with `met: ` or `not met: ` and naming the
    /// threshold and the worker's actual value. `eligible` is true exactly when none is
    /// `not met`.
    pub reasons: Vec<String>,
}

impl Eligibility {
    /// The criteria that are not met, without their prefix.
    pub fn unmet(&self) -> impl Iterator<Item = &str> {
        self.reasons.iter().filter_map(|r| r.strip_prefix(NOT_MET))
    }
}

/// Whether `record` meets SPEC §5's thresholds for promotion to `target` at `now`.
///
/// Promotion goes one level at a time, except 0 → 2, which "30+ days at a lower level"
/// allows. Every target needs an `active` certification (not probationary, suspended,
/// expired or revoked) whose recertification is not past its grace period. Then:
///
/// - to 1: nothing more. Level 1 is read-only production work, always under a permit, and
///   an engineering manager approves the promotion; the human approval is the check.
/// - to 2: 30+ days at the current (lower) level, 20+ successful operations in total, no
///   incident in 30 days.
/// - to 3: 90+ days at level 2, 25+ successful level-2 operations, success rate ≥ 0.95
///   since level 2 was granted, no incident in 90 days, no safety violation ever.
/// - to 4: 180+ days at level 3, 50+ successful level-3 operations, success rate ≥ 0.98
///   since level 3 was granted, no incident in 180 days, and, as for level 3, no safety
///   violation ever (SPEC lists it for level 3 only; a level that forgave what the level
///   below forbids would make no sense).
///
/// Days count from `level_granted_at`, so "at a lower level" means "at the current level":
/// a worker promoted 0 → 1 yesterday waits 30 days for level 2 (conservative: the record
/// does not keep per-level history). Monotone: one more success never makes an eligible
/// worker ineligible.
pub fn eligibility(record: &WorkerRecord, target: Level, now: Timestamp) -> Eligibility {
    let mut check = Checks::default();
    let current = record.level;
    if target <= current {
        check.add(
            false,
            format!("level {target} is above the worker's level (has level {current})"),
        );
        return check.finish();
    }
    let step_ok = target.value() == current.value() + 1
        || (current == Level::NON_UNION && target == Level::STANDARD);
    if !step_ok {
        check.add(
            false,
            format!(
                "promotion goes one level at a time, or 0 to 2 (has level {current}, asked for {target})"
            ),
        );
        return check.finish();
    }
    check.add(
        record.status == CertificationStatus::Active,
        format!("the certification is `active` (has `{}`)", record.status),
    );
    if recertification(record, now) == Recertification::Expired {
        check.add(
            false,
            "a recertification within its grace period (the grace period has passed)".to_owned(),
        );
    }
    let stats = &record.stats;
    let days = now.days_since(record.level_granted_at);
    match target.value() {
        2 => {
            check.days_at_level(record, now, 30, "a lower level", days);
            let total: u64 = stats.successes_by_level.iter().map(|&n| u64::from(n)).sum();
            check.add(
                total >= 20,
                format!(
                    "20+ successful operations that Steward saw (has {total}{})",
                    uncounted(stats)
                ),
            );
            check.no_incident(stats, now, 30);
        }
        3 | 4 => {
            let (min_days, min_successes, percent, incident_days) = if target == Level::ADVANCED {
                (90, 25, 95, 90)
            } else {
                (180, 50, 98, 180)
            };
            check.days_at_level(record, now, min_days, &format!("level {current}"), days);
            let n = stats.successes_by_level[current.index()];
            check.add(
                n >= min_successes,
                format!(
                    "{min_successes}+ successful level-{current} operations that Steward saw (has {n}{})",
                    uncounted(stats)
                ),
            );
            check.success_rate(stats, current, percent);
            check.no_incident(stats, now, incident_days);
            check.add(
                stats.safety_violations == 0,
                format!(
                    "no safety or security violation ever (has {})",
                    stats.safety_violations
                ),
            );
        }
        _ => {}
    }
    check.finish()
}

/// What eligibility says of the successes that do not count, if any.
fn uncounted(stats: &OperationStats) -> String {
    match stats.uncounted_successes {
        0 => String::new(),
        1 => {
            "; 1 success reported without a closed permit or an authorized operation does not count"
                .to_owned()
        }
        n => format!(
            "; {n} successes reported without a closed permit or an authorized operation do not count"
        ),
    }
}

/// The human approvals a promotion needs (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionQuorum {
    pub approvers_required: u32,
    pub approver_roles: Vec<Role>,
    /// Roles that must each be covered by a distinct approver.
    pub required_roles: Vec<Role>,
}

impl PromotionQuorum {
    /// The same rules as permit approval requirements, so that `check_approver` (eligible
    /// role, segregation of duties, one vote per person) applies to promotions too.
    pub fn requirements(&self) -> ApprovalRequirements {
        ApprovalRequirements {
            approvers_required: self.approvers_required,
            approver_roles: self.approver_roles.clone(),
            required_roles: self.required_roles.clone(),
            max_approval_time_hours: 0.0,
            change_advisory_board_required: false,
            permit_type: None,
            auto_approve: false,
            evidence_required: Vec::new(),
        }
    }
}

/// Who approves a promotion to `target`: to 1 or 2 one engineering_manager; to 3 an
/// engineering_director and a security_lead; to 4 three distinct people among
/// vp_engineering, cto, ciso and coo. Level 0 is never a promotion target, so it needs
/// nobody (and `eligibility` refuses it).
pub fn promotion_approvals(target: Level) -> PromotionQuorum {
    let (approvers_required, approver_roles, required_roles) = match target.value() {
        0 => (0, vec![], vec![]),
        1 | 2 => (1, vec![Role::EngineeringManager], vec![]),
        3 => (
            2,
            vec![Role::EngineeringDirector, Role::SecurityLead],
            vec![Role::EngineeringDirector, Role::SecurityLead],
        ),
        _ => (
            3,
            vec![Role::VpEngineering, Role::Cto, Role::Ciso, Role::Coo],
            vec![],
        ),
    };
    PromotionQuorum {
        approvers_required,
        approver_roles,
        required_roles,
    }
}

/// Whether `approvals` meet a promotion quorum (`met`), and what is missing otherwise.
pub fn check_promotion(
    quorum_rules: &PromotionQuorum,
    approvals: &[RecordedApproval],
) -> QuorumStatus {
    quorum(&quorum_rules.requirements(), approvals, false)
}

/// Why a promotion cannot be granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromotionError {
    #[error("the worker is not eligible for level {target}: {}", unmet.join("; "))]
    NotEligible { target: Level, unmet: Vec<String> },
    #[error(
        "promotion to level {target} lacks approvals: {} more approver(s) needed, roles not covered: [{}]",
        status.approvals_missing,
        status.roles_missing.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
    )]
    ApprovalsMissing { target: Level, status: QuorumStatus },
}

/// Grants `target` to an eligible worker whose promotion quorum is met: the new level starts
/// now, with probation (`probation_days`), a recertification date, and the at-level
/// counters reset. Approvals are expected to have passed `check_approver` against
/// `promotion_approvals(target).requirements()`.
pub fn promote(
    record: &WorkerRecord,
    target: Level,
    approvals: &[RecordedApproval],
    now: Timestamp,
) -> Result<WorkerRecord, PromotionError> {
    let eligibility = eligibility(record, target, now);
    if !eligibility.eligible {
        return Err(PromotionError::NotEligible {
            target,
            unmet: eligibility.unmet().map(str::to_owned).collect(),
        });
    }
    let status = check_promotion(&promotion_approvals(target), approvals);
    if !status.met {
        return Err(PromotionError::ApprovalsMissing { target, status });
    }
    let probation_until = probation_days(target).map(|d| now.plus_days(i64::from(d)));
    Ok(WorkerRecord {
        level: target,
        status: if probation_until.is_some() {
            CertificationStatus::Probationary
        } else {
            CertificationStatus::Active
        },
        level_granted_at: now,
        recertify_by: recertification_due(target, now),
        probation_until,
        stats: OperationStats {
            successes_at_level: 0,
            failures_at_level: 0,
            ..record.stats.clone()
        },
    })
}

/// Days of probation after promotion to `level`: 30, 60 and 90 for levels 2, 3 and 4;
/// none for levels 0 and 1.
pub fn probation_days(level: Level) -> Option<u32> {
    match level.value() {
        2 => Some(30),
        3 => Some(60),
        4 => Some(90),
        _ => None,
    }
}

/// Where a certification stands against its recertification date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recertification {
    /// Level 0: never recertified.
    NotRequired,
    /// Due in this many days (rounded up).
    Current { due_in_days: i64 },
    /// Past due but inside the grace period: allowed with a warning.
    InGrace { grace_left_days: i64 },
    /// Past the grace period: the status becomes `expired`, a hard block.
    Expired,
}

/// When a certification at `level` granted or recertified at `from` is next due: 365 days
/// for levels 1–2, 90 days for levels 3–4, never for level 0.
pub fn recertification_due(level: Level, from: Timestamp) -> Option<Timestamp> {
    recert_rules(level).map(|(period, _)| from.plus_days(period))
}

/// Where `record` stands against its recertification date at `now`: levels 1–2 have 14
/// days of grace, levels 3–4 have 7.
pub fn recertification(record: &WorkerRecord, now: Timestamp) -> Recertification {
    let Some((period, grace)) = recert_rules(record.level) else {
        return Recertification::NotRequired;
    };
    let due = record
        .recertify_by
        .unwrap_or_else(|| record.level_granted_at.plus_days(period));
    if now < due {
        return Recertification::Current {
            due_in_days: now.days_until(due),
        };
    }
    let grace_end = due.plus_days(grace);
    if now < grace_end {
        Recertification::InGrace {
            grace_left_days: now.days_until(grace_end),
        }
    } else {
        Recertification::Expired
    }
}

/// `(period, grace)` in days for recertification at `level`; `None` for level 0.
pub(crate) fn recert_rules(level: Level) -> Option<(i64, i64)> {
    match level.value() {
        0 => None,
        1 | 2 => Some((365, 14)),
        _ => Some((90, 7)),
    }
}

string_enum! {
    /// How one operation by the worker ended.
    OperationResult, "operation result" {
        Success = "success",
        Failure = "failure",
        /// A failure that caused an incident.
        Incident = "incident",
        SafetyViolation = "safety_violation",
    }
}

/// One finished operation. It is a union operation when `level` (the level the operation
/// required) is 1 or more. Make one with `check_outcome`, which decides its level and
/// basis from the work Steward saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationOutcome {
    pub result: OperationResult,
    pub level: Level,
    pub basis: OutcomeBasis,
}

/// Why `record_outcome` suspended a certification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoSuspension {
    SafetyViolation,
    ConsecutiveUnionFailures { count: u32 },
}

impl fmt::Display for AutoSuspension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AutoSuspension::SafetyViolation => {
                f.write_str("suspended automatically: a safety violation")
            }
            AutoSuspension::ConsecutiveUnionFailures { count } => write!(
                f,
                "suspended automatically: {count} consecutive failed union operations"
            ),
        }
    }
}

/// Consecutive failed union operations that suspend a certification.
const UNION_FAILURES_TO_SUSPEND: u32 = 3;

/// Folds one operation's outcome into `record`, suspending it when SPEC §5 says so.
///
/// - A success that Steward saw (its basis counts) counts at its level and, for a union
///   operation, resets the consecutive union failure count (non-union operations neither
///   extend nor break the streak). A success reported without evidence only adds to
///   `uncounted_successes`: it counts towards nothing and breaks no streak.
/// - A failure, an incident and a safety violation all count as failures; an incident
///   also sets `last_incident_at`, and a safety violation is counted on its own.
/// - Any safety violation, or the third consecutive failed union operation, suspends an
///   `active` or `probationary` certification and returns why. The consecutive count
///   restarts at zero on suspension, so a reinstated worker starts a fresh streak. A
///   certification already suspended, expired or revoked is left as it is.
pub fn record_outcome(
    mut record: WorkerRecord,
    outcome: OperationOutcome,
    now: Timestamp,
) -> (WorkerRecord, Option<AutoSuspension>) {
    let stats = &mut record.stats;
    let union = outcome.level.is_union();
    match outcome.result {
        OperationResult::Success if !outcome.basis.counts() => {
            stats.uncounted_successes = stats.uncounted_successes.saturating_add(1);
        }
        OperationResult::Success => {
            let n = &mut stats.successes_by_level[outcome.level.index()];
            *n = n.saturating_add(1);
            stats.successes_at_level = stats.successes_at_level.saturating_add(1);
            if union {
                stats.consecutive_union_failures = 0;
            }
        }
        OperationResult::Failure | OperationResult::Incident | OperationResult::SafetyViolation => {
            stats.failures_at_level = stats.failures_at_level.saturating_add(1);
            if union {
                stats.consecutive_union_failures =
                    stats.consecutive_union_failures.saturating_add(1);
            }
        }
    }
    if outcome.result == OperationResult::Incident {
        stats.last_incident_at = Some(stats.last_incident_at.map_or(now, |t| t.max(now)));
    }
    if outcome.result == OperationResult::SafetyViolation {
        stats.safety_violations = stats.safety_violations.saturating_add(1);
    }
    let cause = if outcome.result == OperationResult::SafetyViolation {
        Some(AutoSuspension::SafetyViolation)
    } else if stats.consecutive_union_failures >= UNION_FAILURES_TO_SUSPEND {
        Some(AutoSuspension::ConsecutiveUnionFailures {
            count: stats.consecutive_union_failures,
        })
    } else {
        None
    };
    let suspension = match cause {
        Some(cause)
            if matches!(
                record.status,
                CertificationStatus::Active | CertificationStatus::Probationary
            ) =>
        {
            record.status = CertificationStatus::Suspended;
            record.stats.consecutive_union_failures = 0;
            Some(cause)
        }
        _ => None,
    };
    (record, suspension)
}

string_enum! {
    /// A change to a certification's status.
    CertAction, "certification action" {
        Suspend = "suspend",
        /// Only from `suspended`, back to `active`.
        Reinstate = "reinstate",
        /// Terminal; idempotent.
        Revoke = "revoke",
        /// Recertification past its grace period.
        Expire = "expire",
        EndProbation = "end_probation",
        /// A human recertified the worker; an expired certification becomes active again.
        Recertify = "recertify",
    }
}

/// A status change that is not legal from the current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a certification in status `{from}`")]
pub struct CertTransitionError {
    pub from: CertificationStatus,
    pub action: CertAction,
}

/// The certification status machine.
///
/// INVARIANT: every legal pair is spelled out; the only wildcard returns an error.
/// `revoked` is terminal (revoking again is a no-op); `suspended` leaves only by reinstate
/// or revoke; suspend, revoke and expire are idempotent.
pub fn apply_cert_action(
    status: CertificationStatus,
    action: CertAction,
) -> Result<CertificationStatus, CertTransitionError> {
    use CertAction as A;
    use CertificationStatus as S;
    match (status, action) {
        (S::Active | S::Probationary | S::Suspended, A::Suspend) => Ok(S::Suspended),
        (S::Suspended, A::Reinstate) => Ok(S::Active),
        (S::Active | S::Probationary | S::Suspended | S::Expired | S::Revoked, A::Revoke) => {
            Ok(S::Revoked)
        }
        (S::Active | S::Probationary | S::Expired, A::Expire) => Ok(S::Expired),
        (S::Probationary, A::EndProbation) => Ok(S::Active),
        (S::Active | S::Expired, A::Recertify) => Ok(S::Active),
        (S::Probationary, A::Recertify) => Ok(S::Probationary),
        (from, action) => Err(CertTransitionError { from, action }),
    }
}

const NOT_MET: &str = "not met: ";

#[derive(Default)]
struct Checks {
    reasons: Vec<String>,
    failed: bool,
}

impl Checks {
    fn add(&mut self, met: bool, criterion: String) {
        self.failed |= !met;
        let prefix = if met { "met: " } else { NOT_MET };
        self.reasons.push(format!("{prefix}{criterion}"));
    }

    fn days_at_level(
        &mut self,
        record: &WorkerRecord,
        now: Timestamp,
        min_days: i64,
        at: &str,
        days: i64,
    ) {
        let met = now >= record.level_granted_at.plus_days(min_days);
        self.add(
            met,
            format!(
                "{min_days}+ days at {at} (has {days} days at level {})",
                record.level
            ),
        );
    }

    fn success_rate(&mut self, stats: &OperationStats, level: Level, percent: u64) {
        let s = u64::from(stats.successes_at_level);
        let total = s + u64::from(stats.failures_at_level);
        let threshold = format!("success rate ≥ 0.{percent} at level {level}");
        if total == 0 {
            self.add(
                false,
                format!("{threshold} (no operations at level {level} yet)"),
            );
            return;
        }
        // Integer comparison, so 0.95 means exactly 95 in 100.
        let met = s * 100 >= percent * total;
        let rate = s as f64 / total as f64;
        self.add(met, format!("{threshold} (has {rate:.3}: {s} of {total})"));
    }

    fn no_incident(&mut self, stats: &OperationStats, now: Timestamp, days: i64) {
        match stats.last_incident_at {
            None => self.add(
                true,
                format!("no incident in the last {days} days (none recorded)"),
            ),
            Some(at) => self.add(
                now >= at.plus_days(days),
                format!(
                    "no incident in the last {days} days (last incident {} days ago)",
                    now.days_since(at)
                ),
            ),
        }
    }

    fn finish(self) -> Eligibility {
        Eligibility {
            eligible: !self.failed,
            reasons: self.reasons,
        }
    }
}

#[cfg(test)]
mod tests;
