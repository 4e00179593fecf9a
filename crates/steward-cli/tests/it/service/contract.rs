//! The OpenAPI document is the contract: Schemathesis (a property-based fuzzer driven by
//! `/openapi.json`) against a real `steward serve` on SQLite, authenticated as the first
//! admin. Checks: no 5xx (`not_a_server_error`), every response conforms to its declared
//! schema (`response_schema_conformance`), and every 4xx is problem+json with a `rule`
//! (`problem_json_for_4xx`, in `tests/schemathesis/steward_checks.py`).
//!
//! Schemathesis is a Python tool: `.ci/run` installs the pinned version into `.ci/venv`
//! and sets `STEWARD_SCHEMATHESIS` to its `schemathesis` binary. Without it the test says
//! how to enable it and passes, except in CI (`CI` set, or `STEWARD_REQUIRE_SCHEMATHESIS`),
//! where a missing Schemathesis is a failure.

use std::path::PathBuf;
use std::process::Command;

use super::Served;
use crate::support::{repo_root, scratch_dir};

/// The version `.ci/run` installs; the test refuses another (results must not drift).
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Test cases per operation and phase: a bounded run (a few minutes on two cores).
const MAX_EXAMPLES: &str = "3";

/// Server-sent event streams: they answer 200 and then stream until the client leaves, so a
/// request-response fuzzer can only time out on them. Their refusals (400, 401, 403) are
/// problem+json like every other (`steward-server`'s `attack::strict` tests).
const STREAMS: [&str; 2] = ["/v1/events", "/v1/audit/tail"];

/// A fixed seed, so a failure reproduces.
const SEED: &str = "20261206";

fn required() -> bool {
    let set = |name: &str| {
        std::env::var(name)
            .ok()
            .is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
    };
    set("CI") || set("STEWARD_REQUIRE_SCHEMATHESIS")
}

/// The `schemathesis` binary, or `None` (with a note on how to enable it) outside CI.
fn schemathesis() -> Option<PathBuf> {
    const HOW: &str = "python3 -m venv .ci/venv && .ci/venv/bin/pip install \
        schemathesis==4.32.5, then STEWARD_SCHEMATHESIS=$PWD/.ci/venv/bin/schemathesis \
        cargo test -p steward-cli --test it contract (see CONTRIBUTING.md)";
    match std::env::var_os("STEWARD_SCHEMATHESIS") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "STEWARD_SCHEMATHESIS={} is not a file; to install it: {HOW}",
                path.display()
            );
            Some(path)
        }
        _ if required() => panic!(
            "Schemathesis is required in CI and STEWARD_SCHEMATHESIS is not set; \
             .ci/run installs it. By hand: {HOW}"
        ),
        _ => {
            #[expect(
                clippy::print_stderr,
                reason = "the one line that says how to enable it"
            )]
            {
                eprintln!(
                    "skipping the Schemathesis contract test: STEWARD_SCHEMATHESIS is not set; {HOW}"
                );
            }
            None
        }
    }
}

#[test]
fn openapi_document_is_the_contract() {
    let Some(bin) = schemathesis() else {
        return;
    };
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .expect("schemathesis --version runs");
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.contains(SCHEMATHESIS_VERSION),
        "expected Schemathesis {SCHEMATHESIS_VERSION}, got {version}"
    );

    let served = Served::start(&scratch_dir("contract-data"));
    let token = served
        .token
        .clone()
        .expect("the first start prints the admin token");
    // Schemathesis's working directory: its reports and Hypothesis's example database
    // stay out of the repository.
    let work = scratch_dir("contract-work");
    std::fs::create_dir_all(&work).expect("work dir");
    let hooks = repo_root().join("crates/steward-cli/tests/schemathesis");
    let out = Command::new(&bin)
        .args([
            "run",
            &format!("{}/openapi.json", served.url),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "not_a_server_error,response_schema_conformance,problem_json_for_4xx",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            SEED,
            "--workers",
            "2",
            "--request-timeout",
            "20",
        ])
        .args(STREAMS.iter().flat_map(|path| ["--exclude-path", path]))
        .env("PYTHONPATH", &hooks)
        .env("SCHEMATHESIS_HOOKS", "steward_checks")
        .env("NO_COLOR", "1")
        .current_dir(&work)
        .output()
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Schemathesis found contract violations (exit {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    // It really ran every operation the document declares, with our check loaded.
    let number_after = |label: &str| -> Option<u32> {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(label))?;
        let rest = line.trim_start().strip_prefix(label)?.trim();
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let (selected, total) = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Selected: "))
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(a, b)| Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?)))
        .unwrap_or_else(|| panic!("no `Selected:` line: {stdout}"));
    assert!(
        total >= 70,
        "only {total} operations in the document: {stdout}"
    );
    assert_eq!(
        selected as usize,
        total as usize - STREAMS.len(),
        "{stdout}"
    );
    assert_eq!(number_after("Tested:"), Some(selected), "{stdout}");
    let summary = stdout
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("{summary}");
    served.terminate();
}
