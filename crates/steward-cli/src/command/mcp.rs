//! `steward mcp`: Steward's MCP server over stdio, for agent hosts that spawn their MCP
//! servers. It relays each JSON-RPC message (one per line on stdin) to the server's
//! Streamable HTTP endpoint `/mcp` with the bearer token, and writes each answer as one
//! line on stdout. The tools, their rules and their audit (channel `mcp`) are the server's:
//! nothing is decided here.
//!
//! The endpoint is stateless, so a message needs only the token and the protocol version
//! (`MCP-Protocol-Version`): the one the message carries in its `_meta`, else the one the
//! `initialize` handshake agreed. A message the server refuses (a bad token: 401) or
//! cannot be sent (the server is down) is answered with a JSON-RPC error naming why, so
//! the host sees the reason; stdout carries nothing but protocol messages.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::Mutex as AsyncMutex;

use crate::client::ClientArgs;

/// How long one relayed message may take (the tools never wait for people).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(60);

const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: McpArgs) -> anyhow::Result<ExitCode> {
    let (server, token) = args.client.server_and_token()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(relay(format!("{server}/mcp"), token))?;
    Ok(ExitCode::SUCCESS)
}

/// Shared by the message tasks: the HTTP client, the endpoint, the token, the agreed
/// protocol version, and stdout (one writer at a time, one message per line).
struct Relay {
    http: reqwest::Client,
    endpoint: String,
    token: String,
    negotiated: Mutex<Option<String>>,
    stdout: AsyncMutex<tokio::io::Stdout>,
}

async fn relay(endpoint: String, token: String) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(MESSAGE_TIMEOUT)
        .user_agent(concat!("steward-mcp/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let relay = Arc::new(Relay {
        http,
        endpoint,
        token,
        negotiated: Mutex::new(None),
        stdout: AsyncMutex::new(tokio::io::stdout()),
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(line) = lines.next_line().await.context("reading stdin")? {
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(message) => message,
            Err(error) => {
                relay
                    .write(&rpc_error(
                        Value::Null,
                        -32700,
                        format!("parse error: {error}"),
                    ))
                    .await?;
                continue;
            }
        };
        if message.get("method").and_then(Value::as_str) == Some("initialize") {
            // The handshake comes first and sets the version the next messages carry.
            relay.forward(message).await?;
            continue;
        }
        let relay = Arc::clone(&relay);
        tasks.spawn(async move { relay.forward(message).await });
        while let Some(done) = tasks.try_join_next() {
            done.context("a relayed message")??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a relayed message")??;
    }
    Ok(())
}

impl Relay {
    /// Sends one message and writes whatever answers it.
    async fn forward(&self, message: Value) -> anyhow::Result<()> {
        let id = message.get("id").cloned();
        let version = message
            .pointer("/params/_meta")
            .and_then(|meta| meta.get(PROTOCOL_VERSION_META))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| self.negotiated.lock().ok().and_then(|v| v.clone()));
        let mut request = self
            .http
            .post(&self.endpoint)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .json(&message);
        if let Some(version) = &version {
            request = request.header("mcp-protocol-version", version);
        }
        for (name, value) in routing_headers(&message) {
            request = request.header(name, value);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let reason = format!(
                    "cannot reach Steward at {}: {error}",
                    self.endpoint.trim_end_matches("/mcp")
                );
                return self.answer_failure(id, -32603, reason).await;
            }
        };
        let status = response.status();
        let is_stream = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let body = match response.text().await {
            Ok(body) => body,
            Err(error) => {
                return self
                    .answer_failure(id, -32603, format!("reading Steward's answer: {error}"))
                    .await;
            }
        };
        if !status.is_success() {
            // A problem+json refusal (401 bad token, 403 …) or the SDK's own JSON-RPC error.
            if let Ok(answer) = serde_json::from_str::<Value>(&body) {
                if answer.get("jsonrpc").is_some() {
                    return self.write(&answer).await;
                }
                let detail = answer
                    .get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("refused");
                return self
                    .answer_failure(id, -32600, format!("{detail} (HTTP {})", status.as_u16()))
                    .await;
            }
            return self
                .answer_failure(
                    id,
                    -32603,
                    format!("Steward answered HTTP {}", status.as_u16()),
                )
                .await;
        }
        let answers: Vec<Value> = if is_stream {
            sse_data(&body)
                .filter_map(|data| serde_json::from_str(&data).ok())
                .collect()
        } else if body.trim().is_empty() {
            Vec::new() // 202: a notification or a response was accepted.
        } else {
            serde_json::from_str(&body)
                .map(|v| vec![v])
                .unwrap_or_default()
        };
        for answer in answers {
            if message.get("method").and_then(Value::as_str) == Some("initialize")
                && let Some(agreed) = answer
                    .pointer("/result/protocolVersion")
                    .and_then(Value::as_str)
                && let Ok(mut negotiated) = self.negotiated.lock()
            {
                *negotiated = Some(agreed.to_owned());
            }
            self.write(&answer).await?;
        }
        Ok(())
    }

    /// Answers a request that could not be relayed with a JSON-RPC error (a notification
    /// has no answer: the reason goes to stderr).
    async fn answer_failure(
        &self,
        id: Option<Value>,
        code: i64,
        reason: String,
    ) -> anyhow::Result<()> {
        match id {
            Some(id) => self.write(&rpc_error(id, code, reason)).await,
            None => {
                let mut stderr = tokio::io::stderr();
                stderr
                    .write_all(format!("steward mcp: {reason}\n").as_bytes())
                    .await
                    .context("writing stderr")
            }
        }
    }

    async fn write(&self, message: &Value) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(message).context("encoding a message")?;
        line.push(b'\n');
        let mut stdout = self.stdout.lock().await;
        stdout.write_all(&line).await.context("writing stdout")?;
        stdout.flush().await.context("writing stdout")
    }
}

/// The routing headers the protocol asks of an HTTP client (`Mcp-Method`, and `Mcp-Name`
/// for a method about a named tool, prompt, resource or task), from the message itself.
fn routing_headers(message: &Value) -> Vec<(&'static str, String)> {
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return Vec::new();
    };
    let mut headers = vec![("mcp-method", header_value(method))];
    let params = message.get("params");
    let name = match method {
        "tools/call" | "prompts/get" => params.and_then(|p| p.get("name")),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            params.and_then(|p| p.get("uri"))
        }
        "tasks/get" | "tasks/result" | "tasks/cancel" => params.and_then(|p| p.get("taskId")),
        _ => None,
    };
    if let Some(name) = name.and_then(Value::as_str) {
        headers.push(("mcp-name", header_value(name)));
    }
    headers
}

/// A header value as the protocol encodes it: as is when it is plain printable ASCII
/// without surrounding blanks, else `=?base64?…?=`.
fn header_value(value: &str) -> String {
    use base64::Engine as _;
    let printable = value.bytes().all(|b| (0x20..=0x7e).contains(&b));
    let padded = value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']);
    let looks_encoded = value.starts_with("=?base64?") && value.ends_with("?=");
    let plain = printable && !padded && !looks_encoded;
    if plain {
        value.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

fn rpc_error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// The `data` of each event of a server-sent-event body.
fn sse_data(body: &str) -> impl Iterator<Item = String> + '_ {
    body.split("\n\n").filter_map(|event| {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        (!data.is_empty()).then(|| data.join("\n"))
    })
}
