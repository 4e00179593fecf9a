//! Rehearsal mode (issue 13) through the real `steward` binary: `steward serve
//! --rehearsal`, `steward clock advance`, the level-4 time path run by the real
//! maintenance loop (168 h overdue and escalated to the executives, 336 h expired, a late
//! approval refused in words a person understands), every event marked as a rehearsal's,
//! and a database that keeps the mode of its first serve.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Served;
use crate::support::{Run, scratch, scratch_dir, steward_env};

fn healthz(url: &str) -> Value {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

fn id_of(run: &Run) -> String {
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()["id"].as_str().expect("id").to_owned()
}

fn human(served: &Served, admin: &str, name: &str, role: &str) -> String {
    let id = id_of(&served.run(
        &[
            "principal",
            "create",
            "--kind",
            "human",
            "--name",
            name,
            "--role",
            role,
            "--json",
        ],
        admin,
    ));
    let run = served.run(&["token", "create", "--principal", &id, "--json"], admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()["token"].as_str().expect("token").to_owned()
}

/// Waits (up to 20 s) until `check` holds of `permit show --json`: the maintenance loop
/// fires timers once a second.
fn eventually(served: &Served, admin: &str, permit: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown = served
            .run(&["permit", "show", permit, "--json"], admin)
            .json();
        if check(&shown) {
            return shown;
        }
        assert!(Instant::now() < deadline, "never happened: {shown}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn level_4_evidence() -> Value {
    json!({
        "rollback_plan": {"steps": ["restore the users table from the pre-migration snapshot"],
                          "verification": ["row counts match the snapshot"], "estimated_minutes": 8},
        "test_results": "https://ci.example.com/users/runs/88",
        "code_review": "https://git.example.com/users/pull/12",
        "rollback_tested": "2026-11-20",
        "security_review": "SEC-41",
        "impact_analysis": "docs/impact/users-phone.md",
        "rollback_rehearsed": "2026-11-21",
        "architecture_review": "ARCH-7",
        "risk_assessment": "RISK-19",
        "business_justification": "phone verification for account recovery",
        "customer_communication_plan": "none needed: no visible change",
        "data_protection_impact_assessment": "DPIA-2026-07",
    })
}

#[test]
fn the_level_4_time_path_rehearses_escalation_expiry_and_a_late_approval() {
    let dir = scratch_dir("rehearsal");
    let served = Served::start_with(&dir, None, &["--rehearsal"], &[]);
    let admin = served.token.clone().expect("admin token");
    assert!(
        served_said_rehearsal(&served),
        "the start says it is a rehearsal"
    );
    let health = healthz(&served.url);
    assert_eq!(health["run_mode"], "rehearsal", "{health}");

    // A level-4 worker (initially certified by three executives) and its request.
    let vp = human(&served, &admin, "vera", "vp_engineering");
    let cto = human(&served, &admin, "carl", "cto");
    let ciso = human(&served, &admin, "cleo", "ciso");
    let worker = id_of(&served.run(
        &["worker", "register", "--name", "schema-bot", "--json"],
        &admin,
    ));
    let run = served.run(
        &[
            "worker",
            "certify",
            &worker,
            "--level",
            "4",
            "--prior-operations",
            "1200",
            "--document",
            "three years of schema migrations, audited quarterly",
            "--justification",
            "ran every users-table migration since 2023 with no incident",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (token, role) in [(&vp, "vp_engineering"), (&cto, "cto"), (&ciso, "ciso")] {
        let run = served.run(
            &["worker", "approve-certification", &worker, "--role", role],
            token,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let evidence = scratch("rehearsal-evidence.json");
    std::fs::write(&evidence, level_4_evidence().to_string()).expect("evidence");
    let run = served.run(
        &[
            "permit",
            "request",
            "--task",
            "examples/pii-migration.json",
            "--worker",
            &worker,
            "--evidence-file",
            evidence.to_str().expect("utf-8"),
            "--json",
        ],
        &admin,
    );
    let permit = id_of(&run);
    let shown = served.run(&["permit", "show", &permit], &admin);
    assert!(
        shown.stdout.contains("the request expires"),
        "{}",
        shown.stdout
    );
    assert!(
        !shown.stdout.contains("never"),
        "a request under review expires: {}",
        shown.stdout
    );
    let run = served.run(&["permit", "list", "--overdue"], &admin);
    assert_eq!(run.stdout, "no permits\n", "not overdue yet");

    // 168 h later: overdue, escalated to the executives.
    let run = served.run(&["clock", "advance", "168h"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.ends_with("(rehearsal)\n"), "{}", run.stdout);
    let shown = eventually(&served, &admin, &permit, |p| p["review"]["overdue"] == true);
    assert_eq!(
        shown["review"]["escalated_to"],
        json!(["vp_engineering", "cto", "ciso", "coo"])
    );
    let run = served.run(&["permit", "list", "--overdue"], &admin);
    assert!(
        run.stdout.contains(&permit)
            && run
                .stdout
                .contains("escalated to vp_engineering, cto, ciso, coo"),
        "{}",
        run.stdout
    );
    let events = wait_for_event(&served, &admin, &permit, "permit.escalated");
    assert_eq!(
        events["data"]["roles"],
        json!(["vp_engineering", "cto", "ciso", "coo"])
    );

    // 336 h after the request: expired; a late approval is refused in plain words.
    let run = served.run(&["clock", "advance", "168h"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    eventually(&served, &admin, &permit, |p| p["state"] == "expired");
    let run = served.run(&["permit", "approve", &permit, "--role", "cto"], &cto);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("the request expired")
            && run.stderr.contains("a new permit request is needed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("quorum_met"), "{}", run.stderr);

    // Every event made under the rehearsal says so, where the hash covers it.
    let run = served.run(&["audit", "events", "--limit", "1000", "--json"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all = run.json()["items"].as_array().cloned().expect("events");
    assert!(all.len() > 20, "{}", all.len());
    for event in &all {
        assert_eq!(event["data"]["run_mode"], "rehearsal", "{event}");
    }
    let run = served.run(&["audit", "verify"], &admin);
    assert_eq!(run.code, 0, "{}", run.stdout);
    served.terminate();

    // The database keeps its mode: no production serve of a rehearsal's trail.
    let refused = steward_env(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().expect("utf-8"),
        ],
        &[],
        b"",
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("run in rehearsal mode and cannot be served in production mode"),
        "{}",
        refused.stderr
    );
    // A restarted rehearsal resumes its time (two weeks ahead), not the wall clock's.
    let again = Served::start_with(&dir, None, &["--rehearsal"], &[]);
    let now = healthz(&again.url)["now_ms"].as_i64().expect("now_ms");
    let wall = chrono_now_ms();
    assert!(now - wall >= 335 * 3_600_000, "{now} vs {wall}");
    again.terminate();
}

#[test]
fn a_production_database_is_never_rehearsed_and_production_never_advances() {
    let dir = scratch_dir("production-mode");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    assert_eq!(healthz(&served.url)["run_mode"], "production");
    let run = served.run(&["clock", "advance", "25h"], &admin);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("only under `steward serve --rehearsal`"),
        "{}",
        run.stderr
    );
    served.terminate();
    let refused = steward_env(
        &[
            "serve",
            "--rehearsal",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().expect("utf-8"),
        ],
        &[],
        b"",
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("run in production mode and cannot be served in rehearsal mode"),
        "{}",
        refused.stderr
    );
}

fn served_said_rehearsal(served: &Served) -> bool {
    served.stdout.contains("REHEARSAL: not for production")
}

fn chrono_now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

/// The first event of `kind` about `permit`, waiting for the maintenance loop.
fn wait_for_event(served: &Served, admin: &str, permit: &str, kind: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = served.run(
            &[
                "audit", "events", "--permit", permit, "--type", kind, "--json",
            ],
            admin,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        if let Some(event) = run.json()["items"]
            .as_array()
            .and_then(|a| a.first().cloned())
        {
            return event;
        }
        assert!(Instant::now() < deadline, "no `{kind}` event");
        std::thread::sleep(Duration::from_millis(200));
    }
}
