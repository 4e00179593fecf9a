//! Operation outcomes (SPEC §5; issue 9, item 2): who may report how a worker's operation
//! ended, and whether Steward saw the work behind it, which decides whether a success
//! counts towards promotion.
//!
//! A report names at most one piece of evidence: a permit the worker executed and that
//! was closed, or the `seq` of an allowed, audited authorize decision of the worker. The
//! shell loads what it finds under that name into a [`SeenWork`] snapshot and
//! [`check_outcome`] decides; the level of evidenced work is Steward's (the permit's, or
//! the decision's), never the reporter's. Without evidence the outcome is still recorded
//! (`reported`), and a failure, incident or safety violation counts in full (suspension,
//! success rate, "no incident", "no violation ever"), but a success does not count towards
//! promotion: an unverifiable report may lower a worker's standing, never raise it.

use serde_json::Value;
use steward_audit::{AuditEntry, EventType};
use steward_policy::{Environment, Level};

use crate::certification::{OperationOutcome, OperationResult};
use crate::names::string_enum;
use crate::state::{Outcome, PermitState};

string_enum! {
    /// What an outcome rests on.
    OutcomeBasis, "outcome basis" {
        /// A permit of the worker that was executed, completed and closed.
        ClosedPermit = "closed_permit",
        /// An allowed authorize decision of the worker, in the audit trail.
        AuthorizedOperation = "authorized_operation",
        /// Nothing Steward saw: the reporter's word only.
        Reported = "reported",
    }
}

impl OutcomeBasis {
    /// Whether a success on this basis counts towards promotion.
    pub fn counts(self) -> bool {
        !matches!(self, OutcomeBasis::Reported)
    }
}

/// How `eligibility` and `worker eligibility` explain which outcomes count.
pub const OUTCOME_COUNTING_RULE: &str = "a success counts towards promotion only when Steward saw the work: a closed \
     permit the worker executed (`permit_id`) or an allowed, audited authorize decision of \
     the worker (`authorize_seq`), each counted once, at the level Steward recorded; a \
     failure, incident or safety violation always counts";

/// The worker an outcome is about, and who answers for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutcomeParties<'a> {
    pub worker_id: &'a str,
    /// The worker's owner: reports any result.
    pub owner_id: &'a str,
    /// The agent identity the worker authenticates as: reports success or failure about
    /// itself.
    pub identity_id: Option<&'a str>,
}

/// What a reporter says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutcomeReport {
    pub result: OperationResult,
    /// The level the operation required. Needed without evidence; with evidence, Steward
    /// knows it, and a different one is refused.
    pub level: Option<Level>,
}

/// What the store found behind the evidence a report names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeenWork {
    /// The report names no evidence.
    Nothing,
    /// The named permit or audit event does not exist (or was pruned).
    Missing,
    Permit(PermitSeen),
    Decision(DecisionSeen),
}

/// The permit a report names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermitSeen {
    pub worker_id: String,
    pub level: Level,
    pub state: PermitState,
    /// How its execution ended, once completed.
    pub outcome: Option<Outcome>,
    /// It was closed (it carries its audit summary), whether archived since or not.
    pub closed: bool,
}

/// The audit event a report names by `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionSeen {
    /// The event is an `authorize.allowed` decision that allowed.
    pub allowed: bool,
    /// The worker the event is about.
    pub worker_id: Option<String>,
    /// The environment of the operation, as the decision recorded it.
    pub environment: Option<Environment>,
    /// The level of the permit the operation was authorized under, if any.
    pub permit_level: Option<Level>,
}

impl DecisionSeen {
    /// The audit entry a report names by `seq`, as evidence: an allowed authorize decision
    /// names its worker, its operation's environment and, under a permit, the permit's
    /// level (the entry's level). Any other entry is not `allowed`.
    pub fn of(entry: &AuditEntry) -> DecisionSeen {
        let data = &entry.data;
        let allowed = entry.event_type == EventType::AuthorizeAllowed.as_str()
            && data["allow"] == Value::Bool(true);
        let environment = data["operation"]["environment"]
            .as_str()
            .and_then(|e| e.parse::<Environment>().ok());
        let permit_level = if data["permit_id"].is_string() {
            entry.level.and_then(Level::new)
        } else {
            None
        };
        DecisionSeen {
            allowed,
            worker_id: entry.subject.worker_id.clone(),
            environment,
            permit_level,
        }
    }
}

