//! `steward permit …`: the permit workflow (SPEC §6) through the server: request (with
//! every constraint the API takes), wait, list, show, approve / reject / request changes,
//! CAB sign-off, resubmit, start, complete, close, revoke, renew, archive.
//!
//! Values from closed sets (roles, evidence kinds, outcomes, revocation reasons) are
//! checked here, so a typo is a usage error naming the accepted values before any
//! request is sent. The rules themselves (segregation of duties, quorum, windows) are the
//! server's; its refusals come back as one line with the HTTP status.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use steward_permits::{Outcome, RevocationReason, WaitUntil};
use steward_policy::strict_json::{self, JsonErrorKind, Top};
use steward_policy::{Evidence, Role};

use crate::client::{Client, ClientArgs, encode};
use crate::command::token::str_of;
use crate::failure::invalid;
use crate::input::read_bytes;
use crate::output::{print, print_json, time};

mod wait;

#[derive(Debug, Args)]
pub struct PermitArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: PermitCommand,
}

/// The constraints a requested permit carries besides the task's own scope (its
/// operations, services and regions; SPEC §6.4). Absent ones take the server's defaults.
#[derive(Debug, Clone, Args)]
pub struct ConstraintArgs {
    /// Validity in hours [default: the permit type's].
    #[arg(long, value_name = "N")]
    pub hours: Option<f64>,
    /// Start the window later instead of at approval: an RFC 3339 time
    /// (`2026-12-01T09:00:00Z`). The permit is issued when it begins.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub window_start: Option<i64>,
    /// A method the permit allows (`GET`, `POST`, …); repeatable [default: every method].
    #[arg(long = "allowed-method", value_name = "METHOD")]
    pub allowed_methods: Vec<String>,
    /// A method the permit forbids; repeatable. Forbidden wins over allowed.
    #[arg(long = "forbidden-method", value_name = "METHOD")]
    pub forbidden_methods: Vec<String>,
    /// A region the work may touch; repeatable. Added to the task's `regions`, so the
    /// analysis scores them (two or more regions in production need level 4).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// The error rate (0 to 1) above which, sustained, a rollback fires [default 0.01].
    #[arg(long, value_name = "RATE")]
    pub max_error_rate: Option<f64>,
    /// How long the error rate must stay above it to fire, in seconds [default 120].
    #[arg(long, value_name = "SECONDS")]
    pub error_rate_window_seconds: Option<u32>,
    /// The p99 latency in ms above which, sustained, a rollback fires [default 500].
    #[arg(long, value_name = "MS")]
    pub max_latency_p99_ms: Option<u64>,
    /// How long the p99 must stay above it to fire, in seconds [default 300].
    #[arg(long, value_name = "SECONDS")]
    pub latency_window_seconds: Option<u32>,
    /// Consecutive failed health checks that fire a rollback [default 3].
    #[arg(long, value_name = "N")]
    pub health_check_failure_limit: Option<u32>,
}

impl ConstraintArgs {
    /// Adds the constraints to a request body, and the regions to its task.
    fn apply(self, body: &mut Value) {
        if !self.regions.is_empty() {
            let task = &mut body["task"];
            let mut regions: Vec<Value> = task["regions"].as_array().cloned().unwrap_or_default();
            for region in self.regions {
                let region = Value::String(region);
                if !regions.contains(&region) {
                    regions.push(region);
                }
            }
            task["regions"] = Value::Array(regions);
        }
        if !self.allowed_methods.is_empty() {
            body["allowed_methods"] = json!(self.allowed_methods);
        }
        if !self.forbidden_methods.is_empty() {
            body["forbidden_methods"] = json!(self.forbidden_methods);
        }
        for (key, value) in [
            ("hours", self.hours.map(|v| json!(v))),
            ("window_start_ms", self.window_start.map(|v| json!(v))),
            ("max_error_rate", self.max_error_rate.map(|v| json!(v))),
            (
                "error_rate_window_seconds",
                self.error_rate_window_seconds.map(|v| json!(v)),
            ),
            (
                "max_latency_p99_ms",
                self.max_latency_p99_ms.map(|v| json!(v)),
            ),
            (
                "latency_window_seconds",
                self.latency_window_seconds.map(|v| json!(v)),
            ),
            (
                "health_check_failure_limit",
                self.health_check_failure_limit.map(|v| json!(v)),
            ),
        ] {
            if let Some(value) = value {
                body[key] = value;
            }
        }
    }
}

