//! Completed-operation reports: the fields a worker must report when the operation a
//! permit covers completes, by the permit's level (cumulative; from the upstream
//! permit-workflow audit requirements). Steward records what it already knows itself
//! (worker, level, approvers, timestamps), so only what the worker alone knows is asked.
//! A report that lacks a required field is refused: no gaps in the audit trail.

use serde_json::Value;
use steward_policy::Level;

use crate::state::Outcome;

/// Fields every report of a level-1 (or higher) permit carries.
pub const LEVEL_1_FIELDS: &[&str] = &["operation_type", "resources_accessed", "duration_seconds"];
/// Added at level 2.
pub const LEVEL_2_FIELDS: &[&str] = &[
    "input_parameters",
    "output_results",
    "resources_modified",
    "error_conditions",
];
/// Added at level 3.
pub const LEVEL_3_FIELDS: &[&str] = &[
    "data_accessed",
    "data_modified",
    "security_context",
    "compliance_tags",
    "rollback_capability",
    "constraint_validations",
];
/// Added at level 4.
pub const LEVEL_4_FIELDS: &[&str] = &[
    "systems_affected",
    "change_justification",
    "risk_assessment",
    "impact_analysis",
    "rollback_tested",
    "stakeholder_notifications",
];
/// The rollback record a rolled-back operation at level ≥ 2 reports under `rollback`.
pub const ROLLBACK_FIELDS: &[&str] = &[
    "trigger_reason",
    "initiated_by",
    "initiated_at",
    "completed_at",
    "duration_seconds",
    "phases_executed",
    "verification_results",
    "stakeholders_notified",
    "incident_ticket_reference",
];

/// The fields `report` lacks for a permit of `level` that ended with `outcome`, in the
/// order above (rollback fields as `rollback.<field>`). A field is present when its key
/// exists with a non-null value; an empty list is a valid answer ("nothing modified").
pub fn missing_report_fields(level: Level, outcome: Outcome, report: &Value) -> Vec<String> {
    let tiers = [
        LEVEL_1_FIELDS,
        LEVEL_2_FIELDS,
        LEVEL_3_FIELDS,
        LEVEL_4_FIELDS,
    ];
    let present = |obj: &Value, key: &str| obj.get(key).is_some_and(|v| !v.is_null());
    let mut missing: Vec<String> = tiers
        .iter()
        .take(usize::from(level.value()))
        .flat_map(|tier| tier.iter())
        .filter(|field| !present(report, field))
        .map(|field| (*field).to_owned())
        .collect();
    let rolled_back = matches!(outcome, Outcome::RolledBack | Outcome::RollbackFailed);
    if rolled_back && level >= Level::STANDARD {
        let rollback = report.get("rollback").unwrap_or(&Value::Null);
        missing.extend(
            ROLLBACK_FIELDS
                .iter()
                .filter(|field| !present(rollback, field))
                .map(|field| format!("rollback.{field}")),
        );
    }
    missing
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn required_fields_grow_with_the_level() {
        let empty = json!({});
        assert!(missing_report_fields(Level::NON_UNION, Outcome::Success, &empty).is_empty());
        assert_eq!(
            missing_report_fields(Level::BASIC, Outcome::Success, &empty),
            ["operation_type", "resources_accessed", "duration_seconds"]
        );
        assert_eq!(
            missing_report_fields(Level::STANDARD, Outcome::Success, &empty).len(),
            7
        );
        assert_eq!(
            missing_report_fields(Level::ADVANCED, Outcome::Success, &empty).len(),
            13
        );
        assert_eq!(
            missing_report_fields(Level::MASTER, Outcome::Success, &empty).len(),
            19
        );
        // Not an object at all: everything is missing.
        assert_eq!(
            missing_report_fields(Level::BASIC, Outcome::Success, &json!("done")).len(),
            3
        );
    }

    #[test]
    fn present_means_non_null_and_empty_lists_count() {
        let report =
            json!({"operation_type": "deploy", "resources_accessed": [], "duration_seconds": null});
        assert_eq!(
            missing_report_fields(Level::BASIC, Outcome::Success, &report),
            ["duration_seconds"]
        );
    }

    #[test]
    fn a_rollback_reports_its_record_at_level_2_and_above() {
        let mut report = json!({"operation_type": "deploy", "resources_accessed": ["api"],
            "duration_seconds": 30, "input_parameters": {}, "output_results": {},
            "resources_modified": ["api"], "error_conditions": ["error rate 4%"]});
        assert!(missing_report_fields(Level::STANDARD, Outcome::Success, &report).is_empty());
        let missing = missing_report_fields(Level::STANDARD, Outcome::RolledBack, &report);
        assert_eq!(missing.len(), 9);
        assert_eq!(missing[0], "rollback.trigger_reason");
        report["rollback"] = json!({"trigger_reason": "error rate", "initiated_by": "monitor",
            "initiated_at": 1, "completed_at": 2, "duration_seconds": 60, "phases_executed": [],
            "verification_results": [], "stakeholders_notified": [], "incident_ticket_reference": "INC-1"});
        assert!(
            missing_report_fields(Level::STANDARD, Outcome::RollbackFailed, &report).is_empty()
        );
    }
}
