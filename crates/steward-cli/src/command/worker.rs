//! `steward worker …`: workers and their certification lifecycle (SPEC §5) through the
//! server: register, list, show, eligibility, promote (one approval), suspend, reinstate,
//! revoke, recertify, end-probation, operation outcomes, and the worker's own identity and
//! its tokens (managed by its owner).

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use steward_permits::OperationResult;
use steward_policy::Role;

use crate::client::{Client, ClientArgs, encode};
use crate::command::token::{self, str_of};
use crate::input::read_bytes;
use crate::output::{print, print_json, time};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: WorkerCommand,
}

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Register a worker at level 0 (admin or master).
    Register {
        /// Display name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The responsible principal [default: you].
        #[arg(long, value_name = "ID")]
        owner: Option<String>,
        /// The agent identity (role `worker`) that authenticates as this worker.
        #[arg(long, value_name = "ID")]
        principal: Option<String>,
        /// A domain the worker works in; repeatable.
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
    },
    /// List workers in registration order.
    List {
        /// `active`, `probationary`, `suspended`, `expired` or `revoked`.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=4))]
        level: Option<u8>,
        /// Owner principal id.
        #[arg(long, value_name = "ID")]
        owner: Option<String>,
        /// Continue after this worker id (the `next` of the previous page).
        #[arg(long, value_name = "ID")]
        after: Option<String>,
        #[arg(long, default_value_t = 50, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=200))]
        limit: u32,
    },
    /// Show one worker.
    Show {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Whether the worker may be promoted to a level now, criterion by criterion.
    /// Exit codes: 0 eligible, 1 not eligible (as `steward authorize` exits 1 on a deny),
    /// 2 invalid input or a refused request.
    Eligibility {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=4))]
        level: u8,
    },
    /// Approve promoting the worker to a level under one of your roles; it is promoted
    /// once the approvals meet the quorum.
    Promote {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=4))]
        level: u8,
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: Role,
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
    },
    /// Ask for the initial certification of a worker with no certification history in
    /// Steward (its owner or an admin): straight to a level on a written justification
    /// and evidence of its record elsewhere. The same people as for a promotion to that
    /// level then approve (`steward worker approve-certification`); the last approval
    /// certifies the worker and starts the level's probation.
    Certify {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=4))]
        level: u8,
        /// Why the worker deserves the level (a sentence or more).
        #[arg(long, value_name = "TEXT")]
        justification: String,
        /// Where its prior record can be read (a dashboard, a report).
        #[arg(long, value_name = "URL", required_unless_present = "document")]
        link: Option<String>,
        /// The prior record itself, or a summary (`@FILE` reads a file).
        #[arg(long, value_name = "TEXT|@FILE")]
        document: Option<String>,
        /// How many operations it ran before Steward.
        #[arg(long, value_name = "N")]
        prior_operations: u32,
    },
    /// Approve a worker's initial certification under one of your roles; the worker is
    /// certified once the approvals meet the quorum of a promotion to that level.
    ApproveCertification {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: Role,
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
    },
    /// Suspend the certification.
    Suspend {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Reinstate a suspended certification.
    Reinstate {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Revoke the certification for good, and every live permit of the worker with it.
    Revoke {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Recertify: the next recertification falls one period from now.
    Recertify {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// End a probation whose period is over.
    EndProbation {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// The worker's own identity, an agent principal holding only the role `worker`, so
    /// the agent you spawn for it authenticates as itself (its owner, or an admin).
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Tokens of the worker's identity (its owner, or an admin): create one per spawned
    /// agent (the secret is shown once), list, revoke.
    #[command(subcommand)]
    Token(WorkerTokenCommand),
    /// Record how one operation ended (the worker's owner, or the worker itself: success
    /// or failure). A success counts towards promotion only with `--permit` or
    /// `--authorize-seq`: work Steward saw.
    Outcome {
        #[arg(value_name = "ID")]
        id: String,
        /// `success`, `failure`, `incident` or `safety_violation`.
        #[arg(long, value_name = "RESULT", value_parser = parse_result)]
        result: OperationResult,
        /// The level the operation required (0 to 4); needed without evidence.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=4))]
        level: Option<u8>,
        /// Evidence: a permit of the worker that was executed and closed.
        #[arg(long, value_name = "ID", conflicts_with = "authorize_seq")]
        permit: Option<String>,
        /// Evidence: the audit seq of an allowed authorize decision for the worker
        /// (`steward authorize --record` prints it).
        #[arg(long, value_name = "SEQ")]
        authorize_seq: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create and bind the identity; a worker has at most one.
    Create {
        /// The worker.
        #[arg(value_name = "ID")]
        id: String,
        /// The identity's principal name [default: `worker:<worker id>`].
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkerTokenCommand {
    /// Mint a token for the worker's identity and print its secret, once.
    Create {
        /// The worker.
        #[arg(value_name = "ID")]
        id: String,
        /// What the token is for (`spawn for permit …`).
        #[arg(
            long,
            default_value = "steward worker token create",
            value_name = "LABEL"
        )]
        label: String,
        /// Expire after this many hours [default: with your own token's expiry; an
        /// admin's: never]. Never later than your own token.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        expires_in_hours: Option<u32>,
    },
    /// List the identity's tokens (never their secrets).
    List {
        /// The worker.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Revoke one of the identity's tokens by id.
    Revoke {
        /// The worker.
        #[arg(value_name = "ID")]
        id: String,
        /// The token id (not the secret).
        #[arg(value_name = "TOKEN_ID")]
        token_id: String,
    },
}

pub fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    use WorkerCommand as C;

    let client = Client::new(&args.client)?;
    let asks_eligibility = matches!(args.command, C::Eligibility { .. });
    let (response, render): (Value, Render) = match args.command {
        C::Register {
            name,
            owner,
            principal,
            domains,
        } => {
            let mut body = json!({"display_name": name, "domains": domains});
            if let Some(owner) = owner {
                body["owner_id"] = json!(owner);
            }
            if let Some(principal) = principal {
                body["principal_id"] = json!(principal);
            }
            (client.post("/v1/workers", Some(&body))?, worker_text)
        }
        C::List {
            status,
            level,
            owner,
            after,
            limit,
        } => {
            let mut query = format!("limit={limit}");
            if let Some(level) = level {
                let _ = write!(query, "&level={level}");
            }
            for (key, value) in [("status", status), ("owner", owner), ("after", after)] {
                if let Some(value) = value {
                    let _ = write!(query, "&{key}={}", encode(&value));
                }
            }
            (client.get(&format!("/v1/workers?{query}"))?, list_text)
        }
        C::Show { id } => (client.get(&worker_path(&id, ""))?, worker_text),
        C::Eligibility { id, level } => (
            client.get(&format!(
                "{}?level={level}",
                worker_path(&id, "/eligibility")
            ))?,
            eligibility_text,
        ),
        C::Promote {
            id,
            level,
            role,
            comment,
        } => {
            let mut body = json!({"level": level, "role": role.as_str()});
            if let Some(comment) = comment {
                body["comment"] = json!(comment);
            }
            (
                client.post(&worker_path(&id, "/promotions"), Some(&body))?,
                promotion_text,
            )
        }
        C::Certify {
            id,
            level,
            justification,
            link,
            document,
            prior_operations,
        } => {
            let document = match document {
                Some(text) => match text.strip_prefix('@') {
                    Some(path) => Some(
                        String::from_utf8(read_bytes(std::path::Path::new(path))?).map_err(
                            |_| crate::failure::invalid(format!("`{path}` is not UTF-8 text")),
                        )?,
                    ),
                    None => Some(text),
                },
                None => None,
            };
            let body = json!({
                "level": level,
                "justification": justification,
                "prior_record": {"link": link, "document": document,
                                 "prior_operations": prior_operations},
            });
            (
                client.post(&worker_path(&id, "/initial-certification"), Some(&body))?,
                certification_text,
            )
        }
        C::ApproveCertification { id, role, comment } => {
            let mut body = json!({"role": role.as_str()});
            if let Some(comment) = comment {
                body["comment"] = json!(comment);
            }
            (
                client.post(
                    &worker_path(&id, "/initial-certification/approvals"),
                    Some(&body),
                )?,
                certification_text,
            )
        }
        C::Suspend { id, reason } => status_change(&client, &id, "/suspend", &reason)?,
        C::Reinstate { id, reason } => status_change(&client, &id, "/reinstate", &reason)?,
        C::Recertify { id, reason } => status_change(&client, &id, "/recertify", &reason)?,
        C::Revoke { id, reason } => {
            let body = json!({"reason": reason});
            (
                client.post(&worker_path(&id, "/revoke"), Some(&body))?,
                revocation_text,
            )
        }
        C::EndProbation { id } => (
            client.post(&worker_path(&id, "/end-probation"), None)?,
            worker_text,
        ),
        C::Identity(IdentityCommand::Create { id, name }) => {
            let mut body = json!({});
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            (
                client.post(&worker_path(&id, "/identity"), Some(&body))?,
                identity_text,
            )
        }
        C::Token(WorkerTokenCommand::Create {
            id,
            label,
            expires_in_hours,
        }) => {
            let mut body = json!({"label": label});
            if let Some(hours) = expires_in_hours {
                body["expires_in_hours"] = json!(hours);
            }
            (
                client.post(&worker_path(&id, "/tokens"), Some(&body))?,
                token::created_text,
            )
        }
        C::Token(WorkerTokenCommand::List { id }) => {
            (client.get(&worker_path(&id, "/tokens"))?, token::list_text)
        }
        C::Token(WorkerTokenCommand::Revoke { id, token_id }) => (
            client.post(
                &worker_path(&id, &format!("/tokens/{}/revoke", encode(&token_id))),
                None,
            )?,
            token::revoked_text,
        ),
        C::Outcome {
            id,
            result,
            level,
            permit,
            authorize_seq,
        } => {
            let mut body = json!({"result": result.as_str()});
            if let Some(level) = level {
                body["level"] = json!(level);
            }
            if let Some(permit) = permit {
                body["permit_id"] = json!(permit);
            }
            if let Some(seq) = authorize_seq {
                body["authorize_seq"] = json!(seq);
            }
            (
                client.post(&worker_path(&id, "/outcomes"), Some(&body))?,
                outcome_text,
            )
        }
    };
    if args.client.json {
        print_json(&response)?;
    } else {
        print(&render(&response))?;
    }
    if asks_eligibility && response["eligible"] != json!(true) {
        return Ok(ExitCode::from(NOT_ELIGIBLE));
    }
    Ok(ExitCode::SUCCESS)
}

/// The exit code of `steward worker eligibility` for a worker that may not be promoted
/// now: 1, as `steward authorize` answers a deny, so `if steward worker eligibility …`
/// reads as it should in a script.
pub const NOT_ELIGIBLE: u8 = 1;

/// Turns a response into the text a human reads.
type Render = fn(&Value) -> String;

fn status_change(
    client: &Client,
    id: &str,
    action: &str,
    reason: &str,
) -> anyhow::Result<(Value, Render)> {
    let body = json!({"reason": reason});
    Ok((
        client.post(&worker_path(id, action), Some(&body))?,
        worker_text,
    ))
}

fn worker_path(id: &str, action: &str) -> String {
    format!("/v1/workers/{}{action}", encode(id))
}

/// A worker for humans: level and status, owner, recertification and record.
fn worker_text(w: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "worker {} `{}`: level {}, {}{}",
        str_of(w, "id"),
        str_of(w, "display_name"),
        w["level"],
        str_of(w, "status"),
        if w["oversight_recommended"] == json!(true) {
            " (oversight recommended)"
        } else {
            ""
        },
    );
    let _ = write!(s, "  owner {}", str_of(w, "owner_id"));
    if let Some(identity) = w["principal_id"].as_str() {
        let _ = write!(s, ", identity {identity}");
    }
    if let Some(domains) = w["domains"].as_array().filter(|d| !d.is_empty()) {
        let names: Vec<&str> = domains.iter().filter_map(Value::as_str).collect();
        let _ = write!(s, ", domains {}", names.join(", "));
    }
    s.push('\n');
    let recert = &w["recertification"];
    let _ = write!(s, "  recertification {}", str_of(recert, "state"));
    if let Some(days) = recert["due_in_days"].as_i64() {
        let _ = write!(s, ", due in {days} days");
    }
    if let Some(days) = recert["grace_left_days"].as_i64() {
        let _ = write!(s, ", {days} grace days left");
    }
    if let Some(until) = w["probation_until_ms"].as_i64() {
        let _ = write!(s, "; probation until {}", time(Some(until)));
    }
    s.push('\n');
    let stats = &w["stats"];
    let _ = writeln!(
        s,
        "  at this level: {} successes, {} failures; safety violations {}; consecutive \
         failed union operations {}",
        stats["successes_at_level"],
        stats["failures_at_level"],
        stats["safety_violations"],
        stats["consecutive_union_failures"],
    );
    s
}

fn identity_text(v: &Value) -> String {
    let p = &v["principal"];
    format!(
        "Created identity {} (agent `{}`, role worker) for worker {}.\n\
         Mint its tokens with `steward worker token create {}`.\n",
        str_of(p, "id"),
        str_of(p, "name"),
        str_of(&v["worker"], "id"),
        str_of(&v["worker"], "id"),
    )
}

fn list_text(page: &Value) -> String {
    let items = page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut s = String::new();
    if items.is_empty() {
        s.push_str("no workers\n");
    }
    for w in items {
        let _ = writeln!(
            s,
            "{}  level {}  {:<12}  {}  owner {}",
            str_of(w, "id"),
            w["level"],
            str_of(w, "status"),
            str_of(w, "display_name"),
            str_of(w, "owner_id"),
        );
    }
    if let Some(next) = page["next"].as_str() {
        let _ = writeln!(s, "more: --after {next}");
    }
    s
}

/// Where an initial certification stands, for humans.
fn certification_text(v: &Value) -> String {
    let w = &v["worker"];
    let level = &v["request"]["target_level"];
    if v["certified"] == json!(true) {
        return format!(
            "Worker {} certified at level {} ({}{}).\n",
            str_of(w, "id"),
            w["level"],
            str_of(w, "status"),
            match w["probation_until_ms"].as_i64() {
                Some(until) => format!(", on probation until {}", time(Some(until))),
                None => String::new(),
            },
        );
    }
    let missing = &v["missing"];
    let mut s = format!(
        "Initial certification of worker {} at level {level}: {} more approval(s) needed",
        str_of(w, "id"),
        missing["approvals"],
    );
    let roles = names(&missing["roles"]);
    if !roles.is_empty() {
        let _ = write!(s, ", covering {roles}");
    }
    s.push_str(" (`steward worker approve-certification`).\n");
    s
}

fn eligibility_text(e: &Value) -> String {
    let mut s = String::new();
    let eligible = e["eligible"] == json!(true);
    let _ = writeln!(
        s,
        "worker {} → level {}: {}",
        str_of(e, "worker_id"),
        e["target_level"],
        if eligible { "eligible" } else { "not eligible" },
    );
    for reason in e["reasons"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let _ = writeln!(s, "  {}", reason.as_str().unwrap_or("?"));
    }
    let rules = &e["approvals"];
    let _ = writeln!(
        s,
        "  promotion needs {} approval(s) from {}",
        rules["approvers_required"],
        names(&rules["approver_roles"]),
    );
    let outcomes = &e["outcomes"];
    let _ = writeln!(
        s,
        "  successes counted: {}; not counted: {} ({})",
        outcomes["counted_successes"],
        outcomes["uncounted_successes"],
        outcomes["rule"].as_str().unwrap_or("?"),
    );
    s
}

fn promotion_text(p: &Value) -> String {
    let mut s = String::new();
    if p["promoted"] == json!(true) {
        let _ = writeln!(
            s,
            "Approval recorded; promoted to level {}.",
            p["target_level"]
        );
    } else {
        let missing = &p["missing"];
        let _ = write!(
            s,
            "Approval recorded for level {}; {} more approval(s) needed",
            p["target_level"], missing["approvals"],
        );
        let roles = names(&missing["roles"]);
        if !roles.is_empty() {
            let _ = write!(s, " (must include {roles})");
        }
        s.push_str(".\n");
    }
    s.push_str(&worker_text(&p["worker"]));
    s
}

fn revocation_text(r: &Value) -> String {
    let mut s = worker_text(r);
    let permits = names(&r["revoked_permits"]);
    if !permits.is_empty() {
        let _ = writeln!(s, "  permits revoked with it: {permits}");
    }
    s
}

fn outcome_text(o: &Value) -> String {
    let mut s = String::new();
    let outcome = &o["outcome"];
    let _ = writeln!(
        s,
        "recorded {} at level {} ({}{})",
        str_of(outcome, "result"),
        outcome["level"],
        str_of(outcome, "basis"),
        if outcome["counts_towards_promotion"] == json!(true) {
            ""
        } else {
            ": a success here does not count towards promotion"
        },
    );
    if let Some(message) = o["suspended"]["message"].as_str() {
        let _ = writeln!(s, "SUSPENDED: {message}");
    }
    s.push_str(&worker_text(&o["worker"]));
    s
}

fn names(list: &Value) -> String {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse::<Role>().map_err(|e| e.to_string())
}

fn parse_result(text: &str) -> Result<OperationResult, String> {
    text.parse::<OperationResult>().map_err(|e| e.to_string())
}
