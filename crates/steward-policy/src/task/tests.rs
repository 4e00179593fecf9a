//! Task parsing: every refusal names the JSON path of the bad value.

use expect_test::{Expect, expect};

use super::*;

#[track_caller]
fn check_err(input: &[u8], expect: Expect) {
    let err = Task::from_slice(input).unwrap_err();
    expect.assert_eq(&err.to_string());
}

#[test]
fn unknown_field_is_named() {
    check_err(
        br#"{"id":"t","enviroment":"production"}"#,
        expect![
            "`enviroment`: unknown field `enviroment`, expected one of `id`, `description`, `environment`, `environment_variables`, `hostname`, `kubernetes_namespace`, `git_branch`, `paths`, `production`, `critical`, `customer_facing`, `read_only`, `operations`, `data_types`, `services_affected`, `regions`, `customers_affected`, `customer_impact`, `impact_scope`, `reversibility`, `data_sensitivity`, `compliance_frameworks`, `estimated_tokens`, `estimated_minutes` at line 1 column 22"
        ],
    );
}

#[test]
fn wrong_type_names_the_path() {
    check_err(
        br#"{"id":"t","operations":["deploy", 3]}"#,
        expect![
            "`operations[1]`: invalid type: integer `3`, expected a string at line 1 column 35"
        ],
    );
    check_err(
        br#"{"id":"t","environment_variables":{"NODE_ENV":true}}"#,
        expect![
            "`environment_variables.NODE_ENV`: invalid type: boolean `true`, expected a string at line 1 column 50"
        ],
    );
}

#[test]
fn unknown_enum_value_is_named() {
    check_err(
        br#"{"id":"t","environment":"prodution"}"#,
        expect![
            "`environment`: unknown variant `prodution`, expected one of `local`, `development`, `test`, `unknown`, `staging`, `production` at line 1 column 35"
        ],
    );
    check_err(
        br#"{"id":"t","compliance_frameworks":["SOC2","HIPPA"]}"#,
        expect![
            "`compliance_frameworks[1]`: unknown variant `HIPPA`, expected one of `SOC2`, `HIPAA`, `PCI_DSS`, `GDPR`, `SOX` at line 1 column 49"
        ],
    );
}

#[test]
fn negative_count_is_refused() {
    check_err(
        br#"{"id":"t","customers_affected":-5}"#,
        expect![
            "`customers_affected`: invalid value: integer `-5`, expected u64 at line 1 column 33"
        ],
    );
}

#[test]
fn non_object_and_empty_inputs_are_refused() {
    check_err(
        b"[1]",
        expect!["a task must be a JSON object, got an array"],
    );
    check_err(
        b"\"deploy\"",
        expect!["a task must be a JSON object, got a string"],
    );
    check_err(
        b"{}",
        expect!["a task needs at least one of `id`, `description`, `operations`"],
    );
    check_err(
        b"{\"id\":",
        expect!["malformed JSON: EOF while parsing a value at line 1 column 6"],
    );
    check_err(
        b"{\"id\":\"\xff\"}",
        expect!["input is not valid UTF-8 (bad byte at offset 7)"],
    );
}

#[test]
fn a_full_task_parses() {
    let task = Task::from_slice(
        br#"{"id":"t1","environment":"production","operations":["deploy"],"customers_affected":12,
            "compliance_frameworks":["PCI_DSS"],"environment_variables":{"NODE_ENV":"production"}}"#,
    )
    .unwrap();
    assert_eq!(task.id.as_deref(), Some("t1"));
    assert_eq!(task.environment, Some(Environment::Production));
    assert_eq!(task.customers_affected, Some(12));
    assert_eq!(
        task.compliance_frameworks,
        vec![ComplianceFramework::PciDss]
    );
    assert_eq!(task.environment_variables["NODE_ENV"], "production");
}
