//! One module per command (group), each with its own clap arguments; `run` dispatches.
//! Only the commands that need async (the server and its clients) build a runtime.

pub mod audit;
pub mod authorize;
pub mod check;
pub mod clock;
pub mod emergency;
pub mod events;
pub mod hook;
pub mod init;
pub mod mcp;
pub mod monitoring;
pub mod permit;
pub mod policy;
pub mod principal;
pub mod report;
pub mod serve;
pub mod token;
pub mod webhook;
pub mod worker;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Init(args) => init::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Token(args) => token::run(args),
        Command::Principal(args) => principal::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Permit(args) => permit::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Authorize(args) => authorize::run(args),
        Command::Emergency(args) => emergency::run(args),
        Command::Events(args) => events::run(args),
        Command::Rollback(args) => monitoring::run(args),
        Command::Webhook(args) => webhook::run(args),
        Command::Report(args) => report::run(args),
        Command::Mcp(args) => mcp::run(args),
        Command::Hook(args) => hook::run(args),
        Command::Clock(args) => clock::run(args),
    }
}
