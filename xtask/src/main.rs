//! Project chores. `cargo xtask tidy` checks the repository's conventions; the same checks
//! run as a `#[test]` so `cargo test` alone catches them.

mod tidy;

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("tidy") => {
            let problems = tidy::check(&tidy::repo_root());
            let mut err = std::io::stderr().lock();
            for p in &problems {
                let _ = writeln!(err, "{p}");
            }
            if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                let _ = writeln!(err, "tidy: {} problem(s)", problems.len());
                ExitCode::FAILURE
            }
        }
        _ => {
            let _ = writeln!(std::io::stderr(), "usage: cargo xtask tidy");
            ExitCode::from(2)
        }
    }
}
