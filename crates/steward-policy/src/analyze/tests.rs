//! Golden examples G1–G10 of SPEC §3.6 and detection edge cases.

use expect_test::{Expect, expect};

use crate::{Level, Policy, Task, analyze};

fn run(json: &str) -> crate::Analysis {
    let task = Task::from_json_str(json).unwrap_or_else(|e| panic!("bad test task: {e}"));
    analyze(&task, &Policy::builtin())
}

/// Renders the decision in one line: factors, total, level, permit, floors.
#[track_caller]
fn check(json: &str, expect: Expect) {
    let a = run(json);
    let r = &a.risk_assessment;
    let d = &a.certification_decision;
    let floors: Vec<String> = d
        .floors_applied
        .iter()
        .map(|f| format!("{:?}={}", f.rule, f.level))
        .collect();
    let warnings: Vec<&str> = a
        .safety_checks
        .warnings
        .iter()
        .map(|w| w.rule.as_str())
        .collect();
    let line = format!(
        "{} {}+{}+{}+{}+{}={} {} level={} {:?} permit={} approvers={} floors=[{}] warnings=[{}]",
        a.environment_detected,
        r.environment_risk,
        r.reversibility_risk,
        r.data_sensitivity_risk,
        r.impact_scope_risk,
        r.customer_impact_risk,
        r.total_risk_score,
        r.risk_level,
        d.certification_level_required,
        d.worker_type,
        a.approval_requirements
            .permit_type
            .map_or("none".to_owned(), |p| p.to_string()),
        a.approval_requirements.approvers_required,
        floors.join(","),
        warnings.join(","),
    );
    expect.assert_eq(&line);
}

#[test]
fn g1_development_feature_is_non_union() {
    check(
        r#"{"id":"G1","description":"implement a user-profile feature","environment":"development"}"#,
        expect![
            "development 1+0+0+1+0=2 very_low level=0 NonUnion permit=none approvers=0 floors=[] warnings=[]"
        ],
    );
}

#[test]
fn g2_production_deploy_needs_one_approver() {
    check(
        r#"{"id":"G2","description":"deploy API v2.1 to production","environment":"production",
            "services_affected":["api"],"customer_facing":true,"operations":["deploy"]}"#,
        expect![
            "production 10+3+0+3+0=16 low_medium level=2 Union permit=standard_production approvers=1 floors=[ProductionWrite=2,CustomerFacingProduction=2] warnings=[]"
        ],
    );
}

#[test]
fn g3_pii_schema_migration_is_level_4() {
    check(
        r#"{"id":"G3","description":"migrate customer PII schema","environment":"production",
            "operations":["ALTER TABLE users ADD COLUMN phone_verified boolean"],
            "services_affected":["users"],"customers_affected":50000}"#,
        expect![
            "production 10+7+10+3+10=40 very_high level=4 Union permit=master_production approvers=3 floors=[ProductionWrite=2,SensitiveData=3,RiskyOperationProduction=3] warnings=[]"
        ],
    );
}

#[test]
fn g4_readme_on_feature_branch_is_non_union() {
    check(
        r#"{"id":"G4","description":"update README.md","git_branch":"feature/docs","paths":["README.md"]}"#,
        expect![
            "development 1+0+0+1+0=2 very_low level=0 NonUnion permit=none approvers=0 floors=[] warnings=[]"
        ],
    );
}

#[test]
fn g5_new_region_is_level_4() {
    check(
        r#"{"id":"G5","description":"deploy a new region","environment":"production",
            "regions":["us-east-1","eu-west-1"],"reversibility":"irreversible","customer_impact":"all"}"#,
        expect![
            "production 10+10+0+10+10=40 very_high level=4 Union permit=master_production approvers=3 floors=[ProductionWrite=2,MultiRegionProduction=4] warnings=[]"
        ],
    );
}

#[test]
fn g6_read_production_logs_is_level_1_auto() {
    check(
        r#"{"id":"G6","description":"read production logs for debugging","read_only":true,"environment":"production"}"#,
        expect![
            "production 10+0+0+1+0=11 low_medium level=1 Union permit=read_only approvers=0 floors=[ProductionReadOnly=1] warnings=[]"
        ],
    );
    let a = run(
        r#"{"id":"G6","description":"read production logs","read_only":true,"environment":"production"}"#,
    );
    assert!(a.approval_requirements.auto_approve);
    assert!(a.certification_decision.permit_required);
}

#[test]
fn g7_patient_diagnosis_in_development_is_level_3() {
    check(
        r#"{"id":"G7","description":"backfill patient diagnosis codes","environment":"development"}"#,
        expect![
            "development 1+0+10+1+0=12 low_medium level=3 Union permit=advanced_production approvers=2 floors=[SensitiveData=3] warnings=[]"
        ],
    );
}

#[test]
fn g8_staging_deploy_is_level_1_without_permit() {
    check(
        r#"{"id":"G8","description":"deploy api","environment":"staging","services_affected":["api"],"operations":["deploy"]}"#,
        expect![
            "staging 5+3+0+3+0=11 low_medium level=1 Union permit=none approvers=0 floors=[] warnings=[]"
        ],
    );
}

