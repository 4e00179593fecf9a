//! Missing evidence, in the order the requirements list it.

use expect_test::expect;

use super::*;

#[test]
fn lists_what_is_missing_in_required_order() {
    let required = [
        Evidence::RollbackPlan,
        Evidence::TestResults,
        Evidence::CodeReview,
        Evidence::RollbackTested,
        Evidence::SecurityReview,
        Evidence::RollbackPlan,
    ];
    let provided: BTreeSet<Evidence> = [Evidence::TestResults, Evidence::ArchitectureReview]
        .into_iter()
        .collect();
    expect![[r#"
        [
            RollbackPlan,
            CodeReview,
            RollbackTested,
            SecurityReview,
        ]
    "#]]
    .assert_debug_eq(&missing_evidence(&required, &provided));
}

#[test]
fn nothing_missing_when_everything_is_provided() {
    let required = [Evidence::RollbackPlan, Evidence::TestResults];
    let provided: BTreeSet<Evidence> = required.into_iter().collect();
    assert_eq!(
        missing_evidence(&required, &provided),
        Vec::<Evidence>::new()
    );
    assert_eq!(
        missing_evidence(&[], &BTreeSet::new()),
        Vec::<Evidence>::new()
    );
}

#[track_caller]
fn check_provided(value: serde_json::Value, provided: bool) {
    assert_eq!(is_provided(&value), provided, "{value}");
}

#[test]
fn empty_evidence_does_not_count() {
    use serde_json::json;
    for (value, provided) in [
        (json!(null), false),
        (json!(false), false),
        (json!("  "), false),
        (json!([]), false),
        (json!({}), false),
        (json!(true), true),
        (json!(0), true),
        (json!("https://ci.example.com/run/42"), true),
        (json!(["review-1"]), true),
        (json!({"steps": ["revert"]}), true),
    ] {
        check_provided(value, provided);
    }
    let evidence: BTreeMap<Evidence, serde_json::Value> = [
        (Evidence::TestResults, json!("ci run 42")),
        (Evidence::CodeReview, json!("")),
        (Evidence::RollbackPlan, json!(null)),
    ]
    .into_iter()
    .collect();
    expect![[r#"
        {
            TestResults,
        }
    "#]]
    .assert_debug_eq(&provided_evidence(&evidence));
}
