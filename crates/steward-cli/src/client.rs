//! The HTTP client for the commands that talk to a Steward server (`token`, `principal`,
//! `audit`, …): where the server is, the bearer token, `--json`, and how failures become
//! one line and an exit code.
//!
//! A problem+json refusal becomes `steward: <detail> (HTTP 403)`: exit 2 for a 4xx (the
//! request was wrong), 1 for a 5xx. A server that cannot be reached is exit 1 with a hint.
//! Each client command builds its own small tokio runtime; `check` and `policy` never do.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::failure::invalid;

/// How long one request may take before the command gives up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a download ([`Client::download`]) may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long `audit tail` follows the trail before giving up on one connection.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

/// Options shared by every command that talks to a server. They are global, so they may
/// come before or after the subcommand (`steward token --json list`, `… list --json`).
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The Steward server's base URL.
    #[arg(
        long,
        global = true,
        env = "STEWARD_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub server: String,
    /// The API token (`stw_…`). Prefer the environment variable: arguments show up in
    /// process listings and shell history.
    #[arg(
        long,
        global = true,
        env = "STEWARD_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Print the server's JSON response instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ClientArgs {
    /// The server's base URL (no trailing slash) and the token, or why they are unusable.
    pub fn server_and_token(&self) -> anyhow::Result<(String, String)> {
        let server = self.server.trim_end_matches('/').to_owned();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(invalid(format!(
                "`--server {server}`: expected an http:// or https:// URL"
            )));
        }
        match self.token.as_deref().map(str::trim) {
            Some(token) if !token.is_empty() => Ok((server, token.to_owned())),
            _ => Err(invalid(
                "no API token: set `STEWARD_TOKEN` or pass `--token` (`steward init` and \
                 `steward serve` print the first admin token)",
            )),
        }
    }
}

/// A blocking facade over an async `reqwest` client and its own current-thread runtime.
#[derive(Debug)]
pub struct Client {
    server: String,
    token: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    pub fn new(args: &ClientArgs) -> anyhow::Result<Client> {
        let (server, token) = args.server_and_token()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("steward-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            server,
            token,
            http,
            runtime,
        })
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Method::GET, path, None)
    }

    /// POSTs `body` as JSON, or nothing for action routes such as `…/revoke`.
    pub fn post(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        self.send(Method::POST, path, body)
    }

    /// DELETEs `path` (no body).
    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Method::DELETE, path, None)
    }

    /// GETs `path` and hands its body to `sink` chunk by chunk, as it arrives (for the
    /// audit export, which may be larger than memory should hold). A refusal is an error,
    /// as with [`Client::get`]. The whole download may take up to an hour.
    pub fn download(
        &self,
        path: &str,
        sink: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.stream(path, DOWNLOAD_TIMEOUT, sink)
    }

    /// Like [`Client::download`], for a stream that does not end by itself (server-sent
    /// events): it runs until the server closes it, `sink` fails, or the process stops.
    pub fn follow(
        &self,
        path: &str,
        sink: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.stream(path, FOLLOW_TIMEOUT, sink)
    }

    fn stream(
        &self,
        path: &str,
        timeout: Duration,
        mut sink: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.server);
        let request = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .timeout(timeout);
        self.runtime.block_on(async {
            let mut response = request.send().await.map_err(|e| self.transport_error(&e))?;
            let status = response.status();
            if !status.is_success() {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| self.transport_error(&e))?;
                return Err(refusal(status, &bytes));
            }
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| self.transport_error(&e))?
            {
                sink(&chunk)?;
            }
            Ok(())
        })
    }

    /// GETs `path`, a long poll that may take up to `timeout`, telling a refusal of the
    /// request itself (a 4xx: asking again cannot help) from a failure worth retrying (no
    /// connection, no answer, a 5xx).
    pub fn long_poll(&self, path: &str, timeout: Duration) -> Result<Value, PollError> {
        let url = format!("{}{path}", self.server);
        let request = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .header("accept", "application/json")
            .timeout(timeout);
        self.runtime.block_on(async {
            let transient = |e: &reqwest::Error| PollError::Retry(self.transport_error(e));
            let response = request.send().await.map_err(|e| transient(&e))?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(|e| transient(&e))?;
            if status.is_success() {
                return serde_json::from_slice(&bytes).map_err(|e| {
                    PollError::Refused(anyhow!(
                        "the server's answer to `{path}` is not JSON (HTTP {status}): {e}"
                    ))
                });
            }
            let error = refusal(status, &bytes);
            if status.is_client_error() {
                Err(PollError::Refused(error))
            } else {
                Err(PollError::Retry(error))
            }
        })
    }

    fn send(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.server);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(&self.token)
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        self.runtime.block_on(async {
            let response = request.send().await.map_err(|e| self.transport_error(&e))?;
            let status = response.status();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(&e))?;
            if status.is_success() {
                if bytes.is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_slice(&bytes).with_context(|| {
                    format!("the server's answer to `{path}` is not JSON (HTTP {status})")
                });
            }
            Err(refusal(status, &bytes))
        })
    }

    fn transport_error(&self, error: &reqwest::Error) -> anyhow::Error {
        let server = &self.server;
        if error.is_timeout() {
            return anyhow!(
                "no answer from {server} within {} s",
                REQUEST_TIMEOUT.as_secs()
            );
        }
        let cause = root_cause(error);
        if error.is_connect() {
            return anyhow!(
                "cannot connect to {server} ({cause}); is `steward serve` running at {server}? \
                 (set `--server` or `STEWARD_SERVER`)"
            );
        }
        anyhow!("request to {server} failed: {cause}")
    }
}

/// Why a long poll got no answer.
#[derive(Debug)]
pub enum PollError {
    /// The server refused the request (a 4xx) or answered nonsense: stop.
    Refused(anyhow::Error),
    /// No connection, no answer in time, or a 5xx: ask again.
    Retry(anyhow::Error),
}

/// Percent-encodes `value` for use as one path segment or query value, so an id can
/// never change which route a request goes to.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A refused request as one line: the problem's `detail` and the status. 4xx is the
/// caller's input (exit 2), anything else the server's failure (exit 1).
fn refusal(status: StatusCode, body: &[u8]) -> anyhow::Error {
    let detail = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
        .or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            (!text.is_empty() && text.len() <= 300).then_some(text)
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let message = format!("{detail} (HTTP {})", status.as_u16());
    if status.is_client_error() {
        invalid(message)
    } else {
        anyhow!(message)
    }
}

/// The innermost cause's message ("Connection refused (os error 111)"), which says more
/// than reqwest's "error sending request for url".
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests;
