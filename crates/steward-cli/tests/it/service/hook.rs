//! The Claude Code hook (issue 12 §3) through the real `steward hook claude-code` and the
//! HTTP route `POST /v1/hooks/claude-code` against a real `steward serve`: fixtures in
//! Claude Code's documented input format (a safe read, a production deploy, a destructive
//! SQL command, a file edit, a permission prompt, a finished tool call), each answered with
//! the exact output JSON and exit code, by both doors; and the hook failing closed.

use std::path::Path;

use serde_json::{Value, json};

use super::Served;
use super::gate::{Cast, cast, certified_worker, example, on_both_backends};
use crate::support::{Run, repo_root, steward_env};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        repo_root()
            .join("crates/steward-cli/tests/fixtures/claude-code")
            .join(name),
    )
    .expect("fixture")
}

/// The session's configuration: worker, bound permit, environment, headless.
struct Session<'a> {
    served: &'a Served,
    token: &'a str,
    worker: &'a str,
    permit: Option<&'a str>,
    environment: Option<&'a str>,
    headless: bool,
}

impl Session<'_> {
    /// Runs the command hook on `name`.
    fn command(&self, name: &str) -> Run {
        let mut env = vec![
            ("STEWARD_SERVER", self.served.url.as_str()),
            ("STEWARD_TOKEN", self.token),
            ("STEWARD_WORKER", self.worker),
            // A loaded CI machine: the default of 1 s is for people's laptops.
            ("STEWARD_HOOK_TIMEOUT", "20s"),
        ];
        if let Some(permit) = self.permit {
            env.push(("STEWARD_PERMIT", permit));
        }
        if let Some(environment) = self.environment {
            env.push(("STEWARD_ENVIRONMENT", environment));
        }
        if self.headless {
            env.push(("STEWARD_HEADLESS", "true"));
        }
        steward_env(&["hook", "claude-code"], &env, &fixture(name))
    }

    /// Posts `name` to the HTTP route (an HTTP hook).
    fn http(&self, name: &str) -> (u16, Value) {
        let mut query = vec![("worker_id", self.worker.to_owned())];
        if let Some(permit) = self.permit {
            query.push(("permit_id", permit.to_owned()));
        }
        if let Some(environment) = self.environment {
            query.push(("environment", environment.to_owned()));
        }
        if self.headless {
            query.push(("headless", "true".to_owned()));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let response = reqwest::Client::new()
                .post(format!("{}/v1/hooks/claude-code", self.served.url))
                .query(&query)
                .bearer_auth(self.token)
                .header("content-type", "application/json")
                .body(fixture(name))
                .send()
                .await
                .expect("the server answers");
            let status = response.status().as_u16();
            (status, response.json().await.expect("JSON"))
        })
    }

    /// Both doors answer `name` with `expected` (the command with exit 0).
    fn answers(&self, name: &str, expected: &Value) {
        let run = self.command(name);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let printed: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|_| panic!("{name}: not JSON: {}", run.stdout));
        assert_eq!(&printed, expected, "{name} (command)");
        let (status, body) = self.http(name);
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(&body, expected, "{name} (HTTP)");
    }
}

fn pre_tool_use(decision: &str, reason: &str) -> Value {
    json!({"hookSpecificOutput": {
        "hookEventName": "PreToolUse",
        "permissionDecision": decision,
        "permissionDecisionReason": reason,
    }})
}

/// A permit for the worker requested by the master through the CLI; returns its id.
fn request(
    served: &Served,
    cast: &Cast,
    worker: &str,
    task: &str,
    evidence: Option<&str>,
) -> String {
    let mut args = vec![
        "permit", "request", "--task", task, "--worker", worker, "--json",
    ];
    if let Some(evidence) = evidence {
        args.extend_from_slice(&["--evidence-file", evidence]);
    }
    let run = served.run(&args, &cast.master);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()["id"].as_str().expect("permit id").to_owned()
}

#[test]
fn claude_code_fixtures_get_their_exact_answers_from_the_command_and_the_route() {
    on_both_backends("hook-fixtures", hook_scenario);
}

