//! `steward check`: analyse one task, an array of tasks, or a JSON Lines backlog.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use steward_policy::strict_json::{self, JsonErrorKind, Top};
use steward_policy::{
    Analysis, CertificationStatus, Level, Policy, Task, WorkerStanding, analyze,
    hard_blocks_for_worker,
};

use crate::failure::invalid;
use crate::input::{load_policy, read_bytes};
use crate::output::{Format, finish_output};

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
    /// One task per line in, one analysis per line out (for large backlogs). A bad line
    /// becomes an error record `{"line": N, "error": "…"}` in its place and the run goes
    /// on; the exit code is 2 at the end if any line failed.
    #[arg(long)]
    pub jsonl: bool,
    /// Kept for scripts written before `--jsonl` went on past bad lines by itself.
    #[arg(long, requires = "jsonl", hide = true)]
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

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let policy = load_policy(args.policy.as_deref())?;
    let format = if args.json { Format::Json } else { args.format };
    let worker = match args.worker_level {
        None => None,
        Some(level) => Some(WorkerStanding {
            level: Level::new(level).ok_or_else(|| invalid("`--worker-level` must be 0 to 4"))?,
            status: args
                .worker_status
                .parse::<CertificationStatus>()
                .map_err(|e| invalid(format!("`--worker-status`: {e}")))?,
        }),
    };
    let engine = Engine { policy, worker };
    if args.jsonl {
        return engine.jsonl(&args.file, format);
    }

    let bytes = read_bytes(&args.file)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        invalid(format!(
            "input is not valid UTF-8 (bad byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if text.trim_start().starts_with('[') {
        let values: Vec<serde_json::Value> =
            strict_json::from_str(text, Top::Any).map_err(|e| match e.kind {
                JsonErrorKind::DuplicateKey { .. } => invalid(e.to_string()),
                _ => invalid(format!("malformed JSON array of tasks: {e}")),
            })?;
        let mut analyses = Vec::with_capacity(values.len());
        for (i, value) in values.into_iter().enumerate() {
            let task = Task::from_value(value).map_err(|e| {
                let path = if e.path.is_empty() {
                    format!("[{i}]")
                } else {
                    format!("[{i}].{}", e.path)
                };
                invalid(format!("`{path}`: {}", e.message))
            })?;
            analyses.push(engine.analyze(&task));
        }
        finish_output(match format {
            Format::Json => serde_json::to_writer_pretty(&mut out, &analyses)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out)),
            Format::Text => analyses
                .iter()
                .try_for_each(|a| out.write_all(summary(a).as_bytes())),
        })?;
    } else {
        let task = Task::from_json_str(text).map_err(|e| invalid(e.to_string()))?;
        let analysis = engine.analyze(&task);
        finish_output(match format {
            Format::Json => serde_json::to_writer_pretty(&mut out, &analysis)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out)),
            Format::Text => out.write_all(summary(&analysis).as_bytes()),
        })?;
    }
    finish_output(out.flush())?;
    Ok(ExitCode::SUCCESS)
}

struct Engine {
    policy: Policy,
    worker: Option<WorkerStanding>,
}

/// serde_json ends its messages with ` at line 1 column 35`: inside a JSON Lines file
/// that is always line 1 and means nothing to a reader, who is told the file line instead.
fn without_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at)
            if message[at + " at line ".len()..]
                .split(" column ")
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            message[..at].to_owned()
        }
        _ => message.to_owned(),
    }
}

impl Engine {
    fn analyze(&self, task: &Task) -> Analysis {
        let mut analysis = analyze(task, &self.policy);
        if let Some(worker) = self.worker {
            hard_blocks_for_worker(&mut analysis, worker);
        }
        analysis
    }

