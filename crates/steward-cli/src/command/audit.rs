//! `steward audit events|export|verify|checkpoint|checkpoints|public-key|prove|prune|
//! manifests|hold`: reading,
//! exporting and verifying the audit trail (on a server, or offline from an export, in
//! `export`), signing checkpoints of its Merkle tree, and proving (with local
//! verification, in `prove`) that events are in signed trees, and retention (pruning into
//! signed manifests, legal holds, in `retention`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::{Client, ClientArgs, encode};
use crate::command::token::str_of;
use crate::output::{print, print_json, time};

mod export;
mod prove;
mod retention;
mod witness;

pub use export::{ExportArgs, VerifyArgs};
pub use prove::ProveArgs;
pub use retention::HoldCommand;

/// The exit code of `steward audit verify` when the trail fails verification, and of
/// `steward audit prove` when a proof or signature does not verify.
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
        #[command(flatten)]
        filter: EventFilter,
    },
    /// Follow the trail: print each event as it is appended, until interrupted (admin,
    /// auditor). Starts with the next event, or at `--from-seq` to replay history first.
    /// `--follow` is accepted for familiarity; tail always follows.
    Tail {
        /// First seq to print; default: the next event appended.
        #[arg(long, value_name = "N")]
        from_seq: Option<u64>,
        #[arg(long, hide = true)]
        follow: bool,
    },
    /// Download the trail from a seq on as JSON Lines, with its signed checkpoints in
    /// place (admin, auditor). Prints how many events were exported.
    Export(ExportArgs),
    /// Verify the audit trail and name the first bad seq and the kind of damage
    /// (`manifest_forged`, `truncated`, …; see the README): download the export and check
    /// it here (chain, checkpoint signatures, Merkle roots), plus the server's own check of
    /// its stored chain; or, with `--offline FILE --public-key KEY`, check an export file
    /// without a server; or, with `--checkpoint FILE`, check the trail against a signed
    /// checkpoint kept outside the server (the `--checkpoint-sink` file, a saved `GET
    /// /v1/audit/checkpoints/latest`), which finds a truncation that removed checkpoints
    /// too. Exit 0 intact, 3 damaged, 2 unusable file or key.
    Verify(VerifyArgs),
    /// Sign a checkpoint of the audit Merkle tree as it stands (admin, auditor). Returns
    /// the latest one when nothing was appended since.
    Checkpoint,
    /// List signed checkpoints, smallest tree first (admin, auditor).
    Checkpoints {
        /// Only checkpoints of trees larger than this.
        #[arg(long, default_value_t = 0, value_name = "SIZE")]
        after: u64,
        /// How many at most (1 to 1000).
        #[arg(long, default_value_t = 100, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Print the public key that verifies checkpoints (`ed25519:…`).
    PublicKey,
    /// Prove that an event is in a signed tree (`--seq`), or that one signed tree extends
    /// another (`--consistency`), verifying proof and signatures here, not on the server
    /// (admin, auditor). Exit 0 when verified, 3 when not.
    Prove(ProveArgs),
    /// Prune the audit trail past its retention (admin): the leading ranges whose events
    /// are all past their level's retention (levels 0–1 30 days, 2 90, 3 365, 4 and
    /// emergency permits 2 555, events without a level 365), under no legal hold and
    /// covered by a signed checkpoint. Each range leaves a permanent signed manifest, so
    /// `steward audit verify` still spans it. Prints what went and where it stopped.
    Prune {
        /// Show what would be pruned, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the signed manifests of pruned ranges, in seq order (admin, auditor,
    /// compliance officer).
    Manifests {
        /// Only ranges starting after this seq.
        #[arg(long, default_value_t = 0, value_name = "SEQ")]
        after: u64,
        /// How many at most (1 to 1000).
        #[arg(long, default_value_t = 100, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Legal holds, which stop pruning: `add`, `list`, `release`.
    #[command(subcommand)]
    Hold(HoldCommand),
}

/// Filters of `steward audit events`; each one given must hold.
#[derive(Debug, Args)]
pub struct EventFilter {
    /// An event type (`permit.approved`) or every type under a prefix (`permit.*`).
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Events about this worker.
    #[arg(long = "worker", alias = "worker-id", value_name = "ID")]
    pub worker_id: Option<String>,
    /// Events about this permit.
    #[arg(long = "permit", alias = "permit-id", value_name = "ID")]
    pub permit_id: Option<String>,
    /// Events about this task.
    #[arg(long = "task", alias = "task-id", value_name = "ID")]
    pub task_id: Option<String>,
    /// Events caused by this principal.
    #[arg(long = "actor", alias = "actor-id", value_name = "ID")]
    pub actor_id: Option<String>,
    /// Events at this certification level (0 to 4).
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u8).range(0..=4))]
    pub level: Option<u8>,
    /// Events stamped at or after this Unix millisecond.
    #[arg(long, value_name = "MS", allow_hyphen_values = true)]
    pub from_ts_ms: Option<i64>,
    /// Events stamped before this Unix millisecond.
    #[arg(long, value_name = "MS", allow_hyphen_values = true)]
    pub to_ts_ms: Option<i64>,
}

