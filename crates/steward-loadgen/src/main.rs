//! `steward-loadgen`: measures Steward's HTTP API under concurrent load, against a real
//! server on a loopback port over a fresh database (SQLite or PostgreSQL).
//!
//! `lifecycles`: each client loops over full permit lifecycles (request → approve (issues)
//! → start → complete → close) for a fixed time, and the tool reports lifecycles per
//! second, per-request latency percentiles, and the CPU the server and the clients spent
//! per lifecycle (`cpu.rs`). The server and the clients share this machine's cores, as a
//! sidecar load generator would.
//!
//! `append`: durable audit appends straight on the store (no HTTP), the naive baseline
//! (one transaction per event) and then group commit (`Store::record_event`), in one run;
//! see `append.rs`.
//!
//! `authorize` and `authorize-inproc`: the authorize benchmarks (see `authorize.rs`).

mod append;
mod authorize;
mod count;
mod cpu;

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use steward_policy::{Policy, Role};
use steward_server::{AppState, Clock, router, serve};
use steward_store::testing::execute;
use steward_store::{Caller, NewPrincipal, NewToken, PrincipalKind, Store, token};

#[derive(Debug, Parser)]
#[command(
    name = "steward-loadgen",
    about = "Load-test Steward's HTTP API on this machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Full permit lifecycles per second through the HTTP API.
    Lifecycles {
        /// `sqlite` (a fresh file in the temp directory) or a `postgres://` URL of an
        /// existing, empty database.
        #[arg(long, default_value = "sqlite")]
        database: String,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// How long to run, in seconds (after a 1 s warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Server worker threads.
        #[arg(long, default_value_t = 2)]
        server_threads: usize,
        /// Also count the SQL statements the server runs per lifecycle (sqlx's
        /// `sqlx::query` events; slows the run, so measure throughput without it).
        #[arg(long)]
        count_statements: bool,
    },
    /// Durable audit appends per second: one transaction per event, then group commit.
    Append {
        /// `sqlite` (temp file, synchronous=normal), `sqlite-full` (temp file,
        /// synchronous=full: an fsync per commit), or a `postgres://` URL of an existing,
        /// empty database.
        #[arg(long, default_value = "sqlite-full")]
        database: String,
        /// Concurrent producers, each appending one event at a time and waiting for it.
        #[arg(long, default_value_t = 512)]
        producers: usize,
        /// How many distinct workers the events name (the fleet's size): producer `p`
        /// appends for worker `p mod workers`. Default: one worker per producer. Each
        /// distinct worker in a batch is another page of the per-worker event index
        /// written.
        #[arg(long)]
        workers: Option<usize>,
        /// How long to run each of the two modes, in seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// `POST /v1/authorize` decisions per second from concurrent keep-alive clients, with
    /// a mix of unaudited and audited allows; checks every audited answer's event is in
    /// the trail.
    Authorize {
        /// `sqlite` (a fresh file in the temp directory) or the URL of the database
        /// (`sqlite:` or `postgres://`); with `--server`, that server's database (principals
        /// are created in it and the trail is checked there).
        #[arg(long, default_value = "sqlite")]
        database: String,
        /// Target a running `steward serve` at this URL instead of starting one here.
        #[arg(long)]
        server: Option<String>,
        /// Concurrent clients, each on its own keep-alive connection.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// How long to run, in seconds (after a 1 s warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Server worker threads (when the server runs here).
        #[arg(long, default_value_t = 2)]
        server_threads: usize,
        /// Client worker threads.
        #[arg(long, default_value_t = 2)]
        client_threads: usize,
        /// Share of decisions that are audited (a level-2 worker under its permit); the
        /// rest are unaudited allows (a level-1 worker in staging).
        #[arg(long, default_value_t = 10)]
        audited_percent: u32,
        /// The server's rate limits (when it runs here): `default`, as `steward serve`
        /// starts, or `off`, to measure what the limits cost.
        #[arg(long, value_enum, default_value_t = authorize::Limits::Default)]
        rate_limits: authorize::Limits,
        /// Do not measure: write a `wrk` Lua script posting the unaudited decision to
        /// this file and serve for `--seconds` (for `wrk`, from outside).
        #[arg(long)]
        wrk_script: Option<std::path::PathBuf>,
    },
    /// Steward's side of `scripts/bench-agt.sh`: the 11-rule check in process with a warm
    /// cache, each decision timed on its own; prints decisions/s and p50/p99 in µs.
    AuthorizeInproc {
        /// Decisions to time (a tenth more run first as warm-up).
        #[arg(long, default_value_t = 20_000)]
        decisions: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Lifecycles {
            database,
            clients,
            seconds,
            server_threads,
            count_statements,
        } => {
            if count_statements {
                count::install()?;
            }
            lifecycles(
                &database,
                clients,
                seconds,
                server_threads,
                count_statements,
            )
        }
        Command::Append {
            database,
            producers,
            workers,
            seconds,
        } => append::run(&database, producers, workers.unwrap_or(producers), seconds),
        Command::Authorize {
            database,
            server,
            clients,
            seconds,
            server_threads,
            client_threads,
            audited_percent,
            rate_limits,
            wrk_script,
        } => authorize::http(&authorize::HttpOptions {
            database,
            server,
            clients,
            seconds,
            server_threads,
            client_threads,
            audited_percent,
            rate_limits,
            wrk_script,
        }),
        Command::AuthorizeInproc { decisions, seed } => authorize::inproc(decisions, seed),
    }
}

