//! Vocabulary shared by every Steward crate: certification levels, roles, permit types and
//! evidence kinds. Each has exactly one string form, used at the wire and in the database.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A certification level, 0 (non-union) to 4 (master union).
///
/// INVARIANT: the wrapped value is in `0..=4`; the only constructors check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Level(u8);

impl Level {
    pub const NON_UNION: Level = Level(0);
    pub const BASIC: Level = Level(1);
    pub const STANDARD: Level = Level(2);
    pub const ADVANCED: Level = Level(3);
    pub const MASTER: Level = Level(4);
    pub const ALL: [Level; 5] = [Level(0), Level(1), Level(2), Level(3), Level(4)];

    pub fn new(value: u8) -> Option<Level> {
        (value <= 4).then_some(Level(value))
    }

    pub fn value(self) -> u8 {
        self.0
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Level 0 is non-union; every other level is union.
    pub fn is_union(self) -> bool {
        self.0 >= 1
    }
}

impl TryFrom<u8> for Level {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Level::new(value).ok_or_else(|| format!("level must be 0 to 4, got {value}"))
    }
}

impl From<Level> for u8 {
    fn from(level: Level) -> u8 {
        level.0
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Defines a closed string enum with one `as_str`/`FromStr` pair and serde in snake_case.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::UnknownValueError {
                        what: $what,
                        value: s.to_owned(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

/// A string that is not one of a closed set's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`; expected one of: {}", expected.join(", "))]
pub struct UnknownValueError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

string_enum! {
    /// A role a principal can hold. Approver roles come from SPEC §4 and §6; `admin`,
    /// `auditor`, `master` and `worker` are the operational roles.
    Role, "role" {
        EngineeringManager = "engineering_manager",
        TechLead = "tech_lead",
        SeniorEngineer = "senior_engineer",
        TeamLead = "team_lead",
        EngineeringDirector = "engineering_director",
        SecurityLead = "security_lead",
        ArchitectureLead = "architecture_lead",
        VpEngineering = "vp_engineering",
        Cto = "cto",
        Ciso = "ciso",
        Coo = "coo",
        IncidentCommander = "incident_commander",
        OnCallLead = "on_call_lead",
        DataLead = "data_lead",
        ComplianceOfficer = "compliance_officer",
        Admin = "admin",
        Auditor = "auditor",
        Master = "master",
        Worker = "worker",
    }
}

impl Role {
    /// Roles held by humans who may approve permits or promotions.
    pub fn is_approver(self) -> bool {
        !matches!(
            self,
            Role::Admin | Role::Auditor | Role::Master | Role::Worker
        )
    }
}

string_enum! {
    /// The kind of permit a task needs (SPEC §6.1).
    PermitType, "permit type" {
        ReadOnly = "read_only",
        StandardProduction = "standard_production",
        AdvancedProduction = "advanced_production",
        MasterProduction = "master_production",
        Destructive = "destructive",
        Emergency = "emergency",
    }
}

string_enum! {
    /// Evidence a permit request must carry (SPEC §6.3).
    Evidence, "evidence kind" {
        RollbackPlan = "rollback_plan",
        TestResults = "test_results",
        CodeReview = "code_review",
        RollbackTested = "rollback_tested",
        SecurityReview = "security_review",
        ImpactAnalysis = "impact_analysis",
        RollbackRehearsed = "rollback_rehearsed",
        ArchitectureReview = "architecture_review",
        RiskAssessment = "risk_assessment",
        BusinessJustification = "business_justification",
        CustomerCommunicationPlan = "customer_communication_plan",
        DataProtectionImpactAssessment = "data_protection_impact_assessment",
    }
}

string_enum! {
    /// Where work happens, in increasing order of risk (`unknown` sits apart: it scores like
    /// development but is levelled like production).
    Environment, "environment" {
        Local = "local",
        Development = "development",
        Test = "test",
        Unknown = "unknown",
        Staging = "staging",
        Production = "production",
    }
}

impl Environment {
    /// Rank for "the riskiest one named": local < development = test < staging < production.
    /// `unknown` is never named by a signal, so its rank only matters for completeness.
    pub fn risk_rank(self) -> u8 {
        match self {
            Environment::Local => 0,
            Environment::Development | Environment::Test | Environment::Unknown => 1,
            Environment::Staging => 2,
            Environment::Production => 3,
        }
    }

    /// Production, or unknown treated like production for levels and risky-operation floors.
    pub fn is_production_like(self) -> bool {
        matches!(self, Environment::Production | Environment::Unknown)
    }

    /// Local, development or test: the non-union fast path.
    pub fn is_dev_like(self) -> bool {
        matches!(
            self,
            Environment::Local | Environment::Development | Environment::Test
        )
    }
}

string_enum! {
    /// SPEC §3.1 reversibility, least to most risky.
    Reversibility, "reversibility" {
        FullyReversible = "fully_reversible",
        AutomatedRollback = "automated_rollback",
        ComplexRollback = "complex_rollback",
        Irreversible = "irreversible",
    }
}

string_enum! {
    /// SPEC §3.1 data sensitivity, least to most risky.
    DataSensitivity, "data sensitivity" {
        Public = "public",
        Test = "test",
        Internal = "internal",
        Sensitive = "sensitive",
    }
}

string_enum! {
    /// The kinds of sensitive data (each makes a task `sensitive`).
    SensitiveKind, "sensitive data kind" {
        Pii = "pii",
        Phi = "phi",
        Financial = "financial",
        Credentials = "credentials",
    }
}

string_enum! {
    /// SPEC §3.1 impact scope, least to most risky.
    ImpactScope, "impact scope" {
        SingleComponent = "single_component",
        SingleService = "single_service",
        MultiService = "multi_service",
        SystemWide = "system_wide",
        MultiRegion = "multi_region",
    }
}

string_enum! {
    /// SPEC §3.1 customer impact, least to most risky.
    CustomerImpact, "customer impact" {
        None = "none",
        Internal = "internal",
        Segment = "segment",
        All = "all",
    }
}

string_enum! {
    /// Compliance frameworks a task may name (SPEC §2).
    ComplianceFramework, "compliance framework" {
        Soc2 = "SOC2",
        Hipaa = "HIPAA",
        PciDss = "PCI_DSS",
        Gdpr = "GDPR",
        Sox = "SOX",
    }
}

string_enum! {
    /// Risky operation kinds that carry floors (SPEC §3.4).
    OperationKind, "operation kind" {
        SchemaMigration = "schema_migration",
        Infrastructure = "infrastructure",
        Security = "security",
        DataDeletion = "data_deletion",
    }
}

string_enum! {
    /// `risk_level` of an analysis: always follows the total.
    RiskLevel, "risk level" {
        VeryLow = "very_low",
        LowMedium = "low_medium",
        MediumHigh = "medium_high",
        VeryHigh = "very_high",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        for kind in PermitType::ALL {
            assert_eq!(kind.as_str().parse::<PermitType>(), Ok(*kind));
        }
        let err = "cfo".parse::<Role>().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown role `cfo`; expected one of: engineering_manager")
        );
    }

    #[test]
    fn level_rejects_out_of_range() {
        assert_eq!(Level::new(4), Some(Level::MASTER));
        assert_eq!(Level::new(5), None);
        assert!(serde_json::from_str::<Level>("7").is_err());
        assert_eq!(serde_json::from_str::<Level>("3").unwrap(), Level::ADVANCED);
    }
}