impl EventFilter {
    /// The filters as `&name=value` query parameters, values percent-encoded.
    fn query(&self) -> String {
        let mut query = String::new();
        let texts = [
            ("type", &self.event_type),
            ("worker_id", &self.worker_id),
            ("permit_id", &self.permit_id),
            ("task_id", &self.task_id),
            ("actor_id", &self.actor_id),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                let _ = write!(query, "&{name}={}", encode(value));
            }
        }
        if let Some(level) = self.level {
            let _ = write!(query, "&level={level}");
        }
        if let Some(from) = self.from_ts_ms {
            let _ = write!(query, "&from_ts_ms={from}");
        }
        if let Some(to) = self.to_ts_ms {
            let _ = write!(query, "&to_ts_ms={to}");
        }
        query
    }
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    // `verify --offline` needs no server, so each command connects for itself.
    let connect = || Client::new(&args.client);
    let json = args.client.json;
    match args.command {
        AuditCommand::Events {
            from_seq,
            limit,
            filter,
        } => {
            let page = connect()?.get(&format!(
                "/v1/audit/events?from_seq={from_seq}&limit={limit}{}",
                filter.query()
            ))?;
            if json {
                return print_json(&page).map(|()| ExitCode::SUCCESS);
            }
            let items = page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let mut s = String::new();
            for event in items {
                s.push_str(&event_line(event));
                // Personal values (decrypted by the server, or erased) beside the event.
                let seq = event["seq"].as_u64().unwrap_or_default().to_string();
                if let Some(personal) = page["personal"].get(&seq) {
                    match personal.get("values") {
                        Some(values) => {
                            let _ = write!(s, "  personal={values}");
                        }
                        None => s.push_str("  personal=erased"),
                    }
                }
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
        AuditCommand::Tail { from_seq, .. } => {
            let path = match from_seq {
                Some(seq) => format!("/v1/audit/tail?from_seq={seq}"),
                None => "/v1/audit/tail".to_owned(),
            };
            print_stream(&connect()?, &path, json)?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export(export) => export::export(&args.client, &export),
        AuditCommand::Verify(verify) => export::verify(&args.client, &verify),
        AuditCommand::Checkpoint => {
            let view = connect()?.post("/v1/audit/checkpoints", None)?;
            if json {
                return print_json(&view).map(|()| ExitCode::SUCCESS);
            }
            print(&format!(
                "checkpoint of tree size {}: root {}, signed by key {} at {}\n",
                view["tree_size"],
                str_of(&view, "root_hash"),
                str_of(&view, "key_id"),
                time(view["ts_ms"].as_i64()),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoints { after, limit } => {
            let page = connect()?.get(&format!(
                "/v1/audit/checkpoints?after={after}&limit={limit}"
            ))?;
            if json {
                return print_json(&page).map(|()| ExitCode::SUCCESS);
            }
            let items = page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let mut s = String::new();
            for c in items {
                let _ = writeln!(
                    s,
                    "{:>8}  {}  root {}  key {}",
                    c["tree_size"].as_u64().unwrap_or_default(),
                    time(c["ts_ms"].as_i64()),
                    str_of(c, "root_hash"),
                    str_of(c, "key_id"),
                );
            }
            print(&s)?;
            if items.len() == usize::try_from(limit).unwrap_or(usize::MAX) {
                let _ = writeln!(
                    std::io::stderr(),
                    "steward: more checkpoints may follow: --after {}",
                    page["next_after"]
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::PublicKey => {
            let key = connect()?.get("/v1/audit/public-key")?;
            if json {
                return print_json(&key).map(|()| ExitCode::SUCCESS);
            }
            print(&format!("{}\n", str_of(&key, "key")))?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Prove(prove) => prove::run(&connect()?, &prove, json),
        AuditCommand::Prune { dry_run } => retention::prune(&connect()?, dry_run, json),
        AuditCommand::Manifests { after, limit } => {
            retention::manifests(&connect()?, after, limit, json)
        }
        AuditCommand::Hold(command) => retention::hold(&connect()?, &command, json),
    }
}

/// Follows a stream of server-sent audit events at `path` (`/v1/audit/tail`,
/// `/v1/events`), printing one line per event (or its JSON, one per line), until the
/// server closes it or the process stops.
pub(crate) fn print_stream(client: &Client, path: &str, json: bool) -> anyhow::Result<()> {
    let mut pending = String::new();
    client.follow(path, |chunk| {
        pending.push_str(&String::from_utf8_lossy(chunk));
        while let Some(end) = pending.find("\n\n") {
            let message: String = pending.drain(..end + 2).collect();
            // One SSE message per event; its data is the event's JSON.
            let Some(data) = message.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let event: Value = serde_json::from_str(data.trim())
                .context("the server sent an event that is not JSON")?;
            let line = if json {
                event.to_string()
            } else {
                event_line(&event)
            };
            print(&format!("{line}\n"))?;
        }
        Ok(())
    })
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