#[test]
fn g9_no_environment_signal_is_unknown_with_warning() {
    check(
        r#"{"id":"G9","description":"fix typos in CONTRIBUTING.md"}"#,
        expect![
            "unknown 1+0+0+1+0=2 very_low level=0 NonUnion permit=none approvers=0 floors=[] warnings=[environment_unknown]"
        ],
    );
}

#[test]
fn g10_alter_table_without_environment_is_level_3() {
    check(
        r#"{"id":"G10","operations":["ALTER TABLE orders ADD COLUMN note text"]}"#,
        expect![
            "unknown 1+7+0+1+0=9 low_medium level=3 Union permit=advanced_production approvers=2 floors=[RiskyOperationProduction=3] warnings=[environment_unknown]"
        ],
    );
}

#[test]
fn substrings_never_match() {
    // `rename` ⊅ `name`, `healthcheck` ⊅ `health`, `tokenizer` ⊅ `token`, `author` ⊅ `auth`.
    check(
        r#"{"id":"fp","description":"rename the healthcheck tokenizer author namespace graphic tokens","environment":"development"}"#,
        expect![
            "development 1+0+0+1+0=2 very_low level=0 NonUnion permit=none approvers=0 floors=[] warnings=[]"
        ],
    );
    check(
        r#"{"id":"fp2","description":"reduce token usage of the prompt; update documentation","environment":"production","operations":["deploy"]}"#,
        expect![
            "production 10+3+0+1+0=14 low_medium level=2 Union permit=standard_production approvers=1 floors=[ProductionWrite=2] warnings=[]"
        ],
    );
}

#[test]
fn strong_signal_beats_declared_environment() {
    // A master declares development, but the target host is production.
    check(
        r#"{"id":"t","environment":"development","hostname":"db-1.prod.example.com","operations":["restart"]}"#,
        expect![
            "production 10+3+0+1+0=14 low_medium level=2 Union permit=standard_production approvers=1 floors=[ProductionWrite=2] warnings=[]"
        ],
    );
}

#[test]
fn weak_signals_vote_and_ties_go_to_the_riskier() {
    // branch (7, development) beats description (5, production)
    check(
        r#"{"id":"t","description":"add live reload","git_branch":"feature/reload"}"#,
        expect![
            "development 1+0+0+1+0=2 very_low level=0 NonUnion permit=none approvers=0 floors=[] warnings=[]"
        ],
    );
    // description production (5) vs description staging (5): tie, riskier wins
    check(
        r#"{"id":"t","description":"compare staging and production configs"}"#,
        expect![
            "production 10+3+0+1+0=14 low_medium level=2 Union permit=standard_production approvers=1 floors=[ProductionWrite=2] warnings=[]"
        ],
    );
    check(
        r#"{"id":"t","description":"tidy","git_branch":"release/2.4"}"#,
        expect![
            "production 10+3+0+1+0=14 low_medium level=2 Union permit=standard_production approvers=1 floors=[ProductionWrite=2] warnings=[]"
        ],
    );
}

#[test]
fn destructive_production_work_routes_to_destructive_permit() {
    check(
        r#"{"id":"t","environment":"production","operations":["TRUNCATE TABLE sessions"],"services_affected":["auth"]}"#,
        expect![
            "production 10+10+0+3+0=23 medium_high level=3 Union permit=destructive approvers=3 floors=[ProductionWrite=2,RiskyOperationProduction=3] warnings=[]"
        ],
    );
    // A DELETE by primary key is data deletion, but not a mass deletion.
    let a = run(
        r#"{"id":"t","environment":"production","operations":["DELETE FROM users WHERE id = 42"]}"#,
    );
    assert!(!a.signals.destructive);
    assert_eq!(a.level(), Level::ADVANCED);
    let a = run(
        r#"{"id":"t","environment":"production","operations":["DELETE FROM users WHERE created_at < now()"]}"#,
    );
    assert!(a.signals.destructive);
}

#[test]
fn declared_categories_never_lower_detection() {
    check(
        r#"{"id":"t","environment":"production","operations":["DROP TABLE audit_old"],"reversibility":"fully_reversible"}"#,
        expect![
            "production 10+10+0+1+0=21 medium_high level=3 Union permit=destructive approvers=3 floors=[ProductionWrite=2,RiskyOperationProduction=3] warnings=[declared_category_raised]"
        ],
    );
}

#[test]
fn read_only_flag_contradicted_by_a_write_is_ignored() {
    check(
        r#"{"id":"t","environment":"production","read_only":true,"operations":["kubectl get pods","deploy"]}"#,
        expect![
            "production 10+3+0+1+0=14 low_medium level=2 Union permit=standard_production approvers=1 floors=[ProductionWrite=2] warnings=[read_only_contradicted]"
        ],
    );
    check(
        r#"{"id":"t","environment":"production","operations":["kubectl get pods","SELECT count(*) FROM orders"]}"#,
        expect![
            "production 10+0+0+1+0=11 low_medium level=1 Union permit=read_only approvers=0 floors=[ProductionReadOnly=1] warnings=[]"
        ],
    );
}

