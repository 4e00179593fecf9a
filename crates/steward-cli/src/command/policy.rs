//! `steward policy show|validate|diff`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;
use steward_policy::{DEFAULT_POLICY_TOML, Policy, PolicyError, Task, analyze};

use crate::failure::invalid;
use crate::input::{load_policy, read_bytes};
use crate::output::{Format, finish_output};

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

pub fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Show { policy } => show(policy.as_deref()),
        PolicyCommand::Validate { file } => validate(&file),
        PolicyCommand::Diff {
            old,
            new,
            tasks,
            format,
            json,
        } => diff(&old, &new, &tasks, if json { Format::Json } else { format }),
    }
}

fn show(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let policy = load_policy(path)?;
    let text = match path {
        Some(p) if p != Path::new("builtin") => String::from_utf8(read_bytes(p)?)?,
        _ => DEFAULT_POLICY_TOML.to_owned(),
    };
    let mut out = std::io::stdout().lock();
    finish_output(
        writeln!(out, "# policy_version: {}", policy.version())
            .and_then(|()| out.write_all(text.as_bytes())),
    )?;
    Ok(ExitCode::SUCCESS)
}

fn validate(path: &Path) -> anyhow::Result<ExitCode> {
    let bytes = read_bytes(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| invalid(format!("policy `{}` is not valid UTF-8", path.display())))?;
    match Policy::from_toml(text) {
        Ok(policy) => {
            let _ = writeln!(
                std::io::stdout(),
                "policy `{}` is valid (policy_version {})",
                path.display(),
                policy.version()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(PolicyError::Invalid(problems)) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "steward: policy `{}` has {} problem{}:",
                path.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            for problem in &problems {
                let _ = writeln!(err, "  {problem}");
            }
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(invalid(format!("policy `{}`: {e}", path.display()))),
    }
}

#[derive(Debug, Serialize)]
struct DiffReport {
    old_version: String,
    new_version: String,
    tasks: usize,
    unchanged: usize,
    changed: usize,
    level_transitions: Vec<Transition>,
    changes: Vec<Change>,
}

#[derive(Debug, Serialize)]
struct Transition {
    from: u8,
    to: u8,
    tasks: usize,
}

#[derive(Debug, Serialize)]
struct Change {
    line: usize,
    task_id: Option<String>,
    old_level: u8,
    new_level: u8,
    old_total: u8,
    new_total: u8,
    old_permit_type: Option<String>,
    new_permit_type: Option<String>,
    old_approvers: u32,
    new_approvers: u32,
}

fn diff(old: &Path, new: &Path, tasks: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let old_policy = load_policy(Some(old))?;
    let new_policy = load_policy(Some(new))?;
    let bytes = read_bytes(tasks)?;
    let mut report = DiffReport {
        old_version: old_policy.version().to_owned(),
        new_version: new_policy.version().to_owned(),
        tasks: 0,
        unchanged: 0,
        changed: 0,
        level_transitions: Vec::new(),
        changes: Vec::new(),
    };
    let mut transitions: BTreeMap<(u8, u8), usize> = BTreeMap::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let number = i + 1;
        let text = std::str::from_utf8(line).map_err(|e| {
            invalid(format!(
                "`{}` line {number}: not valid UTF-8 (bad byte at offset {})",
                tasks.display(),
                e.valid_up_to()
            ))
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let task = Task::from_json_str(text)
            .map_err(|e| invalid(format!("`{}` line {number}: {e}", tasks.display())))?;
        let a = analyze(&task, &old_policy);
        let b = analyze(&task, &new_policy);
        report.tasks += 1;
        let (la, lb) = (a.level().value(), b.level().value());
        let change = Change {
            line: number,
            task_id: task.id.clone(),
            old_level: la,
            new_level: lb,
            old_total: a.risk_assessment.total_risk_score,
            new_total: b.risk_assessment.total_risk_score,
            old_permit_type: a.approval_requirements.permit_type.map(|p| p.to_string()),
            new_permit_type: b.approval_requirements.permit_type.map(|p| p.to_string()),
            old_approvers: a.approval_requirements.approvers_required,
            new_approvers: b.approval_requirements.approvers_required,
        };
        let differs = la != lb
            || change.old_total != change.new_total
            || change.old_permit_type != change.new_permit_type
            || change.old_approvers != change.new_approvers;
        if la != lb {
            *transitions.entry((la, lb)).or_default() += 1;
        }
        if differs {
            report.changed += 1;
            report.changes.push(change);
        } else {
            report.unchanged += 1;
        }
    }
    report.level_transitions = transitions
        .into_iter()
        .map(|((from, to), tasks)| Transition { from, to, tasks })
        .collect();

    let mut out = std::io::stdout().lock();
    let rendered = match format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Text => render_text(&report, old, new),
    };
    finish_output(out.write_all(rendered.as_bytes()))?;
    Ok(ExitCode::SUCCESS)
}

fn render_text(r: &DiffReport, old: &Path, new: &Path) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "policy diff: `{}` ({}) -> `{}` ({})",
        old.display(),
        r.old_version,
        new.display(),
        r.new_version
    );
    let _ = writeln!(
        s,
        "{} tasks: {} unchanged, {} changed",
        r.tasks, r.unchanged, r.changed
    );
    if !r.level_transitions.is_empty() {
        let _ = writeln!(s, "level transitions:");
        for t in &r.level_transitions {
            let _ = writeln!(
                s,
                "  {} → {}: {} task{}",
                t.from,
                t.to,
                t.tasks,
                if t.tasks == 1 { "" } else { "s" }
            );
        }
    }
    if !r.changes.is_empty() {
        let _ = writeln!(s, "changed tasks:");
        for c in &r.changes {
            let id = c.task_id.as_deref().unwrap_or("(no id)");
            let _ = write!(
                s,
                "  {id} (line {}): level {} → {}, total {} → {}",
                c.line, c.old_level, c.new_level, c.old_total, c.new_total
            );
            if c.old_permit_type != c.new_permit_type {
                let _ = write!(
                    s,
                    ", permit {} → {}",
                    c.old_permit_type.as_deref().unwrap_or("none"),
                    c.new_permit_type.as_deref().unwrap_or("none")
                );
            }
            if c.old_approvers != c.new_approvers {
                let _ = write!(s, ", approvers {} → {}", c.old_approvers, c.new_approvers);
            }
            s.push('\n');
        }
    }
    s
}
