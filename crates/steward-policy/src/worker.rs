//! Hard blocks that depend on who would run a task (SPEC §4): the worker's level and
//! certification status against an analysis.

use serde::{Deserialize, Serialize};

use crate::analysis::{Analysis, Block};
use crate::model::{DataSensitivity, Environment, Level, string_enum};

string_enum! {
    /// A worker certification's status (SPEC §5).
    CertificationStatus, "certification status" {
        Active = "active",
        Probationary = "probationary",
        Suspended = "suspended",
        Expired = "expired",
        Revoked = "revoked",
    }
}

/// What the hard blocks need to know about a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStanding {
    pub level: Level,
    pub status: CertificationStatus,
}

impl CertificationStatus {
    /// Active or probationary: the certification lets its worker work. Suspended, expired
    /// and revoked do not (SPEC §4 hard block); the one rule every check reads.
    pub fn in_force(self) -> bool {
        match self {
            CertificationStatus::Active | CertificationStatus::Probationary => true,
            CertificationStatus::Suspended
            | CertificationStatus::Expired
            | CertificationStatus::Revoked => false,
        }
    }
}

/// The hard block a certification not in force raises (`certification_<status>`), or
/// `None` when it is in force.
pub fn certification_block(status: CertificationStatus) -> Option<Block> {
    (!status.in_force()).then(|| Block {
        rule: format!("certification_{status}"),
        message: format!("the worker's certification is {status}"),
    })
}

/// Adds to `analysis.safety_checks` every hard block and warning that `worker` triggers.
pub fn hard_blocks_for_worker(analysis: &mut Analysis, worker: WorkerStanding) {
    let checks = &mut analysis.safety_checks;
    let mut block = |rule: &str, message: String| {
        checks.hard_blocks.push(Block {
            rule: rule.to_owned(),
            message,
        });
    };
    if let Some(refused) = certification_block(worker.status) {
        block(&refused.rule, refused.message);
    }
    let env = analysis.environment_detected;
    if worker.level == Level::NON_UNION
        && matches!(
            env,
            Environment::Staging | Environment::Production | Environment::Unknown
        )
    {
        block(
            "non_union_outside_development",
            format!("a level-0 worker may not work in {env}"),
        );
    }
    let sensitive = !analysis.signals.sensitive_data.is_empty()
        || analysis.signals.data_sensitivity == DataSensitivity::Sensitive;
    if sensitive && worker.level < Level::ADVANCED {
        block(
            "sensitive_data_requires_level_3",
            format!(
                "sensitive data needs level 3; the worker holds level {}",
                worker.level
            ),
        );
    }
    let required = analysis.certification_decision.certification_level_required;
    if worker.level < required {
        block(
            "insufficient_certification",
            format!(
                "the task needs level {required}; the worker holds level {}",
                worker.level
            ),
        );
    }
    if worker.status == CertificationStatus::Probationary && required.is_union() {
        checks.warnings.push(Block {
            rule: "oversight_recommended".into(),
            message: "the worker is on probation: oversight is recommended".into(),
        });
    }
}
