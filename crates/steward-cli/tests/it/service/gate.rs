//! The agent gate for masters (issue 12 §1) through the real `steward` binary and a real
//! `steward serve`: `examples/master-flow.sh`, the README's master script, run as it is
//! with an approver deciding meanwhile; `permit wait` and `permit request --wait` with
//! their exit codes (approval, rejection, changes, expiry, revocation, timeout, a server
//! restart in the middle); every constraint flag of `permit request`; `steward events`;
//! and the worker's own identity and tokens.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Served, free_port};
use crate::support::{Run, STEWARD_ENV, repo_root, scratch_dir};

/// Runs `body` against SQLite (the data directory's file), then PostgreSQL when it is
/// reachable (required in CI).
fn on_both_backends(name: &str, body: fn(&Path, Option<&str>)) {
    body(&scratch_dir(&format!("{name}-sqlite")), None);
    let runtime = runtime();
    let Some(db) = runtime.block_on(steward_store::testing::postgres_store()) else {
        return;
    };
    body(&scratch_dir(&format!("{name}-postgres")), Some(db.url()));
    drop(db);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs one SQL statement on the server's database: test fixtures for what only time
/// makes (a certified worker, an old request).
fn sql(dir: &Path, database: Option<&str>, statement: &str) {
    let url = database.map_or_else(
        || format!("sqlite://{}", dir.join("steward.db").display()),
        str::to_owned,
    );
    let runtime = runtime();
    runtime.block_on(async {
        let store = steward_store::Store::connect(&url)
            .await
            .expect("connect to the server's database");
        let changed = steward_store::testing::execute(&store, statement)
            .await
            .expect("fixture statement");
        assert_eq!(changed, 1, "{statement}");
        store.close().await;
    });
}

/// The cast: an admin, a master (agent) and an approver (human tech lead), with tokens.
struct Cast {
    admin: String,
    master: String,
    approver: String,
}

fn cast(served: &Served) -> Cast {
    let admin = served.token.clone().expect("admin token");
    let principal = |kind: &str, name: &str, role: &str| -> String {
        let run = served.run(
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
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let id = run.json()["id"].as_str().expect("id").to_owned();
        let run = served.run(&["token", "create", "--principal", &id, "--json"], &admin);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()["token"].as_str().expect("token").to_owned()
    };
    Cast {
        master: principal("agent", "orchestrator", "master"),
        approver: principal("human", "alice", "tech_lead"),
        admin,
    }
}

/// A worker the master registers and that is certified at level 2. Promotion to level 2
/// takes 30 days and 20 operations (SPEC §5), so the certification is written directly:
/// it stands in for that history and the engineering manager's approval.
fn certified_worker(served: &Served, cast: &Cast, dir: &Path, database: Option<&str>) -> String {
    let run = served.run(
        &[
            "worker",
            "register",
            "--name",
            "deploy-bot",
            "--domain",
            "api",
            "--json",
        ],
        &cast.master,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let worker = run.json()["id"].as_str().expect("id").to_owned();
    sql(
        dir,
        database,
        &format!(
            "UPDATE workers SET level = 2, recertify_by = 4000000000000, version = version + 1 \
             WHERE id = '{worker}'"
        ),
    );
    worker
}

fn example(name: &str) -> String {
    repo_root()
        .join("examples")
        .join(name)
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

/// `PATH` with the `steward` under test first.
fn path_with_steward() -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_steward"));
    let dir = bin.parent().expect("binary directory");
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Starts `program args` in the repository root with exactly `env` among the `STEWARD_*`
/// variables, capturing its output.
fn spawn(program: &str, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(program);
    for var in STEWARD_ENV {
        command.env_remove(var);
    }
    command
        .envs(env.iter().copied())
        .env("PATH", path_with_steward())
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("`{program}` starts: {e}"))
}

/// Waits up to 60 s for `child` to end and returns what it printed.
fn finish(mut child: Child) -> Run {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    // Unless a test tapped stderr while the command ran (it reads its tap instead).
    if let Some(mut tapped) = child.stderr.take() {
        tapped.read_to_string(&mut stderr).expect("read stderr");
    }
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// Reads `child`'s stderr as it is written, into the returned buffer.
/// Join the returned thread for all of it once `child` has ended.
fn tap_stderr(child: &mut Child) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let tap = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().expect("stderr");
    let into = Arc::clone(&tap);
    let reader = std::thread::spawn(move || {
        let mut chunk = [0_u8; 512];
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 {
                break;
            }
            into.lock()
                .expect("tap")
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    (tap, reader)
}

/// Asserts `child` is still running a moment after it started: it is waiting.
fn assert_waiting(child: &mut Child) {
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "it ended before anything happened"
    );
}

/// A background `steward` client command against `served` with `token`.
fn spawn_steward(served_url: &str, token: &str, args: &[&str]) -> Child {
    spawn(
        env!("CARGO_BIN_EXE_steward"),
        args,
        &[("STEWARD_SERVER", served_url), ("STEWARD_TOKEN", token)],
    )
}

/// The approver's side: waits (up to 30 s) for a permit under review, then decides it.
/// Returns the permit id.
fn decide_pending(served: &Served, approver: &str, decision: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let run = served.run(
            &["permit", "list", "--state", "under_review", "--json"],
            approver,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        if let Some(id) = run.json()["items"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(Instant::now() < deadline, "no permit to review within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut args = vec!["permit"];
    args.extend_from_slice(decision);
    args.push(&id);
    args.extend_from_slice(&["--role", "tech_lead", "--comment", "reviewed"]);
    let run = served.run(&args, approver);
    assert_eq!(run.code, 0, "{}", run.stderr);
    id
}

#[test]
fn the_readme_master_script_runs_the_seeds_flow_end_to_end() {
    // What runs here is what the README shows.
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let script = std::fs::read_to_string(example("master-flow.sh")).expect("the script");
    assert!(
        readme.contains(&format!("```bash\n{script}```")),
        "README.md must quote examples/master-flow.sh exactly"
    );
    on_both_backends("master-flow", master_flow_scenario);
}

fn master_flow_scenario(dir: &Path, database: Option<&str>) {
    let served = Served::start_on(dir, database);
    let cast = cast(&served);
    let worker = certified_worker(&served, &cast, dir, database);
    let script = example("master-flow.sh");
    let task = example("release-api.json");
    let evidence = example("release-api-evidence.json");
    let env = [
        ("STEWARD_SERVER", served.url.as_str()),
        ("STEWARD_TOKEN", cast.master.as_str()),
        ("WORKER", worker.as_str()),
        ("WAIT_TIMEOUT", "60s"),
    ];

    // The master runs the script; the approver approves while it waits.
    let flow = spawn("bash", &[&script, &task, &evidence], &env);
    let permit = decide_pending(&served, &cast.approver, &["approve"]);
    let run = finish(flow);
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "master: release-api-v2.1 needs a union worker at level 2"
    );
    assert!(
        lines[1].starts_with(&format!(
            "master: permit {permit} is active (review: http://"
        )),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].starts_with("allow (worker level 2, permit "),
        "{}",
        run.stdout
    );
    assert_eq!(lines[3], "worker: deploy api");
    assert!(
        lines[4].starts_with("allow (worker level 2, permit "),
        "{}",
        run.stdout
    );
    assert_eq!(lines[5], "worker: restart api");
    assert_eq!(lines[6], format!("master: permit {permit} closed"));
    assert_eq!(lines.len(), 7, "{}", run.stdout);

    // The permit ran its course.
    let run = served.run(&["permit", "show", &permit, "--json"], &cast.admin);
    let shown = run.json();
    assert_eq!(shown["state"], "closed");
    assert_eq!(shown["outcome"], "success");
    assert_eq!(shown["audit_summary"]["approvals_verified"], true);

    // The trail: the worker acted as itself (its own identity, made by the master), each
    // step authorized before it ran; the approval is the approver's.
    let run = served.run(&["worker", "show", &worker, "--json"], &cast.admin);
    let identity = run.json()["principal_id"]
        .as_str()
        .expect("the script created the worker's identity")
        .to_owned();
    let run = served.run(
        &["audit", "events", "--permit-id", &permit, "--json"],
        &cast.admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = run.json()["items"].as_array().expect("events").clone();
    let trail: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default(),
                e["actor"]["id"].as_str().unwrap_or_default(),
            )
        })
        .filter(|(_, actor)| *actor == identity)
        .collect();
    assert_eq!(
        trail,
        [
            ("permit.started", identity.as_str()),
            ("authorize.allowed", identity.as_str()),
            ("authorize.allowed", identity.as_str()),
            ("permit.completed", identity.as_str()),
        ]
    );
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "authorize.allowed")
        .map(|e| {
            e["data"]["operation"]["action"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(actions, ["deploy", "restart"]);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "permit.approved" && e["actor"]["roles"][0] == "tech_lead")
    );
    let run = served.run(&["audit", "verify"], &cast.admin);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The master's own event stream carries its permit's story, without admin rights.
    let mut follow = spawn_steward(
        &served.url,
        &cast.master,
        &["events", "--from-seq", "1", "--permit", &permit, "--json"],
    );
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut out = follow.stdout.take().expect("stdout");
    let mut buf = [0u8; 4096];
    // Read whole lines: a read may end inside the line that names `permit.closed`.
    while !(seen.contains("\"permit.closed\"") && seen.ends_with('\n')) {
        assert!(
            Instant::now() < deadline,
            "no permit.closed within 15 s: {seen}"
        );
        let n = out.read(&mut buf).expect("read events");
        assert!(n > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let streamed: Vec<Value> = seen
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    assert_eq!(streamed.len(), events.len(), "{seen}");

    // The token the script minted is listed for the owner, and revoking it ends it.
    let run = served.run(
        &["worker", "token", "list", &worker, "--json"],
        &cast.master,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tokens = run.json()["items"].as_array().expect("tokens").clone();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["label"], format!("spawn for {permit}"));
    let token_id = tokens[0]["id"].as_str().expect("id");
    let run = served.run(
        &["worker", "token", "revoke", &worker, token_id],
        &cast.master,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with(&format!("Revoked token {token_id}")));
    // Another master may not mint tokens for this worker.
    let run = served.run(
        &[
            "principal",
            "create",
            "--kind",
            "agent",
            "--name",
            "other",
            "--role",
            "master",
            "--json",
        ],
        &cast.admin,
    );
    let other = run.json()["id"].as_str().expect("id").to_owned();
    let run = served.run(
        &["token", "create", "--principal", &other, "--json"],
        &cast.admin,
    );
    let other = run.json()["token"].as_str().expect("token").to_owned();
    served
        .run(&["worker", "token", "create", &worker], &other)
        .assert_invalid("only the owner of worker");

    // A second run the approver rejects: the script stops with the wait's exit code 4.
    let flow = spawn("bash", &[&script, &task, &evidence], &env);
    let rejected = decide_pending(&served, &cast.approver, &["reject"]);
    let run = finish(flow);
    assert_eq!(
        run.code, 4,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert_eq!(
        run.stderr.trim(),
        format!("master: permit {rejected} not granted: rejected")
    );
    assert!(served.terminate().success());
}

#[test]
fn permit_wait_exits_by_how_the_wait_ended() {
    on_both_backends("permit-wait", permit_wait_scenario);
}

fn permit_wait_scenario(dir: &Path, database: Option<&str>) {
    let served = Served::start_on(dir, database);
    let cast = cast(&served);
    let worker = certified_worker(&served, &cast, dir, database);
    let task = example("release-api.json");
    let evidence = example("release-api-evidence.json");
    let request = |extra: &[&str]| -> String {
        let mut args = vec![
            "permit",
            "request",
            "--task",
            &task,
            "--worker",
            &worker,
            "--evidence-file",
            &evidence,
            "--json",
        ];
        args.extend_from_slice(extra);
        let run = served.run(&args, &cast.master);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()["id"].as_str().expect("id").to_owned()
    };
    let wait = |id: &str, extra: &[&str]| -> Child {
        let mut args = vec!["permit", "wait", id];
        args.extend_from_slice(extra);
        spawn_steward(&served.url, &cast.master, &args)
    };
    let decide = |decision: &str, id: &str| {
        let run = served.run(
            &[
                "permit",
                decision,
                id,
                "--role",
                "tech_lead",
                "--comment",
                "reviewed",
            ],
            &cast.approver,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    };

    // Timed out: exit 9, in text and in JSON.
    let pending = request(&[]);
    let run = served.run(
        &["permit", "wait", &pending, "--timeout", "1s"],
        &cast.master,
    );
    assert_eq!(run.code, 9, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!("timed out after 1s: permit {pending} is still under_review, not yet `active`\n")
    );
    let run = served.run(
        &["permit", "wait", &pending, "--timeout", "1", "--json"],
        &cast.master,
    );
    assert_eq!(run.code, 9, "{}", run.stderr);
    let answer = run.json();
    assert_eq!(
        (
            answer["outcome"].as_str(),
            answer["permit"]["state"].as_str()
        ),
        (Some("timed_out"), Some("under_review"))
    );

    // Approved while waiting: exit 0.
    let mut waiting = wait(&pending, &["--until", "decided"]);
    assert_waiting(&mut waiting);
    decide("approve", &pending);
    let run = finish(waiting);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with(&format!("reached `decided`: permit {pending} is active\n")),
        "{}",
        run.stdout
    );

    // Rejected: 4. Sent back: 7.
    for (decision, code, headline) in [
        ("reject", 4, "rejected: permit"),
        ("request-changes", 7, "changes requested: resubmit permit"),
    ] {
        let id = request(&[]);
        let mut waiting = wait(&id, &[]);
        assert_waiting(&mut waiting);
        decide(decision, &id);
        let run = finish(waiting);
        assert_eq!(run.code, code, "{decision}: {}", run.stderr);
        assert!(run.stdout.starts_with(headline), "{}", run.stdout);
    }

    // Revoked while waiting for a later window: 6, with who revoked it.
    let later = request(&["--window-start", "2099-01-01T00:00:00Z"]);
    decide("approve", &later);
    let mut waiting = wait(&later, &[]);
    assert_waiting(&mut waiting);
    let run = served.run(
        &["permit", "revoke", &later, "--reason", "manual"],
        &cast.master,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = finish(waiting);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with(&format!("revoked: permit {later} (manual)\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  revoked: manual by "),
        "{}",
        run.stdout
    );

    // Expired: a request made 49 hours ago, twice its 24 h SLA, which the server's own
    // timers expire within a second; 5.
    let old = request(&[]);
    let mut waiting = wait(&old, &[]);
    assert_waiting(&mut waiting);
    sql(
        dir,
        database,
        &format!(
            "UPDATE permits SET created_at = created_at - {} WHERE id = '{old}'",
            49 * 3_600_000_i64
        ),
    );
    let run = finish(waiting);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("expired: nobody decided permit"),
        "{}",
        run.stdout
    );

    // Run to its end already (completed): 8.
    let run = served.run(
        &[
            "permit",
            "request",
            "--task",
            &task,
            "--worker",
            &worker,
            "--evidence-file",
            &evidence,
            "--wait",
            "--timeout",
            "1s",
            "--json",
        ],
        &cast.master,
    );
    assert_eq!(run.code, 9, "nobody approved it: {}", run.stderr);
    let id = run.json()["permit"]["id"].as_str().expect("id").to_owned();
    decide("approve", &id);
    assert_eq!(served.run(&["permit", "start", &id], &cast.master).code, 0);
    let report = dir.join("report.json");
    std::fs::write(
        &report,
        r#"{"operation_type":"release","resources_accessed":["api"],"duration_seconds":3,
            "input_parameters":{},"output_results":"ok","resources_modified":["api"],
            "error_conditions":[]}"#,
    )
    .expect("report");
    let run = served.run(
        &[
            "permit",
            "complete",
            &id,
            "--outcome",
            "success",
            "--report-file",
            report.to_str().expect("utf-8"),
        ],
        &cast.master,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = served.run(&["permit", "wait", &id], &cast.master);
    assert_eq!(run.code, 8, "{}", run.stderr);

    // Refusals: exit 2 with one line; an unreachable server: exit 1.
    served
        .run(&["permit", "wait", "no-such-permit"], &cast.master)
        .assert_invalid("permit `no-such-permit` not found (HTTP 404)");
    let run = served.run(&["permit", "wait", &id, "--until", "issued"], &cast.master);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown wait target `issued`"),
        "{}",
        run.stderr
    );
    let run = served.run(&["permit", "wait", &id, "--timeout", "soon"], &cast.master);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("`soon` is not a duration"),
        "{}",
        run.stderr
    );
    let run = served.run(
        &[
            "permit",
            "request",
            "--task",
            &task,
            "--worker",
            &worker,
            "--timeout",
            "1s",
        ],
        &cast.master,
    );
    assert_eq!(run.code, 2, "--timeout needs --wait");
    let url = format!("http://127.0.0.1:{}", free_port());
    let run = crate::support::steward_env(
        &["permit", "wait", &id],
        &[("STEWARD_SERVER", &url), ("STEWARD_TOKEN", &cast.master)],
        b"",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("is `steward serve` running"),
        "{}",
        run.stderr
    );
    assert!(served.terminate().success());
}

#[test]
fn a_wait_outlives_a_restart_of_the_server() {
    let dir = scratch_dir("wait-restart");
    let listen = format!("127.0.0.1:{}", free_port());
    let served = Served::start_listening(&dir, None, &listen);
    let cast = cast(&served);
    let worker = certified_worker(&served, &cast, &dir, None);
    let run = served.run(
        &[
            "permit",
            "request",
            "--task",
            &example("release-api.json"),
            "--worker",
            &worker,
            "--evidence-file",
            &example("release-api-evidence.json"),
            "--json",
        ],
        &cast.master,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.json()["id"].as_str().expect("id").to_owned();
    let url = served.url.clone();
    let mut waiting = spawn_steward(
        &url,
        &cast.master,
        &["permit", "wait", &id, "--timeout", "60s"],
    );
    assert_waiting(&mut waiting);

    let (tap, reader) = tap_stderr(&mut waiting);

    // A graceful stop ends the long poll at once (the stop does not wait 30 s for it);
    // the wait keeps asking until the server is back. The server comes back only once
    // the wait has found it gone (it pauses a second before asking again, so a quick
    // restart could otherwise slip in between).
    assert!(served.terminate().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tap.lock().expect("tap").contains("retrying") {
        assert!(
            waiting.try_wait().expect("wait").is_none(),
            "the wait gave up: {}",
            tap.lock().expect("tap")
        );
        assert!(Instant::now() < deadline, "no retry note within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let served = Served::start_listening(&dir, None, &listen);
    let run = served.run(
        &["permit", "approve", &id, "--role", "tech_lead"],
        &cast.approver,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut run = finish(waiting);
    reader.join().expect("stderr reader");
    run.stderr = tap.lock().expect("tap").clone();
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout
            .starts_with(&format!("reached `active`: permit {id} is active"))
    );
    assert!(run.stderr.contains("retrying"), "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "one note, however many retries: {}",
        run.stderr
    );
    assert!(served.terminate().success());
}

#[test]
fn permit_request_sets_every_constraint_the_api_takes() {
    let dir = scratch_dir("request-constraints");
    let served = Served::start(&dir);
    let cast = cast(&served);
    let worker = certified_worker(&served, &cast, &dir, None);
    let task = example("release-api.json");
    let evidence = example("release-api-evidence.json");
    let base = [
        "permit",
        "request",
        "--task",
        &task,
        "--worker",
        &worker,
        "--evidence-file",
        &evidence,
    ];
    let mut args: Vec<&str> = base.to_vec();
    args.extend_from_slice(&[
        "--hours",
        "4",
        "--window-start",
        "2099-01-01T09:00:00Z",
        "--allowed-method",
        "POST",
        "--allowed-method",
        "PUT",
        "--forbidden-method",
        "DELETE",
        "--region",
        "eu-west-1",
        "--max-error-rate",
        "0.05",
        "--error-rate-window-seconds",
        "60",
        "--max-latency-p99-ms",
        "800",
        "--latency-window-seconds",
        "120",
        "--health-check-failure-limit",
        "5",
        "--json",
    ]);
    let run = served.run(&args, &cast.master);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let permit = run.json();
    let c = &permit["constraints"];
    assert_eq!(c["allowed_methods"], serde_json::json!(["POST", "PUT"]));
    assert_eq!(c["forbidden_methods"], serde_json::json!(["DELETE"]));
    assert_eq!(c["allowed_regions"], serde_json::json!(["eu-west-1"]));
    assert_eq!(c["max_error_rate"], 0.05);
    assert_eq!(c["error_rate_window_seconds"], 60);
    assert_eq!(c["max_latency_p99_ms"], 800);
    assert_eq!(c["latency_window_seconds"], 120);
    assert_eq!(c["health_check_failure_limit"], 5);
    assert_eq!(permit["requested_window_start_ms"], 4_070_941_200_000_i64);
    assert_eq!(permit["total_hours"], 4.0);
    // The region went into the task, so the analysis scored it.
    assert_eq!(permit["task"]["regions"], serde_json::json!(["eu-west-1"]));

    // Bad values are refused before anything is sent, or by the server naming the field.
    for (flag, value, needle) in [
        ("--window-start", "tomorrow", "not an RFC 3339 time"),
        ("--max-error-rate", "lots", "invalid float"),
        (
            "--health-check-failure-limit",
            "many",
            "--health-check-failure-limit",
        ),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(&[flag, value]);
        let run = served.run(&args, &cast.master);
        assert_eq!(run.code, 2, "{flag} {value}: {}", run.stderr);
        assert!(
            run.stderr.contains(needle),
            "{flag} {value}: {}",
            run.stderr
        );
    }
    let mut args: Vec<&str> = base.to_vec();
    args.extend_from_slice(&["--max-error-rate", "1.5"]);
    served.run(&args, &cast.master).assert_invalid("(HTTP 400)");
    assert!(served.terminate().success());
}

#[test]
fn worker_commands_create_its_identity_and_tokens() {
    let dir = scratch_dir("worker-identity");
    let served = Served::start(&dir);
    let cast = cast(&served);
    let worker = certified_worker(&served, &cast, &dir, None);
    served
        .run(&["worker", "token", "create", &worker], &cast.master)
        .assert_invalid("has no identity yet");
    let run = served.run(
        &[
            "worker",
            "identity",
            "create",
            &worker,
            "--name",
            "deploy-bot-agent",
        ],
        &cast.master,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("Created identity "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("(agent `deploy-bot-agent`, role worker)"),
        "{}",
        run.stdout
    );
    served
        .run(&["worker", "identity", "create", &worker], &cast.master)
        .assert_invalid("already has an identity");
    let run = served.run(
        &[
            "worker",
            "token",
            "create",
            &worker,
            "--label",
            "spawn 1",
            "--expires-in-hours",
            "2",
        ],
        &cast.master,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let secret = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("export STEWARD_TOKEN="))
        .expect("the secret, once")
        .to_owned();
    // The worker's token authorizes the worker's own operations.
    let run = served.run(
        &[
            "authorize",
            "--worker",
            &worker,
            "--environment",
            "development",
            "--action",
            "deploy",
            "--service",
            "api",
            "--method",
            "POST",
        ],
        &secret,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("allow (worker level 2"),
        "{}",
        run.stdout
    );
    let run = served.run(&["worker", "token", "list", &worker], &cast.master);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("  active   ") && run.stdout.contains("  spawn 1  (minted with "),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(&secret));
    assert!(served.terminate().success());
}
