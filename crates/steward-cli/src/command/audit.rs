//! `steward audit events|verify`: reading and verifying the audit trail on a server.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::{Client, ClientArgs};
use crate::command::token::str_of;
use crate::output::{print, print_json, time};

/// The exit code of `steward audit verify` when the trail fails verification.
pub const EXIT_VERIFY_FAILED: u8 = 3;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print events in seq order, one line each (admin, auditor).
    Events {
        /// First seq to print.
        #[arg(long, default_value_t = 1, value_name = "N")]
        from_seq: u64,
        /// How many events at most (1 to 1000).
        #[arg(long, default_value_t = 100, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Verify the stored hash chain on the server and name the first bad seq (admin,
    /// auditor). Exit 0 when intact, 3 when broken.
    Verify,
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client)?;
    let json = args.client.json;
    match args.command {
        AuditCommand::Events { from_seq, limit } => {
            let page = client.get(&format!(
                "/v1/audit/events?from_seq={from_seq}&limit={limit}"
            ))?;
            if json {
                return print_json(&page).map(|()| ExitCode::SUCCESS);
            }
            let items = page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let mut s = String::new();
            for event in items {
                s.push_str(&event_line(event));
                s.push('\n');
            }
            print(&s)?;
            if items.len() == usize::try_from(limit).unwrap_or(usize::MAX) {
                let _ = writeln!(
                    std::io::stderr(),
                    "steward: more events may follow: --from-seq {}",
                    page["next_from_seq"]
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let result = client.get("/v1/audit/verify")?;
            let ok = result["ok"].as_bool() == Some(true);
            if json {
                print_json(&result)?;
            } else if ok {
                print(&format!(
                    "audit trail intact: {} events, head {}\n",
                    result["head_seq"],
                    str_of(&result, "head_hash"),
                ))?;
            } else {
                print(&format!(
                    "audit trail BROKEN at seq {}: {} (head at seq {})\n",
                    result["first_bad_seq"],
                    str_of(&result, "problem"),
                    result["head_seq"],
                ))?;
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_VERIFY_FAILED)
            })
        }
    }
}

/// `seq  time  type  actor  [subject ids] [level]`.
fn event_line(e: &Value) -> String {
    let mut s = format!(
        "{:>6}  {}  {:<24}  {}:{}",
        e["seq"].as_u64().unwrap_or_default(),
        time(e["ts_ms"].as_i64()),
        str_of(e, "type"),
        str_of(&e["actor"], "kind"),
        str_of(&e["actor"], "id"),
    );
    for key in ["task_id", "worker_id", "permit_id"] {
        if let Some(id) = e["subject"][key].as_str() {
            let _ = write!(s, "  {}={id}", key.trim_end_matches("_id"));
        }
    }
    if let Some(level) = e["level"].as_u64() {
        let _ = write!(s, "  level={level}");
    }
    s
}
