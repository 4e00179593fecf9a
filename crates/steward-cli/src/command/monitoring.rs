//! Monitoring from the command line (SPEC §7): `steward permit telemetry` (post a sample
//! for a live permit), `steward permit rollback` (report how the rollback went), and
//! `steward rollback list|show` (rollbacks and their SLA).

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use steward_permits::RollbackOutcome;

use crate::client::{Client, ClientArgs, encode};
use crate::command::token::str_of;
use crate::failure::invalid;
use crate::output::{print, print_json, time};

/// `steward permit telemetry ID …`: one sample; at least one of the three values.
#[derive(Debug, Args)]
pub struct TelemetryArgs {
    #[arg(value_name = "ID")]
    pub id: String,
    /// Errors per request over your last interval, 0 to 1 (`0.02` is 2 %).
    #[arg(long, value_name = "RATE")]
    pub error_rate: Option<f64>,
    /// The p99 latency in milliseconds.
    #[arg(long, value_name = "MS")]
    pub p99_ms: Option<f64>,
    /// The latest health check.
    #[arg(long, value_enum, value_name = "ok|fail")]
    pub health: Option<Health>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Health {
    Ok,
    Fail,
}

/// `steward permit rollback ID --outcome …`: how the rollback of a fired trigger ended.
#[derive(Debug, Args)]
pub struct RollbackReportArgs {
    #[arg(value_name = "ID")]
    pub id: String,
    /// `succeeded` or `failed`.
    #[arg(long, value_name = "OUTCOME", value_parser = parse_outcome)]
    pub outcome: RollbackOutcome,
    #[arg(long, value_name = "TEXT")]
    pub notes: Option<String>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: RollbackCommand,
}

#[derive(Debug, Subcommand)]
pub enum RollbackCommand {
    /// List rollbacks, newest first.
    List {
        /// `open`, `overdue` (open past its SLA) or `all`.
        #[arg(long, value_name = "STATUS", default_value = "all",
              value_parser = ["open", "overdue", "all"])]
        status: String,
        /// Continue after this rollback id (the `next` of the previous page).
        #[arg(long, value_name = "ID")]
        after: Option<String>,
        /// 1 to 200.
        #[arg(long, default_value_t = 50, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=200))]
        limit: u32,
    },
    /// Show the rollback of one permit.
    Show {
        /// The permit id.
        #[arg(value_name = "PERMIT")]
        permit: String,
    },
}

fn parse_outcome(s: &str) -> Result<RollbackOutcome, String> {
    s.parse()
        .map_err(|e: steward_policy::UnknownValueError| e.to_string())
}

/// Posts one telemetry sample and says whether a trigger fired.
pub fn telemetry(client: &ClientArgs, args: TelemetryArgs) -> anyhow::Result<ExitCode> {
    if args.error_rate.is_none() && args.p99_ms.is_none() && args.health.is_none() {
        return Err(invalid(
            "give at least one of `--error-rate`, `--p99-ms`, `--health`",
        ));
    }
    if let Some(rate) = args.error_rate
        && !(0.0..=1.0).contains(&rate)
    {
        return Err(invalid(format!(
            "`--error-rate` is a fraction from 0 to 1, got {rate}"
        )));
    }
    let mut body = json!({});
    if let Some(rate) = args.error_rate {
        body["error_rate"] = json!(rate);
    }
    if let Some(ms) = args.p99_ms {
        body["p99_ms"] = json!(ms);
    }
    if let Some(h) = args.health {
        body["health"] = json!(match h {
            Health::Ok => "ok",
            Health::Fail => "fail",
        });
    }
    let c = Client::new(client)?;
    let out = c.post(
        &format!("/v1/permits/{}/telemetry", encode(&args.id)),
        Some(&body),
    )?;
    if client.json {
        print_json(&out)?;
    } else if out["fired"] == true {
        let r = &out["rollback"];
        print(&format!(
            "permit {}: TRIGGER FIRED ({}: observed {} over limit {}); permit {}, rollback {} due by {} (SLA {} min)\n",
            args.id,
            str_of(r, "trigger"),
            r["breach"]["observed"],
            r["breach"]["limit"],
            str_of(&out, "permit_state"),
            str_of(r, "id"),
            time(r["due_at_ms"].as_i64()),
            r["sla_minutes"],
        ))?;
    } else {
        let m = &out["monitor"];
        print(&format!(
            "permit {}: recorded; no trigger fired (failed health checks in a row: {})\n",
            args.id, m["failed_health_checks"],
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reports the rollback outcome.
pub fn report(client: &ClientArgs, args: RollbackReportArgs) -> anyhow::Result<ExitCode> {
    let mut body = json!({"outcome": args.outcome.as_str()});
    if let Some(notes) = args.notes {
        body["notes"] = json!(notes);
    }
    let c = Client::new(client)?;
    let r = c.post(
        &format!("/v1/permits/{}/rollback", encode(&args.id)),
        Some(&body),
    )?;
    show(&r, client.json)
}

pub fn run(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let c = Client::new(&args.client)?;
    match args.command {
        RollbackCommand::List {
            status,
            after,
            limit,
        } => {
            let mut query = format!("status={status}&limit={limit}");
            if let Some(after) = after {
                let _ = write!(query, "&after={}", encode(&after));
            }
            let page = c.get(&format!("/v1/rollbacks?{query}"))?;
            if args.client.json {
                print_json(&page)?;
                return Ok(ExitCode::SUCCESS);
            }
            let items = page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let mut s = String::new();
            if items.is_empty() {
                s.push_str("no rollbacks\n");
            }
            for r in items {
                s.push_str(&line(r));
            }
            if let Some(next) = page["next"].as_str() {
                let _ = writeln!(s, "more: --after {next}");
            }
            print(&s)?;
            Ok(ExitCode::SUCCESS)
        }
        RollbackCommand::Show { permit } => {
            let r = c.get(&format!("/v1/permits/{}/rollback", encode(&permit)))?;
            show(&r, args.client.json)
        }
    }
}

fn show(r: &Value, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(r)?;
    } else {
        print(&line(r))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per rollback: id, permit, status, trigger, SLA and how it went.
fn line(r: &Value) -> String {
    let sla = match r["within_sla"].as_bool() {
        Some(true) => "within SLA".to_owned(),
        Some(false) => "SLA MISSED".to_owned(),
        None => format!("due {}", time(r["due_at_ms"].as_i64())),
    };
    let escalated = if r["escalated_at_ms"].is_i64() {
        "  escalated"
    } else {
        ""
    };
    format!(
        "rollback {}  permit {}  {:<9}  level {}  {}  SLA {} min, {}{}\n",
        str_of(r, "id"),
        str_of(r, "permit_id"),
        str_of(r, "status"),
        r["level"],
        str_of(r, "trigger"),
        r["sla_minutes"],
        sla,
        escalated,
    )
}
