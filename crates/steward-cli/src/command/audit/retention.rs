//! `steward audit prune|manifests|hold`: audit retention (SPEC §4, §9) on a server.
//! Pruning removes the leading ranges of the trail past their retention and keeps a
//! signed manifest of each; legal holds stop it.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Client, encode};
use crate::command::token::str_of;
use crate::output::{print, print_json, time};

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Place a legal hold (admin, compliance officer): pruning keeps every event about
    /// the worker, about the permit, or in the seq range until it is released. Give
    /// exactly one of `--worker`, `--permit`, or `--first-seq` with `--last-seq`.
    Add(HoldAddArgs),
    /// List legal holds, oldest first (admin, compliance officer, auditor).
    List {
        /// Include released holds.
        #[arg(long)]
        all: bool,
    },
    /// Release a legal hold (admin, compliance officer); audited.
    Release {
        /// The hold's id.
        id: String,
        /// Why it is released.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["worker", "permit", "first_seq"])))]
pub struct HoldAddArgs {
    /// Hold every event about this worker.
    #[arg(long, value_name = "ID")]
    pub worker: Option<String>,
    /// Hold every event about this permit.
    #[arg(long, value_name = "ID")]
    pub permit: Option<String>,
    /// Hold the events from this seq …
    #[arg(long, value_name = "SEQ", requires = "last_seq",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub first_seq: Option<u64>,
    /// … to this seq (included).
    #[arg(long, value_name = "SEQ", requires = "first_seq")]
    pub last_seq: Option<u64>,
    /// Why: a case or matter reference.
    #[arg(long)]
    pub reason: String,
}

/// `steward audit prune`.
pub fn prune(client: &Client, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let report = client.post("/v1/audit/prune", Some(&json!({ "dry_run": dry_run })))?;
    if json {
        return print_json(&report).map(|()| ExitCode::SUCCESS);
    }
    let mut s = String::new();
    let count = report["event_count"].as_u64().unwrap_or_default();
    let verb = if dry_run { "would prune" } else { "pruned" };
    let _ = writeln!(s, "{verb} {count} events");
    for range in report["ranges"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let _ = writeln!(
            s,
            "  seq {} to {} ({} events)",
            range["first_seq"], range["last_seq"], range["event_count"]
        );
    }
    for manifest in report["manifests"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let _ = writeln!(
            s,
            "  manifest of seq {} to {}: last hash {}, signed by key {}",
            manifest["first_seq"],
            manifest["last_seq"],
            str_of(manifest, "last_hash"),
            str_of(manifest, "key_id"),
        );
    }
    let stop = &report["stopped_at"];
    if stop.is_object() {
        let why = match str_of(stop, "reason") {
            "retained" => format!(
                "inside its retention until {}",
                time(stop["prunable_from_ms"].as_i64())
            ),
            "held" => format!("under legal hold {}", str_of(stop, "hold_id")),
            "unsigned" => "not yet covered by a signed checkpoint".to_owned(),
            other => other.to_owned(),
        };
        let _ = writeln!(s, "stopped at seq {}: {why}", stop["seq"]);
    } else {
        let _ = writeln!(s, "reached the end of the trail");
    }
    print(&s)?;
    Ok(ExitCode::SUCCESS)
}

/// `steward audit manifests`.
pub fn manifests(client: &Client, after: u64, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    let page = client.get(&format!("/v1/audit/manifests?after={after}&limit={limit}"))?;
    if json {
        return print_json(&page).map(|()| ExitCode::SUCCESS);
    }
    let items = page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut s = String::new();
    for m in items {
        let _ = writeln!(
            s,
            "seq {:>8} to {:>8}  {:>7} events  {}  last hash {}  key {}",
            m["first_seq"].as_u64().unwrap_or_default(),
            m["last_seq"].as_u64().unwrap_or_default(),
            m["event_count"].as_u64().unwrap_or_default(),
            time(m["ts_ms"].as_i64()),
            str_of(m, "last_hash"),
            str_of(m, "key_id"),
        );
    }
    if items.is_empty() {
        s.push_str("no pruned ranges\n");
    }
    print(&s)?;
    Ok(ExitCode::SUCCESS)
}

/// `steward audit hold …`.
pub fn hold(client: &Client, command: &HoldCommand, json: bool) -> anyhow::Result<ExitCode> {
    let (view, list) = match command {
        HoldCommand::Add(args) => {
            let mut body = json!({ "reason": args.reason });
            if let Some(worker) = &args.worker {
                body["worker_id"] = json!(worker);
            }
            if let Some(permit) = &args.permit {
                body["permit_id"] = json!(permit);
            }
            if let (Some(first), Some(last)) = (args.first_seq, args.last_seq) {
                body["first_seq"] = json!(first);
                body["last_seq"] = json!(last);
            }
            (client.post("/v1/audit/holds", Some(&body))?, false)
        }
        HoldCommand::List { all } => (client.get(&format!("/v1/audit/holds?all={all}"))?, true),
        HoldCommand::Release { id, reason } => (
            client.post(
                &format!("/v1/audit/holds/{}/release", encode(id)),
                Some(&json!({ "reason": reason })),
            )?,
            false,
        ),
    };
    if json {
        return print_json(&view).map(|()| ExitCode::SUCCESS);
    }
    let mut s = String::new();
    if list {
        let items = view["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        for hold in items {
            s.push_str(&hold_line(hold));
        }
        if items.is_empty() {
            s.push_str("no legal holds\n");
        }
    } else {
        s.push_str(&hold_line(&view));
    }
    print(&s)?;
    Ok(ExitCode::SUCCESS)
}

/// `id  state  scope  reason`.
fn hold_line(hold: &Value) -> String {
    let scope = match str_of(hold, "scope") {
        "worker" => format!("worker {}", str_of(hold, "worker_id")),
        "permit" => format!("permit {}", str_of(hold, "permit_id")),
        _ => format!("seq {} to {}", hold["first_seq"], hold["last_seq"]),
    };
    format!(
        "{}  {:<8}  {scope}  since {}  \"{}\"\n",
        str_of(hold, "id"),
        str_of(hold, "state"),
        time(hold["created_at_ms"].as_i64()),
        str_of(hold, "reason"),
    )
}
