//! Scoring: from the facts detection established to factor points, total, band, base level,
//! floors and the required level (SPEC §3.1, §3.3, §3.4).
//!
//! This is the part of an analysis a policy engine would express (the benchmark compares it
//! with the same rules in Rego). It allocates nothing; `analyze` calls it and then explains
//! the result in words.

use crate::analysis::FloorRule;
use crate::model::{
    ComplianceFramework, CustomerImpact, DataSensitivity, Environment, ImpactScope, Level,
    Reversibility, RiskLevel,
};
use crate::policy::Policy;

/// What detection established about a task: one category per factor (already the riskier
/// of declared and detected) and the signals the floors read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub environment: Environment,
    pub reversibility: Reversibility,
    pub data_sensitivity: DataSensitivity,
    pub impact_scope: ImpactScope,
    pub customer_impact: CustomerImpact,
    pub read_only: bool,
    pub customer_facing: bool,
    /// A schema migration, infrastructure, security or data-deletion operation, or a
    /// destructive one.
    pub risky_operation: bool,
    /// A system-wide component was named (load balancer, CDN, primary database, …).
    pub system_wide_component: bool,
    /// Distinct services named.
    pub services: u32,
    /// Distinct regions named.
    pub regions: u32,
    pub compliance: ComplianceSet,
}

/// A set of compliance frameworks, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ComplianceSet(u8);

impl ComplianceSet {
    pub fn insert(&mut self, framework: ComplianceFramework) {
        self.0 |= 1 << framework as u8;
    }

    pub fn contains(self, framework: ComplianceFramework) -> bool {
        self.0 & (1 << framework as u8) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = ComplianceFramework> {
        ComplianceFramework::ALL
            .iter()
            .copied()
            .filter(move |f| self.contains(*f))
    }
}

impl FromIterator<ComplianceFramework> for ComplianceSet {
    fn from_iter<I: IntoIterator<Item = ComplianceFramework>>(iter: I) -> Self {
        let mut set = ComplianceSet::default();
        for f in iter {
            set.insert(f);
        }
        set
    }
}

/// The number of floor rules (`FloorRule` variants).
const FLOOR_RULES: usize = 10;

/// The outcome of scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// Environment, reversibility, data sensitivity, impact scope, customer impact.
    pub points: [u8; 5],
    pub total: u8,
    pub risk_level: RiskLevel,
    /// The level environment and band give, before floors.
    pub base_level: Level,
    /// Every floor that applies, by rule (`None` where the rule does not apply). The
    /// compliance entry is the highest floor of the frameworks named.
    pub floors: [Option<Level>; FLOOR_RULES],
    /// `max(base_level, every floor)`.
    pub level: Level,
}

impl Score {
    pub fn floor(&self, rule: FloorRule) -> Option<Level> {
        self.floors[rule as usize]
    }
}

/// Scores `facts` under `policy`. Total and allocation-free.
pub fn score(facts: &Facts, policy: &Policy) -> Score {
    let p = &policy.factor_points;
    let points = [
        p.environment[facts.environment as usize],
        p.reversibility[facts.reversibility as usize],
        p.data_sensitivity[facts.data_sensitivity as usize],
        p.impact_scope[facts.impact_scope as usize],
        p.customer_impact[facts.customer_impact as usize],
    ];
    let total = points.iter().sum::<u8>();
    let (band_level, risk_level) = policy.band(total);
    let env = facts.environment;
    let base_level = match env {
        Environment::Local | Environment::Development | Environment::Test => Level::NON_UNION,
        Environment::Staging => Level::BASIC,
        Environment::Production | Environment::Unknown if facts.read_only => {
            band_level.min(Level::BASIC)
        }
        Environment::Production | Environment::Unknown => band_level,
    };

    let f = policy.floors();
    let mut floors = [None; FLOOR_RULES];
    let mut set = |rule: FloorRule, level: u8| floors[rule as usize] = Level::new(level);
    let production = env == Environment::Production;
    let sensitive = facts.data_sensitivity == DataSensitivity::Sensitive;
    if production && !facts.read_only {
        set(FloorRule::ProductionWrite, f.production_write);
    }
    if production && facts.read_only && !sensitive {
        set(FloorRule::ProductionReadOnly, f.production_read_only);
    }
    if sensitive {
        set(FloorRule::SensitiveData, f.sensitive_data);
    }
    if facts.risky_operation {
        if env.is_production_like() {
            set(
                FloorRule::RiskyOperationProduction,
                f.risky_operation_production,
            );
        } else if env == Environment::Staging {
            set(FloorRule::RiskyOperationStaging, f.risky_operation_staging);
        }
    }
    if production && facts.customer_facing {
        set(
            FloorRule::CustomerFacingProduction,
            f.customer_facing_production,
        );
    }
    if production && facts.services >= f.multi_service_min_services {
        set(
            FloorRule::MultiServiceProduction,
            f.multi_service_production,
        );
    }
    if production && (facts.impact_scope == ImpactScope::SystemWide || facts.system_wide_component)
    {
        set(FloorRule::SystemWideProduction, f.system_wide_production);
    }
    if production
        && (facts.regions >= f.multi_region_min_regions
            || facts.impact_scope == ImpactScope::MultiRegion)
    {
        set(FloorRule::MultiRegionProduction, f.multi_region_production);
    }
    floors[FloorRule::Compliance as usize] = facts
        .compliance
        .iter()
        .filter_map(|framework| policy.compliance_floor(framework))
        .max();
    let level = floors
        .iter()
        .flatten()
        .copied()
        .fold(base_level, Level::max);
    Score {
        points,
        total,
        risk_level,
        base_level,
        floors,
        level,
    }
}