/// Why a report is refused. Nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutcomeRefusal {
    #[error(
        "`{principal}` may not report outcomes of worker `{worker}`: only its owner, or the worker about itself, may"
    )]
    NotAReporter { principal: String, worker: String },
    #[error(
        "a worker reports only `success` or `failure` about itself, not `{result}`; its owner reports the rest"
    )]
    SelfReportLimited { result: OperationResult },
    #[error("`level` is required for an outcome without evidence (`permit_id` or `authorize_seq`)")]
    LevelRequired,
    #[error("the evidence named does not exist")]
    EvidenceMissing,
    #[error("the evidence named is work of another worker")]
    OtherWorkersWork,
    #[error(
        "permit is `{state}`: only a permit the worker executed and that was closed is evidence"
    )]
    PermitNotClosed { state: PermitState },
    #[error("the permit's execution ended `{outcome}`, so it is no evidence of a success")]
    ContradictsPermit { outcome: Outcome },
    #[error("the audit event named is not an allowed authorize decision")]
    NotAnAllowedDecision,
    #[error("the evidence shows a level-{seen} operation, not level {reported}")]
    LevelMismatch { reported: Level, seen: Level },
}

/// Decides whether `reporter_id` may report `report` about the worker of `parties`, and
/// what the outcome is given the work Steward saw (`seen`): its result, its level and its
/// basis. Checks, in order: the reporter (the owner reports anything, the worker's own
/// identity only success or failure, nobody else anything); then the evidence (it exists,
/// it is this worker's, a permit was closed and a success there matches its ending, an
/// event is an allowed authorize decision; a stated level agrees with it).
pub fn check_outcome(
    parties: &OutcomeParties<'_>,
    reporter_id: &str,
    report: &OutcomeReport,
    seen: &SeenWork,
) -> Result<OperationOutcome, OutcomeRefusal> {
    if reporter_id != parties.owner_id {
        if parties.identity_id != Some(reporter_id) {
            return Err(OutcomeRefusal::NotAReporter {
                principal: reporter_id.to_owned(),
                worker: parties.worker_id.to_owned(),
            });
        }
        if !matches!(
            report.result,
            OperationResult::Success | OperationResult::Failure
        ) {
            return Err(OutcomeRefusal::SelfReportLimited {
                result: report.result,
            });
        }
    }
    let (level, basis) = match seen {
        SeenWork::Nothing => (
            report.level.ok_or(OutcomeRefusal::LevelRequired)?,
            OutcomeBasis::Reported,
        ),
        SeenWork::Missing => return Err(OutcomeRefusal::EvidenceMissing),
        SeenWork::Permit(permit) => {
            if permit.worker_id != parties.worker_id {
                return Err(OutcomeRefusal::OtherWorkersWork);
            }
            let Some(outcome) = permit.outcome.filter(|_| permit.closed) else {
                return Err(OutcomeRefusal::PermitNotClosed {
                    state: permit.state,
                });
            };
            if report.result == OperationResult::Success && outcome != Outcome::Success {
                return Err(OutcomeRefusal::ContradictsPermit { outcome });
            }
            (permit.level, OutcomeBasis::ClosedPermit)
        }
        SeenWork::Decision(decision) => {
            if !decision.allowed {
                return Err(OutcomeRefusal::NotAnAllowedDecision);
            }
            if decision.worker_id.as_deref() != Some(parties.worker_id) {
                return Err(OutcomeRefusal::OtherWorkersWork);
            }
            let level = match (decision.permit_level, decision.environment) {
                (Some(level), _) => level,
                (None, Some(environment)) => environment_level(environment),
                // An allowed decision always records its environment; without one the
                // event is not one Steward wrote.
                (None, None) => return Err(OutcomeRefusal::NotAnAllowedDecision),
            };
            (level, OutcomeBasis::AuthorizedOperation)
        }
    };
    if let Some(reported) = report.level.filter(|&l| l != level) {
        return Err(OutcomeRefusal::LevelMismatch {
            reported,
            seen: level,
        });
    }
    Ok(OperationOutcome {
        result: report.result,
        level,
        basis,
    })
}

/// The level an operation allowed without a permit required: local, development and test
/// work is non-union (0); staging needs a certified worker (1); production work is never
/// allowed without a permit, and read-only production work is level 1.
fn environment_level(environment: Environment) -> Level {
    if environment.is_dev_like() {
        Level::NON_UNION
    } else {
        Level::BASIC
    }
}

#[cfg(test)]
mod tests;
