//! `steward serve`: the HTTP API. Initialises the data directory on first run, refuses to
//! start without the audit signing key recorded in the database, binds loopback unless
//! told otherwise, logs through `tracing` (never tokens or bodies), and on SIGINT or
//! SIGTERM stops accepting, drains in-flight requests and exits 0.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use clap::Args;
use steward_server::{AppState, AuditKey, CheckpointSink, Clock, RateLimitConfig, serve};
use steward_store::{Caller, KeyClaim, RunMode, RunModeError, Store};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::command::init::{
    StoreArgs, already_initialised, initialise, open_store, redact, report,
};
use crate::failure::invalid;
use crate::input::load_policy;
use crate::output::print;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The log filter when `RUST_LOG` is not set. sqlx is kept to warnings: its statement
/// logs are noise at info.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Loopback by default; anything else is reachable from other
    /// machines and gets a warning. Port 0 picks a free port (printed at start).
    #[arg(
        long,
        env = "STEWARD_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Policy file to use instead of the built-in one (see `steward policy show`).
    #[arg(long, env = "STEWARD_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The audit signing key, as `steward init` wrote it (32 bytes), for an instance whose
    /// data directory does not hold it [default: DIR/audit-signing.key]. It must be the
    /// key recorded in the database.
    #[arg(long, env = "STEWARD_AUDIT_KEY_FILE", value_name = "FILE")]
    pub audit_key: Option<PathBuf>,
    /// The URL people reach this Steward at, for links to permits in answers to agents
    /// and in notifications (e.g. `https://steward.example.com` behind a proxy). Default:
    /// `http://` and the listening address.
    #[arg(long, env = "STEWARD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Let webhooks target private addresses: loopback, link-local, RFC 1918, CGNAT
    /// (100.64.0.0/10) and unique-local IPv6. Cloud metadata services stay refused.
    #[arg(long, env = "STEWARD_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Failed authentications a client address may make per minute (burst the same);
    /// past it, every request from the address is answered 429 until the allowance
    /// refills. 0 turns the limit off.
    #[arg(
        long,
        env = "STEWARD_AUTH_FAILURES_PER_MINUTE",
        default_value_t = steward_server::limits::DEFAULT_AUTH_FAILURES_PER_MINUTE,
        value_name = "N"
    )]
    pub auth_failures_per_minute: u32,
    /// Tokens one token may create per minute (burst the same), through `/v1/tokens` and
    /// `/v1/workers/{id}/tokens`. 0 turns the limit off.
    #[arg(
        long,
        env = "STEWARD_TOKEN_CREATIONS_PER_MINUTE",
        default_value_t = steward_server::limits::DEFAULT_TOKEN_CREATIONS_PER_MINUTE,
        value_name = "N"
    )]
    pub token_creations_per_minute: u32,
    /// `POST /v1/authorize` calls one token may make per second (burst the same). Off
    /// (0) by default: a fleet's normal traffic is never throttled by surprise.
    #[arg(
        long,
        env = "STEWARD_AUTHORIZE_PER_SECOND",
        default_value_t = steward_server::limits::DEFAULT_AUTHORIZE_PER_SECOND,
        value_name = "N"
    )]
    pub authorize_per_second: u32,
    /// Rehearse the time rules (not for production): the clock is the wall clock plus
    /// what an admin advances it by (`steward clock advance 25h`), every audit event
    /// records `run_mode: rehearsal`, and `/healthz` says so. A database keeps the mode
    /// of its first serve: a rehearsal database is refused without this flag, and a
    /// production one with it.
    #[arg(long)]
    pub rehearsal: bool,
    /// Append each checkpoint this instance signs to PATH (`-`: stdout) as one JSON line,
    /// exactly as `GET /v1/audit/checkpoints/latest` returns it, synced to disk before
    /// the next. Ship the file somewhere the database's administrators cannot rewrite
    /// (another host, object storage with retention, a log pipeline): `steward audit
    /// verify --checkpoint PATH` then finds a truncated or rewritten trail that verifies
    /// clean on its own. A failed write is logged and the server carries on. With `-`,
    /// the start-up text goes to stderr, so stdout holds only checkpoints. The instance
    /// will not sign a trail that does not extend the largest checkpoint at the end of the
    /// file (nor the last one it signed): a rewritten trail is refused, not published.
    #[arg(long, env = "STEWARD_CHECKPOINT_SINK", value_name = "PATH")]
    pub checkpoint_sink: Option<PathBuf>,
}

