//! The `steward` command: thin `main` that parses arguments, runs one command and maps the
//! outcome to an exit code (0 success, 1 internal failure, 2 invalid input).

mod cli;
mod command;
mod failure;
mod input;

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
