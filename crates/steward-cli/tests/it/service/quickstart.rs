//! The README's quick start (issue 13), run as written: `examples/quickstart.sh`, which the
//! README quotes, against a fresh `steward serve`, from an empty data directory to an
//! active level-2 production permit with a real human approval; it prints how many
//! commands that took and how long.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::Served;
use crate::support::{STEWARD_ENV, repo_root, scratch_dir};

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

/// The `steward …` commands a person types: one per command line of the script, a line
/// ending in `\` continuing onto the next.
fn commands(script: &str) -> usize {
    script
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.contains("steward "))
        .count()
}

#[test]
fn the_readme_quick_start_reaches_an_active_level_2_permit_from_a_fresh_data_dir() {
    let script_path = repo_root().join("examples/quickstart.sh");
    let script = std::fs::read_to_string(&script_path).expect("examples/quickstart.sh");
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    assert!(
        readme.contains(&format!("```bash\n{script}```")),
        "README.md must quote examples/quickstart.sh exactly"
    );

    let dir = scratch_dir("quickstart");
    assert!(!dir.exists(), "a fresh data directory");
    let started = Instant::now();
    // `steward serve`: the first run initialises and prints the admin token once.
    let served = Served::start(&dir);
    let admin = served
        .token
        .clone()
        .expect("the first serve prints the admin token");

    let mut command = Command::new("bash");
    for var in STEWARD_ENV {
        command.env_remove(var);
    }
    let out = command
        .arg(&script_path)
        .env("PATH", path_with_steward())
        .env("STEWARD_SERVER", &served.url)
        .env("STEWARD_TOKEN", &admin)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("bash runs the quick start");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");

    // The script's last command shows the permit: active, level 2, in production.
    let shown = stdout
        .lines()
        .find(|l| l.starts_with("permit "))
        .unwrap_or_else(|| panic!("no permit shown: {stdout}"));
    assert!(
        shown.ends_with(": active (level 2, standard_production)"),
        "{shown}"
    );
    let permit = shown
        .trim_start_matches("permit ")
        .split(':')
        .next()
        .expect("permit id");
    let run = served.run(&["permit", "show", permit, "--json"], &admin);
    let p = run.json();
    assert_eq!(p["state"], "active");
    assert_eq!(p["level"], 2);
    assert_eq!(p["task"]["environment"], "production");
    let approvals = p["approvals"].as_array().expect("approvals");
    assert_eq!(approvals.len(), 1, "{p}");
    assert_eq!(approvals[0]["decision"], "approve");
    assert_eq!(approvals[0]["principal_name"], "alice");
    let worker = p["worker_id"].as_str().expect("worker").to_owned();
    let run = served.run(&["worker", "show", &worker, "--json"], &admin);
    let w = run.json();
    assert_eq!(
        (w["level"].as_u64(), w["status"].as_str()),
        (Some(2), Some("probationary"))
    );
    // The certification is a human's, recorded apart from earned promotions.
    let run = served.run(
        &[
            "audit",
            "events",
            "--worker",
            &worker,
            "--type",
            "worker.certified_initially",
            "--json",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = run.json()["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{events:?}");

    // `steward serve`, `export STEWARD_TOKEN=…`, and the script's commands.
    let count = 2 + commands(&script);
    println!(
        "quick start: {count} commands (steward serve, export STEWARD_TOKEN, {} in examples/quickstart.sh), {:.1} s wall time from an empty data directory to an active level-2 permit",
        count - 2,
        elapsed.as_secs_f64()
    );
    assert!(count <= 10, "a few commands, not {count}");
    served.terminate();
}
