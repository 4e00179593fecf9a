//! One module per command; `run` dispatches.

mod check;
mod policy;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Policy(cmd) => policy::run(cmd),
    }
}

/// Treats a closed pipe on stdout (`steward check … | head`) as a normal end, not an error.
fn finish_output(result: std::io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
