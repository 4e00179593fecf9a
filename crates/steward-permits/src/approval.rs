//! Who may approve a permit and when enough have (SPEC §6.3): role eligibility, segregation
//! of duties, one vote per human, required roles covered by distinct people, and the
//! change-advisory-board sign-off.

use std::collections::{BTreeMap, BTreeSet};

use steward_policy::{ApprovalRequirements, Level, Role};

use crate::names::string_enum;

string_enum! {
    /// What an approver decided.
    Decision, "decision" {
        Approve = "approve",
        Reject = "reject",
        RequestChanges = "request_changes",
    }
}

string_enum! {
    /// Through which interface a decision was made (recorded with every approval).
    Channel, "channel" {
        Api = "api",
        Cli = "cli",
        Web = "web",
    }
}

/// The principals a permit is about, for segregation of duties. The executor is the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parties {
    pub requester: String,
    pub worker_id: String,
    pub worker_owner: String,
}

/// A principal offering a decision, with the roles the shell has verified they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub principal_id: String,
    pub human: bool,
    pub roles: Vec<Role>,
}

/// An approval already counted: who, and under which role they approved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordedApproval {
    pub principal_id: String,
    pub role: Role,
}

/// Why a candidate may not cast a decision on a permit. Each message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRefusal {
    #[error("only humans approve: `{principal}` is not a human")]
    NotHuman { principal: String },
    #[error("role not held: `{principal}` does not hold the role `{role}`")]
    RoleNotHeld { principal: String, role: Role },
    #[error("role not eligible: the role `{role}` may not approve this permit")]
    RoleNotEligible { role: Role },
    #[error("segregation of duties: `{principal}` requested this permit and may not approve it")]
    Requester { principal: String },
    #[error("segregation of duties: `{principal}` owns the worker and may not approve its permit")]
    WorkerOwner { principal: String },
    #[error("segregation of duties: `{principal}` will execute this permit and may not approve it")]
    Executor { principal: String },
    #[error("one vote per person: `{principal}` already approved this permit as `{role}`")]
    AlreadyApproved { principal: String, role: Role },
}

impl ApprovalRefusal {
    /// The refusal as said of a promotion (or an initial certification) to `target`: the
    /// same rules, in the words of a promotion rather than a permit.
    pub fn promotion_message(&self, target: Level) -> String {
        match self {
            ApprovalRefusal::NotHuman { principal } => {
                format!("only humans approve a promotion: `{principal}` is not a human")
            }
            ApprovalRefusal::RoleNotHeld { principal, role } => {
                format!("role not held: `{principal}` does not hold the role `{role}`")
            }
            ApprovalRefusal::RoleNotEligible { role } => format!(
                "role not eligible: the role `{role}` may not approve a promotion to level {target}"
            ),
            ApprovalRefusal::Requester { principal } => format!(
                "segregation of duties: `{principal}` asked for this certification and may not approve it"
            ),
            ApprovalRefusal::WorkerOwner { principal } => format!(
                "segregation of duties: `{principal}` owns the worker and may not approve its promotion"
            ),
            ApprovalRefusal::Executor { principal } => format!(
                "segregation of duties: `{principal}` is the worker and may not approve its own promotion"
            ),
            ApprovalRefusal::AlreadyApproved { principal, role } => format!(
                "one vote per person: `{principal}` already approved this promotion as `{role}`"
            ),
        }
    }
}

/// Whether `candidate` may decide on a permit with requirements `req`, acting as `role`,
/// given the approvals already `existing`.
///
/// Applies to every decision (approve, reject, request changes): only an eligible approver
/// may reject, and a rejection is final. The checks run in this order, and the first that
/// fails is returned: human, role held, role eligible (in `approver_roles ∪ required_roles`
/// and an approver role at all), segregation of duties (requester, worker owner, the worker
/// itself), and one vote per person whatever roles they hold.
pub fn check_approver(
    req: &ApprovalRequirements,
    parties: &Parties,
    candidate: &Candidate,
    role: Role,
    existing: &[RecordedApproval],
) -> Result<(), ApprovalRefusal> {
    let principal = || candidate.principal_id.clone();
    if !candidate.human {
        return Err(ApprovalRefusal::NotHuman {
            principal: principal(),
        });
    }
    if !candidate.roles.contains(&role) {
        return Err(ApprovalRefusal::RoleNotHeld {
            principal: principal(),
            role,
        });
    }
    if !is_eligible(&req.approver_roles, &req.required_roles, role) {
        return Err(ApprovalRefusal::RoleNotEligible { role });
    }
    let id = candidate.principal_id.as_str();
    if id == parties.requester {
        return Err(ApprovalRefusal::Requester {
            principal: principal(),
        });
    }
    if id == parties.worker_owner {
        return Err(ApprovalRefusal::WorkerOwner {
            principal: principal(),
        });
    }
    if id == parties.worker_id {
        return Err(ApprovalRefusal::Executor {
            principal: principal(),
        });
    }
    if let Some(earlier) = existing.iter().find(|a| a.principal_id == id) {
        return Err(ApprovalRefusal::AlreadyApproved {
            principal: principal(),
            role: earlier.role,
        });
    }
    Ok(())
}

