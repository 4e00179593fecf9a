//! Validity windows and renewal rules of every built-in permit type.

use expect_test::{Expect, expect};
use steward_policy::Policy;

use super::*;

fn spec(kind: PermitType) -> PermitTypeSpec {
    Policy::builtin().permit_type(kind).clone()
}

#[track_caller]
fn check_validity(kind: PermitType, requested: Option<f64>, expect: Expect) {
    let out = match validity(&spec(kind), requested) {
        Ok(hours) => format!("{hours} h"),
        Err(e) => e.to_string(),
    };
    expect.assert_eq(&out);
}

#[test]
fn validity_defaults_and_maxima() {
    check_validity(PermitType::ReadOnly, None, expect!["168 h"]);
    check_validity(PermitType::StandardProduction, None, expect!["24 h"]);
    check_validity(PermitType::AdvancedProduction, Some(48.0), expect!["48 h"]);
    check_validity(
        PermitType::AdvancedProduction,
        Some(48.5),
        expect!["an `advanced_production` permit is valid for at most 48 h, 48.5 h requested"],
    );
    check_validity(PermitType::MasterProduction, None, expect!["4 h"]);
    check_validity(PermitType::Destructive, Some(0.5), expect!["0.5 h"]);
    check_validity(PermitType::Emergency, None, expect!["1 h"]);
    check_validity(
        PermitType::StandardProduction,
        Some(0.0),
        expect!["a permit window must be a positive number of hours, got 0"],
    );
    check_validity(
        PermitType::StandardProduction,
        Some(f64::NAN),
        expect!["a permit window must be a positive number of hours, got NaN"],
    );
}

#[track_caller]
fn check_renewal_of(kind: PermitType, renewals: u32, total: f64, extra: f64, expect: Expect) {
    let out = match check_renewal(&spec(kind), renewals, total, extra) {
        Ok(approval) => format!("{approval:?}"),
        Err(e) => e.to_string(),
    };
    expect.assert_eq(&out);
}

#[test]
fn renewal_per_permit_type() {
    check_renewal_of(PermitType::ReadOnly, 0, 168.0, 168.0, expect!["Automatic"]);
    check_renewal_of(
        PermitType::ReadOnly,
        5,
        300.0,
        10.0,
        expect!["a `read_only` permit may be renewed at most 5 times: request a new permit"],
    );
    check_renewal_of(
        PermitType::ReadOnly,
        3,
        672.0,
        168.0,
        expect![
            "a `read_only` permit may run at most 720 h in total, renewing would make it 840 h"
        ],
    );
    check_renewal_of(PermitType::ReadOnly, 3, 552.0, 168.0, expect!["Automatic"]);
    check_renewal_of(
        PermitType::StandardProduction,
        7,
        168.0,
        24.0,
        expect!["OneApproval"],
    );
    check_renewal_of(
        PermitType::AdvancedProduction,
        1,
        8.0,
        8.0,
        expect!["SameQuorum"],
    );
    check_renewal_of(
        PermitType::AdvancedProduction,
        1,
        8.0,
        49.0,
        expect!["an `advanced_production` permit is valid for at most 48 h, 49 h requested"],
    );
    check_renewal_of(
        PermitType::MasterProduction,
        0,
        4.0,
        1.0,
        expect!["a `master_production` permit cannot be renewed: request a new permit"],
    );
    check_renewal_of(
        PermitType::Destructive,
        0,
        2.0,
        1.0,
        expect!["a `destructive` permit cannot be renewed: request a new permit"],
    );
    check_renewal_of(
        PermitType::Emergency,
        2,
        3.0,
        1.0,
        expect!["IncidentCommander"],
    );
    check_renewal_of(
        PermitType::Emergency,
        3,
        3.0,
        0.5,
        expect!["an `emergency` permit may be renewed at most 3 times: request a new permit"],
    );
    check_renewal_of(
        PermitType::Emergency,
        1,
        3.5,
        1.0,
        expect!["an `emergency` permit may run at most 4 h in total, renewing would make it 4.5 h"],
    );
    check_renewal_of(
        PermitType::StandardProduction,
        0,
        24.0,
        -1.0,
        expect!["a permit window must be a positive number of hours, got -1"],
    );
}

#[test]
fn single_use_types_never_renew_even_if_the_policy_says_so() {
    let mut destructive = spec(PermitType::Destructive);
    destructive.renewal = Renewal::OneApproval;
    assert_eq!(
        check_renewal(&destructive, 0, 2.0, 1.0),
        Err(WindowError::NotRenewable {
            kind: PermitType::Destructive
        })
    );
}
