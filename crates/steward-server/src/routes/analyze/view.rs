//! The analysis of a task as the API returns it (SPEC §3.5): the server's own types,
//! built from `steward_policy::Analysis` field by field, with their OpenAPI schemas. The
//! field names are the contract the seeds' integrations read.

use serde::Serialize;
use steward_policy::{
    Analysis, Block, ComplianceFramework, DataSensitivity, Environment, FactorName, FloorRule,
    OperationKind, RiskLevel, SensitiveKind, WorkerType,
};
use utoipa::ToSchema;

use crate::routes::permits::view::ApprovalRequirementsView;

/// What a task needs (SPEC §3.5): its risk, the worker level and approvals it requires,
/// its resource limits, its hard blocks and warnings, and the signals read from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalysisView {
    pub task_id: Option<String>,
    /// The policy the analysis applied.
    pub policy_version: String,
    /// `development`, `staging` or `production`.
    #[schema(value_type = String)]
    pub environment_detected: Environment,
    pub risk_assessment: RiskAssessmentView,
    pub certification_decision: CertificationDecisionView,
    pub approval_requirements: ApprovalRequirementsView,
    pub resource_limits: ResourceLimitsView,
    pub safety_checks: SafetyChecksView,
    pub signals: SignalsView,
}

impl From<&Analysis> for AnalysisView {
    fn from(a: &Analysis) -> Self {
        let r = &a.risk_assessment;
        let c = &a.certification_decision;
        let l = &a.resource_limits;
        let s = &a.signals;
        AnalysisView {
            task_id: a.task_id.clone(),
            policy_version: a.policy_version.clone(),
            environment_detected: a.environment_detected,
            risk_assessment: RiskAssessmentView {
                environment_risk: r.environment_risk,
                reversibility_risk: r.reversibility_risk,
                data_sensitivity_risk: r.data_sensitivity_risk,
                impact_scope_risk: r.impact_scope_risk,
                customer_impact_risk: r.customer_impact_risk,
                total_risk_score: r.total_risk_score,
                risk_level: r.risk_level,
                factors: r
                    .factors
                    .iter()
                    .map(|f| FactorView {
                        factor: f.factor,
                        category: f.category.clone(),
                        points: f.points,
                        evidence: f.evidence.clone(),
                    })
                    .collect(),
            },
            certification_decision: CertificationDecisionView {
                worker_type: c.worker_type,
                certification_level_required: c.certification_level_required.value(),
                permit_required: c.permit_required,
                base_level: c.base_level.value(),
                floors_applied: c
                    .floors_applied
                    .iter()
                    .map(|f| FloorAppliedView {
                        rule: f.rule,
                        level: f.level.value(),
                        reason: f.reason.clone(),
                    })
                    .collect(),
                reasoning: c.reasoning.clone(),
            },
            approval_requirements: ApprovalRequirementsView::from(&a.approval_requirements),
            resource_limits: ResourceLimitsView {
                token_allocation: l.token_allocation,
                token_allocation_extended: l.token_allocation_extended,
                max_concurrent_tasks: l.max_concurrent_tasks,
                audit_retention_days: l.audit_retention_days,
            },
            safety_checks: SafetyChecksView {
                hard_blocks: a
                    .safety_checks
                    .hard_blocks
                    .iter()
                    .map(BlockView::from)
                    .collect(),
                warnings: a
                    .safety_checks
                    .warnings
                    .iter()
                    .map(BlockView::from)
                    .collect(),
            },
            signals: SignalsView {
                read_only: s.read_only,
                destructive: s.destructive,
                customer_facing: s.customer_facing,
                sensitive_data: s.sensitive_data.clone(),
                data_sensitivity: s.data_sensitivity,
                risky_operations: s.risky_operations.clone(),
                services: s.services,
                regions: s.regions,
                system_wide_component: s.system_wide_component,
                compliance_frameworks: s.compliance_frameworks.clone(),
            },
        }
    }
}

/// The five risk factors, their total (0–100) and the risk level.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskAssessmentView {
    pub environment_risk: u8,
    pub reversibility_risk: u8,
    pub data_sensitivity_risk: u8,
    pub impact_scope_risk: u8,
    pub customer_impact_risk: u8,
    pub total_risk_score: u8,
    /// `low`, `medium`, `high` or `critical`.
    #[schema(value_type = String)]
    pub risk_level: RiskLevel,
    /// Each factor with the evidence it was scored on.
    pub factors: Vec<FactorView>,
}

/// One scored factor.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorView {
    /// `environment`, `reversibility`, `data_sensitivity`, `impact_scope` or
    /// `customer_impact`.
    #[schema(value_type = String)]
    pub factor: FactorName,
    /// The category the task fell in (such as `production`).
    pub category: String,
    pub points: u8,
    /// What in the task decided the category.
    pub evidence: Vec<String>,
}

/// The worker level the task requires and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificationDecisionView {
    /// `non-union` (level 0) or `union`.
    #[schema(value_type = String)]
    pub worker_type: WorkerType,
    /// 0–4.
    pub certification_level_required: u8,
    pub permit_required: bool,
    /// The level the risk score alone gives.
    pub base_level: u8,
    /// The floors that raised it.
    pub floors_applied: Vec<FloorAppliedView>,
    pub reasoning: String,
}

/// A floor that raised the required level.
#[derive(Debug, Serialize, ToSchema)]
pub struct FloorAppliedView {
    /// The floor's rule, such as `production_write` or `sensitive_data`.
    #[schema(value_type = String)]
    pub rule: FloorRule,
    pub level: u8,
    pub reason: String,
}

/// The resources a worker at the required level gets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceLimitsView {
    pub token_allocation: u64,
    /// The ceiling with a justification; `null` where the level has no extension.
    pub token_allocation_extended: Option<u64>,
    pub max_concurrent_tasks: u32,
    pub audit_retention_days: u32,
}

/// Never-overridable blocks and warnings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SafetyChecksView {
    pub hard_blocks: Vec<BlockView>,
    pub warnings: Vec<BlockView>,
}

/// A hard block or a warning: its rule and message.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockView {
    pub rule: String,
    pub message: String,
}

impl From<&Block> for BlockView {
    fn from(b: &Block) -> Self {
        BlockView {
            rule: b.rule.clone(),
            message: b.message.clone(),
        }
    }
}

/// What the analysis read from the task.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalsView {
    pub read_only: bool,
    pub destructive: bool,
    pub customer_facing: bool,
    /// Kinds of sensitive data named (`pii`, `phi`, `financial`, `credentials`, …).
    #[schema(value_type = Vec<String>)]
    pub sensitive_data: Vec<SensitiveKind>,
    #[schema(value_type = String)]
    pub data_sensitivity: DataSensitivity,
    /// Risky operations named (`migration`, `delete`, …).
    #[schema(value_type = Vec<String>)]
    pub risky_operations: Vec<OperationKind>,
    pub services: u32,
    pub regions: u32,
    pub system_wide_component: bool,
    /// Compliance frameworks in scope (`GDPR`, `HIPAA`, …).
    #[schema(value_type = Vec<String>)]
    pub compliance_frameworks: Vec<ComplianceFramework>,
}