    /// Streams one analysis per input line; memory stays flat however long the backlog.
    /// A line that is not a valid task gets an error record in its place (its line
    /// number and the problem) and the stream goes on.
    fn jsonl(&self, file: &Path, format: Format) -> anyhow::Result<ExitCode> {
        let reader: Box<dyn std::io::BufRead> = if file == Path::new("-") {
            Box::new(std::io::stdin().lock())
        } else {
            let f = std::fs::File::open(file)
                .map_err(|e| invalid(format!("cannot read `{}`: {e}", file.display())))?;
            Box::new(std::io::BufReader::with_capacity(1 << 16, f))
        };
        let out = std::io::stdout();
        let mut out = BufWriter::with_capacity(1 << 16, out.lock());
        let mut line = Vec::new();
        let mut reader = reader;
        let mut bad = 0usize;
        let mut number = 0usize;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .context("reading tasks")?;
            if n == 0 {
                break;
            }
            number += 1;
            let parsed = std::str::from_utf8(&line)
                .map_err(|e| format!("not valid UTF-8 (bad byte at offset {})", e.valid_up_to()))
                .and_then(|text| {
                    if text.trim().is_empty() {
                        Ok(None)
                    } else {
                        Task::from_json_str(text)
                            .map(Some)
                            .map_err(|e| without_json_position(&e.to_string()))
                    }
                });
            let written = match parsed {
                Ok(None) => continue,
                Ok(Some(task)) => {
                    let analysis = self.analyze(&task);
                    match format {
                        Format::Json => serde_json::to_writer(&mut out, &analysis)
                            .map_err(std::io::Error::from)
                            .and_then(|()| out.write_all(b"\n")),
                        Format::Text => out.write_all(summary(&analysis).as_bytes()),
                    }
                }
                Err(message) => {
                    bad += 1;
                    let _ = writeln!(std::io::stderr(), "steward: line {number}: {message}");
                    match format {
                        Format::Json => serde_json::to_writer(
                            &mut out,
                            &serde_json::json!({"line": number, "error": message}),
                        )
                        .map_err(std::io::Error::from)
                        .and_then(|()| out.write_all(b"\n")),
                        Format::Text => writeln!(out, "line {number}: error: {message}"),
                    }
                }
            };
            if let Err(e) = written {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(e.into());
            }
        }
        finish_output(out.flush())?;
        if bad > 0 {
            let _ = writeln!(
                std::io::stderr(),
                "steward: {bad} of {number} lines were not valid tasks"
            );
            return Ok(ExitCode::from(2));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The `--format text` summary of one analysis.
pub fn summary(a: &Analysis) -> String {
    let mut s = String::new();
    let d = &a.certification_decision;
    let r = &a.risk_assessment;
    let ap = &a.approval_requirements;
    let id = a.task_id.as_deref().unwrap_or("(no id)");
    let worker_type = if d.certification_level_required.is_union() {
        "union"
    } else {
        "non-union"
    };
    let _ = write!(
        s,
        "{id}: level {} ({worker_type})",
        d.certification_level_required
    );
    match ap.permit_type {
        None => s.push_str(", no permit"),
        Some(kind) if ap.auto_approve => {
            let _ = write!(s, ", permit {kind} (auto-approved)");
        }
        Some(kind) => {
            let roles: Vec<&str> = ap.approver_roles.iter().map(|r| r.as_str()).collect();
            let _ = write!(
                s,
                ", permit {kind}: {} approver{} of {}",
                ap.approvers_required,
                if ap.approvers_required == 1 { "" } else { "s" },
                roles.join(", ")
            );
            if !ap.required_roles.is_empty() {
                let required: Vec<&str> = ap.required_roles.iter().map(|r| r.as_str()).collect();
                let _ = write!(s, " (must include {})", required.join(", "));
            }
            if ap.change_advisory_board_required {
                s.push_str(", plus change-advisory-board sign-off");
            }
        }
    }
    let _ = writeln!(
        s,
        "\n  {} · total {}/50 ({}): environment {}, reversibility {}, data {}, scope {}, customers {}",
        a.environment_detected,
        r.total_risk_score,
        r.risk_level,
        r.environment_risk,
        r.reversibility_risk,
        r.data_sensitivity_risk,
        r.impact_scope_risk,
        r.customer_impact_risk
    );
    for floor in &d.floors_applied {
        let _ = writeln!(s, "  floor: level {} ({})", floor.level, floor.reason);
    }
    for block in &a.safety_checks.hard_blocks {
        let _ = writeln!(s, "  HARD BLOCK {}: {}", block.rule, block.message);
    }
    for warning in &a.safety_checks.warnings {
        let _ = writeln!(s, "  warning {}: {}", warning.rule, warning.message);
    }
    s
}
