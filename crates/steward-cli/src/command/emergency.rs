//! `steward emergency …`: the break-glass path (SPEC §8) through the server: declare an
//! emergency for a worker, approve it (incident commander or on-call lead, within 15
//! minutes), renew it (incident commander), resolve the incident, file the post-incident
//! review, list (`--overdue`) and show.
//!
//! Durations and roles are checked here, so a typo or a 90-minute emergency is a usage
//! error (exit 2) before any request is sent; every other rule is the server's.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use steward_policy::Role;
use steward_policy::strict_json::{self, Top};

use crate::client::{Client, ClientArgs, encode};
use crate::command::token::str_of;
use crate::failure::invalid;
use crate::input::read_bytes;
use crate::output::{print, print_json, time};

#[derive(Debug, Args)]
pub struct EmergencyArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: EmergencyCommand,
}

#[derive(Debug, Subcommand)]
pub enum EmergencyCommand {
    /// Declare an emergency: a temporary level-3 permit for a worker, for at most 60
    /// minutes, once an incident commander or on-call lead approves it.
    Declare {
        /// The incident's id in your incident tracker.
        #[arg(long, value_name = "ID")]
        incident: String,
        /// The worker that gets the permit.
        #[arg(long, value_name = "ID")]
        worker: String,
        /// What the worker may do: a task (a JSON object, SPEC §2) naming the environment,
        /// operations and services; `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        scope: PathBuf,
        /// Why the emergency permit is needed.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// How long the permit lasts once approved, 1 to 60.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=60))]
        minutes: i64,
    },
    /// Approve an emergency as an incident commander or on-call lead (not its declarer,
    /// nor the worker's owner), within 15 minutes of its declaration.
    Approve {
        #[arg(value_name = "ID")]
        id: String,
        /// `incident_commander` or `on_call_lead`.
        #[arg(long, value_name = "ROLE", value_parser = parse_incident_role)]
        role: Role,
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
    },
    /// Mark the incident resolved: the emergency permit is revoked at once and the
    /// post-incident review falls due in 24 hours.
    Resolve {
        #[arg(value_name = "ID")]
        id: String,
        /// How the incident was resolved.
        #[arg(long, value_name = "TEXT")]
        resolution: Option<String>,
    },
    /// Extend the emergency permit (incident commander only; at most 3 times, 4 hours in
    /// total).
    Renew {
        #[arg(value_name = "ID")]
        id: String,
        /// Minutes to add to the permit's window.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=240))]
        minutes: i64,
    },
    /// File the post-incident review of an emergency that has ended.
    Review {
        #[arg(value_name = "ID")]
        id: String,
        /// What happened and what the permit was used for.
        #[arg(long, value_name = "TEXT")]
        summary: String,
        #[arg(long, value_name = "TEXT")]
        root_cause: Option<String>,
        /// A follow-up action. Repeatable.
        #[arg(long = "action", value_name = "TEXT")]
        actions: Vec<String>,
    },
    /// List emergencies, oldest first.
    List {
        /// Only emergencies whose post-incident review is overdue.
        #[arg(long)]
        overdue: bool,
        #[arg(long, value_name = "ID")]
        worker: Option<String>,
        #[arg(long, value_name = "ID")]
        incident: Option<String>,
        /// Continue after this emergency id (the `next` of the previous page).
        #[arg(long, value_name = "ID")]
        after: Option<String>,
        /// 1 to 200.
        #[arg(long, default_value_t = 50, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=200))]
        limit: u32,
    },
    /// Show one emergency with its permit and review status.
    Show {
        #[arg(value_name = "ID")]
        id: String,
    },
}