/// Checks `--public-url`: an absolute `http` or `https` URL without query or fragment.
fn parse_public_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => Ok(trimmed.to_owned()),
        _ => Err(invalid(format!(
            "`--public-url`: `{url}` is not an http(s) URL such as `https://steward.example.com`"
        ))),
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Parse everything that can be wrong before starting anything.
    let policy = load_policy(args.policy.as_deref())?;
    if let Some(url) = &args.public_url {
        parse_public_url(url)?;
    }
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_server(args, policy))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_server(args: ServeArgs, policy: steward_policy::Policy) -> anyhow::Result<()> {
    // Install the handlers first, so a signal that arrives during start-up is a clean
    // shutdown rather than the default "terminate now".
    let signals = Signals::install()?;
    let store = open_store(&args.store).await?;
    // Held until the server stops: on SQLite this process must be the database's only
    // writer (its caches are kept exact by its own writes). Taken once `open_store` has
    // created the data directory (0700), before this instance writes anything.
    let _sole_writer = sole_writer(&args.store.database_url())?;
    let mode = if args.rehearsal {
        // Before anything is written, so every event of this instance says so.
        store.set_rehearsal();
        RunMode::Rehearsal
    } else {
        RunMode::Production
    };
    let first_run = match already_initialised(&args.store, &store).await? {
        Some(_) => None,
        None => Some(initialise(&args.store, &store, "admin").await?),
    };
    let offset_ms = store
        .claim_run_mode(mode, Clock::System.now().millis())
        .await
        .map_err(|e| match e {
            RunModeError::Mismatch { .. } => invalid(e.to_string()),
            RunModeError::Store(e) => anyhow::Error::new(e).context("recording the run mode"),
        })?;
    let clock = match mode {
        RunMode::Rehearsal => Clock::rehearsal(offset_ms),
        RunMode::Production => Clock::System,
    };
    let audit_key = instance_key(&store, args.audit_key.as_deref(), &args.store.key_path()).await?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| invalid(format!("cannot listen on `{}`: {e}", args.listen)))?;
    let addr = listener.local_addr().context("reading the bound address")?;

    let database = redact(&args.store.database_url());
    let policy_version = policy.version().to_owned();
    let public_url = match &args.public_url {
        Some(url) => parse_public_url(url)?,
        None => format!("http://{addr}"),
    };
    let sink = args
        .checkpoint_sink
        .as_deref()
        .map(|path| {
            CheckpointSink::open(path).map_err(|e| {
                invalid(format!(
                    "`--checkpoint-sink`: cannot open `{}` for appending: {e}",
                    path.display()
                ))
            })
        })
        .transpose()?;
    let to_stderr = sink.as_ref().is_some_and(CheckpointSink::is_stdout);
    let mut state = AppState::new(store.clone(), Arc::new(policy), clock, Some(audit_key))
        .with_public_url(&public_url)
        .with_rate_limits(RateLimitConfig {
            auth_failures_per_minute: args.auth_failures_per_minute,
            token_creations_per_minute: args.token_creations_per_minute,
            authorize_per_second: args.authorize_per_second,
        })
        .with_webhook_allow_private(args.webhook_allow_private);
    if let Some(sink) = sink {
        state = state.with_checkpoint_sink(sink);
    }
    let maintenance = tokio::spawn(steward_server::run_maintenance(state.clone()));
    // Webhook deliveries follow the audit trail on their own task, so HTTP to receivers
    // never delays maintenance or a request.
    let webhooks = tokio::spawn(steward_server::webhooks::run_webhooks(
        state.store.clone(),
        state.clock.clone(),
        state.webhook_allow_private,
    ));
    let stopping = state.stopping.clone();
    // The JSON API and the dashboard (steward-web) on one router.
    let app = steward_web::app(state).layer(middleware::from_fn(log_request));

    let mut text = String::new();
    if let Some(done) = &first_run {
        text.push_str("First run: ");
        text.push_str(&report(&args.store, done));
    }
    if mode == RunMode::Rehearsal {
        let _ = writeln!(
            text,
            "REHEARSAL: not for production. The clock is {} ahead of the wall clock; advance it with `steward clock advance 25h` (admin).",
            humantime::format_duration(Duration::from_millis(offset_ms.unsigned_abs()))
        );
    }
    let _ = writeln!(
        text,
        "Steward listening on http://{addr} (database: {database}, policy {policy_version})"
    );
    let _ = writeln!(text, "Dashboard: {public_url}/ (sign in with an API token)");
    if first_run.is_none() {
        let _ = writeln!(
            text,
            "Use the admin token printed when the data directory was initialised, or ask an \
             admin for one (`steward token create`); then `export STEWARD_TOKEN=…` and try \
             `steward principal list --server http://{addr}`."
        );
    }
    warn_if_exposed(addr);
    if to_stderr {
        // stdout is the checkpoint sink: keep it to checkpoint lines.
        let _ = write!(std::io::stderr(), "{text}");
    } else {
        print(&text)?;
    }
    tracing::info!(%addr, database, policy_version, "listening");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(serve(listener, app, async move {
        let _ = stop_rx.await;
    }));
    let outcome = tokio::select! {
        result = &mut server => Some(result),
        signal = signals.recv() => {
            tracing::info!(signal, "shutting down: no new connections, draining in-flight requests");
            None
        }
    };
    let result = match outcome {
        Some(result) => result,
        None => {
            // End long polls and event streams first, so draining does not wait on them.
            stopping.stop();
            let _ = stop_tx.send(());
            match tokio::time::timeout(DRAIN_TIMEOUT, &mut server).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(
                        "requests still in flight after {} s; stopping anyway",
                        DRAIN_TIMEOUT.as_secs()
                    );
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    maintenance.abort();
    webhooks.abort();
    store.close().await;
    result
        .context("the server task failed")?
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

/// The key this instance signs with: `explicit` (`--audit-key`), or `default` in the data
/// directory. It must be the key recorded in the database, so that every instance signs
/// and verifies the trail with the same key; without it, or with another, the start is
/// refused with a message saying how to supply it. A database initialised before keys were
/// recorded gets this key recorded now (if its latest checkpoint was signed with it), and
/// the start says so.
async fn instance_key(
    store: &Store,
    explicit: Option<&Path>,
    default: &Path,
) -> anyhow::Result<AuditKey> {
    let path = explicit.unwrap_or(default);
    let supply = "copy `audit-signing.key` from the data directory of the instance that ran \
                  `steward init` into this one's, or pass `--audit-key FILE` (or set \
                  `STEWARD_AUDIT_KEY_FILE`)";
    let Some(key) = load_audit_key(path, explicit.is_some())? else {
        let recorded = store
            .recorded_signing_key()
            .await
            .context("reading the recorded audit signing key")?;
        return Err(invalid(match recorded {
            Some(public) => format!(
                "no audit signing key at `{}`: this database's audit trail is signed with key \
                 {} and every instance must hold it; {supply}",
                path.display(),
                steward_audit::key_id(&public)
            ),
            None => format!(
                "no audit signing key at `{}`, and none is recorded in the database (it was \
                 initialised before keys were recorded): start once with the key that signed \
                 its checkpoints, `--audit-key FILE` (or `STEWARD_AUDIT_KEY_FILE`), to record it",
                path.display()
            ),
        }));
    };
    let actor = Caller::system("steward");
    let now = Clock::System.now().millis();
    match store
        .claim_signing_key(&actor, key.public_key(), now)
        .await
        .context("checking the audit signing key against the database")?
    {
        KeyClaim::Matches => {}
        KeyClaim::Recorded => {
            let message = format!(
                "Recorded the audit signing key {} in the database (it was initialised before \
                 keys were recorded); every instance on it must now hold this key.",
                key.key_id()
            );
            tracing::info!(key_id = key.key_id(), "audit signing key recorded");
            print(&format!("{message}\n"))?;
        }
        KeyClaim::Differs { key_id } => {
            return Err(invalid(format!(
                "the audit signing key `{}` (key {}) is not the key this database's audit trail \
                 is signed with (key {key_id}); {supply}",
                path.display(),
                key.key_id()
            )));
        }
    }
    tracing::info!(key_id = key.key_id(), "audit signing key loaded");
    Ok(key)
}

/// Reads an audit signing key (the 32-byte Ed25519 seed that `steward init` wrote). A
/// missing file is `None` unless it was named explicitly; a file that exists but cannot be
/// read, or is not 32 bytes, stops the start: signing with a wrong key, or silently not
/// signing, would be worse.
fn load_audit_key(path: &Path, explicit: bool) -> anyhow::Result<Option<AuditKey>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(None);
        }
        Err(error) => {
            return Err(invalid(format!(
                "cannot read the audit signing key `{}`: {error}",
                path.display()
            )));
        }
    };
    let secret = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        invalid(format!(
            "`{}` is not an audit signing key: expected 32 bytes, found {}",
            path.display(),
            bytes.len()
        ))
    })?;
    Ok(Some(AuditKey::new(secret)))
}

