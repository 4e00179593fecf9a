//! `steward clock`: the server's time, and advancing a rehearsal's clock (`steward serve
//! --rehearsal`, admins only) to rehearse the time rules: `steward clock advance 25h`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Client, ClientArgs};
use crate::command::token::str_of;
use crate::output::{print, print_json};

#[derive(Debug, Args)]
pub struct ClockArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ClockCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClockCommand {
    /// The server's time and run mode (`production` or `rehearsal`).
    Show,
    /// Advance a rehearsal's clock (admin): timers fire as if the time had passed.
    /// Refused (exit 2) by a server on the wall clock.
    Advance {
        /// How far: `25h`, `90m`, `14d`, `1h 30m`.
        #[arg(value_name = "DURATION")]
        by: String,
    },
}

pub fn run(args: ClockArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client)?;
    let answer = match args.command {
        ClockCommand::Show => client.get("/v1/clock")?,
        ClockCommand::Advance { by } => {
            client.post("/v1/clock/advance", Some(&json!({ "by": by })))?
        }
    };
    if args.client.json {
        print_json(&answer)?;
    } else {
        print(&clock_text(&answer))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn clock_text(v: &Value) -> String {
    format!("{} ({})\n", str_of(v, "now"), str_of(v, "run_mode"))
}
