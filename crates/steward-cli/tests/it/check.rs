//! `steward check` end to end: the output contract, batch modes and bad input.

use crate::support::steward;

#[test]
fn example_task_prints_the_fixed_contract() {
    let run = steward(&["check", "examples/pii-migration.json"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["task_id"], "task-pii-schema");
    assert_eq!(v["environment_detected"], "production");
    assert_eq!(v["risk_assessment"]["total_risk_score"], 40);
    assert_eq!(v["risk_assessment"]["risk_level"], "very_high");
    assert_eq!(v["certification_decision"]["worker_type"], "union");
    assert_eq!(
        v["certification_decision"]["certification_level_required"],
        4
    );
    assert_eq!(v["certification_decision"]["permit_required"], true);
    assert_eq!(v["approval_requirements"]["approvers_required"], 3);
    assert_eq!(
        v["approval_requirements"]["change_advisory_board_required"],
        true
    );
    assert_eq!(
        v["approval_requirements"]["permit_type"],
        "master_production"
    );
    assert_eq!(v["resource_limits"]["token_allocation"], 30000);
    assert!(
        v["safety_checks"]["hard_blocks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        v["policy_version"]
            .as_str()
            .unwrap()
            .starts_with("spec-2026.11+sha256:")
    );
}

#[test]
fn json_flag_is_a_synonym_and_text_is_a_summary() {
    let a = steward(&["check", "--json", "examples/deploy-api.json"], b"");
    let b = steward(&["check", "examples/deploy-api.json"], b"");
    assert_eq!(a.code, 0);
    assert_eq!(a.stdout, b.stdout);
    let text = steward(
        &["check", "--format", "text", "examples/deploy-api.json"],
        b"",
    );
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.starts_with(
            "task-deploy-api-v2.1: level 2 (union), permit standard_production: 1 approver"
        ),
        "{}",
        text.stdout
    );
}

#[test]
fn stdin_array_in_array_out() {
    let run = steward(
        &["check", "-"],
        br#"[{"id":"a","environment":"development","description":"x"},{"id":"b","environment":"production","operations":["deploy"]}]"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    let levels: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["certification_decision"]["certification_level_required"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(levels, [0, 2]);
}

#[test]
fn jsonl_streams_one_analysis_per_line() {
    let run = steward(&["check", "--jsonl", "examples/backlog.jsonl"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    assert_eq!(lines[0]["task_id"], "b1");
    assert_eq!(
        lines[7]["approval_requirements"]["permit_type"],
        "destructive"
    );
}

#[test]
fn jsonl_goes_on_past_bad_lines_with_an_error_record_each() {
    let input =
        b"{\"id\":\"ok\"}\n{\"id\":\"bad\",\"regions\":\"eu\"}\n{\"id\":\"ok2\"}\n{\"id\": oops}\n";
    let run = steward(&["check", "--jsonl"], input);
    assert_eq!(run.code, 2, "exit 2 at the end when a line failed");
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "one record per input line: {}", run.stdout);
    assert_eq!(lines[0]["task_id"], "ok");
    assert_eq!(lines[1]["line"], 2);
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("`regions`: invalid type"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2]["task_id"], "ok2", "the run went on past line 2");
    assert_eq!(lines[3]["line"], 4);
    let error = lines[3]["error"].as_str().unwrap();
    assert!(error.starts_with("malformed JSON"), "{error}");
    assert!(
        !error.contains("line 1") && !error.contains("column"),
        "names the file line, not a position inside the line's JSON: {error}"
    );
    assert!(
        run.stderr.contains("line 2: `regions`: invalid type")
            && run.stderr.contains("2 of 4 lines were not valid tasks"),
        "{}",
        run.stderr
    );

    // The old flag is still accepted and changes nothing.
    let again = steward(&["check", "--jsonl", "--keep-going"], input);
    assert_eq!((again.code, again.stdout), (2, run.stdout));
}

#[test]
fn bad_input_exits_2_naming_the_field() {
    let cases: &[(&[u8], &str)] = &[
        (
            br#"{"id":"t","enviroment":"production"}"#,
            "unknown field `enviroment`",
        ),
        (
            br#"{"id":"t","operations":"deploy"}"#,
            "`operations`: invalid type: string",
        ),
        (
            br#"{"id":"t","environment":"prod"}"#,
            "`environment`: unknown variant `prod`",
        ),
        (
            br#"{"id":"t","customers_affected":-1}"#,
            "`customers_affected`: invalid value: integer `-1`",
        ),
        (
            br#"{"id":"t","compliance_frameworks":["HIPPA"]}"#,
            "`compliance_frameworks[0]`: unknown variant `HIPPA`",
        ),
        (
            br#"{"id":"t","environment_variables":{"A":1}}"#,
            "`environment_variables.A`: invalid type",
        ),
        (b"{\"id\":\"\xc3\x28\"}", "not valid UTF-8"),
        (b"42", "a task must be a JSON object, got a number"),
        (b"{\"id\": ", "malformed JSON"),
        (b"", "malformed JSON"),
        (b"{}", "at least one of `id`, `description`, `operations`"),
        (
            br#"[{"id":"a"},{"id":"b","read_only":"yes"}]"#,
            "`[1].read_only`: invalid type",
        ),
    ];
    for (input, needle) in cases {
        steward(&["check"], input).assert_invalid(needle);
    }
}

#[test]
fn missing_file_and_bad_flags_exit_2() {
    steward(&["check", "no-such-task.json"], b"").assert_invalid("cannot read `no-such-task.json`");
    let run = steward(&["check", "--format", "yaml"], b"{}");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("invalid value 'yaml'"),
        "{}",
        run.stderr
    );
    let run = steward(&["check", "--worker-level", "7"], b"{}");
    assert_eq!(run.code, 2);
}

#[test]
fn worker_flags_add_hard_blocks() {
    let run = steward(
        &["check", "--worker-level", "0", "examples/deploy-api.json"],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rules: Vec<String> = run.json()["safety_checks"]["hard_blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["rule"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        rules,
        [
            "non_union_outside_development",
            "insufficient_certification"
        ]
    );
    let run = steward(
        &[
            "check",
            "--worker-level",
            "3",
            "--worker-status",
            "suspended",
            "examples/deploy-api.json",
        ],
        b"",
    );
    assert_eq!(
        run.json()["safety_checks"]["hard_blocks"][0]["rule"],
        "certification_suspended"
    );
    steward(
        &["check", "--worker-level", "3", "--worker-status", "asleep"],
        br#"{"id":"x"}"#,
    )
    .assert_invalid("unknown certification status `asleep`");
}