pub fn run(args: EmergencyArgs) -> anyhow::Result<ExitCode> {
    use EmergencyCommand as C;

    let (path, body) = match args.command {
        C::Declare {
            incident,
            worker,
            scope,
            reason,
            minutes,
        } => {
            let bytes = read_bytes(&scope)?;
            let scope: Value = strict_json::from_slice(&bytes, Top::Any).map_err(|e| {
                invalid(format!(
                    "`--scope {}`: not valid JSON: {e}",
                    scope.display()
                ))
            })?;
            if !scope.is_object() {
                return Err(invalid("`--scope` must hold one JSON object (a task)"));
            }
            let body = json!({"incident_id": incident, "worker_id": worker, "scope": scope,
                              "reason": reason, "minutes": minutes});
            ("/v1/emergencies".to_owned(), Some(body))
        }
        C::Approve { id, role, comment } => {
            let mut body = json!({"role": role.as_str(), "channel": "cli"});
            if let Some(comment) = comment {
                body["comment"] = json!(comment);
            }
            (emergency_path(&id, "/approve"), Some(body))
        }
        C::Resolve { id, resolution } => {
            let mut body = json!({});
            if let Some(resolution) = resolution {
                body["resolution"] = json!(resolution);
            }
            (emergency_path(&id, "/resolve"), Some(body))
        }
        C::Renew { id, minutes } => (
            emergency_path(&id, "/renew"),
            Some(json!({"minutes": minutes})),
        ),
        C::Review {
            id,
            summary,
            root_cause,
            actions,
        } => (
            emergency_path(&id, "/review"),
            Some(json!({"summary": summary, "root_cause": root_cause, "actions": actions})),
        ),
        C::List {
            overdue,
            worker,
            incident,
            after,
            limit,
        } => {
            let mut query = format!("limit={limit}");
            if overdue {
                query.push_str("&overdue=true");
            }
            for (key, value) in [
                ("worker_id", worker),
                ("incident_id", incident),
                ("after", after),
            ] {
                if let Some(value) = value {
                    let _ = write!(query, "&{key}={}", encode(&value));
                }
            }
            let client = Client::new(&args.client)?;
            let page = client.get(&format!("/v1/emergencies?{query}"))?;
            if args.client.json {
                print_json(&page)?;
            } else {
                print(&list_text(&page))?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        C::Show { id } => {
            let client = Client::new(&args.client)?;
            let emergency = client.get(&emergency_path(&id, ""))?;
            return show(&emergency, args.client.json);
        }
    };
    let client = Client::new(&args.client)?;
    let emergency = client.post(&path, body.as_ref())?;
    show(&emergency, args.client.json)
}

fn parse_incident_role(text: &str) -> Result<Role, String> {
    match text.parse::<Role>() {
        Ok(role @ (Role::IncidentCommander | Role::OnCallLead)) => Ok(role),
        Ok(other) => Err(format!(
            "`{other}` does not approve emergencies; expected incident_commander or on_call_lead"
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn emergency_path(id: &str, action: &str) -> String {
    format!("/v1/emergencies/{}{action}", encode(id))
}

fn show(emergency: &Value, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(emergency)?;
    } else {
        print(&emergency_text(emergency))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per emergency.
fn list_text(page: &Value) -> String {
    let items = page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut s = String::new();
    if items.is_empty() {
        s.push_str("no emergencies\n");
    }
    for e in items {
        let _ = writeln!(
            s,
            "{}  {:<17}  incident {}  worker {}  review {}",
            str_of(e, "id"),
            str_of(e, "status"),
            str_of(e, "incident_id"),
            str_of(e, "worker_id"),
            str_of(e, "review_status"),
        );
    }
    if let Some(next) = page["next"].as_str() {
        let _ = writeln!(s, "more: --after {next}");
    }
    s
}

/// An emergency for humans: status, incident, permit window, review.
fn emergency_text(e: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "emergency {}: {} (incident {}, worker {})",
        str_of(e, "id"),
        str_of(e, "status"),
        str_of(e, "incident_id"),
        str_of(e, "worker_id"),
    );
    let _ = writeln!(
        s,
        "  declared by {} at {} for {} minutes: {}",
        str_of(e, "declared_by"),
        time(e["declared_at_ms"].as_i64()),
        e["minutes"],
        str_of(e, "reason"),
    );
    let p = &e["permit"];
    let _ = writeln!(
        s,
        "  permit {}: {}, level {}, valid {} to {} ({} renewals)",
        str_of(p, "id"),
        str_of(p, "state"),
        p["level"],
        time(p["valid_from_ms"].as_i64()),
        time(p["expires_at_ms"].as_i64()),
        p["renewals"],
    );
    if e["approved_by"].is_string() {
        let _ = writeln!(
            s,
            "  approved by {} as {} at {}",
            str_of(e, "approved_by"),
            str_of(e, "approved_role"),
            time(e["approved_at_ms"].as_i64()),
        );
    } else {
        let _ = writeln!(
            s,
            "  approval needed by {}",
            time(e["approval_deadline_ms"].as_i64())
        );
    }
    if e["resolved_by"].is_string() {
        let _ = writeln!(
            s,
            "  resolved by {} at {}",
            str_of(e, "resolved_by"),
            time(e["resolved_at_ms"].as_i64()),
        );
    }
    let _ = write!(s, "  review: {}", str_of(e, "review_status"));
    if e["review_due_at_ms"].is_i64() {
        let _ = write!(s, " (due {})", time(e["review_due_at_ms"].as_i64()));
    }
    s.push('\n');
    s
}