/// Logs one line per request: method, path, status and duration. Never the query string,
/// headers or body: they may carry tokens or task contents.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(%method, path, status, ms = format!("{ms:.1}"), "request");
    response
}

fn init_logging() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    // A second subscriber (only possible in tests) is not an error worth stopping for.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

fn warn_if_exposed(addr: SocketAddr) {
    use std::io::Write as _;

    if !addr.ip().is_loopback() {
        let _ = writeln!(
            std::io::stderr(),
            "steward: warning: listening on {addr}, which other machines can reach; requests \
             carry bearer tokens in plain HTTP, so put a TLS-terminating proxy in front"
        );
    }
}

/// SIGINT and SIGTERM (Ctrl-C only, off Unix), registered at once.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())
                    .context("installing the SIGINT handler")?,
                terminate: signal(SignalKind::terminate())
                    .context("installing the SIGTERM handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the first signal and names it.
    async fn recv(mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// On a SQLite database, an exclusive lock on `<database>.serve-lock` held for the life of
/// the process, so a second `steward serve` on the same file refuses to start (exit 2):
/// the instance answers authentication and authorize's version check from memory, kept
/// exact by its own writes, which is only right while no other process writes the file.
/// The operating system releases the lock when the process ends, however it ends.
/// PostgreSQL takes any number of instances: `None`.
fn sole_writer(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(None);
    };
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(None);
    }
    let lock_path = format!("{path}.serve-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening the lock file `{lock_path}`"))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(invalid(format!(
            "another `steward serve` is running on the SQLite database `{path}` (it holds \
             `{lock_path}`): on SQLite one process serves a database; stop it first, or run \
             several instances on PostgreSQL (`--database postgres://…`)"
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow::Error::new(e).context(format!("locking `{lock_path}`")))
        }
    }
}
