//! `steward events`: follow, live, the audit events you have a part in (`GET
//! /v1/events`): a master the permits it requested and the workers it owns, a worker its
//! own, admins and auditors everything. One line per event (or its JSON with `--json`),
//! until interrupted.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;

use crate::client::{Client, ClientArgs, encode};
use crate::command::audit::print_stream;

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// First seq to consider, to replay history first [default: the next event].
    #[arg(long, value_name = "N")]
    pub from_seq: Option<u64>,
    /// Only events about this permit.
    #[arg(long, value_name = "ID")]
    pub permit: Option<String>,
    /// Only events about this worker.
    #[arg(long, value_name = "ID")]
    pub worker: Option<String>,
}

pub fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let mut query = Vec::new();
    if let Some(seq) = args.from_seq {
        query.push(format!("from_seq={seq}"));
    }
    for (key, value) in [("permit_id", &args.permit), ("worker_id", &args.worker)] {
        if let Some(value) = value {
            query.push(format!("{key}={}", encode(value)));
        }
    }
    let mut path = "/v1/events".to_owned();
    if !query.is_empty() {
        let _ = write!(path, "?{}", query.join("&"));
    }
    print_stream(&Client::new(&args.client)?, &path, args.client.json)?;
    Ok(ExitCode::SUCCESS)
}