fn hook_scenario(dir: &Path, database: Option<&str>) {
    let served = Served::start_on(dir, database);
    let cast = cast(&served);
    let worker = certified_worker(&served, &cast, dir, database);
    let session = Session {
        served: &served,
        token: &cast.master,
        worker: &worker,
        permit: None,
        environment: None,
        headless: false,
    };

    // A safe read and a file edit in development: the fast path allows them.
    session.answers(
        "pre-read.json",
        &pre_tool_use("allow", "Steward: allowed (worker level 2)"),
    );
    session.answers(
        "pre-edit.json",
        &pre_tool_use("allow", "Steward: allowed (worker level 2)"),
    );

    // Dropping a production table: the level-3 permit it needs cannot be requested from
    // a hook without its evidence; the rule that refused is the reason.
    session.answers(
        "pre-drop-table.json",
        &pre_tool_use(
            "deny",
            "Steward denied: missing_evidence: missing evidence for a level-3 permit: \
             rollback_plan, test_results, code_review, rollback_tested, security_review, \
             impact_analysis",
        ),
    );

    // A production deploy under the permit the master requested for this session (with its
    // evidence): while people decide, the agent is told where; headless runs defer.
    let task = example("release-api.json");
    let evidence = example("release-api-evidence.json");
    let pending = request(&served, &cast, &worker, &task, Some(&evidence));
    let link = format!("{}/permits/{pending}", served.url);
    let bound = Session {
        permit: Some(&pending),
        ..session
    };
    let waiting = format!("Steward: permit {pending} pending approval at {link}");
    bound.answers(
        "pre-deploy-production.json",
        &pre_tool_use("deny", &waiting),
    );
    let headless = Session {
        headless: true,
        permit: Some(&pending),
        ..session
    };
    headless.answers(
        "pre-deploy-production.json",
        &pre_tool_use("defer", &waiting),
    );
    // Its permission prompt is left to the person.
    bound.answers("permission-deploy-production.json", &json!({}));

    // The same read where the session works in production: it needs a (read-only) permit,
    // which is requested for the session and issued at once; the read runs under it.
    let production = Session {
        environment: Some("production"),
        ..session
    };
    let run = production.command("pre-read.json");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = served.run(
        &[
            "permit", "list", "--worker", &worker, "--state", "active", "--json",
        ],
        &cast.admin,
    );
    let items = run.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1, "{items:?}");
    let read_permit = items[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(items[0]["permit_type"], "read_only");
    assert!(
        items[0]["task_id"]
            .as_str()
            .is_some_and(|t| t.starts_with("claude-code-3f1c2a9e-5b7d-4e21-9a0c-7d2e8f6b1c4a-")),
        "{}",
        items[0]
    );
    let allowed = format!("Steward: allowed (worker level 2, permit {read_permit})");
    production.answers("pre-read.json", &pre_tool_use("allow", &allowed));
    // The agent's own permission prompt for it is answered by Steward.
    production.answers(
        "permission-read.json",
        &json!({"hookSpecificOutput": {
            "hookEventName": "PermissionRequest",
            "decision": {"behavior": "allow"},
        }}),
    );
    // Its outcome is reported as telemetry of that permit.
    production.answers(
        "post-read.json",
        &json!({"hookSpecificOutput": {
            "hookEventName": "PostToolUse",
            "additionalContext": format!("Steward: outcome recorded for permit {read_permit}"),
        }}),
    );

    // Everything the hook did is in the trail with channel `hook`.
    let run = served.run(
        &["audit", "events", "--limit", "500", "--json"],
        &cast.admin,
    );
    let events = run.json()["items"].as_array().expect("events").clone();
    let via_hook = |kind: &str| {
        events
            .iter()
            .filter(|e| e["type"] == kind && e["data"]["channel"] == "hook")
            .count()
    };
    assert_eq!(via_hook("permit.requested"), 1);
    assert_eq!(via_hook("telemetry.recorded"), 2);
    assert!(
        via_hook("authorize.allowed") >= 6,
        "{}",
        via_hook("authorize.allowed")
    );
}

#[test]
fn the_hook_fails_closed_when_steward_cannot_answer() {
    let dir = crate::support::scratch_dir("hook-fail-closed");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    let hook = |server: &str, token: &str, worker: Option<&str>| {
        let mut env = vec![("STEWARD_SERVER", server), ("STEWARD_TOKEN", token)];
        if let Some(worker) = worker {
            env.push(("STEWARD_WORKER", worker));
        }
        steward_env(&["hook", "claude-code"], &env, &fixture("pre-read.json"))
    };

    // No Steward there: blocked (exit 2), the reason on stderr, nothing on stdout.
    let nowhere = format!("http://127.0.0.1:{}", super::free_port());
    let run = hook(&nowhere, &admin, Some("w-1"));
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with(&format!(
            "Steward blocked this tool call: cannot reach Steward at {nowhere}"
        )),
        "{}",
        run.stderr
    );
    // A token Steward refuses, an unknown worker, no worker configured: blocked as well.
    let run = hook(&served.url, "stw_not-a-token", Some("w-1"));
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "Steward blocked this tool call: the token is unknown, expired or revoked (HTTP 401)\n"
    );
    let run = hook(&served.url, &admin, Some("no-such-worker"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).expect("JSON"),
        pre_tool_use("deny", "Steward denied: worker `no-such-worker` not found")
    );
    let run = hook(&served.url, &admin, None);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "Steward blocked this tool call: no worker: set `STEWARD_WORKER` or pass `--worker`\n"
    );
    // Not an event Steward answers: blocked with the field named.
    let run = steward_env(
        &["hook", "claude-code"],
        &[
            ("STEWARD_SERVER", served.url.as_str()),
            ("STEWARD_TOKEN", admin.as_str()),
            ("STEWARD_WORKER", "w-1"),
        ],
        br#"{"hook_event_name": "Stop", "session_id": "s"}"#,
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("`hook_event_name`: `Stop` is not answered by Steward"),
        "{}",
        run.stderr
    );
}
