//! `steward hook claude-code`: a Claude Code command hook. Reads the hook event (JSON) on
//! stdin, asks the server (`POST /v1/hooks/claude-code`, where the decision is made) for
//! the session's worker, and prints the answer in Claude Code's output shape.
//!
//! Fails closed: when Steward cannot be reached, does not answer within the timeout
//! (1 s by default), refuses the token or the event, the hook exits 2 with the reason on
//! stderr, which Claude Code treats as a block. It never waits for a person.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::ClientArgs;

/// Claude Code's exit code for "block, and show stderr".
const BLOCK: u8 = 2;

/// The largest event read from stdin.
const MAX_EVENT: u64 = 1024 * 1024;

#[derive(Debug, Args)]
pub struct HookArgs {
    #[command(subcommand)]
    pub agent: HookAgent,
}

#[derive(Debug, Subcommand)]
pub enum HookAgent {
    /// Answer a Claude Code hook event (PreToolUse, PermissionRequest, PostToolUse,
    /// PostToolUseFailure) read on stdin. Exit codes: 0 answered (the decision is in the
    /// JSON on stdout), 2 blocked because Steward could not answer (reason on stderr).
    ClaudeCode(ClaudeCodeArgs),
}

#[derive(Debug, Args)]
pub struct ClaudeCodeArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The worker the coding agent runs as.
    #[arg(long, env = "STEWARD_WORKER", value_name = "ID")]
    pub worker: Option<String>,
    /// A permit the master requested for this session.
    #[arg(long, env = "STEWARD_PERMIT", value_name = "ID")]
    pub permit: Option<String>,
    /// Where the session works when a command does not say (default `development`).
    #[arg(long, env = "STEWARD_ENVIRONMENT", value_name = "ENV")]
    pub environment: Option<String>,
    /// A headless run (`claude -p`): a permit awaiting approval answers `defer`.
    #[arg(long, env = "STEWARD_HEADLESS")]
    pub headless: bool,
    /// How long to wait for Steward before blocking.
    #[arg(long, env = "STEWARD_HOOK_TIMEOUT", default_value = "1s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

pub fn run(args: HookArgs) -> anyhow::Result<ExitCode> {
    let HookAgent::ClaudeCode(args) = args.agent;
    match answer(&args) {
        Ok(output) => {
            let mut stdout = std::io::stdout();
            // A closed stdout leaves Claude Code without an answer: it blocks on exit 2.
            if writeln!(stdout, "{output}").is_err() {
                return Ok(ExitCode::from(BLOCK));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            let _ = writeln!(
                std::io::stderr(),
                "Steward blocked this tool call: {reason}"
            );
            Ok(ExitCode::from(BLOCK))
        }
    }
}

/// The server's answer, or why there is none.
fn answer(args: &ClaudeCodeArgs) -> Result<Value, String> {
    let (server, token) = args
        .client
        .server_and_token()
        .map_err(|e| format!("{e:#}"))?;
    let worker = args
        .worker
        .as_deref()
        .filter(|w| !w.trim().is_empty())
        .ok_or("no worker: set `STEWARD_WORKER` or pass `--worker`")?;
    let mut event = Vec::new();
    std::io::stdin()
        .take(MAX_EVENT)
        .read_to_end(&mut event)
        .map_err(|e| format!("reading the hook event on stdin: {e}"))?;
    let mut query: Vec<(&str, &str)> = vec![("worker_id", worker)];
    if let Some(permit) = &args.permit {
        query.push(("permit_id", permit));
    }
    if let Some(environment) = &args.environment {
        query.push(("environment", environment));
    }
    if args.headless {
        query.push(("headless", "true"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(args.timeout)
            .user_agent(concat!("steward-hook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        let response = http
            .post(format!("{server}/v1/hooks/claude-code"))
            .query(&query)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(event)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!(
                        "Steward at {server} did not answer within {:?}",
                        args.timeout
                    )
                } else {
                    format!("cannot reach Steward at {server}: {e}")
                }
            })?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| {
            format!(
                "Steward's answer is not JSON (HTTP {}): {e}",
                status.as_u16()
            )
        })?;
        if status.is_success() {
            Ok(body)
        } else {
            let detail = body["detail"].as_str().unwrap_or("refused");
            Err(format!("{detail} (HTTP {})", status.as_u16()))
        }
    })
}
