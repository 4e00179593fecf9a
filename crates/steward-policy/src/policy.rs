//! The policy file: its TOML document, validation that explains every problem, and the
//! compiled form the analysis runs on.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{
    ComplianceFramework, DataSensitivity, Environment, Evidence, Level, OperationKind, PermitType,
    RiskLevel, Role, SensitiveKind,
};
use crate::vocab::{Lexicon, phrase_tokens};

/// The built-in policy's text. It equals the SPEC.
pub const DEFAULT_POLICY_TOML: &str = include_str!("default-policy.toml");

/// The policy file as written. Field names are the TOML keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    pub version: String,
    pub factors: Factors,
    pub bands: Vec<Band>,
    pub floors: Floors,
    pub detection: Detection,
    pub levels: BTreeMap<String, LevelRules>,
    #[serde(default)]
    pub overlays: BTreeMap<String, Overlay>,
    pub permit_types: BTreeMap<String, PermitTypeRules>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Factors {
    pub environment: BTreeMap<String, i64>,
    pub reversibility: BTreeMap<String, i64>,
    pub data_sensitivity: BTreeMap<String, i64>,
    pub impact_scope: BTreeMap<String, i64>,
    pub customer_impact: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub min: i64,
    pub max: i64,
    pub level: u8,
    pub risk_level: RiskLevel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Floors {
    pub production_write: u8,
    pub production_read_only: u8,
    pub sensitive_data: u8,
    pub risky_operation_production: u8,
    pub risky_operation_staging: u8,
    pub customer_facing_production: u8,
    pub multi_service_production: u8,
    pub multi_service_min_services: u32,
    pub system_wide_production: u8,
    pub multi_region_production: u8,
    pub multi_region_min_regions: u32,
    #[serde(default)]
    pub compliance: BTreeMap<String, u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    pub environment: EnvironmentDetection,
    pub data: DataVocabulary,
    pub operations: OperationVocabulary,
    pub impact: ImpactVocabulary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentDetection {
    pub production: Vec<String>,
    pub staging: Vec<String>,
    pub development: Vec<String>,
    pub test: Vec<String>,
    pub local: Vec<String>,
    pub branch_weight: u32,
    pub description_weight: u32,
    pub path_weight: u32,
    pub production_branches: Vec<String>,
    pub development_branches: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataVocabulary {
    pub pii: Vec<String>,
    pub phi: Vec<String>,
    pub financial: Vec<String>,
    pub credentials: Vec<String>,
    pub internal: Vec<String>,
    pub test: Vec<String>,
    pub public: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationVocabulary {
    pub destructive: Vec<String>,
    pub schema_migration: Vec<String>,
    pub infrastructure: Vec<String>,
    pub security: Vec<String>,
    pub data_deletion: Vec<String>,
    pub read: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactVocabulary {
    pub system_wide: Vec<String>,
    pub customer_facing: Vec<String>,
    pub customers_segment_above: u64,
    pub customers_all_above: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelRules {
    pub approvers_required: u32,
    pub approver_roles: Vec<String>,
    #[serde(default)]
    pub required_roles: Vec<String>,
    #[serde(default)]
    pub change_advisory_board: bool,
    #[serde(default)]
    pub evidence: Vec<String>,
    pub token_allocation: u64,
    #[serde(default)]
    pub token_allocation_extended: Option<u64>,
    pub max_concurrent_tasks: u32,
    pub audit_retention_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Renewal {
    Auto,
    OneApproval,
    SameQuorum,
    Never,
    IncidentCommander,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermitTypeRules {
    pub level: u8,
    /// Defaults to the level's approvers.
    #[serde(default)]
    pub approvers_required: Option<u32>,
    #[serde(default)]
    pub approver_roles: Option<Vec<String>>,
    #[serde(default)]
    pub required_roles: Option<Vec<String>>,
    pub approval_sla_hours: f64,
    pub validity_default_hours: f64,
    pub validity_max_hours: f64,
    pub renewal: Renewal,
    #[serde(default)]
    pub max_renewals: Option<u32>,
    #[serde(default)]
    pub max_total_hours: Option<f64>,
    #[serde(default)]
    pub single_use: bool,
}

/// One thing wrong with a policy file, at a dotted path (`bands[1].min`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyProblem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path, self.message)
    }
}

/// Why a policy could not be loaded: not TOML of the right shape, or rules that break.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy is not valid TOML: {0}")]
    Syntax(String),
    #[error("policy has {} problem{}: {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, join_problems(.0))]
    Invalid(Vec<PolicyProblem>),
}

fn join_problems(problems: &[PolicyProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Signals a phrase can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    Env(Environment),
    Sensitive(SensitiveKind),
    Data(DataSensitivity),
    Op(OperationKind),
    Destructive,
    Read,
    SystemWide,
    CustomerFacing,
}

/// The resolved rules of one level.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelSpec {
    pub approvers_required: u32,
    pub approver_roles: Vec<Role>,
    pub required_roles: Vec<Role>,
    pub change_advisory_board: bool,
    pub evidence: Vec<Evidence>,
    pub token_allocation: u64,
    pub token_allocation_extended: Option<u64>,
    pub max_concurrent_tasks: u32,
    pub audit_retention_days: u32,
}

/// The resolved rules of one permit type (SPEC §6.1).
#[derive(Debug, Clone, PartialEq)]
pub struct PermitTypeSpec {
    pub kind: PermitType,
    pub level: Level,
    pub approvers_required: u32,
    pub approver_roles: Vec<Role>,
    pub required_roles: Vec<Role>,
    pub approval_sla_hours: f64,
    pub validity_default_hours: f64,
    pub validity_max_hours: f64,
    pub renewal: Renewal,
    pub max_renewals: Option<u32>,
    pub max_total_hours: Option<f64>,
    pub single_use: bool,
}

/// A compliance or security overlay, resolved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OverlaySpec {
    pub roles: Vec<Role>,
    pub evidence: Vec<Evidence>,
}

/// A validated, compiled policy. Cheap to share behind an `Arc`; building one is the only
/// expensive step (vocabularies become lexicons once).
#[derive(Debug, Clone)]
pub struct Policy {
    document: PolicyDocument,
    version: String,
    pub(crate) factor_points: FactorPoints,
    pub(crate) bands: Vec<Band>,
    pub(crate) levels: [LevelSpec; 5],
    pub(crate) permit_types: BTreeMap<PermitType, PermitTypeSpec>,
    pub(crate) compliance_floors: BTreeMap<ComplianceFramework, Level>,
    pub(crate) compliance_overlays: BTreeMap<ComplianceFramework, OverlaySpec>,
    pub(crate) security_overlay: OverlaySpec,
    pub(crate) lexicon: Lexicon<Tag>,
    pub(crate) production_branches: Vec<String>,
    pub(crate) development_branches: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FactorPoints {
    pub environment: [u8; 6],
    pub reversibility: [u8; 4],
    pub data_sensitivity: [u8; 4],
    pub impact_scope: [u8; 5],
    pub customer_impact: [u8; 4],
}

impl Policy {
    /// The built-in policy, equal to the SPEC.
    pub fn builtin() -> Policy {
        // INVARIANT: the embedded default is valid; a unit test pins it, so a broken edit
        // fails `cargo test` rather than reaching a user.
        match Policy::from_toml(DEFAULT_POLICY_TOML) {
            Ok(policy) => policy,
            Err(err) => unreachable!("built-in policy is invalid: {err}"),
        }
    }

    /// Parses, validates and compiles a policy file.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let document: PolicyDocument =
            toml::from_str(text).map_err(|e| PolicyError::Syntax(one_line(&e.to_string())))?;
        Policy::from_document(document)
    }

    /// Validates and compiles an already-parsed document.
    pub fn from_document(document: PolicyDocument) -> Result<Policy, PolicyError> {
        let mut v = Validator::default();
        let compiled = v.compile(&document);
        match compiled {
            Some(parts) if v.problems.is_empty() => {
                let version = version_of(&document);
                Ok(Policy {
                    document,
                    version,
                    factor_points: parts.factor_points,
                    bands: parts.bands,
                    levels: parts.levels,
                    permit_types: parts.permit_types,
                    compliance_floors: parts.compliance_floors,
                    compliance_overlays: parts.compliance_overlays,
                    security_overlay: parts.security_overlay,
                    lexicon: parts.lexicon,
                    production_branches: parts.production_branches,
                    development_branches: parts.development_branches,
                })
            }
            _ => Err(PolicyError::Invalid(v.problems)),
        }
    }

    /// `version` from the file plus a content hash of the parsed document, so two files
    /// that mean the same thing share a version and an edit always changes it.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    pub fn level(&self, level: Level) -> &LevelSpec {
        &self.levels[level.index()]
    }

    pub fn permit_type(&self, kind: PermitType) -> &PermitTypeSpec {
        // INVARIANT: validation requires every permit type, so the entry exists.
        &self.permit_types[&kind]
    }

    pub fn floors(&self) -> &Floors {
        &self.document.floors
    }

    /// The detection thresholds for customer counts.
    pub fn impact(&self) -> &ImpactVocabulary {
        &self.document.detection.impact
    }

    /// The band a total falls in: its level and `risk_level`. A validated policy covers
    /// 0–50; anything else fails closed to the highest level.
    pub(crate) fn band(&self, total: u8) -> (Level, RiskLevel) {
        let total = i64::from(total);
        self.bands
            .iter()
            .find(|b| b.min <= total && total <= b.max)
            .and_then(|b| Level::new(b.level).map(|l| (l, b.risk_level)))
            .unwrap_or((Level::MASTER, RiskLevel::VeryHigh))
    }

    /// The floor a compliance framework sets, if the policy gives it one.
    pub(crate) fn compliance_floor(&self, framework: ComplianceFramework) -> Option<Level> {
        self.compliance_floors.get(&framework).copied()
    }

    pub(crate) fn env_detection(&self) -> &EnvironmentDetection {
        &self.document.detection.environment
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn version_of(document: &PolicyDocument) -> String {
    // serde_json over BTreeMaps and structs is deterministic: field order is declaration
    // order and map keys are sorted.
    let canonical = serde_json::to_vec(document).unwrap_or_default();
    let digest = Sha256::digest(&canonical);
    format!("{}+sha256:{}", document.version, &hex::encode(digest)[..16])
}

struct Compiled {
    factor_points: FactorPoints,
    bands: Vec<Band>,
    levels: [LevelSpec; 5],
    permit_types: BTreeMap<PermitType, PermitTypeSpec>,
    compliance_floors: BTreeMap<ComplianceFramework, Level>,
    compliance_overlays: BTreeMap<ComplianceFramework, OverlaySpec>,
    security_overlay: OverlaySpec,
    lexicon: Lexicon<Tag>,
    production_branches: Vec<String>,
    development_branches: Vec<String>,
}

#[derive(Default)]
struct Validator {
    problems: Vec<PolicyProblem>,
}

impl Validator {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(PolicyProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn compile(&mut self, doc: &PolicyDocument) -> Option<Compiled> {
        if doc.version.trim().is_empty() {
            self.problem("version", "must not be empty");
        }
        let factor_points = self.factors(&doc.factors);
        self.bands(&doc.bands);
        self.floors(&doc.floors);
        let compliance_floors = self.compliance_floors(&doc.floors.compliance);
        let levels = self.levels(&doc.levels);
        let (compliance_overlays, security_overlay) = self.overlays(&doc.overlays);
        let permit_types = self.permit_types(&doc.permit_types, levels.as_ref());
        let lexicon = self.lexicon(&doc.detection);
        self.branches(&doc.detection.environment);
        if doc.detection.impact.customers_all_above < doc.detection.impact.customers_segment_above {
            self.problem(
                "detection.impact.customers_all_above",
                "must be at least `customers_segment_above`",
            );
        }
        Some(Compiled {
            factor_points: factor_points?,
            bands: doc.bands.clone(),
            levels: levels?,
            permit_types: permit_types?,
            compliance_floors,
            compliance_overlays,
            security_overlay,
            lexicon,
            production_branches: lowercase_all(&doc.detection.environment.production_branches),
            development_branches: lowercase_all(&doc.detection.environment.development_branches),
        })
    }

    fn factor_table<const N: usize>(
        &mut self,
        path: &str,
        table: &BTreeMap<String, i64>,
        names: [&str; N],
    ) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        let mut ok = true;
        for (i, name) in names.iter().enumerate() {
            match table.get(*name) {
                None => {
                    self.problem(format!("{path}.{name}"), "missing");
                    ok = false;
                }
                Some(&points) if !(0..=10).contains(&points) => {
                    self.problem(
                        format!("{path}.{name}"),
                        format!("factor points must be 0 to 10, got {points}"),
                    );
                    ok = false;
                }
                Some(&points) => out[i] = points as u8,
            }
        }
        for key in table.keys() {
            if !names.contains(&key.as_str()) {
                self.problem(
                    format!("{path}.{key}"),
                    format!("unknown category; expected one of: {}", names.join(", ")),
                );
                ok = false;
            }
        }
        ok.then_some(out)
    }

    fn factors(&mut self, f: &Factors) -> Option<FactorPoints> {
        let environment = self.factor_table(
            "factors.environment",
            &f.environment,
            [
                "local",
                "development",
                "test",
                "unknown",
                "staging",
                "production",
            ],
        );
        let reversibility = self.factor_table(
            "factors.reversibility",
            &f.reversibility,
            [
                "fully_reversible",
                "automated_rollback",
                "complex_rollback",
                "irreversible",
            ],
        );
        let data_sensitivity = self.factor_table(
            "factors.data_sensitivity",
            &f.data_sensitivity,
            ["public", "test", "internal", "sensitive"],
        );
        let impact_scope = self.factor_table(
            "factors.impact_scope",
            &f.impact_scope,
            [
                "single_component",
                "single_service",
                "multi_service",
                "system_wide",
                "multi_region",
            ],
        );
        let customer_impact = self.factor_table(
            "factors.customer_impact",
            &f.customer_impact,
            ["none", "internal", "segment", "all"],
        );
        Some(FactorPoints {
            environment: environment?,
            reversibility: reversibility?,
            data_sensitivity: data_sensitivity?,
            impact_scope: impact_scope?,
            customer_impact: customer_impact?,
        })
    }

    fn bands(&mut self, bands: &[Band]) {
        if bands.is_empty() {
            self.problem("bands", "at least one band is needed");
            return;
        }
        let mut sorted: Vec<(usize, &Band)> = bands.iter().enumerate().collect();
        sorted.sort_by_key(|(_, b)| b.min);
        let mut expected_min = 0i64;
        for (i, band) in &sorted {
            let path = format!("bands[{i}]");
            if band.min > band.max {
                self.problem(
                    &path,
                    format!("`min` {} is above `max` {}", band.min, band.max),
                );
            }
            if band.level > 4 {
                self.problem(
                    format!("{path}.level"),
                    format!("level must be 0 to 4, got {}", band.level),
                );
            }
            if band.min > expected_min {
                self.problem(
                    &path,
                    format!(
                        "gap: totals {expected_min} to {} fall in no band",
                        band.min - 1
                    ),
                );
            } else if band.min < expected_min {
                self.problem(
                    &path,
                    format!(
                        "overlap: totals {} to {} fall in two bands",
                        band.min,
                        (expected_min - 1).min(band.max)
                    ),
                );
            }
            expected_min = expected_min.max(band.max + 1);
        }
        if expected_min <= 50 {
            self.problem(
                "bands",
                format!("gap: totals {expected_min} to 50 fall in no band"),
            );
        }
        for pair in sorted.windows(2) {
            if pair[1].1.level < pair[0].1.level {
                self.problem(
                    format!("bands[{}].level", pair[1].0),
                    "a higher band must not have a lower level (adding risk must never lower the level)",
                );
            }
        }
    }

    fn floor_level(&mut self, path: &str, value: u8) {
        if value > 4 {
            self.problem(path, format!("level must be 0 to 4, got {value}"));
        }
    }

    fn floors(&mut self, f: &Floors) {
        for (name, value) in [
            ("production_write", f.production_write),
            ("production_read_only", f.production_read_only),
            ("sensitive_data", f.sensitive_data),
            ("risky_operation_production", f.risky_operation_production),
            ("risky_operation_staging", f.risky_operation_staging),
            ("customer_facing_production", f.customer_facing_production),
            ("multi_service_production", f.multi_service_production),
            ("system_wide_production", f.system_wide_production),
            ("multi_region_production", f.multi_region_production),
        ] {
            self.floor_level(&format!("floors.{name}"), value);
        }
        if f.multi_service_min_services < 2 {
            self.problem("floors.multi_service_min_services", "must be at least 2");
        }
        if f.multi_region_min_regions < 2 {
            self.problem("floors.multi_region_min_regions", "must be at least 2");
        }
    }

    fn compliance_floors(
        &mut self,
        table: &BTreeMap<String, u8>,
    ) -> BTreeMap<ComplianceFramework, Level> {
        let mut out = BTreeMap::new();
        for (key, &value) in table {
            let path = format!("floors.compliance.{key}");
            match key.parse::<ComplianceFramework>() {
                Err(e) => self.problem(path, e.to_string()),
                Ok(framework) => match Level::new(value) {
                    Some(level) => {
                        out.insert(framework, level);
                    }
                    None => self.problem(path, format!("level must be 0 to 4, got {value}")),
                },
            }
        }
        out
    }

    fn roles(&mut self, path: &str, names: &[String]) -> Vec<Role> {
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match name.parse::<Role>() {
                Ok(role) if role.is_approver() => {
                    if out.contains(&role) {
                        self.problem(
                            format!("{path}[{i}]"),
                            format!("role `{name}` listed twice"),
                        );
                    } else {
                        out.push(role);
                    }
                }
                Ok(_) => self.problem(
                    format!("{path}[{i}]"),
                    format!("role `{name}` cannot approve permits"),
                ),
                Err(e) => self.problem(format!("{path}[{i}]"), e.to_string()),
            }
        }
        out
    }

    fn evidence(&mut self, path: &str, names: &[String]) -> Vec<Evidence> {
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match name.parse::<Evidence>() {
                Ok(e) if !out.contains(&e) => out.push(e),
                Ok(_) => {}
                Err(e) => self.problem(format!("{path}[{i}]"), e.to_string()),
            }
        }
        out
    }

    fn levels(&mut self, table: &BTreeMap<String, LevelRules>) -> Option<[LevelSpec; 5]> {
        for key in table.keys() {
            if !matches!(key.as_str(), "0" | "1" | "2" | "3" | "4") {
                self.problem(format!("levels.{key}"), "levels are 0 to 4");
            }
        }
        let mut specs = Vec::with_capacity(5);
        for level in 0..=4u8 {
            let path = format!("levels.{level}");
            let Some(rules) = table.get(&level.to_string()) else {
                self.problem(path, "missing");
                continue;
            };
            let approver_roles =
                self.roles(&format!("{path}.approver_roles"), &rules.approver_roles);
            let required_roles =
                self.roles(&format!("{path}.required_roles"), &rules.required_roles);
            for role in &required_roles {
                if !approver_roles.contains(role) {
                    self.problem(
                        format!("{path}.required_roles"),
                        format!("`{role}` is required but not among `approver_roles`"),
                    );
                }
            }
            if rules.approvers_required as usize > approver_roles.len() && level > 0 {
                // Distinct people may share a role, so this is legal; but zero eligible roles
                // with approvers required can never be satisfied.
                if approver_roles.is_empty() {
                    self.problem(
                        format!("{path}.approver_roles"),
                        "approvers are required but no role may approve",
                    );
                }
            }
            if rules.required_roles.len() as u32 > rules.approvers_required {
                self.problem(
                    format!("{path}.approvers_required"),
                    "fewer approvers than required roles",
                );
            }
            if let Some(extended) = rules.token_allocation_extended
                && extended < rules.token_allocation
            {
                self.problem(
                    format!("{path}.token_allocation_extended"),
                    "must be at least `token_allocation`",
                );
            }
            let evidence = self.evidence(&format!("{path}.evidence"), &rules.evidence);
            specs.push(LevelSpec {
                approvers_required: rules.approvers_required,
                approver_roles,
                required_roles,
                change_advisory_board: rules.change_advisory_board,
                evidence,
                token_allocation: rules.token_allocation,
                token_allocation_extended: rules.token_allocation_extended,
                max_concurrent_tasks: rules.max_concurrent_tasks,
                audit_retention_days: rules.audit_retention_days,
            });
        }
        specs.try_into().ok()
    }

    fn overlays(
        &mut self,
        table: &BTreeMap<String, Overlay>,
    ) -> (BTreeMap<ComplianceFramework, OverlaySpec>, OverlaySpec) {
        let mut frameworks = BTreeMap::new();
        let mut security = OverlaySpec::default();
        for (key, overlay) in table {
            let path = format!("overlays.{key}");
            let spec = OverlaySpec {
                roles: self.roles(&format!("{path}.roles"), &overlay.roles),
                evidence: self.evidence(&format!("{path}.evidence"), &overlay.evidence),
            };
            if key == "security_operation" {
                security = spec;
            } else {
                match key.parse::<ComplianceFramework>() {
                    Ok(framework) => {
                        frameworks.insert(framework, spec);
                    }
                    Err(e) => self.problem(path, format!("{e}, or `security_operation`")),
                }
            }
        }
        (frameworks, security)
    }

    fn permit_types(
        &mut self,
        table: &BTreeMap<String, PermitTypeRules>,
        levels: Option<&[LevelSpec; 5]>,
    ) -> Option<BTreeMap<PermitType, PermitTypeSpec>> {
        let mut out = BTreeMap::new();
        for (key, rules) in table {
            let path = format!("permit_types.{key}");
            let kind = match key.parse::<PermitType>() {
                Ok(kind) => kind,
                Err(e) => {
                    self.problem(path, e.to_string());
                    continue;
                }
            };
            let Some(level) = Level::new(rules.level) else {
                self.problem(
                    format!("{path}.level"),
                    format!("level must be 0 to 4, got {}", rules.level),
                );
                continue;
            };
            let level_spec = levels.map(|l| &l[level.index()]);
            let approver_roles = match &rules.approver_roles {
                Some(names) => self.roles(&format!("{path}.approver_roles"), names),
                None => level_spec
                    .map(|l| l.approver_roles.clone())
                    .unwrap_or_default(),
            };
            let required_roles = match &rules.required_roles {
                Some(names) => self.roles(&format!("{path}.required_roles"), names),
                None => level_spec
                    .map(|l| l.required_roles.clone())
                    .unwrap_or_default(),
            };
            let approvers_required = rules
                .approvers_required
                .or(level_spec.map(|l| l.approvers_required))
                .unwrap_or(0);
            if approvers_required > 0 && approver_roles.is_empty() {
                self.problem(
                    format!("{path}.approver_roles"),
                    "approvers are required but no role may approve",
                );
            }
            for (name, hours) in [
                ("approval_sla_hours", rules.approval_sla_hours),
                ("validity_default_hours", rules.validity_default_hours),
                ("validity_max_hours", rules.validity_max_hours),
            ] {
                if !(hours.is_finite() && hours > 0.0) {
                    self.problem(
                        format!("{path}.{name}"),
                        "must be a positive number of hours",
                    );
                }
            }
            if rules.validity_default_hours > rules.validity_max_hours {
                self.problem(
                    format!("{path}.validity_default_hours"),
                    "must not exceed `validity_max_hours`",
                );
            }
            out.insert(
                kind,
                PermitTypeSpec {
                    kind,
                    level,
                    approvers_required,
                    approver_roles,
                    required_roles,
                    approval_sla_hours: rules.approval_sla_hours,
                    validity_default_hours: rules.validity_default_hours,
                    validity_max_hours: rules.validity_max_hours,
                    renewal: rules.renewal,
                    max_renewals: rules.max_renewals,
                    max_total_hours: rules.max_total_hours,
                    single_use: rules.single_use,
                },
            );
        }
        for kind in PermitType::ALL {
            if !out.contains_key(kind) {
                self.problem(format!("permit_types.{kind}"), "missing");
            }
        }
        (out.len() == PermitType::ALL.len()).then_some(out)
    }

    fn vocabulary(&mut self, lexicon: &mut Lexicon<Tag>, path: &str, words: &[String], tag: Tag) {
        if words.is_empty() {
            self.problem(path, "empty vocabulary: nothing could ever match");
        }
        for (i, word) in words.iter().enumerate() {
            if phrase_tokens(word).is_empty() {
                self.problem(
                    format!("{path}[{i}]"),
                    format!("`{word}` has no letters or digits to match"),
                );
            }
            lexicon.insert(word, tag);
        }
    }

    fn lexicon(&mut self, d: &Detection) -> Lexicon<Tag> {
        let mut lex = Lexicon::default();
        let e = &d.environment;
        for (name, words, env) in [
            ("production", &e.production, Environment::Production),
            ("staging", &e.staging, Environment::Staging),
            ("development", &e.development, Environment::Development),
            ("test", &e.test, Environment::Test),
            ("local", &e.local, Environment::Local),
        ] {
            self.vocabulary(
                &mut lex,
                &format!("detection.environment.{name}"),
                words,
                Tag::Env(env),
            );
        }
        let data = &d.data;
        for (name, words, tag) in [
            ("pii", &data.pii, Tag::Sensitive(SensitiveKind::Pii)),
            ("phi", &data.phi, Tag::Sensitive(SensitiveKind::Phi)),
            (
                "financial",
                &data.financial,
                Tag::Sensitive(SensitiveKind::Financial),
            ),
            (
                "credentials",
                &data.credentials,
                Tag::Sensitive(SensitiveKind::Credentials),
            ),
            (
                "internal",
                &data.internal,
                Tag::Data(DataSensitivity::Internal),
            ),
            ("test", &data.test, Tag::Data(DataSensitivity::Test)),
            ("public", &data.public, Tag::Data(DataSensitivity::Public)),
        ] {
            self.vocabulary(&mut lex, &format!("detection.data.{name}"), words, tag);
        }
        let ops = &d.operations;
        for (name, words, tag) in [
            ("destructive", &ops.destructive, Tag::Destructive),
            (
                "schema_migration",
                &ops.schema_migration,
                Tag::Op(OperationKind::SchemaMigration),
            ),
            (
                "infrastructure",
                &ops.infrastructure,
                Tag::Op(OperationKind::Infrastructure),
            ),
            ("security", &ops.security, Tag::Op(OperationKind::Security)),
            (
                "data_deletion",
                &ops.data_deletion,
                Tag::Op(OperationKind::DataDeletion),
            ),
            ("read", &ops.read, Tag::Read),
        ] {
            self.vocabulary(
                &mut lex,
                &format!("detection.operations.{name}"),
                words,
                tag,
            );
        }
        self.vocabulary(
            &mut lex,
            "detection.impact.system_wide",
            &d.impact.system_wide,
            Tag::SystemWide,
        );
        self.vocabulary(
            &mut lex,
            "detection.impact.customer_facing",
            &d.impact.customer_facing,
            Tag::CustomerFacing,
        );
        lex
    }

    fn branches(&mut self, e: &EnvironmentDetection) {
        for (name, list) in [
            ("production_branches", &e.production_branches),
            ("development_branches", &e.development_branches),
        ] {
            let path = format!("detection.environment.{name}");
            if list.is_empty() {
                self.problem(&path, "empty vocabulary: nothing could ever match");
            }
            for (i, pattern) in list.iter().enumerate() {
                let stem = pattern.strip_suffix('*').unwrap_or(pattern);
                if stem.is_empty() || stem.contains('*') {
                    self.problem(
                        format!("{path}[{i}]"),
                        format!(
                            "`{pattern}`: a branch pattern is a name or a prefix ending in `*`"
                        ),
                    );
                }
            }
        }
    }
}

fn lowercase_all(list: &[String]) -> Vec<String> {
    list.iter().map(|s| s.to_lowercase()).collect()
}

#[cfg(test)]
mod tests;
