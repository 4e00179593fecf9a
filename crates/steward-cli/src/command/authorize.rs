//! `steward authorize …`: asks the server whether a worker may perform an operation now
//! (SPEC §7) and prints the verdict with the rule that decided.
//!
//! Exit codes: 0 allowed, 1 denied (the rule is printed), 2 invalid input or a refusal of
//! the request itself (unknown worker, not the worker's agent or owner).

use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};
use steward_policy::Environment;

use crate::client::{Client, ClientArgs};
use crate::output::{print, print_json};

/// The exit code of a denied operation.
const DENIED: u8 = 1;

#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The worker about to act.
    #[arg(long, value_name = "ID")]
    pub worker: String,
    /// Where: `local`, `development`, `test`, `staging`, `production` or `unknown`.
    #[arg(long, value_name = "ENV", value_parser = parse_environment)]
    pub environment: Environment,
    /// The operation's name (`deploy`, `restart`, `SELECT`, …).
    #[arg(long, value_name = "NAME")]
    pub action: String,
    /// An HTTP-like method (`GET`, `POST`, `DELETE`, …).
    #[arg(long, value_name = "METHOD")]
    pub method: String,
    /// The service the operation targets.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// The region the operation targets.
    #[arg(long, value_name = "NAME")]
    pub region: Option<String>,
    /// The operation only reads.
    #[arg(long)]
    pub read_only: bool,
    /// The target is a critical production system (needs level 3).
    #[arg(long)]
    pub critical: bool,
    /// A data type the operation touches (`pii`, `email`, `test_data`, …). Repeatable.
    #[arg(long = "data", value_name = "TYPE")]
    pub data_touched: Vec<String>,
    /// The operation touches sensitive data (PII, PHI, financial, credentials).
    #[arg(long)]
    pub sensitive_data: bool,
    /// Tokens the operation will spend from the permit's budget.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub tokens: u64,
    /// The permit the operation runs under.
    #[arg(long, value_name = "ID")]
    pub permit: Option<String>,
    /// Audit the decision even where the rules do not ask for it, so that its audit seq
    /// can back the operation's outcome (`steward worker outcome --authorize-seq`).
    #[arg(long)]
    pub record: bool,
}

pub fn run(args: AuthorizeArgs) -> anyhow::Result<ExitCode> {
    let mut body = json!({
        "worker_id": args.worker,
        "environment": args.environment,
        "action": args.action,
        "method": args.method,
        "read_only": args.read_only,
        "critical": args.critical,
        "data_touched": args.data_touched,
        "sensitive_data": args.sensitive_data,
        "tokens": args.tokens,
        "record": args.record,
    });
    for (key, value) in [
        ("service", args.service),
        ("region", args.region),
        ("permit_id", args.permit),
    ] {
        if let Some(value) = value {
            body[key] = json!(value);
        }
    }
    let client = Client::new(&args.client)?;
    let verdict = client.post("/v1/authorize", Some(&body))?;
    let allow = verdict["allow"].as_bool() == Some(true);
    if args.client.json {
        print_json(&verdict)?;
    } else {
        print(&summary(&verdict))?;
    }
    Ok(if allow {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DENIED)
    })
}

/// `allow (rule allowed, level 2, audit seq 14)` / `deny: scope_violation …`.
fn summary(v: &Value) -> String {
    let rule = v["rule"].as_str().unwrap_or("unknown");
    let mut details = vec![format!("worker level {}", v["level"])];
    if let Some(permit) = v["permit_id"].as_str() {
        details.push(format!("permit {permit}"));
    }
    if v["revoked"] == json!(true) {
        details.push("permit revoked (scope_expansion)".to_owned());
    }
    if let (Some(used), Some(budget)) = (v["tokens_used"].as_u64(), v["token_budget"].as_u64()) {
        details.push(format!("tokens {used}/{budget}"));
    }
    if let Some(seq) = v["audit_seq"].as_u64() {
        details.push(format!("audit seq {seq}"));
    }
    let head = if v["allow"].as_bool() == Some(true) {
        "allow".to_owned()
    } else {
        format!("deny: {rule}")
    };
    format!("{head} ({})\n", details.join(", "))
}

fn parse_environment(text: &str) -> Result<Environment, String> {
    text.parse()
        .map_err(|e: steward_policy::UnknownValueError| e.to_string())
}
