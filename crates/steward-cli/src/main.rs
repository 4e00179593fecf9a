//! The `steward` command: thin `main` that parses arguments, runs one command and maps the
//! outcome to an exit code (0 success, 1 internal failure or server unreachable, 2 invalid
//! input or a 4xx refusal from the server, 3 `audit verify` found the trail broken or
//! `audit prove` could not verify a proof or signature; `permit wait` and `permit request
//! --wait`: 4 rejected, 5 expired, 6 revoked, 7 changes requested, 8 ended, 9 timed out).

mod cli;
mod client;
mod command;
mod failure;
mod input;
mod output;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match command::run(cli) {
        Ok(code) => code,
        Err(err) => {
            let code = failure::exit_code(&err);
            // One clear line: the chain of causes joined, never a backtrace.
            let _ = writeln!(std::io::stderr(), "steward: {}", failure::one_line(&err));
            code
        }
    }
}
