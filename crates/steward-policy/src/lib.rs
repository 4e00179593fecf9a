//! Steward's risk engine: the task input contract, detection of environment, data and
//! operations, factor points, bands, floors, approval routing, and the policy file.
//!
//! # Invariants
//!
//! - Pure: no IO, no async, no clock, no randomness. Every input is a value.
//! - `analyze` is total: for any parsed `Task` and validated `Policy` it returns an
//!   `Analysis` and never panics.
//! - Declared categories never lower what detection finds.
//! - The required level is `max(base level, every applicable floor)`, so adding risk never
//!   lowers it.

mod action;
mod analysis;
mod analyze;
mod model;
mod policy;
pub mod refusal;
mod score;
pub mod strict_json;
mod task;
mod vocab;
mod worker;

pub use action::{
    Action, ActionClass, ActionClasses, ActionRequirement, ListedOperation, action_requirement,
    classify_action, permit_classes,
};
pub use analysis::{
    Analysis, ApprovalRequirements, Block, CertificationDecision, Factor, FactorName, FloorApplied,
    FloorRule, ResourceLimits, RiskAssessment, SafetyChecks, Signals, WorkerType,
};
pub use analyze::{analyze, names_sensitive_data};
pub use model::{
    ComplianceFramework, CustomerImpact, DataSensitivity, Environment, Evidence, ImpactScope,
    Level, OperationKind, PermitType, Reversibility, RiskLevel, Role, SensitiveKind,
    UnknownValueError,
};
pub use policy::{
    Band, DEFAULT_POLICY_TOML, LevelSpec, OverlaySpec, PermitTypeSpec, Policy, PolicyDocument,
    PolicyError, PolicyProblem, Renewal,
};
pub use refusal::Refusal;
pub use score::{ComplianceSet, Facts, Score, score};
pub use task::{Task, TaskError, json_kind};
pub use worker::{
    CertificationStatus, WorkerStanding, certification_block, hard_blocks_for_worker,
};
