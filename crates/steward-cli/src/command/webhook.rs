//! `steward webhook add|list|remove|deliveries`: outbound webhook subscriptions and their
//! delivery log, through the server (admin; the log also for auditors).
//!
//! The HMAC secret is read from a file (`--secret-file`, `-` for standard input), never
//! from the command line, where other users could see it in the process list. Without
//! one the server generates a secret and this command prints it, once.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::client::{Client, ClientArgs, encode};
use crate::command::token::str_of;
use crate::failure::invalid;
use crate::input::read_bytes;
use crate::output::{print, print_json, time};

#[derive(Debug, Args)]
pub struct WebhookArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: WebhookCommand,
}

/// The body a subscription receives.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// The audit event as JSON.
    Json,
    /// A Slack-compatible message (`text` and `blocks`), for an incoming-webhook URL.
    Slack,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a URL to audit events. Deliveries are POSTed with an
    /// `X-Steward-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>">` header and
    /// retried with exponential backoff (10 attempts over about 3 hours).
    Add {
        /// Where to POST: an http:// or https:// URL.
        #[arg(long, value_name = "URL")]
        url: String,
        /// An event type to deliver: `*`, a prefix such as `permit.*`, an exact type such
        /// as `rollback.opened`, or `audit.checkpoint` (each signed checkpoint, the body
        /// being the checkpoint as `GET /v1/audit/checkpoints/latest` returns it, to keep
        /// outside the database). Repeatable; at least one.
        #[arg(long = "event", value_name = "TYPE", required = true)]
        events: Vec<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// A file holding the HMAC secret (at least 16 bytes; surrounding whitespace is
        /// trimmed); `-` reads standard input. Without it the server generates one and it
        /// is printed once.
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
    },
    /// List the subscriptions (never their secrets).
    List,
    /// Delete a subscription; its pending deliveries are cancelled.
    Remove {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Show a subscription's delivery log: status, attempts, last answer, times.
    Deliveries {
        #[arg(value_name = "ID")]
        id: String,
        /// Only deliveries of audit events after this seq.
        #[arg(long, value_name = "SEQ")]
        after_seq: Option<i64>,
        /// At most this many rows (1 to 1000).
        #[arg(long, default_value_t = 100, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
}

pub fn run(args: WebhookArgs) -> anyhow::Result<ExitCode> {
    let json = args.client.json;
    match args.command {
        WebhookCommand::Add {
            url,
            events,
            format,
            secret_file,
        } => {
            let mut body = json!({
                "url": url,
                "event_types": events,
                "format": match format { Format::Json => "json", Format::Slack => "slack" },
            });
            if let Some(file) = secret_file {
                let bytes = read_bytes(&file)?;
                let secret = String::from_utf8(bytes)
                    .map_err(|_| invalid(format!("`{}` is not UTF-8 text", file.display())))?;
                body["secret"] = json!(secret.trim());
            }
            let client = Client::new(&args.client)?;
            let created = client.post("/v1/webhooks", Some(&body))?;
            if json {
                return print_json(&created).map(|()| ExitCode::SUCCESS);
            }
            let mut text = format!(
                "Created webhook {} → {} ({}, events {}).\n",
                str_of(&created, "id"),
                str_of(&created, "url"),
                str_of(&created, "format"),
                patterns(&created),
            );
            if let Some(secret) = created["secret"].as_str() {
                let _ = write!(
                    text,
                    "The signing secret is shown only this once; give it to the receiver now:\n\n    {secret}\n"
                );
            }
            print(&text)?;
        }
        WebhookCommand::List => {
            let client = Client::new(&args.client)?;
            let list = client.get("/v1/webhooks")?;
            if json {
                return print_json(&list).map(|()| ExitCode::SUCCESS);
            }
            let items = list.as_array().map(Vec::as_slice).unwrap_or(&[]);
            let mut text = String::new();
            if items.is_empty() {
                text.push_str("no webhooks\n");
            }
            for w in items {
                let _ = writeln!(
                    text,
                    "{}  {:<5}  {}  events {}  created {}",
                    str_of(w, "id"),
                    str_of(w, "format"),
                    str_of(w, "url"),
                    patterns(w),
                    time(w["created_at_ms"].as_i64()),
                );
            }
            print(&text)?;
        }
        WebhookCommand::Remove { id } => {
            let client = Client::new(&args.client)?;
            let removed = client.delete(&format!("/v1/webhooks/{}", encode(&id)))?;
            if json {
                return print_json(&removed).map(|()| ExitCode::SUCCESS);
            }
            print(&format!(
                "Deleted webhook {} at {}; its pending deliveries are cancelled.\n",
                str_of(&removed, "id"),
                time(removed["deleted_at_ms"].as_i64()),
            ))?;
        }
        WebhookCommand::Deliveries {
            id,
            after_seq,
            limit,
        } => {
            let mut path = format!("/v1/webhooks/{}/deliveries?limit={limit}", encode(&id));
            if let Some(after) = after_seq {
                let _ = write!(path, "&after_seq={after}");
            }
            let client = Client::new(&args.client)?;
            let log = client.get(&path)?;
            if json {
                return print_json(&log).map(|()| ExitCode::SUCCESS);
            }
            print(&deliveries_text(&log))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn patterns(webhook: &Value) -> String {
    webhook["event_types"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn deliveries_text(log: &Value) -> String {
    let items = log.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut text = String::new();
    if items.is_empty() {
        text.push_str("no deliveries\n");
    }
    for d in items {
        let last = match (d["last_status_code"].as_i64(), d["last_error"].as_str()) {
            (Some(code), _) => format!("HTTP {code}"),
            (None, Some(error)) => error.to_owned(),
            (None, None) => "-".to_owned(),
        };
        let when = match str_of(d, "status") {
            "delivered" => format!("delivered {}", time(d["delivered_at_ms"].as_i64())),
            "pending" => format!("next {}", time(d["next_attempt_at_ms"].as_i64())),
            _ => format!("updated {}", time(d["updated_at_ms"].as_i64())),
        };
        let _ = writeln!(
            text,
            "seq {:<8} {:<28} {:<9} attempts {:<2} {when}  last {last}",
            d["seq"].as_i64().unwrap_or_default(),
            str_of(d, "event_type"),
            str_of(d, "status"),
            d["attempts"].as_i64().unwrap_or_default(),
        );
    }
    text
}