/// Evidence for a request or a resubmission.
#[derive(Debug, Clone, Args)]
pub struct EvidenceArgs {
    /// One piece of evidence, `KIND=VALUE` (`code_review=https://…`); `KIND=@FILE` reads
    /// the value from a file (JSON when it parses, text otherwise). Repeatable.
    #[arg(long = "evidence", value_name = "KIND=VALUE", value_parser = parse_evidence)]
    pub evidence: Vec<(Evidence, String)>,
    /// A JSON object of evidence kinds to values; `--evidence` entries override it.
    #[arg(long, value_name = "FILE")]
    pub evidence_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PermitCommand {
    /// Request a permit for a task (the server analyses the task itself), with the
    /// constraints it carries; with `--wait`, wait for its approval too (exit codes as for
    /// `permit wait`).
    Request {
        /// The task (a JSON object, SPEC §2); `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        task: PathBuf,
        /// The worker that will run it.
        #[arg(long, value_name = "ID")]
        worker: String,
        #[command(flatten)]
        evidence: EvidenceArgs,
        #[command(flatten)]
        constraints: ConstraintArgs,
        /// Then wait until the permit is active (or `--until decided`), rejected, sent
        /// back, expired or revoked, or `--timeout` passes; exit as `permit wait` does.
        #[arg(long)]
        wait: bool,
        /// With `--wait`: `active` (issued) or `decided` (approved, or refused).
        #[arg(long, value_name = "STATE", requires = "wait", value_parser = parse_until)]
        until: Option<WaitUntil>,
        /// With `--wait`: give up after this long (`90s`, `30m`, `2h`), exit code 9.
        #[arg(long, value_name = "DURATION", requires = "wait", value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// Wait until a permit is active (or decided), or can never be, or `--timeout` passes.
    ///
    /// Exit codes: 0 reached; 4 rejected; 5 expired (nobody decided in time); 6 revoked;
    /// 7 changes requested (resubmit first); 8 ended (completed or closed already); 9
    /// timed out; 1 server unreachable; 2 unknown permit or refused. A lost connection is
    /// retried until the timeout; without one, the wait lasts until the permit settles
    /// (a request nobody decides expires at twice its approval SLA).
    Wait {
        #[arg(value_name = "ID")]
        id: String,
        /// `active` (issued: the worker may start) or `decided` (approved, or refused).
        #[arg(long, value_name = "STATE", default_value = "active", value_parser = parse_until)]
        until: WaitUntil,
        /// Give up after this long (`90s`, `30m`, `2h`; a bare number is seconds).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// List permits, oldest first.
    List {
        /// Only permits in this state (`under_review`, `active`, …).
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        #[arg(long, value_name = "ID")]
        worker: Option<String>,
        #[arg(long, value_name = "ID")]
        requester: Option<String>,
        /// Only requests you may decide now: your approval queue.
        #[arg(long, conflicts_with_all = ["state", "requester"])]
        awaiting_me: bool,
        /// Only requests past their approval SLA (overdue and escalated).
        #[arg(long, conflicts_with_all = ["state", "requester"])]
        overdue: bool,
        /// Continue after this permit id (the `next` of the previous page).
        #[arg(long, value_name = "ID")]
        after: Option<String>,
        /// 1 to 200.
        #[arg(long, default_value_t = 50, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=200))]
        limit: u32,
    },
    /// Show one permit with its approvals.
    Show {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Approve under one of your roles.
    Approve {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: Role,
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
    },
    /// Reject under one of your roles, saying why.
    Reject {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: Role,
        #[arg(long, value_name = "TEXT")]
        comment: String,
    },
    /// Send the request back for changes, saying which.
    RequestChanges {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: Role,
        #[arg(long, value_name = "TEXT")]
        comment: String,
    },
    /// Resubmit after changes were requested (approvals start over).
    Resubmit {
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        evidence: EvidenceArgs,
    },
    /// Start executing an active permit.
    Start {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Record how the execution ended.
    Complete {
        #[arg(value_name = "ID")]
        id: String,
        /// `success`, `rolled_back`, `rollback_failed` or `partial`.
        #[arg(long, value_name = "OUTCOME", value_parser = parse_outcome)]
        outcome: Outcome,
        /// The completed-operation report (JSON, or text).
        #[arg(long, value_name = "FILE")]
        report_file: Option<PathBuf>,
    },
    /// Close a completed permit; prints its audit summary.
    Close {
        #[arg(value_name = "ID")]
        id: String,
        /// Closing notes (JSON, or text).
        #[arg(long, value_name = "FILE")]
        summary_file: Option<PathBuf>,
        /// Outcome feedback: the risk level (0 to 4) the operation actually turned out to
        /// carry. Feeds the over- and under-certification metrics.
        #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u8).range(0..=4))]
        actual_level: Option<u8>,
    },
    /// Revoke a live permit.
    Revoke {
        #[arg(value_name = "ID")]
        id: String,
        /// Why (`manual`, `safety_violation`, `security_incident`, …).
        #[arg(long, value_name = "REASON", value_parser = parse_reason)]
        reason: RevocationReason,
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
    },
    /// Renew an active permit by some hours, as its type allows.
    Renew {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "N")]
        hours: f64,
        /// For renewals that need approval: the role you approve under.
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: Option<Role>,
    },
    /// Archive a permit in a terminal state.
    Archive {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Record the change-advisory-board sign-off of a level-4 permit.
    CabSignoff {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Post a telemetry sample for a live permit (its worker, owner or requester). A
    /// breach sustained over its window (error rate 120 s, p99 300 s, 3 failed health
    /// checks) revokes the permit and opens a rollback.
    Telemetry(crate::command::monitoring::TelemetryArgs),
    /// Report how the rollback of a fired trigger ended (`succeeded` or `failed`).
    Rollback(crate::command::monitoring::RollbackReportArgs),
}

pub fn run(args: PermitArgs) -> anyhow::Result<ExitCode> {
    use PermitCommand as C;

    // Read every file before talking to the server.
    let (path, body) = match args.command {
        C::Request {
            task,
            worker,
            evidence,
            constraints,
            wait: then_wait,
            until,
            timeout,
        } => {
            let task = read_json_file(&task, "--task")?;
            if !task.is_object() {
                return Err(invalid("`--task` must hold one JSON object (a task)"));
            }
            let mut body = json!({
                "task": task,
                "worker_id": worker,
                "evidence": evidence.collect()?,
            });
            constraints.apply(&mut body);
            if then_wait {
                let client = Client::new(&args.client)?;
                let permit = client.post("/v1/permits", Some(&body))?;
                let id = permit["id"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("the server's answer names no permit id"))?;
                let until = until.unwrap_or(WaitUntil::Active);
                return wait::wait(&client, id, until, timeout, true, args.client.json);
            }
            ("/v1/permits".to_owned(), Some(body))
        }
        C::Wait { id, until, timeout } => {
            let client = Client::new(&args.client)?;
            return wait::wait(&client, &id, until, timeout, false, args.client.json);
        }
        C::List {
            state,
            worker,
            requester,
            awaiting_me,
            overdue,
            after,
            limit,
        } => {
            let mut query = format!("limit={limit}");
            if awaiting_me {
                query.push_str("&awaiting_me=true");
            }
            if overdue {
                query.push_str("&overdue=true");
            }
            for (key, value) in [
                ("state", state),
                ("worker_id", worker),
                ("requester_id", requester),
                ("after", after),
            ] {
                if let Some(value) = value {
                    let _ = write!(query, "&{key}={}", encode(&value));
                }
            }
            let client = Client::new(&args.client)?;
            let page = client.get(&format!("/v1/permits?{query}"))?;
            if args.client.json {
                print_json(&page)?;
            } else {
                print(&list_text(&page))?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        C::Show { id } => {
            let client = Client::new(&args.client)?;
            let permit = client.get(&permit_path(&id, ""))?;
            return show(&permit, args.client.json);
        }
        C::Approve { id, role, comment } => decision(&id, "approve", role, comment),
        C::Reject { id, role, comment } => decision(&id, "reject", role, Some(comment)),
        C::RequestChanges { id, role, comment } => {
            decision(&id, "request_changes", role, Some(comment))
        }
        C::Resubmit { id, evidence } => (
            permit_path(&id, "/resubmit"),
            Some(json!({"evidence": evidence.collect()?})),
        ),
        C::Start { id } => (permit_path(&id, "/start"), None),
        C::Complete {
            id,
            outcome,
            report_file,
        } => {
            let mut body = json!({"outcome": outcome.as_str()});
            if let Some(file) = report_file {
                body["report"] = read_json_or_text(&file)?;
            }
            (permit_path(&id, "/complete"), Some(body))
        }
        C::Close {
            id,
            summary_file,
            actual_level,
        } => {
            let mut body = json!({});
            if let Some(file) = summary_file {
                body["notes"] = read_json_or_text(&file)?;
            }
            if let Some(level) = actual_level {
                body["actual_level"] = json!(level);
            }
            (permit_path(&id, "/close"), Some(body))
        }
        C::Revoke {
            id,
            reason,
            comment,
        } => {
            let mut body = json!({"reason": reason.as_str()});
            if let Some(comment) = comment {
                body["comment"] = json!(comment);
            }
            (permit_path(&id, "/revoke"), Some(body))
        }
        C::Renew { id, hours, role } => {
            let mut body = json!({"hours": hours});
            if let Some(role) = role {
                body["role"] = json!(role.as_str());
            }
            (permit_path(&id, "/renew"), Some(body))
        }
        C::Archive { id } => (permit_path(&id, "/archive"), None),
        C::CabSignoff { id } => (permit_path(&id, "/cab-signoff"), None),
        C::Telemetry(t) => return crate::command::monitoring::telemetry(&args.client, t),
        C::Rollback(r) => return crate::command::monitoring::report(&args.client, r),
    };
    let client = Client::new(&args.client)?;
    let permit = client.post(&path, body.as_ref())?;
    show(&permit, args.client.json)
}

impl EvidenceArgs {
    /// The evidence object: the file's entries, then each `--evidence` over them.
    fn collect(&self) -> anyhow::Result<Value> {
        let mut map = Map::new();
        if let Some(file) = &self.evidence_file {
            match read_json_file(file, "--evidence-file")? {
                Value::Object(entries) => {
                    for (kind, value) in entries {
                        kind.parse::<Evidence>()
                            .map_err(|e| invalid(format!("`{}`: `{kind}`: {e}", file.display())))?;
                        map.insert(kind, value);
                    }
                }
                _ => {
                    return Err(invalid(format!(
                        "`{}` must hold a JSON object of evidence kinds to values",
                        file.display()
                    )));
                }
            }
        }
        for (kind, value) in &self.evidence {
            let value = match value.strip_prefix('@') {
                Some(file) => read_json_or_text(Path::new(file))?,
                None => Value::String(value.clone()),
            };
            map.insert(kind.as_str().to_owned(), value);
        }
        Ok(Value::Object(map))
    }
}

fn decision(
    id: &str,
    decision: &str,
    role: Role,
    comment: Option<String>,
) -> (String, Option<Value>) {
    let mut body = json!({"decision": decision, "role": role.as_str(), "channel": "cli"});
    if let Some(comment) = comment {
        body["comment"] = json!(comment);
    }
    (permit_path(id, "/approvals"), Some(body))
}

fn permit_path(id: &str, action: &str) -> String {
    format!("/v1/permits/{}{action}", encode(id))
}

fn show(permit: &Value, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(permit)?;
    } else {
        print(&permit_text(permit))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per permit.
fn list_text(page: &Value) -> String {
    let items = page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut s = String::new();
    if items.is_empty() {
        s.push_str("no permits\n");
    }
    for p in items {
        // A request waiting for a decision expires at twice its approval SLA; a live
        // permit at the end of its window.
        let review = &p["review"];
        let expires = review["expires_at_ms"]
            .as_i64()
            .or_else(|| p["expires_at_ms"].as_i64());
        let _ = write!(
            s,
            "{}  {:<17}  level {}  {:<19}  task {}  worker {}  expires {}",
            str_of(p, "id"),
            str_of(p, "state"),
            p["level"],
            str_of(p, "permit_type"),
            str_of(p, "task_id"),
            str_of(p, "worker_id"),
            time(expires),
        );
        if review["overdue"] == json!(true) {
            let _ = write!(
                s,
                "  OVERDUE since {}, escalated to {}",
                time(review["approval_due_at_ms"].as_i64()),
                joined(&review["escalated_to"]),
            );
        }
        s.push('\n');
    }
    if let Some(next) = page["next"].as_str() {
        let _ = writeln!(s, "more: --after {next}");
    }
    s
}

/// A person by name, with the id to act on: `alice (prn_…)`; the id alone when no name
/// is known.
fn person(name: Option<&str>, id: &str) -> String {
    match name {
        Some(name) if !name.is_empty() && name != id => format!("{name} ({id})"),
        _ => id.to_owned(),
    }
}

/// A JSON array of strings as `a, b, c`.
fn joined(values: &Value) -> String {
    values
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A permit for humans: state, level, window, approvals, evidence, outcome.
fn permit_text(p: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "permit {}: {} (level {}, {})",
        str_of(p, "id"),
        str_of(p, "state"),
        p["level"],
        str_of(p, "permit_type"),
    );
    let _ = writeln!(
        s,
        "  task {}, worker {}, requested by {} at {}",
        str_of(p, "task_id"),
        str_of(p, "worker_id"),
        person(p["requester_name"].as_str(), str_of(p, "requester_id")),
        time(p["created_at_ms"].as_i64()),
    );
    let review = &p["review"];
    if review.is_object() {
        let _ = write!(
            s,
            "  approvals due {}; the request expires {} if not decided",
            time(review["approval_due_at_ms"].as_i64()),
            time(review["expires_at_ms"].as_i64()),
        );
        if review["overdue"] == json!(true) {
            let _ = write!(
                s,
                "\n  OVERDUE: escalated to {}",
                joined(&review["escalated_to"])
            );
        }
        s.push('\n');
    }
    if p["valid_from_ms"].is_i64() || p["expires_at_ms"].is_i64() {
        let _ = writeln!(
            s,
            "  valid {} to {} ({} renewals)",
            time(p["valid_from_ms"].as_i64()),
            time(p["expires_at_ms"].as_i64()),
            p["renewals"],
        );
    }
    let req = &p["requirements"];
    let roles = |key: &str| -> String {
        req[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    if req["approvers_required"].as_u64().unwrap_or(0) == 0 {
        s.push_str("  no approvals needed");
    } else {
        let _ = write!(
            s,
            "  needs {} approval(s) from {}",
            req["approvers_required"],
            roles("approver_roles")
        );
    }
    let required = roles("required_roles");
    if !required.is_empty() {
        let _ = write!(s, " (must include {required})");
    }
    if req["change_advisory_board_required"] == json!(true) {
        let signed = if p["cab_signed_off"] == json!(true) {
            "signed off"
        } else {
            "not yet signed off"
        };
        let _ = write!(s, "; change advisory board {signed}");
    }
    s.push('\n');
    let approvals = p["approvals"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for a in approvals {
        let _ = write!(
            s,
            "  {} by {} as {} (round {}, {})",
            str_of(a, "decision"),
            person(a["principal_name"].as_str(), str_of(a, "principal_id")),
            str_of(a, "role"),
            a["round"],
            time(a["created_at_ms"].as_i64()),
        );
        if let Some(comment) = a["comment"].as_str() {
            let _ = write!(s, ": {comment}");
        }
        s.push('\n');
    }
    if let Some(evidence) = p["evidence"].as_object() {
        let kinds: Vec<&str> = evidence.keys().map(String::as_str).collect();
        if !kinds.is_empty() {
            let _ = writeln!(s, "  evidence: {}", kinds.join(", "));
        }
    }
    if let Some(outcome) = p["outcome"].as_str() {
        let _ = writeln!(s, "  outcome: {outcome}");
    }
    if let Some(reason) = p["revocation_reason"].as_str() {
        let _ = write!(s, "  revoked: {reason}");
        let r = &p["revocation"];
        if r.is_object() {
            let _ = write!(
                s,
                " by {} at {} (audit seq {})",
                str_of(r, "revoked_by"),
                time(r["revoked_at_ms"].as_i64()),
                r["audit_seq"],
            );
            let evidence = &r["evidence"];
            if let Some(rule) = evidence["rule"].as_str() {
                let _ = write!(s, "; rule {rule}");
            }
            let op = &evidence["operation"];
            if op.is_object() {
                let _ = write!(
                    s,
                    "; operation {} {} on {} in {}",
                    str_of(op, "method"),
                    str_of(op, "action"),
                    op["service"].as_str().unwrap_or("no service"),
                    str_of(op, "environment"),
                );
            }
            if let Some(trigger) = evidence["trigger"].as_str() {
                let _ = write!(
                    s,
                    "; trigger {trigger}: observed {} over limit {}",
                    evidence["observed"], evidence["limit"]
                );
            }
        }
        s.push('\n');
    }
    s
}

/// A JSON file, read strictly (`strict_json`: no duplicate key at any depth), so what is
/// sent is what the file says.
fn read_json_file(path: &Path, what: &str) -> anyhow::Result<Value> {
    let bytes = read_bytes(path)?;
    strict_json::from_slice(&bytes, Top::Any)
        .map_err(|e| invalid(format!("`{what} {}`: not valid JSON: {e}", path.display())))
}

/// A file's content as JSON when it parses, as a string otherwise. JSON with a duplicate
/// key is refused, not sent as text.
fn read_json_or_text(path: &Path) -> anyhow::Result<Value> {
    let bytes = read_bytes(path)?;
    match strict_json::from_slice::<Value>(&bytes, Top::Any) {
        Ok(value) => return Ok(value),
        Err(e) if matches!(e.kind, JsonErrorKind::DuplicateKey { .. }) => {
            return Err(invalid(format!("`{}`: {e}", path.display())));
        }
        Err(_) => {}
    }
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        invalid(format!(
            "`{}` is neither JSON nor UTF-8 text",
            path.display()
        ))
    })
}

fn parse_evidence(text: &str) -> Result<(Evidence, String), String> {
    let (kind, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected `KIND=VALUE`, got `{text}`"))?;
    let kind = kind.trim().parse::<Evidence>().map_err(|e| e.to_string())?;
    Ok((kind, value.to_owned()))
}

fn parse_until(text: &str) -> Result<WaitUntil, String> {
    text.parse()
        .map_err(|e: steward_policy::UnknownValueError| e.to_string())
}

/// `90s`, `30m`, `2h 30m`, or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.trim().parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration such as `90s`, `30m` or `2h`: {e}"))
}

/// An RFC 3339 time as unix milliseconds.
fn parse_time(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!("`{text}` is not an RFC 3339 time such as `2026-12-01T09:00:00Z`: {e}")
        })
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
        .map_err(|e: steward_policy::UnknownValueError| e.to_string())
}

fn parse_outcome(text: &str) -> Result<Outcome, String> {
    text.parse()
        .map_err(|e: steward_policy::UnknownValueError| e.to_string())
}

fn parse_reason(text: &str) -> Result<RevocationReason, String> {
    text.parse()
        .map_err(|e: steward_policy::UnknownValueError| e.to_string())
}
