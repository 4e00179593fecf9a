//! `steward emergency …` against a real `steward serve`: declare, approve, renew,
//! resolve, review, list and show, and the refusals a user meets on the way.

use super::Served;
use crate::support::{Run, scratch, scratch_dir};

#[test]
fn emergency_commands_declare_approve_renew_resolve_and_review() {
    let dir = scratch_dir("emergency");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    let id_of = |run: Run| -> String {
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()["id"].as_str().expect("id").to_owned()
    };
    let principal = |kind: &str, name: &str, role: &str| -> String {
        let id = id_of(served.run(
            &[
                "principal",
                "create",
                "--kind",
                kind,
                "--name",
                name,
                "--role",
                role,
                "--json",
            ],
            &admin,
        ));
        let run = served.run(&["token", "create", "--principal", &id, "--json"], &admin);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()["token"].as_str().expect("token").to_owned()
    };
    let master = principal("agent", "m", "master");
    let ic = principal("human", "ic", "incident_commander");
    let lead = principal("human", "lead", "on_call_lead");
    let worker = id_of(served.run(
        &[
            "worker", "register", "--name", "fixer", "--domain", "ops", "--json",
        ],
        &master,
    ));
    let scope = scratch("emergency-scope.json");
    std::fs::write(
        &scope,
        r#"{"environment":"production","operations":["restart"],"services_affected":["checkout"]}"#,
    )
    .expect("write scope");
    let scope = scope.to_str().expect("utf-8 path");
    let declare = |minutes: &str| {
        served.run(
            &[
                "emergency",
                "declare",
                "--incident",
                "INC-9",
                "--worker",
                &worker,
                "--scope",
                scope,
                "--reason",
                "checkout down",
                "--minutes",
                minutes,
            ],
            &master,
        )
    };

    // Usage errors (clap's, several lines) never reach the server: exit 2, nothing out.
    let usage = |run: Run, needle: &str| {
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains(needle), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    };
    usage(declare("61"), "61 is not in 1..=60");
    usage(
        served.run(&["emergency", "approve", "x", "--role", "admin"], &ic),
        "does not approve emergencies",
    );

    let run = declare("30");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(": awaiting_approval (incident INC-9"),
        "{}",
        run.stdout
    );
    let id = run.stdout["emergency ".len()..]
        .split(':')
        .next()
        .expect("id")
        .to_owned();

    // The declarer may not approve (segregation of duties is the server's: HTTP 403).
    let run = served.run(
        &["emergency", "approve", &id, "--role", "incident_commander"],
        &master,
    );
    run.assert_invalid("(HTTP 403)");

    let run = served.run(
        &[
            "emergency",
            "approve",
            &id,
            "--role",
            "incident_commander",
            "--comment",
            "go",
        ],
        &ic,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(": active (incident"), "{}", run.stdout);
    assert!(run.stdout.contains("level 3"), "{}", run.stdout);

    let run = served.run(
        &["emergency", "renew", &id, "--minutes", "10", "--json"],
        &ic,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["permit"]["renewals"], 1);
    served
        .run(&["emergency", "renew", &id, "--minutes", "10"], &lead)
        .assert_invalid("(HTTP 403)");

    let run = served.run(
        &["emergency", "resolve", &id, "--resolution", "restarted"],
        &lead,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(": resolved (incident"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("review: pending (due "),
        "{}",
        run.stdout
    );

    let run = served.run(&["emergency", "list", "--overdue", "--json"], &ic);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["items"], serde_json::json!([]));

    let run = served.run(
        &[
            "emergency",
            "review",
            &id,
            "--summary",
            "bad config",
            "--action",
            "add canary",
        ],
        &ic,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("review: filed"), "{}", run.stdout);

    let run = served.run(&["emergency", "show", &id, "--json"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let shown = run.json();
    assert_eq!(shown["permit"]["state"], "revoked");
    assert_eq!(shown["permit"]["revocation_reason"], "incident_resolved");
    assert_eq!(shown["review"]["actions"][0], "add canary");
    let run = served.run(&["emergency", "list"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with(&id), "{}", run.stdout);
    assert!(run.stdout.contains("review filed"), "{}", run.stdout);
    assert!(served.terminate().success());
}
