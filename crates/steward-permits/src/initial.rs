//! Initial certification (adopting a worker that has a record elsewhere): a worker with no
//! certification history in Steward is certified straight at level 1–4 on a written
//! justification and evidence of its prior record, with the same human approvals a
//! promotion to that level needs, and starts that level's probation.
//!
//! The approvals are the promotion's ([`promotion_approvals`], checked per approver with
//! [`check_approver`](crate::check_approver): eligible role, segregation of duties, one
//! vote per person, where the person who asked for the certification counts as its
//! requester); only the time and operation thresholds of [`eligibility`](crate::eligibility)
//! are replaced by the prior record, which the approvers vouch for.

use steward_policy::{CertificationStatus, Level};

use crate::approval::RecordedApproval;
use crate::certification::{
    OperationStats, PromotionQuorum, WorkerRecord, check_promotion, probation_days,
    promotion_approvals, recertification_due,
};
use crate::time::Timestamp;

/// The shortest justification accepted, in characters: a sentence, not a placeholder.
pub const MIN_JUSTIFICATION_CHARS: usize = 20;

/// What a request for an initial certification states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialCertification {
    pub target: Level,
    /// Why the worker deserves the level, in words.
    pub justification: String,
    pub prior_record: PriorRecord,
}

/// Evidence of the worker's record before Steward: a document and/or a link, and how many
/// operations it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorRecord {
    /// The record itself, or a summary of it (text).
    pub document: Option<String>,
    /// Where the record can be read (a dashboard, a ticket, a report).
    pub link: Option<String>,
    /// Operations the worker ran before Steward.
    pub prior_operations: u32,
}

/// Why an initial certification cannot be asked for. Each message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitialCertificationError {
    #[error(
        "certification history: an initial certification is only for a worker with no certification history in Steward (this one is at level {level}, `{status}`); use a promotion"
    )]
    HasHistory {
        level: Level,
        status: CertificationStatus,
    },
    #[error("`level`: an initial certification is to level 1, 2, 3 or 4, got {0}")]
    BadLevel(Level),
    #[error(
        "`justification`: say in at least {MIN_JUSTIFICATION_CHARS} characters why the worker deserves the level"
    )]
    Justification,
    #[error(
        "`prior_record`: evidence of the prior record needs a `document` or a `link`, and `prior_operations` of at least 1"
    )]
    PriorRecord,
}

/// Whether `record` may be initially certified as `request` asks: level 1–4, a worker with
/// no certification history (level 0, `active`, never promoted: level 0 and `active` is
/// where every worker starts and no path leads back to it), a justification and evidence.
pub fn check_initial_certification(
    record: &WorkerRecord,
    request: &InitialCertification,
) -> Result<(), InitialCertificationError> {
    if record.level != Level::NON_UNION || record.status != CertificationStatus::Active {
        return Err(InitialCertificationError::HasHistory {
            level: record.level,
            status: record.status,
        });
    }
    if request.target == Level::NON_UNION {
        return Err(InitialCertificationError::BadLevel(request.target));
    }
    if request.justification.trim().chars().count() < MIN_JUSTIFICATION_CHARS {
        return Err(InitialCertificationError::Justification);
    }
    let given = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
    let prior = &request.prior_record;
    if !(given(&prior.document) || given(&prior.link)) || prior.prior_operations == 0 {
        return Err(InitialCertificationError::PriorRecord);
    }
    Ok(())
}

/// The approvals an initial certification to `target` needs: a promotion's.
pub fn initial_certification_approvals(target: Level) -> PromotionQuorum {
    promotion_approvals(target)
}

/// The worker certified at `target` from `now` once `approvals` meet the quorum: the
/// level's probation (none at level 1), its recertification date, the at-level counters
/// at zero (the prior record is evidence, not Steward-seen work). `None` while approvals
/// are missing.
pub fn certify_initially(
    record: &WorkerRecord,
    target: Level,
    approvals: &[RecordedApproval],
    now: Timestamp,
) -> Option<WorkerRecord> {
    if !check_promotion(&initial_certification_approvals(target), approvals).met {
        return None;
    }
    let probation_until = probation_days(target).map(|d| now.plus_days(i64::from(d)));
    Some(WorkerRecord {
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

#[cfg(test)]
mod tests;
