//! `steward principal create|list|disable|erase`: the humans and agents that call Steward.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use steward_policy::Role;

use crate::client::{Client, ClientArgs, encode};
use crate::command::token::str_of;
use crate::output::{print, print_json, time};

#[derive(Debug, Args)]
pub struct PrincipalArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: PrincipalCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Human,
    Agent,
}

#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// Create a principal (admin). Then give it a token with `steward token create
    /// --principal ID`.
    Create {
        #[arg(long, value_enum)]
        kind: Kind,
        /// Unique name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// A role to hold; repeat for several (`--role tech_lead --role security_lead`).
        #[arg(long = "role", value_name = "ROLE", value_parser = parse_role)]
        roles: Vec<Role>,
    },
    /// List every principal (admin, auditor).
    List,
    /// Disable a principal (admin): its tokens stop working.
    Disable {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Erase a principal's personal data (admin, GDPR): its name, token labels and the
    /// personal values in its audit events (names, comments) become unreadable for good.
    /// The audit chain, exports and offline verification keep working. Idempotent.
    Erase {
        #[arg(value_name = "ID")]
        id: String,
    },
}

pub fn run(args: PrincipalArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client)?;
    let json = args.client.json;
    match args.command {
        PrincipalCommand::Create { kind, name, roles } => {
            let kind = match kind {
                Kind::Human => "human",
                Kind::Agent => "agent",
            };
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            let created = client.post(
                "/v1/principals",
                Some(&json!({"kind": kind, "name": name, "roles": roles})),
            )?;
            if json {
                return print_json(&created).map(|()| ExitCode::SUCCESS);
            }
            let id = str_of(&created, "id");
            print(&format!(
                "Created {} `{}` (id {id}) with roles {}.\n\
                 Give it a token: steward token create --principal {id} --label …\n",
                str_of(&created, "kind"),
                str_of(&created, "name"),
                roles_of(&created),
            ))?;
        }
        PrincipalCommand::List => {
            let list = client.get("/v1/principals")?;
            if json {
                return print_json(&list).map(|()| ExitCode::SUCCESS);
            }
            let items = list["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let mut s = String::new();
            for p in items {
                let _ = write!(
                    s,
                    "{}  {:<5}  {}  roles: {}",
                    str_of(p, "id"),
                    str_of(p, "kind"),
                    str_of(p, "name"),
                    roles_of(p),
                );
                if let Some(at) = p["disabled_at_ms"].as_i64() {
                    let _ = write!(s, "  DISABLED {}", time(Some(at)));
                }
                s.push('\n');
            }
            print(&s)?;
        }
        PrincipalCommand::Disable { id } => {
            let p = client.post(&format!("/v1/principals/{}/disable", encode(&id)), None)?;
            if json {
                return print_json(&p).map(|()| ExitCode::SUCCESS);
            }
            print(&format!(
                "Disabled `{}` (id {}) at {}; its tokens no longer work.\n",
                str_of(&p, "name"),
                str_of(&p, "id"),
                time(p["disabled_at_ms"].as_i64()),
            ))?;
        }
        PrincipalCommand::Erase { id } => {
            let erased = client.post(&format!("/v1/principals/{}/erase", encode(&id)), None)?;
            if json {
                return print_json(&erased).map(|()| ExitCode::SUCCESS);
            }
            let message = if erased["erased_now"] == Value::Bool(true) {
                "Erased the personal data of principal {id}: its key is destroyed, its name is now `{name}`."
            } else {
                "Principal {id} was already erased; nothing changed."
            };
            let principal = &erased["principal"];
            print(&format!(
                "{}\n",
                message
                    .replace("{id}", str_of(principal, "id"))
                    .replace("{name}", str_of(principal, "name")),
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse::<Role>().map_err(|e| e.to_string())
}

fn roles_of(p: &Value) -> String {
    let roles: Vec<&str> = p["roles"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if roles.is_empty() {
        "none".to_owned()
    } else {
        roles.join(", ")
    }
}
