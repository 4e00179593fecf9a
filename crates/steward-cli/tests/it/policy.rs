//! `steward policy show|validate|diff` end to end.

use crate::support::{scratch, steward};

#[test]
fn show_prints_a_policy_that_validates() {
    let show = steward(&["policy", "show"], b"");
    assert_eq!(show.code, 0);
    assert!(
        show.stdout
            .starts_with("# policy_version: spec-2026.11+sha256:")
    );
    let path = scratch("shown.toml");
    std::fs::write(&path, &show.stdout).unwrap();
    let run = steward(&["policy", "validate", path.to_str().unwrap()], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("is valid (policy_version spec-2026.11+sha256:")
    );
}

#[test]
fn validate_explains_every_problem() {
    let show = steward(&["policy", "show"], b"").stdout;
    let broken = show
        .replacen("min = 6\nmax = 20", "min = 9\nmax = 20", 1)
        .replacen("\"tech_lead\"", "\"techlead\"", 1)
        .replacen("staging = 5", "staging = 15", 1);
    let path = scratch("broken.toml");
    std::fs::write(&path, broken).unwrap();
    let run = steward(&["policy", "validate", path.to_str().unwrap()], b"");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("has 3 problems"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`bands[1]`: gap: totals 6 to 8 fall in no band")
    );
    assert!(run.stderr.contains("unknown role `techlead`"));
    assert!(
        run.stderr
            .contains("`factors.environment.staging`: factor points must be 0 to 10, got 15")
    );

    // The same file is refused by `check --policy` with exit 2.
    let run = steward(
        &[
            "check",
            "--policy",
            path.to_str().unwrap(),
            "examples/deploy-api.json",
        ],
        b"",
    );
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
}

#[test]
fn check_uses_another_policy_and_names_its_version() {
    let show = steward(&["policy", "show"], b"").stdout;
    let stricter = show.replacen("production_write = 2", "production_write = 3", 1);
    let path = scratch("stricter.toml");
    std::fs::write(&path, stricter).unwrap();
    let run = steward(
        &[
            "check",
            "--policy",
            path.to_str().unwrap(),
            "examples/deploy-api.json",
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    assert_eq!(
        v["certification_decision"]["certification_level_required"],
        3
    );
    assert_eq!(
        v["certification_decision"]["floors_applied"][0]["rule"],
        "production_write"
    );
    let builtin = steward(&["check", "examples/deploy-api.json"], b"").json();
    assert_ne!(v["policy_version"], builtin["policy_version"]);
}

#[test]
fn diff_reports_level_transitions_and_tasks() {
    let show = steward(&["policy", "show"], b"").stdout;
    let stricter = show.replacen("production_write = 2", "production_write = 3", 1);
    let path = scratch("diff-new.toml");
    std::fs::write(&path, stricter).unwrap();
    let run = steward(
        &[
            "policy",
            "diff",
            "builtin",
            path.to_str().unwrap(),
            "--tasks",
            "examples/backlog.jsonl",
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("8 tasks: 6 unchanged, 2 changed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("  2 → 3: 2 tasks"), "{}", run.stdout);
    assert!(
        run.stdout.contains("b2 (line 2): level 2 → 3"),
        "{}",
        run.stdout
    );

    let run = steward(
        &[
            "policy",
            "diff",
            "builtin",
            path.to_str().unwrap(),
            "--tasks",
            "examples/backlog.jsonl",
            "--json",
        ],
        b"",
    );
    let v = run.json();
    assert_eq!(v["changed"], 2);
    assert_eq!(
        v["level_transitions"][0],
        serde_json::json!({"from": 2, "to": 3, "tasks": 2})
    );
    assert_eq!(v["changes"][1]["task_id"], "b6");
}

#[test]
fn diff_refuses_a_bad_backlog_line() {
    let path = scratch("bad-backlog.jsonl");
    std::fs::write(&path, "{\"id\":\"a\"}\n{\"id\":\"b\",\"critical\":1}\n").unwrap();
    steward(
        &[
            "policy",
            "diff",
            "builtin",
            "builtin",
            "--tasks",
            path.to_str().unwrap(),
        ],
        b"",
    )
    .assert_invalid("line 2: `critical`: invalid type: integer `1`, expected a boolean");
}
