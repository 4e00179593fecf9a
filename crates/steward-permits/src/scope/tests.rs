//! Which scope fields a permit request must name.

use proptest::prelude::*;

use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn level_2_and_up_name_operations_and_services() {
    let ops = strings(&["deploy api"]);
    let services = strings(&["api"]);
    for level in [Level::STANDARD, Level::ADVANCED, Level::MASTER] {
        assert_eq!(missing_scope(level, &ops, &services), []);
        assert_eq!(
            missing_scope(level, &[], &services),
            [ScopeField::Operations]
        );
        assert_eq!(
            missing_scope(level, &ops, &[]),
            [ScopeField::ServicesAffected]
        );
        assert_eq!(
            missing_scope(level, &strings(&[" ", ""]), &strings(&["\t"])),
            [ScopeField::Operations, ScopeField::ServicesAffected]
        );
    }
}

#[test]
fn below_level_2_nothing_is_required() {
    assert_eq!(missing_scope(Level::BASIC, &[], &[]), []);
    assert_eq!(missing_scope(Level::NON_UNION, &[], &[]), []);
}

proptest! {
    // Naming one more entry never makes a request miss more.
    #[test]
    fn adding_an_entry_never_adds_a_missing_field(
        level in 0u8..=4,
        ops in proptest::collection::vec("[a-z ]{0,6}", 0..3),
        services in proptest::collection::vec("[a-z ]{0,6}", 0..3),
        extra in "[a-z ]{0,6}",
    ) {
        let level = Level::new(level).unwrap();
        let before = missing_scope(level, &ops, &services);
        let mut more = ops.clone();
        more.push(extra.clone());
        prop_assert!(missing_scope(level, &more, &services).len() <= before.len());
        let mut more = services.clone();
        more.push(extra);
        prop_assert!(missing_scope(level, &ops, &more).len() <= before.len());
    }
}
