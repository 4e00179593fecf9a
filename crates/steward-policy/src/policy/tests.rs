//! Policy validation: every problem is found and explained at once.

use super::*;

fn with_edit(find: &str, replace: &str) -> Result<Policy, PolicyError> {
    assert!(
        DEFAULT_POLICY_TOML.contains(find),
        "test edit target `{find}` not found"
    );
    Policy::from_toml(&DEFAULT_POLICY_TOML.replacen(find, replace, 1))
}

fn problems(result: Result<Policy, PolicyError>) -> Vec<String> {
    match result {
        Err(PolicyError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        Err(other) => vec![other.to_string()],
        Ok(_) => Vec::new(),
    }
}

#[test]
fn builtin_policy_is_valid_and_versioned() {
    let policy = Policy::builtin();
    assert!(policy.version().starts_with("spec-2026.11+sha256:"));
    assert_eq!(policy.version().len(), "spec-2026.11+sha256:".len() + 16);
    assert_eq!(policy.level(Level::MASTER).approvers_required, 3);
    assert_eq!(
        policy
            .permit_type(PermitType::Destructive)
            .required_roles
            .len(),
        3
    );
}

#[test]
fn version_ignores_formatting_but_not_content() {
    let reformatted = DEFAULT_POLICY_TOML.replace("# Bands", "#   Bands, reformatted");
    let same = Policy::from_toml(&reformatted).unwrap();
    assert_eq!(same.version(), Policy::builtin().version());
    let changed = with_edit("staging = 5", "staging = 6").unwrap();
    assert_ne!(changed.version(), Policy::builtin().version());
}

#[test]
fn gapped_and_overlapping_bands_are_explained() {
    assert_eq!(
        problems(with_edit("min = 6\nmax = 20", "min = 8\nmax = 20")),
        vec!["`bands[1]`: gap: totals 6 to 7 fall in no band"]
    );
    assert_eq!(
        problems(with_edit("min = 21\nmax = 35", "min = 18\nmax = 35")),
        vec!["`bands[2]`: overlap: totals 18 to 20 fall in two bands"]
    );
    assert_eq!(
        problems(with_edit("min = 36\nmax = 50", "min = 36\nmax = 45")),
        vec!["`bands`: gap: totals 46 to 50 fall in no band"]
    );
}

#[test]
fn unknown_roles_points_and_empty_vocabularies_are_explained() {
    assert_eq!(
        problems(with_edit(
            r#"approver_roles = ["engineering_manager", "tech_lead", "senior_engineer"]"#,
            r#"approver_roles = ["engineering_manager", "techlead", "senior_engineer"]"#,
        )),
        vec![
            "`levels.2.approver_roles[1]`: unknown role `techlead`; expected one of: engineering_manager, tech_lead, senior_engineer, team_lead, engineering_director, security_lead, architecture_lead, vp_engineering, cto, ciso, coo, incident_commander, on_call_lead, data_lead, compliance_officer, admin, auditor, master, worker"
        ]
    );
    assert_eq!(
        problems(with_edit("production = 10", "production = 12")),
        vec!["`factors.environment.production`: factor points must be 0 to 10, got 12"]
    );
    assert_eq!(
        problems(with_edit(
            r#"public = ["public", "public data", "open data"]"#,
            "public = []"
        )),
        vec!["`detection.data.public`: empty vocabulary: nothing could ever match"]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = DEFAULT_POLICY_TOML
        .replacen("production = 10", "production = -1", 1)
        .replacen("min = 6\nmax = 20", "min = 7\nmax = 20", 1)
        .replacen(r#"["engineering_director"]"#, r#"["cfo"]"#, 1);
    let found = problems(Policy::from_toml(&text));
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0]
            .starts_with("`factors.environment.production`: factor points must be 0 to 10, got -1")
    );
    assert_eq!(found[1], "`bands[1]`: gap: totals 6 to 6 fall in no band");
    assert!(found[2].starts_with("`levels.3.required_roles[0]`: unknown role `cfo`"));
}

#[test]
fn syntax_errors_are_one_line() {
    let err = Policy::from_toml("version = ").unwrap_err().to_string();
    assert!(err.starts_with("policy is not valid TOML:"), "{err}");
    assert!(!err.contains('\n'));
    let err = Policy::from_toml(&DEFAULT_POLICY_TOML.replacen("[floors]", "[floors]\nfoo = 1", 1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `foo`"), "{err}");
}
