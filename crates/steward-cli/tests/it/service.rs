//! `steward serve` as a child process on a free loopback port, driven by the client
//! commands, and stopped with SIGTERM; and the client's failures when the server refuses
//! or is not there.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Run, STEWARD_ENV, repo_root, scratch, scratch_dir, steward_env};
use serde_json::json;

mod contract;
mod emergency;
mod gate;
mod hook;
mod kill9;
mod mcp;
mod quickstart;
mod rehearsal;
mod signing_key;
mod witness;

/// A running `steward serve`. Dropping it kills the process if a test failed midway.
pub(crate) struct Served {
    child: Child,
    pub(crate) url: String,
    /// The admin token, when this start initialised the data directory.
    pub(crate) token: Option<String>,
    stdout: String,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `steward serve` on `127.0.0.1:0` (the OS picks a free port, which the
    /// server prints) and waits until `/healthz` answers.
    pub(crate) fn start(data_dir: &Path) -> Served {
        Served::start_on(data_dir, None)
    }

    /// [`Served::start`] on the database at `database` (`STEWARD_DATABASE_URL`), when
    /// given.
    pub(crate) fn start_on(data_dir: &Path, database: Option<&str>) -> Served {
        Served::start_with(data_dir, database, &[], &[])
    }

    /// [`Served::start_on`] listening on `listen` (a fixed port, to restart a server
    /// where its clients expect it).
    pub(crate) fn start_listening(data_dir: &Path, database: Option<&str>, listen: &str) -> Served {
        Served::start_with(data_dir, database, &["--listen", listen], &[])
    }

    /// [`Served::start_on`] with more arguments and `STEWARD_*` variables.
    pub(crate) fn start_with(
        data_dir: &Path,
        database: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Served {
        let mut child = serve_command(data_dir, database, args, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("steward serve starts");
        // Drain stderr (the logs) so the pipe never fills and blocks the server.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr buffer")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = mpsc::channel();
        let out_pipe = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Served {
            child,
            url: String::new(),
            token: None,
            stdout: String::new(),
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while served.url.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no `listening` line within 30 s; stdout: {}\nstderr: {}",
                    served.stdout,
                    served.stderr.lock().expect("stderr buffer")
                )
            });
            served.stdout.push_str(&line);
            served.stdout.push('\n');
            if let Some(token) = line.trim().strip_prefix("export STEWARD_TOKEN=") {
                served.token = Some(token.to_owned());
            }
            if let Some(rest) = line.strip_prefix("Steward listening on ") {
                served.url = rest.split_whitespace().next().expect("url").to_owned();
            }
        }
        let addr = served.url.trim_start_matches("http://").to_owned();
        while !healthy(&addr) {
            assert!(Instant::now() < deadline, "/healthz never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        served
    }

    /// Runs a client command against this server with `token`.
    pub(crate) fn run(&self, args: &[&str], token: &str) -> Run {
        steward_env(
            args,
            &[("STEWARD_SERVER", &self.url), ("STEWARD_TOKEN", token)],
            b"",
        )
    }

    /// Sends SIGTERM and waits up to 10 s for the process to end.
    pub(crate) fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running 10 s after SIGTERM; stderr: {}",
                self.stderr.lock().expect("stderr buffer")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `steward serve` on `127.0.0.1:0` over `data_dir` (and `database`), with `args` and
/// exactly the `STEWARD_*` variables in `env`; stdin closed.
fn serve_command(
    data_dir: &Path,
    database: Option<&str>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    for var in STEWARD_ENV {
        command.env_remove(var);
    }
    if let Some(url) = database {
        command.env("STEWARD_DATABASE_URL", url);
    }
    command.arg("serve");
    if !args.contains(&"--listen") {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .current_dir(repo_root())
        .stdin(Stdio::null());
    command
}

/// Runs `steward serve` expecting it to refuse to start: waits up to 30 s for it to exit
/// (killing it and failing the test if it is still running) and returns what it printed.
pub(crate) fn serve_refused(
    data_dir: &Path,
    database: Option<&str>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut child = serve_command(data_dir, database, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("steward serve starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`steward serve` was expected to refuse to start, and is running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// `GET /healthz` over a bare TCP connection: true on a 200.
fn healthy(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// A loopback port nothing listens on: bound, then released.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn serve_initialises_serves_clients_and_stops_on_sigterm() {
    let dir = scratch_dir("serve");
    let served = Served::start(&dir);
    let admin = served
        .token
        .clone()
        .unwrap_or_else(|| panic!("first run prints the admin token: {}", served.stdout));
    assert!(served.stdout.contains("First run: Initialised Steward"));
    assert!(
        served.stdout.contains("(database: sqlite://") && served.stdout.contains(", policy spec-"),
        "{}",
        served.stdout
    );
    assert!(dir.join("audit-signing.key").is_file());

    // principal create → token create for it → the new token works.
    let run = served.run(
        &[
            "principal",
            "create",
            "--kind",
            "agent",
            "--name",
            "orchestrator",
            "--role",
            "master",
            "--json",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let agent = run.json()["id"].as_str().unwrap().to_owned();
    let run = served.run(
        &[
            "token",
            "create",
            "--principal",
            &agent,
            "--label",
            "ci",
            "--json",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let created = run.json();
    let agent_token = created["token"].as_str().unwrap().to_owned();
    let run = served.run(&["token", "list"], &agent_token);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(created["id"].as_str().unwrap()),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("active"), "{}", run.stdout);
    assert!(
        !run.stdout.contains(&agent_token),
        "secrets are never listed"
    );

    let run = served.run(&["principal", "list"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("orchestrator  roles: master"),
        "{}",
        run.stdout
    );

    // The agent is not an admin: a 403 becomes one line and exit 2.
    let run = served.run(&["principal", "list"], &agent_token);
    run.assert_invalid("(HTTP 403)");
    assert!(run.stderr.contains("admin, auditor"), "{}", run.stderr);
    // An unknown permit: 404, exit 2.
    served
        .run(&["permit", "show", "no-such-permit"], &admin)
        .assert_invalid("(HTTP 404)");

    // The audit trail: events in order, and the chain verifies.
    let run = served.run(&["audit", "events"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let types: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().nth(3).unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "principal.created",
            "token.created",
            "audit.signing_key_recorded",
            "principal.created",
            "token.created"
        ]
    );
    let run = served.run(&["audit", "verify"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("audit export intact: events 1 to 5")
            && run
                .stdout
                .contains("server's stored chain intact: 5 events"),
        "{}",
        run.stdout
    );

    // Revoke: the token stops working.
    let id = created["id"].as_str().unwrap();
    let run = served.run(&["token", "revoke", id], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    served
        .run(&["token", "list"], &agent_token)
        .assert_invalid("(HTTP 401)");

    let status = served.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status}");

    // A second start finds the data directory initialised: no new token, same admin.
    let again = Served::start(&dir);
    assert_eq!(again.token, None, "{}", again.stdout);
    let run = again.run(&["audit", "verify", "--json"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["ok"], true);
    assert!(again.terminate().success());
}

#[test]
fn client_failures_are_one_line_with_the_right_exit_code() {
    let dir = scratch_dir("client-failures");
    let served = Served::start(&dir);

    let run = served.run(&["token", "list"], "stw_wrong");
    run.assert_invalid("the token is unknown, expired or revoked (HTTP 401)");

    let run = steward_env(
        &["principal", "list"],
        &[("STEWARD_SERVER", &served.url)],
        b"",
    );
    run.assert_invalid("no API token: set `STEWARD_TOKEN`");
    assert!(served.terminate().success());

    // Nothing listening: exit 1 and the hint.
    let url = format!("http://127.0.0.1:{}", free_port());
    let run = steward_env(
        &["audit", "verify", "--server", &url, "--token", "stw_x"],
        &[],
        b"",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("is `steward serve` running at {url}?")),
        "{}",
        run.stderr
    );
}

#[test]
fn worker_and_permit_commands_drive_the_workflow() {
    let dir = scratch_dir("workflow");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    let id_of = |run: Run| -> String {
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()["id"].as_str().expect("id").to_owned()
    };
    let token_for = |principal: &str| -> String {
        let run = served.run(
            &["token", "create", "--principal", principal, "--json"],
            &admin,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()["token"].as_str().expect("token").to_owned()
    };
    let master = id_of(served.run(
        &[
            "principal",
            "create",
            "--kind",
            "agent",
            "--name",
            "m",
            "--role",
            "master",
            "--json",
        ],
        &admin,
    ));
    let master_token = token_for(&master);
    let manager = id_of(served.run(
        &[
            "principal",
            "create",
            "--kind",
            "human",
            "--name",
            "em",
            "--role",
            "engineering_manager",
            "--json",
        ],
        &admin,
    ));
    let manager_token = token_for(&manager);

    let worker = id_of(served.run(
        &[
            "worker", "register", "--name", "bot", "--domain", "metrics", "--json",
        ],
        &master_token,
    ));
    let run = served.run(&["worker", "eligibility", &worker, "--level", "1"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("→ level 1: eligible"), "{}", run.stdout);
    let run = served.run(
        &[
            "worker",
            "promote",
            &worker,
            "--level",
            "1",
            "--role",
            "engineering_manager",
        ],
        &manager_token,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("Approval recorded; promoted to level 1."),
        "{}",
        run.stdout
    );
    // Level 2 needs 30 days at level 1: not eligible, and the exit code says so.
    let run = served.run(&["worker", "eligibility", &worker, "--level", "2"], &admin);
    assert_eq!(run.code, 1, "not eligible exits 1: {}", run.stdout);
    assert!(
        run.stdout.contains("→ level 2: not eligible"),
        "{}",
        run.stdout
    );

    // A read-only production task is auto-approved for a level-1 worker.
    let report = scratch("workflow-report.json");
    std::fs::write(
        &report,
        r#"{"operation_type":"read","resources_accessed":["metrics"],"duration_seconds":3}"#,
    )
    .unwrap();
    let task = scratch("workflow-task.json");
    std::fs::write(
        &task,
        r#"{"id":"t-ro","description":"read metrics","environment":"production","operations":["read"],"read_only":true}"#,
    )
    .unwrap();
    let permit = id_of(served.run(
        &[
            "permit",
            "request",
            "--task",
            task.to_str().unwrap(),
            "--worker",
            &worker,
            "--json",
        ],
        &master_token,
    ));
    for (args, state) in [
        (vec!["permit", "show", &permit], "active"),
        (vec!["permit", "start", &permit], "executing"),
        (
            vec![
                "permit",
                "complete",
                &permit,
                "--outcome",
                "success",
                "--report-file",
                report.to_str().unwrap(),
            ],
            "completed",
        ),
        (
            vec!["permit", "close", &permit, "--actual-level", "1"],
            "closed",
        ),
    ] {
        let run = served.run(&args, &master_token);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(
            run.stdout
                .starts_with(&format!("permit {permit}: {state} ")),
            "{args:?}: {}",
            run.stdout
        );
    }
    let run = served.run(&["permit", "list", "--json"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["items"][0]["state"], "closed");

    // Refusals from the workflow are one line with the status.
    served
        .run(&["permit", "start", &permit], &master_token)
        .assert_invalid("(HTTP 409)");
    let run = served.run(
        &["worker", "revoke", &worker, "--reason", "retired"],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("level 1, revoked"), "{}", run.stdout);
    assert!(served.terminate().success());
}

#[test]
fn audit_checkpoint_and_prove_verify_locally() {
    let dir = scratch_dir("prove");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    let ok = |run: Run| -> Run {
        assert_eq!(
            run.code, 0,
            "stdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    };

    // init wrote the admin, its token and the recorded signing key (3 events); one more
    // principal makes 4.
    ok(served.run(
        &[
            "principal",
            "create",
            "--kind",
            "agent",
            "--name",
            "a1",
            "--role",
            "worker",
        ],
        &admin,
    ));
    let first = ok(served.run(&["audit", "checkpoint", "--json"], &admin)).json();
    assert_eq!(first["tree_size"], 4);
    let key_id = first["key_id"].as_str().expect("key_id").to_owned();

    let run = ok(served.run(&["audit", "prove", "--seq", "1"], &admin));
    assert!(
        run.stdout.starts_with(&format!(
            "event 1 is included in the signed tree of size 4 (root {}, key {key_id})",
            first["root_hash"].as_str().expect("root")
        )),
        "{}",
        run.stdout
    );

    // The public key the server reports is the one init wrote next to the private key.
    let pub_file = dir.join("audit-signing.pub");
    let run = ok(served.run(&["audit", "public-key"], &admin));
    assert_eq!(
        run.stdout,
        std::fs::read_to_string(&pub_file).expect("pub file")
    );
    let pub_path = pub_file.to_str().expect("utf-8 path");
    ok(served.run(
        &[
            "audit",
            "prove",
            "--seq",
            "4",
            "--tree-size",
            "4",
            "--public-key",
            pub_path,
        ],
        &admin,
    ));

    // Pinning another key: the checkpoint's signature does not verify, exit 3.
    let other = ed25519_dalek::SigningKey::from_bytes(&[1; 32])
        .verifying_key()
        .to_bytes();
    let other: String = other.iter().map(|b| format!("{b:02x}")).collect();
    let run = served.run(
        &[
            "audit",
            "prove",
            "--seq",
            "1",
            "--public-key",
            &format!("ed25519:{other}"),
        ],
        &admin,
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "steward: NOT VERIFIED: the checkpoint of tree size 4 is not validly signed"
        ),
        "{}",
        run.stderr
    );
    // An event after the signed tree is not proven by it.
    let run = served.run(&["audit", "prove", "--seq", "5"], &admin);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("after the signed tree of size 4"),
        "{}",
        run.stderr
    );

    // A second checkpoint (covering the first one's event, and a new principal), listed,
    // and consistent with the first.
    ok(served.run(
        &[
            "principal",
            "create",
            "--kind",
            "agent",
            "--name",
            "a2",
            "--role",
            "worker",
        ],
        &admin,
    ));
    let second = ok(served.run(&["audit", "checkpoint", "--json"], &admin)).json();
    assert_eq!(second["tree_size"], 6);
    let run = ok(served.run(&["audit", "checkpoints"], &admin));
    let sizes: Vec<&str> = run
        .stdout
        .lines()
        .map(|line| line.split_whitespace().next().expect("size"))
        .collect();
    assert_eq!(sizes, ["4", "6"], "{}", run.stdout);
    let run = ok(served.run(&["audit", "prove", "--consistency", "4", "6"], &admin));
    assert!(
        run.stdout.starts_with("the signed tree of size 4 (root "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("is a prefix of the signed tree of size 6"),
        "{}",
        run.stdout
    );
    let run = ok(served.run(&["audit", "prove", "--seq", "5", "--json"], &admin));
    assert_eq!(run.json()["verified"], true);
    assert_eq!(run.json()["tree_size"], 6);

    // No checkpoint of that size: the server's 404, exit 2.
    served
        .run(&["audit", "prove", "--consistency", "4", "5"], &admin)
        .assert_invalid("checkpoint of tree size `5` not found (HTTP 404)");
    assert!(served.terminate().success());
}

#[test]
fn a_second_serve_on_one_sqlite_database_refuses_to_start() {
    // Issue 10: on SQLite an instance answers authentication from memory, exact only while
    // it is the database's one writer, so a second process must not serve the file.
    let dir = scratch_dir("sole-writer");
    let first = Served::start(&dir);
    let second = serve_refused(&dir, None, &[], &[]);
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("another `steward serve` is running on the SQLite database"),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("PostgreSQL"), "{}", second.stderr);
    // The first one still answers; once it stops, the database can be served again.
    let token = first.token.clone().expect("admin token");
    let listed = first.run(&["principal", "list"], &token);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(first.terminate().success());
    let again = Served::start(&dir);
    assert!(again.terminate().success());
}

#[test]
fn serve_refuses_a_malformed_signing_key() {
    let dir = scratch_dir("bad-key");
    std::fs::create_dir_all(&dir).expect("data dir");
    std::fs::write(dir.join("audit-signing.key"), b"short").expect("key file");
    let data_dir = dir.to_str().expect("utf-8 path");
    let run = steward_env(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        &[],
        b"",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("audit-signing.key` is not an audit signing key: expected 32 bytes, found 5"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn serve_refuses_a_public_url_that_is_not_http_before_starting() {
    let dir = scratch_dir("bad-public-url");
    let data_dir = dir.to_str().expect("utf-8 path");
    let run = steward_env(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir,
            "--public-url",
            "steward.example.com",
        ],
        &[],
        b"",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "`--public-url`: `steward.example.com` is not an http(s) URL such as `https://steward.example.com`"
        ),
        "{}",
        run.stderr
    );
    // Refused before anything started: no data directory was initialised.
    assert!(!dir.join("steward.db").exists());
}

#[test]
fn audit_export_verifies_offline_and_names_the_damaged_seq_on_sqlite() {
    audit_export_scenario("export-sqlite", None);
}

#[test]
fn audit_export_verifies_offline_and_names_the_damaged_seq_on_postgres() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `None` when PostgreSQL is unreachable and not required (see steward_store::testing).
    let Some(db) = runtime.block_on(steward_store::testing::postgres_store()) else {
        return;
    };
    audit_export_scenario("export-postgres", Some(db.url()));
    drop(db);
}

/// Export, offline verification (intact, damaged, garbage), resuming, online
/// verification and event filters, against `steward serve` on `database` (default: the
/// SQLite file in the data directory).
fn audit_export_scenario(name: &str, database: Option<&str>) {
    let dir = scratch_dir(name);
    let served = Served::start_on(&dir, database);
    assert_eq!(
        dir.join("steward.db").exists(),
        database.is_none(),
        "the server runs on the database given"
    );
    let admin = served.token.clone().expect("admin token");
    let ok = |run: Run| -> Run {
        assert_eq!(
            run.code, 0,
            "stdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    };
    let principal = |name: &str| {
        ok(served.run(
            &[
                "principal",
                "create",
                "--kind",
                "agent",
                "--name",
                name,
                "--role",
                "worker",
            ],
            &admin,
        ));
    };
    // init: 3 events; then principals and checkpoints (each checkpoint adds an event).
    principal("a1");
    principal("a2");
    ok(served.run(&["audit", "checkpoint"], &admin));
    principal("a3");
    ok(served.run(&["audit", "checkpoint"], &admin));
    principal("a4");
    let pub_file = dir.join("audit-signing.pub");
    let pub_path = pub_file.to_str().expect("utf-8 path");

    // A whole export: written through FILE.partial, then verified without a server.
    let file = dir.join("trail.jsonl");
    let file_path = file.to_str().expect("utf-8 path");
    let run = ok(served.run(&["audit", "export", "--output", file_path], &admin));
    assert!(
        run.stdout
            .starts_with("exported 9 events (seq 1 to 9) and 2 checkpoints"),
        "{}",
        run.stdout
    );
    assert!(!dir.join("trail.jsonl.partial").exists());
    let offline = |path: &str| {
        steward_env(
            &[
                "audit",
                "verify",
                "--offline",
                path,
                "--public-key",
                pub_path,
            ],
            &[],
            b"",
        )
    };
    let run = ok(offline(file_path));
    assert!(
        run.stdout
            .starts_with("audit export intact: events 1 to 9, 2 checkpoints"),
        "{}",
        run.stdout
    );

    // One byte changed in event 3's hash: exit 3, naming seq 3.
    let text = std::fs::read_to_string(&file).expect("export file");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[3].contains("\"seq\":3,"), "{}", lines[3]);
    let at = lines[3].find("\"hash\":\"").expect("hash field") + 8;
    let mut damaged_line = lines[3].as_bytes().to_vec();
    damaged_line[at] = if damaged_line[at] == b'0' { b'1' } else { b'0' };
    let mut damaged = lines.clone();
    let damaged_text = String::from_utf8(damaged_line).expect("utf-8");
    damaged[3] = &damaged_text;
    let damaged_file = dir.join("damaged.jsonl");
    std::fs::write(&damaged_file, damaged.join("\n") + "\n").expect("write");
    let run = offline(damaged_file.to_str().expect("utf-8 path"));
    assert_eq!(
        run.code, 3,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout
            .starts_with("audit export DAMAGED at seq 3 (event_altered): hash mismatch"),
        "{}",
        run.stdout
    );

    // Not an export at all, or no such file: exit 2.
    let garbage = dir.join("garbage.jsonl");
    std::fs::write(&garbage, b"hello\nworld\n").expect("write");
    offline(garbage.to_str().expect("utf-8 path")).assert_invalid("is not an audit export");
    offline("/nonexistent/trail.jsonl").assert_invalid("cannot read");
    steward_env(
        &[
            "audit",
            "verify",
            "--offline",
            file_path,
            "--public-key",
            "ed25519:zz",
        ],
        &[],
        b"",
    )
    .assert_invalid("--public-key");

    // Resumed from seq 6: verifies on its own, and appended to the first five events and
    // the checkpoint of tree size 5 that follows them.
    let resumed = dir.join("resumed.jsonl");
    let resumed_path = resumed.to_str().expect("utf-8 path");
    let run = ok(served.run(
        &[
            "audit",
            "export",
            "--from-seq",
            "6",
            "--output",
            resumed_path,
        ],
        &admin,
    ));
    assert!(
        run.stdout.starts_with("exported 4 events (seq 6 to 9)"),
        "{}",
        run.stdout
    );
    let run = ok(offline(resumed_path));
    assert!(
        run.stdout.contains("merkle roots not checked"),
        "{}",
        run.stdout
    );
    let upto5 = lines
        .iter()
        .position(|l| l.contains("\"seq\":5,"))
        .expect("event 5")
        + 1;
    assert!(
        lines[upto5].starts_with("{\"checkpoint\":"),
        "{}",
        lines[upto5]
    );
    let resumed_text = std::fs::read_to_string(&resumed).expect("resumed file");
    let joined = dir.join("joined.jsonl");
    std::fs::write(&joined, lines[..=upto5].join("\n") + "\n" + &resumed_text).expect("write");
    let run = ok(offline(joined.to_str().expect("utf-8 path")));
    assert!(
        run.stdout
            .starts_with("audit export intact: events 1 to 9, 2 checkpoints"),
        "{}",
        run.stdout
    );

    // Online: the export is checked here, and the server's own check is reported too.
    let run = ok(served.run(&["audit", "verify", "--public-key", pub_path], &admin));
    assert!(
        run.stdout.contains("server's stored chain intact"),
        "{}",
        run.stdout
    );

    // Filters: only principal events, only audit events.
    let run = ok(served.run(
        &["audit", "events", "--type", "principal.*", "--json"],
        &admin,
    ));
    let types: Vec<String> = run.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect();
    assert_eq!(types, ["principal.created"; 5]);
    let run = ok(served.run(
        &["audit", "events", "--type", "audit.checkpoint_created"],
        &admin,
    ));
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    served
        .run(&["audit", "events", "--type", "Bad Type"], &admin)
        .assert_invalid("`type` must be an event type");

    // A manifest forged for seqs 1 to 3 (contiguous from seq 1, so the triggers let its
    // events go) and the events deleted: the export still answers, and `audit verify`
    // exits 3 naming seq 1 and the kind, from the export and the server's own check.
    let url = database.map_or_else(
        || format!("sqlite://{}", dir.join("steward.db").display()),
        str::to_owned,
    );
    forge_a_manifest_and_delete_its_events(&url, database.is_none());
    let run = served.run(&["audit", "verify", "--public-key", pub_path], &admin);
    assert_eq!(
        run.code, 3,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout
            .starts_with("audit export DAMAGED at seq 1 (manifest_forged): manifest of seq 1 to 3")
            && run.stdout.contains(
                "server's stored trail DAMAGED at seq 1 (manifest_forged): manifest of seq 1 to 3"
            ),
        "{}",
        run.stdout
    );
    let run = served.run(&["audit", "verify", "--json"], &admin);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let result = run.json();
    assert_eq!(
        (&result["ok"], &result["first_bad_seq"], &result["kind"]),
        (&json!(false), &json!(1), &json!("manifest_forged")),
        "{result}"
    );
    assert_eq!(result["server"]["kind"], "manifest_forged", "{result}");

    assert!(served.terminate().success());
}

/// Past the triggers as an attacker with database access would: a manifest for seqs 1
/// to 3 that nobody signed (it links: its hashes are the events'), then the events.
fn forge_a_manifest_and_delete_its_events(url: &str, sqlite: bool) {
    let (z32, z64) = if sqlite {
        ("zeroblob(32)", "zeroblob(64)")
    } else {
        (
            "decode(repeat('00', 32), 'hex')",
            "decode(repeat('00', 64), 'hex')",
        )
    };
    let sql = format!(
        "INSERT INTO audit_manifests (first_seq, last_seq, event_count, prev_hash, first_hash, \
         last_hash, range_root, tree_size, tree_root, ts, key_id, signature) VALUES \
         (1, 3, 3, {z32}, (SELECT hash FROM audit_events WHERE seq = 1), \
         (SELECT hash FROM audit_events WHERE seq = 3), {z32}, 3, {z32}, 0, \
         '0000000000000000', {z64}); DELETE FROM audit_events WHERE seq <= 3;"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = steward_store::Store::connect(url).await.expect("open");
        steward_store::testing::execute(&store, &sql)
            .await
            .expect("forge");
        store.close().await;
    });
}

/// SPEC §9 / the audit issue: an event acknowledged to a client survives `kill -9` of the
/// server (SQLite in WAL mode: the commit is in the WAL before the answer is sent).
#[test]
fn acknowledged_changes_and_their_events_survive_kill_9() {
    let dir = scratch_dir("kill9");
    let mut served = Served::start(&dir);
    let admin = served
        .token
        .clone()
        .expect("first run prints the admin token");
    let names: Vec<String> = (0..12).map(|i| format!("survivor-{i}")).collect();
    for name in &names {
        let run = served.run(
            &[
                "principal",
                "create",
                "--kind",
                "agent",
                "--name",
                name,
                "--role",
                "worker",
            ],
            &admin,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let before = served.run(&["audit", "events", "--limit", "1000", "--json"], &admin);
    assert_eq!(before.code, 0, "{}", before.stderr);
    let acknowledged = before.json()["items"].as_array().expect("items").len();

    // SIGKILL: no shutdown path runs, nothing is flushed by Steward.
    served.child.kill().expect("kill -9");
    served.child.wait().expect("reaped");

    let restarted = Served::start(&dir);
    assert!(restarted.token.is_none(), "a restart initialises nothing");
    let list = restarted.run(&["principal", "list", "--json"], &admin);
    assert_eq!(list.code, 0, "{}", list.stderr);
    for name in &names {
        assert!(
            list.stdout.contains(name.as_str()),
            "`{name}` lost: {}",
            list.stdout
        );
    }
    let after = restarted.run(&["audit", "events", "--limit", "1000", "--json"], &admin);
    assert!(after.json()["items"].as_array().expect("items").len() >= acknowledged);
    let verify = restarted.run(&["audit", "verify"], &admin);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}

#[test]
fn audit_tail_prints_events_as_they_are_appended() {
    let dir = scratch_dir("tail");
    let served = Served::start(&dir);
    let admin = served
        .token
        .clone()
        .expect("first run prints the admin token");
    let mut tail = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["audit", "tail", "--follow", "--from-seq", "1", "--json"])
        .env("STEWARD_SERVER", &served.url)
        .env("STEWARD_TOKEN", &admin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("steward audit tail starts");
    let (tx, rx) = mpsc::channel();
    let out = tail.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The tail replays from seq 1, so it finds the event whenever it connects.
    let run = served.run(
        &[
            "principal",
            "create",
            "--kind",
            "human",
            "--name",
            "tailed",
            "--role",
            "auditor",
            "--json",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tailed = run.json()["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line)
                if serde_json::from_str::<serde_json::Value>(&line).is_ok_and(|e| {
                    // The name travels encrypted (as stored); the id identifies it.
                    e["type"] == "principal.created"
                        && e["data"]["principal_id"] == tailed.as_str()
                        && e["data"]["personal"]["ciphertext"].is_string()
                }) =>
            {
                break true;
            }
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(
        found,
        "tail printed no `principal.created` for `tailed`; saw {seen:?}"
    );
}

#[test]
fn telemetry_fires_a_rollback_and_the_outcome_is_reported() {
    let dir = scratch_dir("monitoring");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    let ok = |run: Run| -> Run {
        assert_eq!(
            run.code, 0,
            "stdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    };
    let id_of = |run: Run| -> String { ok(run).json()["id"].as_str().expect("id").to_owned() };
    let token_for = |principal: &str| -> String {
        let run = ok(served.run(
            &["token", "create", "--principal", principal, "--json"],
            &admin,
        ));
        run.json()["token"].as_str().expect("token").to_owned()
    };
    let principal = |kind: &str, name: &str, role: &str| -> String {
        id_of(served.run(
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
        ))
    };
    let master = token_for(&principal("agent", "m", "master"));
    let manager = token_for(&principal("human", "em", "engineering_manager"));
    let worker = id_of(served.run(
        &[
            "worker", "register", "--name", "bot", "--domain", "metrics", "--json",
        ],
        &master,
    ));
    ok(served.run(
        &[
            "worker",
            "promote",
            &worker,
            "--level",
            "1",
            "--role",
            "engineering_manager",
        ],
        &manager,
    ));
    let task = scratch("monitoring-task.json");
    std::fs::write(
        &task,
        r#"{"id":"t-mon","description":"read metrics","environment":"production","operations":["read"],"read_only":true}"#,
    )
    .unwrap();
    let permit = id_of(served.run(
        &[
            "permit",
            "request",
            "--task",
            task.to_str().unwrap(),
            "--worker",
            &worker,
            "--json",
        ],
        &master,
    ));
    ok(served.run(&["permit", "start", &permit], &master));

    // Bad input never reaches the server: exit 2.
    served
        .run(&["permit", "telemetry", &permit], &master)
        .assert_invalid("at least one of");
    served
        .run(
            &["permit", "telemetry", &permit, "--error-rate", "2"],
            &master,
        )
        .assert_invalid("--error-rate");
    let run = served.run(
        &["permit", "telemetry", &permit, "--health", "maybe"],
        &master,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);

    for _ in 0..2 {
        let run = ok(served.run(
            &["permit", "telemetry", &permit, "--health", "fail"],
            &master,
        ));
        assert!(run.stdout.contains("no trigger fired"), "{}", run.stdout);
    }
    let run = ok(served.run(
        &[
            "permit",
            "telemetry",
            &permit,
            "--health",
            "fail",
            "--error-rate",
            "0.001",
        ],
        &master,
    ));
    assert!(
        run.stdout
            .contains("TRIGGER FIRED (health_checks: observed 3.0 over limit 3.0); permit revoked"),
        "{}",
        run.stdout
    );
    let shown = ok(served.run(&["permit", "show", &permit, "--json"], &master)).json();
    assert_eq!(shown["revocation_reason"], "constraint_breach");
    // The permit is revoked: more telemetry is refused (HTTP 409, exit 2).
    served
        .run(&["permit", "telemetry", &permit, "--health", "ok"], &master)
        .assert_invalid("(HTTP 409)");

    let open = ok(served.run(&["rollback", "list", "--status", "open", "--json"], &admin)).json();
    assert_eq!(open["items"][0]["permit_id"], permit.as_str());
    let run = served.run(
        &["permit", "rollback", &permit, "--outcome", "maybe"],
        &master,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("expected one of: succeeded, failed"),
        "{}",
        run.stderr
    );
    let run = ok(served.run(
        &[
            "permit",
            "rollback",
            &permit,
            "--outcome",
            "succeeded",
            "--notes",
            "restarted",
        ],
        &master,
    ));
    assert!(
        run.stdout.contains("succeeded") && run.stdout.contains("within SLA"),
        "{}",
        run.stdout
    );
    let run = ok(served.run(&["rollback", "show", &permit], &admin));
    assert!(run.stdout.starts_with("rollback "), "{}", run.stdout);
    let open = ok(served.run(&["rollback", "list", "--status", "open", "--json"], &admin)).json();
    assert_eq!(open["items"], serde_json::json!([]));
    assert!(served.terminate().success());
}

#[test]
fn audit_prune_manifests_and_holds_through_the_binary() {
    let dir = scratch_dir("retention");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    let ok = |run: Run| -> Run {
        assert_eq!(
            run.code, 0,
            "stdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    };

    // Fresh events are inside their retention (and unsigned): nothing would go.
    let run = ok(served.run(&["audit", "prune", "--dry-run"], &admin));
    assert!(
        run.stdout
            .starts_with("would prune 0 events\nstopped at seq 1: "),
        "{}",
        run.stdout
    );
    let plan = ok(served.run(&["audit", "prune", "--dry-run", "--json"], &admin)).json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["stopped_at"]["seq"], 1);
    let run = ok(served.run(&["audit", "manifests"], &admin));
    assert_eq!(run.stdout, "no pruned ranges\n");

    // A hold needs exactly one scope: clap refuses none (exit 2), nothing is written.
    let run = served.run(&["audit", "hold", "add", "--reason", "case 7"], &admin);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let held = ok(served.run(
        &[
            "audit",
            "hold",
            "add",
            "--first-seq",
            "1",
            "--last-seq",
            "2",
            "--reason",
            "case 7",
            "--json",
        ],
        &admin,
    ))
    .json();
    assert_eq!(
        (held["scope"].as_str(), held["state"].as_str()),
        (Some("range"), Some("active"))
    );
    let id = held["id"].as_str().expect("id").to_owned();
    let run = ok(served.run(&["audit", "hold", "list"], &admin));
    assert!(
        run.stdout
            .starts_with(&format!("{id}  active    seq 1 to 2  since ")),
        "{}",
        run.stdout
    );
    let run = ok(served.run(
        &["audit", "hold", "release", &id, "--reason", "case closed"],
        &admin,
    ));
    assert!(run.stdout.contains("released"), "{}", run.stdout);
    served
        .run(
            &["audit", "hold", "release", &id, "--reason", "again"],
            &admin,
        )
        .assert_invalid("(HTTP 409)");
    let run = ok(served.run(&["audit", "hold", "list"], &admin));
    assert_eq!(run.stdout, "no legal holds\n");
    let all = ok(served.run(&["audit", "hold", "list", "--all", "--json"], &admin)).json();
    assert_eq!(all["items"][0]["release_reason"], "case closed");

    // Both hold acts are in the trail, which still verifies.
    let run = ok(served.run(&["audit", "events", "--type", "audit.*"], &admin));
    assert!(
        run.stdout.contains("audit.hold_created") && run.stdout.contains("audit.hold_released"),
        "{}",
        run.stdout
    );
    ok(served.run(&["audit", "verify"], &admin));
}

#[test]
fn principal_erase_keeps_the_export_verifiable_offline() {
    let dir = scratch_dir("erase");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    let name = "Xavier Erasable-Cli";
    let run = served.run(
        &[
            "principal",
            "create",
            "--kind",
            "human",
            "--name",
            name,
            "--role",
            "auditor",
            "--json",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.json()["id"].as_str().expect("id").to_owned();
    let run = served.run(
        &[
            "token",
            "create",
            "--principal",
            &id,
            "--label",
            "x",
            "--json",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let auditor = run.json()["token"].as_str().expect("token").to_owned();

    // Not an admin: refused with exit 2.
    let run = served.run(&["principal", "erase", &id], &auditor);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = served.run(&["principal", "erase", "no-such-principal"], &admin);
    assert_eq!(run.code, 2, "{}", run.stderr);

    let run = served.run(&["principal", "erase", &id], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!(
            "Erased the personal data of principal {id}: its key is destroyed, its name is now `erased:{id}`."
        )),
        "{}",
        run.stdout
    );
    let run = served.run(&["principal", "erase", &id, "--json"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["erased_now"], false);

    let run = served.run(
        &["audit", "events", "--type", "principal.*", "--json"],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains(name), "{}", run.stdout);
    let events = run.json();
    let created = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["type"] == "principal.created" && e["data"]["principal_id"] == id.as_str())
        .expect("principal.created");
    assert_eq!(
        events["personal"][created["seq"].to_string()],
        serde_json::json!({"subject": id, "erased": true})
    );
    let run = served.run(&["audit", "events", "--type", "principal.created"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("personal=erased"), "{}", run.stdout);

    ok_export_verifies_offline(&served, &dir, &admin, name);
}

/// Exports the trail through `steward audit export` and verifies it offline with only
/// the public key; the export holds no `plaintext`.
fn ok_export_verifies_offline(served: &Served, dir: &Path, admin: &str, plaintext: &str) {
    let run = served.run(&["audit", "checkpoint"], admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let file = dir.join("erased.jsonl");
    let file_path = file.to_str().expect("utf-8 path");
    let run = served.run(&["audit", "export", "--output", file_path], admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&file).expect("export file");
    assert!(!text.contains(plaintext));
    let public_key = dir.join("audit-signing.pub");
    let run = steward_env(
        &[
            "audit",
            "verify",
            "--offline",
            file_path,
            "--public-key",
            public_key.to_str().expect("utf-8 path"),
        ],
        &[],
        b"",
    );
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.starts_with("audit export intact"),
        "{}",
        run.stdout
    );
}

#[test]
fn report_compliance_prints_markdown_or_json() {
    let dir = scratch_dir("report");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    let run = served.run(
        &[
            "principal",
            "create",
            "--kind",
            "agent",
            "--name",
            "reported",
            "--role",
            "worker",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let period = ["--from", "2000-01-01", "--to", "2199-12-31"];
    let args = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["report", "compliance", "--framework", "GDPR"];
        args.extend(period);
        args.extend(extra);
        args
    };

    let run = served.run(&args(&[]), &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("# GDPR compliance report\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Intact: the hash chain verifies"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("| Art.17 |"), "{}", run.stdout);
    assert!(
        run.stdout.contains("| principal.created |"),
        "{}",
        run.stdout
    );

    assert!(
        run.stdout
            .contains("Period: 2000-01-01 00:00 UTC to 2200-01-01 00:00 UTC (end exclusive;"),
        "{}",
        run.stdout
    );
    let run = served.run(&args(&["--tz", "Europe/Paris"]), &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "Period: 2000-01-01 00:00 Europe/Paris (UTC+01:00) to 2200-01-01 00:00 Europe/Paris (UTC+01:00)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Times are in Europe/Paris."),
        "{}",
        run.stdout
    );
    let run = served.run(&args(&["--tz", "Nowhere/Atlantis"]), &admin);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("`tz` must be an IANA time zone name"),
        "{}",
        run.stderr
    );

    let run = served.run(&args(&["--format", "json"]), &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["framework"], "GDPR");
    assert_eq!(report["time_zone"], "UTC");
    assert_eq!(report["verification"]["ok"], true);
    assert!(
        report["counts"]["principal.created"].as_u64() >= Some(2),
        "{report}"
    );

    // A bad framework (clap) and a bad date (the server's 400) are exit 2.
    let run = served.run(
        &[
            "report",
            "compliance",
            "--framework",
            "ISO",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
        ],
        &admin,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = served.run(
        &[
            "report",
            "compliance",
            "--framework",
            "SOX",
            "--from",
            "2026-02-30",
            "--to",
            "2026-03-31",
        ],
        &admin,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("`from` must be a date YYYY-MM-DD"),
        "{}",
        run.stderr
    );
}