struct Fixture {
    url: String,
    master: String,
    approver: String,
    worker: String,
    worker_id: String,
}

fn lifecycles(
    database: &str,
    clients: usize,
    seconds: u64,
    server_threads: usize,
    count_statements: bool,
) -> anyhow::Result<()> {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(server_threads)
        .thread_name(cpu::SERVER_THREADS)
        .enable_all()
        .build()?;
    let (store, db_label, _keep) = server_rt.block_on(open(database))?;
    let fixture = server_rt.block_on(start(store))?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(cpu::CLIENT_THREADS)
        .enable_all()
        .build()?;
    let fixture = Arc::new(fixture);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;

    // Warm-up: one lifecycle per client, not measured.
    client_rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (f, http) = (fixture.clone(), http.clone());
            tasks.push(tokio::spawn(async move {
                one_lifecycle(&http, &f, &mut Vec::new()).await
            }));
        }
        for t in tasks {
            t.await??;
        }
        anyhow::Ok(())
    })?;

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let statements_before = count::statements();
    let cpu_before = cpu::Sample::now();
    let results = client_rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (f, http) = (fixture.clone(), http.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut done = 0u64;
                while Instant::now() < deadline {
                    one_lifecycle(&http, &f, &mut latencies).await?;
                    done += 1;
                }
                anyhow::Ok((done, latencies))
            }));
        }
        let mut all = Vec::new();
        let mut total = 0;
        for t in tasks {
            let (done, latencies) = t.await??;
            total += done;
            all.extend(latencies);
        }
        anyhow::Ok((total, all))
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_before.zip(cpu::Sample::now()).map(|(a, b)| b.since(&a));
    let statements = count::statements() - statements_before;
    let (total, mut latencies) = results;
    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).copied().unwrap_or_default() as f64 / 1000.0
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "lifecycles: database {db_label}, {clients} clients, {server_threads} server threads, {elapsed:.1} s"
    )?;
    writeln!(
        out,
        "  {total} lifecycles = {:.0} lifecycles/s ({:.0} requests/s)",
        total as f64 / elapsed,
        latencies.len() as f64 / elapsed
    )?;
    writeln!(
        out,
        "  request latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    )?;
    if let Some(cpu) = cpu {
        let per = |seconds: f64| seconds * 1000.0 / total.max(1) as f64;
        let (inside, outside) = if database.starts_with("postgres") {
            // PostgreSQL runs its statements in its own processes.
            (
                String::new(),
                " (this process only: PostgreSQL's own processes are not counted)",
            )
        } else {
            let sqlite = per(cpu.sqlite);
            (format!(" (SQLite connection threads {sqlite:.2} ms)"), "")
        };
        writeln!(
            out,
            "  CPU per lifecycle: server {:.2} ms{inside}, clients {:.2} ms; {:.2} cores busy{outside}",
            per(cpu.server),
            per(cpu.clients),
            (cpu.server + cpu.clients) / elapsed,
        )?;
    }
    if count_statements {
        writeln!(
            out,
            "  {statements} SQL statements = {:.1} per lifecycle (sqlx query events, maintenance included)",
            statements as f64 / total.max(1) as f64
        )?;
    }
    Ok(())
}

