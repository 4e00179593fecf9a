//! `steward check` end to end: the output contract, batch modes and bad input.

use crate::support::{scratch_dir, steward, steward_env};

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

#[test]
fn duplicate_keys_at_any_depth_exit_2_naming_the_key() {
    let cases: &[(&[&str], &[u8], &str)] = &[
        (
            &["check"],
            br#"{"id":"t","id":"u"}"#,
            "`id`: duplicate key `id`",
        ),
        (
            &["check"],
            br#"{"id":"t","environment_variables":{"ENV":"dev","ENV":"production"}}"#,
            "`environment_variables.ENV`: duplicate key `ENV`",
        ),
        (
            &["check"],
            br#"[{"id":"a"},{"id":"b","operations":["read"],"operations":["drop"]}]"#,
            "`[1].operations`: duplicate key `operations`",
        ),
        (
            &["check", "--jsonl"],
            b"{\"id\":\"a\"}\n{\"id\":\"b\",\"regions\":[],\"regions\":[\"eu\"]}\n",
            "duplicate key `regions`",
        ),
    ];
    for (args, input, needle) in cases {
        let mut args = args.to_vec();
        args.push("-");
        let run = steward(&args, input);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(needle),
            "{args:?}: `{needle}` not in {}",
            run.stderr
        );
    }
}

#[test]
fn permit_and_emergency_files_with_duplicate_keys_exit_2_before_any_request() {
    let dir = scratch_dir("dup-files");
    std::fs::create_dir_all(&dir).expect("dir");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8 path").to_owned()
    };
    let good_task = write("task.json", r#"{"id":"t","operations":["deploy"]}"#);
    let dup_task = write(
        "dup-task.json",
        r#"{"id":"t","operations":["read"],"operations":["drop table"]}"#,
    );
    let dup_evidence = write(
        "dup-evidence.json",
        r#"{"rollback_plan":{"steps":["a"],"steps":["b"]}}"#,
    );
    let dup_plan = write("dup-plan.json", r#"{"steps":[{"run":"a","run":"b"}]}"#);
    let dup_report = write("dup-report.json", r#"{"changes":1,"changes":2}"#);
    let evidence_at = format!("rollback_plan=@{dup_plan}");
    // No server listens on port 1: the files are refused before any request.
    let env = [
        ("STEWARD_SERVER", "http://127.0.0.1:1"),
        ("STEWARD_TOKEN", "stw_not_used"),
    ];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["permit", "request", "--task", &dup_task, "--worker", "w"],
            "`operations`: duplicate key `operations`",
        ),
        (
            vec![
                "permit",
                "request",
                "--task",
                &good_task,
                "--worker",
                "w",
                "--evidence-file",
                &dup_evidence,
            ],
            "`rollback_plan.steps`: duplicate key `steps`",
        ),
        (
            vec![
                "permit",
                "request",
                "--task",
                &good_task,
                "--worker",
                "w",
                "--evidence",
                &evidence_at,
            ],
            "`steps[0].run`: duplicate key `run`",
        ),
        (
            vec![
                "permit",
                "complete",
                "p",
                "--outcome",
                "success",
                "--report-file",
                &dup_report,
            ],
            "`changes`: duplicate key `changes`",
        ),
        (
            vec![
                "emergency",
                "declare",
                "--incident",
                "INC-1",
                "--worker",
                "w",
                "--scope",
                &dup_task,
                "--reason",
                "r",
                "--minutes",
                "30",
            ],
            "duplicate key `operations`",
        ),
    ];
    for (args, needle) in cases {
        let run = steward_env(&args, &env, b"");
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(needle),
            "{args:?}: `{needle}` not in {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("127.0.0.1:1"),
            "{args:?}: it tried the server: {}",
            run.stderr
        );
    }
}
