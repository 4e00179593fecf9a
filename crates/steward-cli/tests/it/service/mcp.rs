//! The MCP server (issue 12 §2) driven by a client not written here: the official MCP
//! Python SDK (`mcp` on PyPI, pinned in `.ci/requirements.txt`, installed by `.ci/run` into
//! `.ci/venv`) runs `tests/mcp_client.py` against a real `steward serve`, over Streamable
//! HTTP at `/mcp` and over `steward mcp` (stdio), at the current protocol version and the
//! previous one. It lists the tools and calls each; this test asserts what it saw and that
//! the trail records every call with channel `mcp`. Then the HTTP endpoint's refusals
//! (no token, a bad token, another origin) and `steward mcp`'s (a bad token, no server).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::Served;
use super::gate::{Cast, cast, certified_worker, example, on_both_backends};
use crate::support::{STEWARD_ENV, repo_root};

/// The virtualenv's Python with the MCP SDK, or `None` (outside CI) when it is missing.
/// In CI (`CI=true`) a missing SDK fails the test: `.ci/run` installs it.
fn python_with_sdk() -> Option<PathBuf> {
    let python = repo_root().join(".ci/venv/bin/python");
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", "import mcp"])
            .status()
            .is_ok_and(|s| s.success());
    if ready {
        return Some(python);
    }
    let how = "the MCP Python SDK is missing: run `python3 -m venv .ci/venv && \
               .ci/venv/bin/pip install -r .ci/requirements.txt` (what `.ci/run` does)";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{how}");
    skip_note(how);
    None
}

#[expect(clippy::print_stderr, reason = "a skipped check says how to enable it")]
fn skip_note(how: &str) {
    eprintln!("skipping the MCP client checks: {how}");
}

#[test]
fn the_official_python_client_lists_and_calls_every_tool_over_http_and_stdio() {
    if python_with_sdk().is_none() {
        return;
    }
    on_both_backends("mcp-client", client_scenario);
}