#[test]
fn compliance_overlays_add_distinct_approvers() {
    let a = run(
        r#"{"id":"t","environment":"production","operations":["deploy"],"compliance_frameworks":["HIPAA"]}"#,
    );
    let ap = &a.approval_requirements;
    assert_eq!(a.level(), Level::ADVANCED);
    assert_eq!(ap.approvers_required, 3);
    assert_eq!(
        ap.required_roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>(),
        ["engineering_director", "compliance_officer"]
    );
    let a = run(
        r#"{"id":"t","environment":"production","operations":["update firewall rules"],"compliance_frameworks":["GDPR"]}"#,
    );
    let ap = &a.approval_requirements;
    assert!(
        ap.required_roles
            .iter()
            .any(|r| r.as_str() == "security_lead")
    );
    assert!(
        ap.evidence_required
            .iter()
            .any(|e| e.as_str() == "data_protection_impact_assessment")
    );
    let a = run(
        r#"{"id":"t","environment":"development","description":"x","compliance_frameworks":["SOX"]}"#,
    );
    assert_eq!(a.level(), Level::MASTER);
    assert!(a.approval_requirements.change_advisory_board_required);
}

#[test]
fn production_floors_apply() {
    check(
        r#"{"id":"t","environment":"production","operations":["deploy"],"services_affected":["a","b","c"]}"#,
        expect![
            "production 10+3+0+6+0=19 low_medium level=3 Union permit=advanced_production approvers=2 floors=[ProductionWrite=2,MultiServiceProduction=3] warnings=[]"
        ],
    );
    check(
        r#"{"id":"t","environment":"production","operations":["restart"],"services_affected":["primary database"]}"#,
        expect![
            "production 10+3+0+8+0=21 medium_high level=3 Union permit=advanced_production approvers=2 floors=[ProductionWrite=2,SystemWideProduction=3] warnings=[]"
        ],
    );
    check(
        r#"{"id":"t","environment":"production","read_only":true,"regions":["a","b"]}"#,
        expect![
            "production 10+0+0+10+0=20 low_medium level=4 Union permit=master_production approvers=3 floors=[ProductionReadOnly=1,MultiRegionProduction=4] warnings=[]"
        ],
    );
}

#[test]
fn staging_risky_operations_need_level_2() {
    check(
        r#"{"id":"t","environment":"staging","operations":["terraform apply"]}"#,
        expect![
            "staging 5+3+0+1+0=9 low_medium level=2 Union permit=standard_production approvers=1 floors=[RiskyOperationStaging=2] warnings=[]"
        ],
    );
}

#[test]
fn tokens_beyond_allocation_warn() {
    let a =
        run(r#"{"id":"t","environment":"development","description":"x","estimated_tokens":20000}"#);
    assert_eq!(
        a.safety_checks.warnings[0].rule,
        "extended_tokens_need_justification"
    );
    let a =
        run(r#"{"id":"t","environment":"development","description":"x","estimated_tokens":90000}"#);
    assert_eq!(a.safety_checks.warnings[0].rule, "tokens_exceed_allocation");
}

#[test]
fn evidence_names_its_signal() {
    let a = run(
        r#"{"id":"t","environment_variables":{"NODE_ENV":"production"},"description":"charge credit_card","operations":["deploy"]}"#,
    );
    let f = &a.risk_assessment.factors;
    assert_eq!(f[0].evidence, ["environment_variables.NODE_ENV=production"]);
    assert_eq!(f[2].evidence, ["financial: description: `credit card`"]);
    assert_eq!(
        a.risk_assessment.total_risk_score,
        f.iter().map(|f| f.points).sum::<u8>()
    );
}

/// `names_sensitive_data` agrees with what `analyze` concludes from `data_types` alone.
#[test]
fn names_sensitive_data_agrees_with_analyze() {
    let policy = Policy::builtin();
    let samples = [
        "pii",
        "PHI",
        "customer emails",
        "credit card numbers",
        "credentials",
        "api keys",
        "metrics",
        "logs",
        "public docs",
        "internal",
        "ssn",
        "patient records",
        "",
        "names of services",
        "password hashes",
        "order totals",
    ];
    let mut sensitive = 0;
    for (i, a) in samples.iter().enumerate() {
        for b in &samples[i..] {
            let data = vec![(*a).to_owned(), (*b).to_owned()];
            let task = Task {
                data_types: data.clone(),
                ..Task::default()
            };
            let by_analysis = analyze(&task, &policy).signals.data_sensitivity
                == crate::DataSensitivity::Sensitive;
            assert_eq!(
                crate::names_sensitive_data(&data, &policy),
                by_analysis,
                "{data:?}"
            );
            sensitive += usize::from(by_analysis);
        }
    }
    // Both answers occur, so the comparison means something.
    assert!(sensitive > 0 && sensitive < samples.len() * (samples.len() + 1) / 2);
}
