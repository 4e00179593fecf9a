//! `steward token create|list|revoke`: API tokens, through the server.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use crate::client::{Client, ClientArgs, encode};
use crate::output::{print, print_json, time};

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret, once. Yours by default; an admin may create
    /// one for any principal.
    Create {
        /// Whose token (principal id); yourself by default.
        #[arg(long, value_name = "ID")]
        principal: Option<String>,
        /// What the token is for.
        #[arg(long, default_value = "steward token create", value_name = "LABEL")]
        label: String,
        /// Expire after this many hours [default: never for an admin; with your own
        /// token's expiry otherwise].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        expires_in_hours: Option<u32>,
    },
    /// List tokens (never their secrets): yours, or with `--principal` (admin) anyone's.
    List {
        #[arg(long, value_name = "ID")]
        principal: Option<String>,
    },
    /// Revoke a token by id (not by secret): yours, or (admin) anyone's.
    Revoke {
        #[arg(value_name = "ID")]
        id: String,
    },
}

pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client)?;
    let json = args.client.json;
    match args.command {
        TokenCommand::Create {
            principal,
            label,
            expires_in_hours,
        } => {
            let mut body = Map::new();
            if let Some(id) = principal {
                body.insert("principal_id".into(), json!(id));
            }
            body.insert("label".into(), json!(label));
            if let Some(hours) = expires_in_hours {
                body.insert("expires_in_hours".into(), json!(hours));
            }
            let created = client.post("/v1/tokens", Some(&Value::Object(body)))?;
            if json {
                return print_json(&created).map(|()| ExitCode::SUCCESS);
            }
            print(&created_text(&created))?;
        }
        TokenCommand::List { principal } => {
            let path = match principal {
                Some(id) => format!("/v1/tokens?principal_id={}", encode(&id)),
                None => "/v1/tokens".to_owned(),
            };
            let list = client.get(&path)?;
            if json {
                return print_json(&list).map(|()| ExitCode::SUCCESS);
            }
            print(&list_text(&list))?;
        }
        TokenCommand::Revoke { id } => {
            let token = client.post(&format!("/v1/tokens/{}/revoke", encode(&id)), None)?;
            if json {
                return print_json(&token).map(|()| ExitCode::SUCCESS);
            }
            print(&revoked_text(&token))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A created token, with its secret shown once.
pub(crate) fn created_text(created: &Value) -> String {
    format!(
        "Created token {} for principal {} (label `{}`, expires {}).\n\
         The secret is shown only this once; store it now:\n\n    \
         export STEWARD_TOKEN={}\n",
        str_of(created, "id"),
        str_of(created, "principal_id"),
        str_of(created, "label"),
        time(created["expires_at_ms"].as_i64()),
        str_of(created, "token"),
    )
}

/// One line per token: id, state, times, label.
pub(crate) fn list_text(list: &Value) -> String {
    let items = list["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut s = String::new();
    if items.is_empty() {
        s.push_str("no tokens\n");
    }
    for t in items {
        let _ = write!(
            s,
            "{}  {:<7}  created {}  expires {}  last used {}  {}",
            str_of(t, "id"),
            str_of(t, "state"),
            time(t["created_at_ms"].as_i64()),
            time(t["expires_at_ms"].as_i64()),
            time(t["last_used_at_ms"].as_i64()),
            str_of(t, "label"),
        );
        if let Some(parent) = t["minted_with"].as_str() {
            let _ = write!(s, "  (minted with {parent})");
        }
        s.push('\n');
    }
    s
}

pub(crate) fn revoked_text(token: &Value) -> String {
    let cascaded = token["cascaded"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut text = format!(
        "Revoked token {} (label `{}`) at {}.\n",
        str_of(token, "id"),
        str_of(token, "label"),
        time(token["revoked_at_ms"].as_i64()),
    );
    if !cascaded.is_empty() {
        let _ = writeln!(
            text,
            "Revoked with it, as minted with it: {}.",
            cascaded.join(", ")
        );
    }
    text
}

/// A string member of a response, or `?` when the server left it out.
pub fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("?")
}