fn client_scenario(dir: &Path, database: Option<&str>) {
    let python = python_with_sdk().expect("checked above");
    let python = python.as_path();
    let served = Served::start_on(dir, database);
    let cast = cast(&served);
    let worker = certified_worker(&served, &cast, dir, database);
    let active = active_permit(&served, &cast, &worker);
    let steward = env!("CARGO_BIN_EXE_steward");
    let endpoint = format!("{}/mcp", served.url);
    let runs = [
        ("http", endpoint.as_str(), "auto", "2026-07-28"),
        ("http", endpoint.as_str(), "legacy", "2025-11-25"),
        ("stdio", steward, "auto", "2026-07-28"),
        ("stdio", steward, "legacy", "2025-11-25"),
    ];
    for (transport, target, mode, version) in runs {
        let seen = run_client(
            python, &served, &cast, &worker, &active, transport, target, mode,
        );
        let at = format!("{transport} {mode}");
        assert_eq!(seen["protocol_version"], version, "{at}");
        assert_eq!(seen["server"], "steward", "{at}");
        assert_tools(&seen["tools"], &at);
        assert_calls(&seen["calls"], &served, &worker, &active, &at);
    }

    // Every call went through the use cases with channel `mcp`: four runs, one event of
    // each kind per run (the two refused calls append nothing).
    let run = served.run(
        &["audit", "events", "--limit", "500", "--json"],
        &cast.admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = run.json()["items"].as_array().expect("events").clone();
    let via_mcp = |kind: &str| {
        events
            .iter()
            .filter(|e| e["type"] == kind && e["data"]["channel"] == "mcp")
            .count()
    };
    for kind in [
        "task.analyzed",
        "authorize.allowed",
        "telemetry.recorded",
        "emergency.declared",
    ] {
        assert_eq!(via_mcp(kind), 4, "{kind}");
    }
    // Each run requested one permit and declared one emergency (a permit too).
    assert_eq!(via_mcp("permit.requested"), 8);
    // The permit requested through the CLI beforehand carries no `mcp` channel.
    assert!(events.iter().any(|e| e["type"] == "permit.requested"
        && e["subject"]["permit_id"] == active.as_str()
        && e["data"]["channel"] != "mcp"));
}

/// A permit for the worker, requested by the master through the CLI and approved by the
/// approver: active, so authorize and telemetry have something to run under.
fn active_permit(served: &Served, cast: &Cast, worker: &str) -> String {
    let task = example("release-api.json");
    let evidence = example("release-api-evidence.json");
    let run = served.run(
        &[
            "permit",
            "request",
            "--task",
            &task,
            "--worker",
            worker,
            "--evidence-file",
            &evidence,
            "--json",
        ],
        &cast.master,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.json()["id"].as_str().expect("permit id").to_owned();
    let run = served.run(
        &["permit", "approve", &id, "--role", "tech_lead"],
        &cast.approver,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = served.run(&["permit", "show", &id, "--json"], &cast.admin);
    assert_eq!(run.json()["state"], "active");
    id
}

#[expect(
    clippy::too_many_arguments,
    reason = "one run's whole setting, spelled out"
)]
fn run_client(
    python: &Path,
    served: &Served,
    cast: &Cast,
    worker: &str,
    active: &str,
    transport: &str,
    target: &str,
    mode: &str,
) -> Value {
    let script = repo_root().join("crates/steward-cli/tests/mcp_client.py");
    let mut command = Command::new(python);
    for var in STEWARD_ENV {
        command.env_remove(var);
    }
    let output = command
        .arg(&script)
        .args([transport, target, mode])
        .env("STEWARD_TOKEN", &cast.master)
        .env("STEWARD_SERVER", &served.url)
        .env("WORKER", worker)
        .env("ACTIVE_PERMIT", active)
        .env("TASK_FILE", example("release-api.json"))
        .env("EVIDENCE_FILE", example("release-api-evidence.json"))
        .current_dir(repo_root())
        .output()
        .expect("the MCP client runs");
    assert!(
        output.status.success(),
        "{transport} {mode}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the client prints JSON")
}

fn assert_tools(tools: &Value, at: &str) {
    // Sorted: whether JSON objects keep their order depends on the features a build unifies.
    let mut names: Vec<&str> = tools
        .as_object()
        .expect("tools")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "analyze_task",
            "authorize_operation",
            "declare_emergency",
            "permit_status",
            "report_telemetry",
            "request_permit"
        ],
        "{at}"
    );
    // Honest annotations: reads are read-only and idempotent; what can end a permit says so.
    let hints = |name: &str| {
        let a = &tools[name]["annotations"];
        (
            a["readOnlyHint"].as_bool(),
            a["destructiveHint"].as_bool(),
            a["idempotentHint"].as_bool(),
            a["openWorldHint"].as_bool(),
        )
    };
    let read = (Some(true), Some(false), Some(true), Some(false));
    let create = (Some(false), Some(false), Some(false), Some(false));
    let ends_permits = (Some(false), Some(true), Some(false), Some(false));
    assert_eq!(hints("analyze_task"), read, "{at}");
    assert_eq!(hints("permit_status"), read, "{at}");
    assert_eq!(hints("request_permit"), create, "{at}");
    assert_eq!(hints("declare_emergency"), create, "{at}");
    assert_eq!(hints("authorize_operation"), ends_permits, "{at}");
    assert_eq!(hints("report_telemetry"), ends_permits, "{at}");
    // Schemas name what is required.
    let required = |name: &str| -> Vec<String> {
        let mut r: Vec<String> = tools[name]["input_schema"]["required"]
            .as_array()
            .expect("required")
            .iter()
            .map(|v| v.as_str().expect("name").to_owned())
            .collect();
        r.sort();
        r
    };
    assert_eq!(required("analyze_task"), ["task"], "{at}");
    assert_eq!(required("permit_status"), ["permit_id"], "{at}");
    assert_eq!(required("request_permit"), ["task", "worker_id"], "{at}");
    assert_eq!(
        required("authorize_operation"),
        ["action", "environment", "method", "worker_id"],
        "{at}"
    );
    assert_eq!(required("report_telemetry"), ["permit_id"], "{at}");
    assert_eq!(
        required("declare_emergency"),
        ["incident_id", "minutes", "reason", "scope", "worker_id"],
        "{at}"
    );
}

