//! Command-line arguments (clap): the top-level command list. Each command's own
//! arguments live with its behaviour in `command::*`.

use clap::{Parser, Subcommand};

use crate::command::audit::AuditArgs;
use crate::command::authorize::AuthorizeArgs;
use crate::command::check::CheckArgs;
use crate::command::clock::ClockArgs;
use crate::command::emergency::EmergencyArgs;
use crate::command::events::EventsArgs;
use crate::command::hook::HookArgs;
use crate::command::init::InitArgs;
use crate::command::mcp::McpArgs;
use crate::command::monitoring::RollbackArgs;
use crate::command::permit::PermitArgs;
use crate::command::policy::PolicyCommand;
use crate::command::principal::PrincipalArgs;
use crate::command::report::ReportArgs;
use crate::command::serve::ServeArgs;
use crate::command::token::TokenArgs;
use crate::command::webhook::WebhookArgs;
use crate::command::worker::WorkerArgs;

/// Steward: the safety layer for fleets of AI agents. It scores a task's risk, decides
/// which certification level of worker may run it, and runs the permit workflow.
#[derive(Debug, Parser)]
#[command(name = "steward", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse tasks: risk score, required certification level, approvals and permit.
    ///
    /// Reads one task (a JSON object), an array of tasks, or with `--jsonl` one task per
    /// line. Prints the analysis as JSON (pipe it into `jq`). Exit codes: 0 analysed,
    /// 2 invalid input or policy.
    Check(CheckArgs),
    /// Show, validate and compare policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Create the data directory, database, first admin (token printed once) and audit
    /// signing key. Refuses to run twice.
    Init(InitArgs),
    /// Run the HTTP API (initialises on first run). Stops cleanly on SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Create, list and revoke API tokens (on a server).
    Token(TokenArgs),
    /// Create, list, disable and erase principals (on a server).
    Principal(PrincipalArgs),
    /// Register workers and run their certification lifecycle (on a server).
    Worker(WorkerArgs),
    /// Request, decide and run permits (on a server).
    Permit(PermitArgs),
    /// Read and verify the audit trail (on a server).
    Audit(AuditArgs),
    /// Ask whether a worker may perform an operation now (on a server). Prints the
    /// verdict and the rule that decided. Exit codes: 0 allowed, 1 denied, 2 invalid input.
    Authorize(AuthorizeArgs),
    /// Follow, live, the audit events you have a part in (on a server): a master those of
    /// the permits it requested and the workers it owns, a worker its own, admins and
    /// auditors all.
    Events(EventsArgs),
    /// Declare, approve, renew and resolve emergencies, and file their post-incident
    /// reviews (on a server).
    Emergency(EmergencyArgs),
    /// List rollbacks opened by monitoring triggers, and their SLA (on a server).
    Rollback(RollbackArgs),
    /// Subscribe URLs to audit events as signed, retried webhooks; read the delivery log
    /// (on a server).
    Webhook(WebhookArgs),
    /// Compliance reports per framework and period (on a server).
    Report(ReportArgs),
    /// Serve Steward's MCP tools over stdio, for an agent host that spawns its servers:
    /// each JSON-RPC message is relayed to the server's `/mcp` endpoint with the token.
    Mcp(McpArgs),
    /// Gate a coding agent's tool calls: answer its hook events (Claude Code: PreToolUse,
    /// PermissionRequest, PostToolUse) for the session's worker, failing closed.
    Hook(HookArgs),
    /// The server's time; under `steward serve --rehearsal`, advance it (admin) to
    /// rehearse the time rules: `steward clock advance 25h`.
    Clock(ClockArgs),
}
