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