/// How far a set of approvals is from the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    pub met: bool,
    /// Distinct approvers still needed.
    pub approvals_missing: u32,
    /// Required roles not yet covered by a distinct approver.
    pub roles_missing: Vec<Role>,
    /// A change-advisory-board sign-off is required and not given.
    pub cab_missing: bool,
}

/// Whether `approvals` meet `req`.
///
/// Met when the distinct approvers number at least `approvers_required` (zero when
/// `auto_approve`), every required role is covered by a *distinct* approver who approved
/// under it, and the change advisory board signed off if required. Approvals under a role
/// that is not eligible for `req` do not count. Approvals are expected to have passed
/// [`check_approver`]; should one person appear twice anyway, they still count once and
/// cover at most one required role.
///
/// Monotone: adding an approval never turns `met` from true to false.
pub fn quorum(
    req: &ApprovalRequirements,
    approvals: &[RecordedApproval],
    cab_signed_off: bool,
) -> QuorumStatus {
    let needed = if req.auto_approve {
        0
    } else {
        req.approvers_required
    };
    let tally = tally(&req.approver_roles, &req.required_roles, needed, approvals);
    let cab_missing = req.change_advisory_board_required && !cab_signed_off;
    QuorumStatus {
        met: tally.approvals_missing == 0 && tally.roles_missing.is_empty() && !cab_missing,
        approvals_missing: tally.approvals_missing,
        roles_missing: tally.roles_missing,
        cab_missing,
    }
}

/// The count-and-coverage part of a quorum, shared with promotion approvals.
pub(crate) struct Tally {
    pub(crate) approvals_missing: u32,
    pub(crate) roles_missing: Vec<Role>,
}

pub(crate) fn tally(
    approver_roles: &[Role],
    required_roles: &[Role],
    needed: u32,
    approvals: &[RecordedApproval],
) -> Tally {
    // Each person once, with every eligible role they approved under.
    let mut people: BTreeMap<&str, BTreeSet<Role>> = BTreeMap::new();
    for a in approvals {
        if is_eligible(approver_roles, required_roles, a.role) {
            people
                .entry(a.principal_id.as_str())
                .or_default()
                .insert(a.role);
        }
    }
    let distinct = u32::try_from(people.len()).unwrap_or(u32::MAX);
    let mut required: Vec<Role> = Vec::new();
    for role in required_roles {
        if !required.contains(role) {
            required.push(*role);
        }
    }
    let people: Vec<&BTreeSet<Role>> = people.values().collect();
    Tally {
        approvals_missing: needed.saturating_sub(distinct),
        roles_missing: uncovered_roles(&required, &people),
    }
}

fn is_eligible(approver_roles: &[Role], required_roles: &[Role], role: Role) -> bool {
    role.is_approver() && (approver_roles.contains(&role) || required_roles.contains(&role))
}

/// The required roles left uncovered by a maximum matching of roles to distinct people
/// (Kuhn's augmenting paths; both sides are a handful of entries).
fn uncovered_roles(required: &[Role], people: &[&BTreeSet<Role>]) -> Vec<Role> {
    // `owner[p]` is the index of the required role person `p` covers.
    let mut owner: Vec<Option<usize>> = vec![None; people.len()];
    let mut missing = Vec::new();
    for r in 0..required.len() {
        let mut seen = vec![false; people.len()];
        if !augment(r, required, people, &mut owner, &mut seen) {
            missing.push(required[r]);
        }
    }
    missing
}

fn augment(
    r: usize,
    required: &[Role],
    people: &[&BTreeSet<Role>],
    owner: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for p in 0..people.len() {
        if seen[p] || !people[p].contains(&required[r]) {
            continue;
        }
        seen[p] = true;
        let free = match owner[p] {
            None => true,
            Some(other) => augment(other, required, people, owner, seen),
        };
        if free {
            owner[p] = Some(r);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
