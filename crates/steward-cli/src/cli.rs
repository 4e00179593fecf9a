//! Command-line arguments (clap). Parsing only; behaviour lives in `command`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Machine-readable JSON (the default).
    Json,
    /// A short human summary.
    Text,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Task file (JSON object or array); `-` or nothing reads standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    pub file: PathBuf,
    /// Policy file to use instead of the built-in one (see `steward policy show`).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Same as `--format json` (the default).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// One task per line in, one analysis per line out (for large backlogs).
    #[arg(long)]
    pub jsonl: bool,
    /// With `--jsonl`: report a bad line on stderr and go on; exit 2 at the end.
    #[arg(long, requires = "jsonl")]
    pub keep_going: bool,
    /// Also check a worker of this certification level against the task (hard blocks).
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u8).range(0..=4))]
    pub worker_level: Option<u8>,
    /// The worker's certification status, with `--worker-level`.
    #[arg(
        long,
        value_name = "STATUS",
        default_value = "active",
        requires = "worker_level"
    )]
    pub worker_status: String,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print a policy file: the built-in one (equal to the specification) by default.
    Show {
        /// Show this policy file instead (after validating it).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Check a policy file and explain every problem (exit 2 when there is any).
    Validate {
        /// The policy file (TOML).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Replay a task backlog under two policies and report what changes.
    ///
    /// OLD and NEW are policy files, or `builtin` for the built-in policy.
    Diff {
        #[arg(value_name = "OLD")]
        old: PathBuf,
        #[arg(value_name = "NEW")]
        new: PathBuf,
        /// Task backlog, one JSON task per line.
        #[arg(long, value_name = "FILE.jsonl")]
        tasks: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
    },
}