fn assert_calls(calls: &Value, served: &Served, worker: &str, active: &str, at: &str) {
    let ok = |name: &str| -> &Value {
        assert_eq!(
            calls[name]["is_error"], false,
            "{at} {name}: {}",
            calls[name]
        );
        &calls[name]["structured"]
    };
    let analysis = ok("analyze_task");
    assert_eq!(analysis["task_id"], "release-api-v2.1", "{at}");
    assert_eq!(
        analysis["certification_decision"]["certification_level_required"], 2,
        "{at}"
    );

    // A permit that needs people answers at once with its state and the link.
    let requested = ok("request_permit");
    let id = requested["permit_id"].as_str().expect("permit id");
    assert_eq!(requested["state"], "under_review", "{at}");
    assert_eq!(requested["awaiting_people"], true, "{at}");
    assert_eq!(
        requested["link"],
        format!("{}/permits/{id}", served.url),
        "{at}"
    );
    assert_eq!(requested["permit"]["worker_id"], worker, "{at}");
    let text = calls["request_permit"]["text"][0].as_str().expect("text");
    assert!(
        text.starts_with(&format!("permit {id} is under_review: it waits for people")),
        "{at}: {text}"
    );
    let status = ok("permit_status");
    assert_eq!(status["permit_id"], id, "{at}");
    assert_eq!(status["state"], "under_review", "{at}");
    assert_eq!(status["link"], requested["link"], "{at}");

    let decision = ok("authorize_operation");
    assert_eq!(decision["allow"], true, "{at}");
    assert_eq!(decision["rule"], "allowed", "{at}");
    assert_eq!(decision["permit_id"], active, "{at}");
    assert!(decision["audit_seq"].is_u64(), "{at}");

    let telemetry = ok("report_telemetry");
    assert_eq!(telemetry["fired"], false, "{at}: {telemetry}");
    assert_eq!(telemetry["permit_state"], "active", "{at}");

    let emergency = ok("declare_emergency");
    assert_eq!(emergency["status"], "awaiting_approval", "{at}");
    assert_eq!(emergency["incident_id"], "INC-42", "{at}");
    assert_eq!(
        emergency["link"],
        format!(
            "{}/permits/{}",
            served.url,
            emergency["permit_id"].as_str().expect("id")
        ),
        "{at}"
    );

    // Refusals are the routes' problem documents, as tool errors.
    let bad = &calls["bad_argument"];
    assert_eq!(bad["is_error"], true, "{at}");
    assert_eq!(bad["structured"]["status"], 400, "{at}");
    assert_eq!(bad["structured"]["field"], "environment", "{at}");
    let missing = &calls["unknown_permit"];
    assert_eq!(missing["is_error"], true, "{at}");
    assert_eq!(missing["structured"]["status"], 404, "{at}");
    assert_eq!(
        missing["structured"]["detail"], "permit `no-such-permit` not found",
        "{at}"
    );
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;

#[test]
fn the_http_endpoint_refuses_missing_tokens_bad_tokens_and_other_origins() {
    let dir = crate::support::scratch_dir("mcp-refusals");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    let endpoint = format!("{}/mcp", served.url);
    let host = served.url.trim_start_matches("http://").to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let post = |token: Option<&str>, origin: Option<&str>| {
        runtime.block_on(async {
            let mut request = reqwest::Client::new()
                .post(&endpoint)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(INITIALIZE);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap_or_default().to_owned());
            let body: Value = response.json().await.expect("a JSON body");
            (status, challenge, body)
        })
    };

    let (status, challenge, body) = post(None, None);
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"steward\""));
    assert_eq!(
        body["detail"],
        "missing `Authorization: Bearer <token>` header"
    );
    let (status, _, body) = post(Some("stw_not-a-token"), None);
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "the token is unknown, expired or revoked");

    // A browser page of another origin is refused even with a valid token.
    let (status, _, body) = post(Some(&admin), Some("https://evil.example"));
    assert_eq!(status, 403);
    assert_eq!(body["rule"], "cross_origin");
    let (status, _, body) = post(Some(&admin), Some("null"));
    assert_eq!(status, 403, "{body}");
    // Its own origin, and no origin at all (agents), are served.
    let (status, _, body) = post(Some(&admin), Some(&format!("http://{host}")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(body["result"]["serverInfo"]["name"], "steward");
    let (status, _, body) = post(Some(&admin), None);
    assert_eq!(status, 200, "{body}");

    // An older protocol than the previous one is answered with the versions served.
    let old = INITIALIZE.replace("2025-11-25", "2024-11-05");
    let answer = runtime.block_on(async {
        reqwest::Client::new()
            .post(&endpoint)
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(old)
            .send()
            .await
            .expect("answers")
            .json::<Value>()
            .await
            .expect("json")
    });
    assert_ne!(
        answer["result"]["protocolVersion"], "2024-11-05",
        "{answer}"
    );
}

/// `steward mcp` with `token` against `server`: sends `initialize`, returns the first line
/// it answers.
fn stdio_initialize(server: &str, token: &str) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    for var in STEWARD_ENV {
        command.env_remove(var);
    }
    let mut child = command
        .arg("mcp")
        .env("STEWARD_SERVER", server)
        .env("STEWARD_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("steward mcp starts");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{INITIALIZE}").expect("write");
    drop(stdin);
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let status = child.wait().expect("wait");
    assert!(status.success(), "steward mcp ends with stdin");
    serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"))
}

#[test]
fn steward_mcp_answers_what_it_cannot_relay_as_json_rpc_errors() {
    let dir = crate::support::scratch_dir("mcp-stdio-refusals");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");

    let answer = stdio_initialize(&served.url, &admin);
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["protocolVersion"], "2025-11-25");

    let answer = stdio_initialize(&served.url, "stw_not-a-token");
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32600,
            "message": "the token is unknown, expired or revoked (HTTP 401)"}})
    );

    let nowhere = format!("http://127.0.0.1:{}", super::free_port());
    let answer = stdio_initialize(&nowhere, &admin);
    assert_eq!(answer["error"]["code"], -32603);
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(
        message.starts_with(&format!("cannot reach Steward at {nowhere}")),
        "{message}"
    );
}