/// Opens the database; a temp SQLite file is deleted when the returned guard drops.
async fn open(
    database: &str,
) -> anyhow::Result<(Store, String, Option<steward_store::testing::TestDb>)> {
    if database == "sqlite" {
        let db = steward_store::testing::sqlite_store().await;
        Ok((
            db.store().clone(),
            "sqlite (temp file, WAL, synchronous=normal)".into(),
            Some(db),
        ))
    } else if database.starts_with("sqlite:") || database.starts_with("postgres") {
        let store = Store::connect(database)
            .await
            .with_context(|| "connecting to the database".to_owned())?;
        let label = database
            .split('@')
            .next_back()
            .unwrap_or(database)
            .to_owned();
        Ok((store, label, None))
    } else {
        bail!("`--database` must be `sqlite`, a `sqlite:` URL or a `postgres://` URL")
    }
}

async fn start(store: Store) -> anyhow::Result<Fixture> {
    let setup = Caller::system("loadgen");
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for (name, kind, roles) in [
        ("lg-master", PrincipalKind::Agent, vec![Role::Master]),
        ("lg-approver", PrincipalKind::Human, vec![Role::TechLead]),
        ("lg-worker", PrincipalKind::Agent, vec![Role::Worker]),
        (
            "lg-owner",
            PrincipalKind::Human,
            vec![Role::EngineeringManager],
        ),
    ] {
        let p = store
            .create_principal(
                &setup,
                NewPrincipal {
                    kind,
                    name: name.into(),
                    roles,
                },
            )
            .await?;
        let (secret, secret_hash) = token::generate();
        store
            .create_token(
                &setup,
                NewToken {
                    principal_id: p.id.clone(),
                    label: "loadgen".into(),
                    expires_at_ms: None,
                    secret_hash,
                },
            )
            .await?;
        tokens.push(secret);
        ids.push(p.id);
    }
    let worker_id = "lg-worker-1".to_owned();
    execute(
        &store,
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, stats, version, created_at, updated_at) VALUES ('{worker_id}', 'loadgen', \
             '{}', '{}', 2, 'active', '[]', 0, '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)",
            ids[3], ids[2]
        ),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = AppState::new(store, Arc::new(Policy::builtin()), Clock::System, None);
    tokio::spawn(serve(listener, router(state), std::future::pending()));
    Ok(Fixture {
        url,
        master: tokens[0].clone(),
        approver: tokens[1].clone(),
        worker: tokens[2].clone(),
        worker_id,
    })
}

async fn call(
    http: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
    latencies: &mut Vec<u64>,
) -> anyhow::Result<Value> {
    let t = Instant::now();
    let resp = http
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let value: Value = resp.json().await?;
    latencies.push(t.elapsed().as_micros() as u64);
    if !status.is_success() {
        bail!("{url}: HTTP {status}: {value}");
    }
    Ok(value)
}

async fn one_lifecycle(
    http: &reqwest::Client,
    f: &Fixture,
    latencies: &mut Vec<u64>,
) -> anyhow::Result<()> {
    let permit = call(
        http,
        format!("{}/v1/permits", f.url),
        &f.master,
        json!({
            "task": {"id": "lg", "description": "deploy api", "environment": "production",
                     "operations": ["deploy"], "services_affected": ["api"]},
            "worker_id": f.worker_id,
            "evidence": {"rollback_plan": {"steps": ["kubectl rollout undo deploy/api"], "verification": ["kubectl rollout status deploy/api"], "estimated_minutes": 5},
                         "test_results": "ci#1", "code_review": "pr#1"},
        }),
        latencies,
    )
    .await?;
    let id = permit["id"].as_str().context("permit id")?.to_owned();
    let base = format!("{}/v1/permits/{id}", f.url);
    let approved = call(
        http,
        format!("{base}/approvals"),
        &f.approver,
        json!({"decision": "approve", "role": "tech_lead"}),
        latencies,
    )
    .await?;
    if approved["state"] != "active" {
        bail!("permit not issued after approval: {approved}");
    }
    call(
        http,
        format!("{base}/start"),
        &f.worker,
        json!({}),
        latencies,
    )
    .await?;
    call(
        http,
        format!("{base}/complete"),
        &f.worker,
        json!({"outcome": "success", "report": {
            "operation_type": "deploy", "resources_accessed": ["api"], "duration_seconds": 1,
            "input_parameters": {}, "output_results": {}, "resources_modified": ["api"],
            "error_conditions": []}}),
        latencies,
    )
    .await?;
    call(
        http,
        format!("{base}/close"),
        &f.master,
        json!({}),
        latencies,
    )
    .await?;
    Ok(())
}
