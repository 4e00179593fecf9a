//! The analysis output contract (SPEC §3.5). Field names the seeds' integrations read are
//! fixed; fields added here are additions, never renames.

use serde::{Deserialize, Serialize};

use crate::model::{
    ComplianceFramework, DataSensitivity, Environment, Evidence, Level, OperationKind, PermitType,
    RiskLevel, Role, SensitiveKind,
};

/// Steward's verdict on one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub task_id: Option<String>,
    pub policy_version: String,
    pub environment_detected: Environment,
    pub risk_assessment: RiskAssessment,
    pub certification_decision: CertificationDecision,
    pub approval_requirements: ApprovalRequirements,
    pub resource_limits: ResourceLimits,
    pub safety_checks: SafetyChecks,
    /// What detection found, for consumers that enforce it (the permit workflow, authorize).
    pub signals: Signals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskAssessment {
    pub environment_risk: u8,
    pub reversibility_risk: u8,
    pub data_sensitivity_risk: u8,
    pub impact_scope_risk: u8,
    pub customer_impact_risk: u8,
    pub total_risk_score: u8,
    pub risk_level: RiskLevel,
    pub factors: Vec<Factor>,
}

/// One factor's points and the signals that produced them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub factor: FactorName,
    pub category: String,
    pub points: u8,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorName {
    Environment,
    Reversibility,
    DataSensitivity,
    ImpactScope,
    CustomerImpact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerType {
    #[serde(rename = "non-union")]
    NonUnion,
    #[serde(rename = "union")]
    Union,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificationDecision {
    pub worker_type: WorkerType,
    pub certification_level_required: Level,
    pub permit_required: bool,
    /// The level the environment and score alone give, before floors.
    pub base_level: Level,
    /// Every hard floor that holds, with its reason; the required level is the highest
    /// of `base_level` and these.
    pub floors_applied: Vec<FloorApplied>,
    pub reasoning: String,
}

/// A hard requirement that holds for the task (SPEC §3.4), whether or not it raises the
/// level above the base: the required level is the highest of the base and these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloorApplied {
    pub rule: FloorRule,
    pub level: Level,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FloorRule {
    ProductionWrite,
    ProductionReadOnly,
    SensitiveData,
    RiskyOperationProduction,
    RiskyOperationStaging,
    CustomerFacingProduction,
    MultiServiceProduction,
    SystemWideProduction,
    MultiRegionProduction,
    Compliance,
}

impl FloorRule {
    /// Every rule, in the order floors are reported.
    pub const ALL: &'static [FloorRule] = &[
        FloorRule::ProductionWrite,
        FloorRule::ProductionReadOnly,
        FloorRule::SensitiveData,
        FloorRule::RiskyOperationProduction,
        FloorRule::RiskyOperationStaging,
        FloorRule::CustomerFacingProduction,
        FloorRule::MultiServiceProduction,
        FloorRule::SystemWideProduction,
        FloorRule::MultiRegionProduction,
        FloorRule::Compliance,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequirements {
    pub approvers_required: u32,
    pub approver_roles: Vec<Role>,
    /// Roles that must each be covered by a distinct approver.
    pub required_roles: Vec<Role>,
    pub max_approval_time_hours: f64,
    pub change_advisory_board_required: bool,
    pub permit_type: Option<PermitType>,
    /// A level-1 read-only permit is approved automatically for a worker holding level ≥ 1.
    pub auto_approve: bool,
    /// Evidence the permit request must carry (SPEC §6.3 and overlays).
    pub evidence_required: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceLimits {
    pub token_allocation: u64,
    /// The ceiling with a justification; `null` where the level has no extension.
    pub token_allocation_extended: Option<u64>,
    pub max_concurrent_tasks: u32,
    pub audit_retention_days: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SafetyChecks {
    /// Never overridable. Empty for a task alone; filled when a worker is named
    /// (see `hard_blocks_for_worker`).
    pub hard_blocks: Vec<Block>,
    pub warnings: Vec<Block>,
}

/// A hard block or a warning: a stable rule name and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub rule: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    pub read_only: bool,
    pub destructive: bool,
    pub customer_facing: bool,
    pub sensitive_data: Vec<SensitiveKind>,
    pub data_sensitivity: DataSensitivity,
    pub risky_operations: Vec<OperationKind>,
    pub services: u32,
    pub regions: u32,
    /// A system-wide component (load balancer, CDN, primary database, …) was named.
    pub system_wide_component: bool,
    pub compliance_frameworks: Vec<ComplianceFramework>,
}

impl Analysis {
    pub fn level(&self) -> Level {
        self.certification_decision.certification_level_required
    }
}
