//! Issue 9, item 6, end to end: `steward serve --checkpoint-sink FILE` publishes every
//! checkpoint it signs, and `steward audit verify --checkpoint FILE` finds a truncation
//! that also removed the later checkpoints and Merkle nodes (which `steward audit verify`
//! alone cannot), against a saved `GET …/latest` answer and against the sink, also once
//! new events make the tree larger again; a healthy trail verifies; a forged or unusable
//! file is exit 2; a restarted instance will not sign the rewritten trail.

use std::path::Path;

use super::Served;
use crate::support::{Run, scratch_dir, steward_env};

#[test]
fn issue_9_verify_against_a_witnessed_checkpoint_on_sqlite() {
    witness_scenario("witness-sqlite", None);
}

#[test]
fn issue_9_verify_against_a_witnessed_checkpoint_on_postgres() {
    let runtime = runtime();
    // `None` when PostgreSQL is unreachable and not required (see steward_store::testing).
    let Some(db) = runtime.block_on(steward_store::testing::postgres_store()) else {
        return;
    };
    witness_scenario("witness-postgres", Some(db.url()));
    drop(db);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[track_caller]
fn ok(run: Run) -> Run {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run
}

#[track_caller]
fn damaged(run: Run) -> Run {
    assert_eq!(
        run.code, 3,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run
}

/// The truncation attack on the server's database (see
/// `steward_store::testing::truncate_audit_trail`).
fn truncate(dir: &Path, database: Option<&str>, keep: u64) {
    let url = database.map_or_else(
        || format!("sqlite://{}", dir.join("steward.db").display()),
        str::to_owned,
    );
    runtime().block_on(async {
        let store = steward_store::Store::connect(&url)
            .await
            .expect("connect to the server's database");
        steward_store::testing::truncate_audit_trail(&store, keep)
            .await
            .expect("truncate");
        store.close().await;
    });
}

fn witness_scenario(name: &str, database: Option<&str>) {
    let dir = scratch_dir(name);
    let sink = dir.join("checkpoints.jsonl");
    let sink_path = sink.to_str().expect("utf-8 path");
    let served = Served::start_with(&dir, database, &["--checkpoint-sink", sink_path], &[]);
    let admin = served.token.clone().expect("admin token");
    let principal = |served: &Served, name: &str| {
        ok(served.run(
            &["principal", "create", "--kind", "agent", "--name", name],
            &admin,
        ));
    };
    for n in 0..3 {
        principal(&served, &format!("a{n}"));
    }
    ok(served.run(&["audit", "checkpoint"], &admin));
    for n in 0..4 {
        principal(&served, &format!("b{n}"));
    }
    // The operator keeps this answer elsewhere.
    let latest = ok(served.run(&["audit", "checkpoint", "--json"], &admin)).json();
    let witnessed_size = latest["tree_size"].as_u64().expect("tree_size");
    let saved = dir.join("latest.json");
    std::fs::write(&saved, serde_json::to_vec_pretty(&latest).expect("json")).expect("write");
    let saved_path = saved.to_str().expect("utf-8 path");
    for n in 0..3 {
        principal(&served, &format!("c{n}"));
    }
    ok(served.run(&["audit", "checkpoint"], &admin));
    principal(&served, "d0");

    // The sink holds one line per checkpoint, the witnessed one among them.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&sink)
        .expect("sink")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    assert!(lines.contains(&latest), "{lines:?}");

    // Healthy: consistent with both witnesses.
    let run = ok(served.run(&["audit", "verify", "--checkpoint", saved_path], &admin));
    assert!(
        run.stdout
            .contains("audit trail consistent with the witnessed checkpoint"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("verified here"), "{}", run.stdout);
    let run = ok(served.run(
        &["audit", "verify", "--checkpoint", sink_path, "--json"],
        &admin,
    ));
    let report = run.json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["local"]["ok"], true, "{report}");
    assert_eq!(report["server"]["ok"], true, "{report}");

    // The attack: the tail inside the witnessed tree goes, with its nodes and the later
    // checkpoints. `steward audit verify` alone finds nothing.
    let keep = witnessed_size - 2;
    truncate(&dir, database, keep);
    ok(served.run(&["audit", "verify"], &admin));

    for file in [saved_path, sink_path] {
        let run = damaged(served.run(&["audit", "verify", "--checkpoint", file], &admin));
        assert!(
            run.stdout
                .contains(&format!("truncated from seq {}", keep + 1)),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("consistency proof NOT verified"),
            "{}",
            run.stdout
        );
        let run = damaged(served.run(&["audit", "verify", "--checkpoint", file, "--json"], &admin));
        let report = run.json();
        assert_eq!(
            (&report["ok"], &report["kind"], &report["first_bad_seq"]),
            (
                &serde_json::json!(false),
                &serde_json::json!("truncated"),
                &serde_json::json!(keep + 1)
            ),
            "{report}"
        );
    }

    // New events: the tree is larger than the witness again, but another history. The
    // instance refuses to sign it; the witness finds it inconsistent.
    for n in 0..15 {
        principal(&served, &format!("forged{n}"));
    }
    served
        .run(&["audit", "checkpoint"], &admin)
        .assert_invalid("refusing to sign");
    let run = damaged(served.run(
        &["audit", "verify", "--checkpoint", saved_path, "--json"],
        &admin,
    ));
    let report = run.json();
    assert_eq!(report["kind"], "inconsistent", "{report}");
    assert!(
        report["server"]["current"]["tree_size"].as_u64() > Some(witnessed_size),
        "{report}"
    );
    assert_eq!(report["local"]["ok"], false, "{report}");

    // Unusable files are exit 2: garbage, and a checkpoint whose root was changed.
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, b"hello\n").expect("write");
    served
        .run(
            &[
                "audit",
                "verify",
                "--checkpoint",
                garbage.to_str().expect("utf-8"),
            ],
            &admin,
        )
        .assert_invalid("line 1: not a checkpoint");
    let mut forged = latest.clone();
    forged["root_hash"] = serde_json::json!("00".repeat(32));
    let forged_file = dir.join("forged.json");
    std::fs::write(&forged_file, forged.to_string()).expect("write");
    served
        .run(
            &[
                "audit",
                "verify",
                "--checkpoint",
                forged_file.to_str().expect("utf-8"),
            ],
            &admin,
        )
        .assert_invalid("does not verify with the key");
    assert!(served.terminate().success());

    // Restarted on the same sink, the instance still will not sign the rewritten trail.
    let served = Served::start_with(&dir, database, &["--checkpoint-sink", sink_path], &[]);
    served
        .run(&["audit", "checkpoint"], &admin)
        .assert_invalid("refusing to sign");
    // Server unreachable: exit 1.
    let url = served.url.clone();
    assert!(served.terminate().success());
    let run = steward_env(
        &["audit", "verify", "--checkpoint", saved_path],
        &[("STEWARD_SERVER", &url), ("STEWARD_TOKEN", &admin)],
        b"",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
}
