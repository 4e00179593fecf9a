//! The authorize benchmarks (BENCHMARKS.md, "Authorize"):
//!
//! - `authorize`: a real `steward` server on loopback (started here, or an existing one
//!   with `--server`), a worker and permits set up through the API, then N concurrent
//!   keep-alive clients posting `POST /v1/authorize` for S seconds, a mix of unaudited
//!   allows (a level-1 worker in staging) and audited ones (a level-2 worker deploying in
//!   production under its permit). Prints req/s and latency percentiles, then checks that
//!   every audited answer's event is in the trail (one event per audited answer, chain
//!   intact).
//! - `authorize-inproc`: Steward's side of the comparison with the Agent Governance
//!   Toolkit's `PolicyEvaluator` (`scripts/bench-agt.sh`): the same 11-rule check over
//!   20 000 generated decisions, each timed on its own, the way the peer script times
//!   AGT's `evaluate`.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use steward_permits::{Operation, PermitState, Timestamp, authorize};
use steward_policy::{
    ActionClass, ActionClasses, CertificationStatus, Environment, Level, ListedOperation,
    PermitType, Policy, Role, classify_action,
};
use steward_server::authz::{CachedPermit, CachedWorker};
use steward_server::{AppState, AuthzCache, Clock, RateLimitConfig, router, serve};
use steward_store::testing::{execute, fetch_text};
use steward_store::{Caller, NewPrincipal, NewToken, PrincipalKind, Store, token};

use crate::open;

/// Options of `steward-loadgen authorize`.
#[derive(Debug)]
pub struct HttpOptions {
    pub database: String,
    pub server: Option<String>,
    pub clients: usize,
    pub seconds: u64,
    pub server_threads: usize,
    pub client_threads: usize,
    pub audited_percent: u32,
    pub rate_limits: Limits,
    /// Instead of measuring: write a `wrk` script for the unaudited decision here, then
    /// serve for `seconds` (for `wrk -s FILE URL/v1/authorize`, and `URL/nope` for the
    /// server's 404 ceiling).
    pub wrk_script: Option<std::path::PathBuf>,
}

/// The rate limits of a server started here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Limits {
    /// `steward serve`'s defaults (failed authentications and token creations limited,
    /// authorize not).
    Default,
    /// Every limit off.
    Off,
}

/// What the clients need: where to post, as whom, and the two request bodies.
struct Target {
    url: String,
    l1_token: String,
    l2_token: String,
    unaudited: Value,
    audited: Value,
}

/// Per-client results.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    audited: u64,
    unaudited: u64,
    seqs: Vec<u64>,
}

pub fn http(o: &HttpOptions) -> anyhow::Result<()> {
    ensure!(
        o.server.is_none() || o.database != "sqlite",
        "with `--server`, `--database` must be the server's database (a `sqlite:` or `postgres://` URL)"
    );
    ensure!(
        o.audited_percent <= 100,
        "`--audited-percent` must be 0 to 100"
    );
    ensure!(o.clients > 0, "`--clients` must be at least 1");
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.server_threads)
        .enable_all()
        .build()?;
    let (store, db_label, _keep) = server_rt.block_on(open(&o.database))?;
    let target = server_rt.block_on(setup(store.clone(), o.server.as_deref(), o.rate_limits))?;
    if let Some(path) = &o.wrk_script {
        let lua = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
        std::fs::write(
            path,
            format!(
                "wrk.method = \"POST\"\nwrk.body = \"{}\"\n\
                 wrk.headers[\"Content-Type\"] = \"application/json\"\n\
                 wrk.headers[\"Authorization\"] = \"Bearer {}\"\n",
                lua(&target.unaudited.to_string()),
                lua(&target.l1_token)
            ),
        )?;
        writeln!(
            std::io::stdout().lock(),
            "serving {} for {} s; wrk script {}",
            target.url,
            o.seconds,
            path.display()
        )?;
        std::thread::sleep(Duration::from_secs(o.seconds));
        return Ok(());
    }
    let head_before = server_rt.block_on(store.audit_head())?.seq;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.client_threads)
        .enable_all()
        .build()?;
    let target = Arc::new(target);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(o.clients)
        .tcp_nodelay(true)
        .build()?;

    let run = |seconds: f64| {
        client_rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs_f64(seconds);
            let mut tasks = Vec::new();
            for client in 0..o.clients {
                let (t, http) = (target.clone(), http.clone());
                let audited_percent = u64::from(o.audited_percent);
                tasks.push(tokio::spawn(async move {
                    let mut tally = Tally::default();
                    let mut i = client as u64;
                    while Instant::now() < deadline {
                        // Spread the audited requests evenly: request i is audited when
                        // i * p / 100 crosses an integer.
                        let audited = (i + 1) * audited_percent / 100 > i * audited_percent / 100;
                        one(&http, &t, audited, &mut tally).await?;
                        i += 1;
                    }
                    anyhow::Ok(tally)
                }));
            }
            let mut all = Tally::default();
            for task in tasks {
                let t = task.await??;
                all.latencies_us.extend(t.latencies_us);
                all.audited += t.audited;
                all.unaudited += t.unaudited;
                all.seqs.extend(t.seqs);
            }
            anyhow::Ok(all)
        })
    };
    // Warm-up (connections, caches), not measured.
    run(1.0)?;
    let warm_head = server_rt.block_on(store.audit_head())?.seq;
    let started = Instant::now();
    let mut tally = run(o.seconds as f64)?;
    let elapsed = started.elapsed().as_secs_f64();

    // Durability: every audited answer carried the seq of a committed event; each seq is
    // distinct, in the trail, and the run appended exactly one event per audited answer.
    let head_after = server_rt.block_on(store.audit_head())?.seq;
    let rows = server_rt.block_on(fetch_text(
        &store,
        &format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM audit_events WHERE seq > {warm_head} \
             AND type LIKE 'authorize.%'"
        ),
    ))?;
    let in_trail: u64 = rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .context("count of authorize events")?
        .parse()?;
    tally.seqs.sort_unstable();
    tally.seqs.dedup();
    let distinct = tally.seqs.len() as u64;
    let chain = server_rt.block_on(store.verify_audit_chain());

    tally.latencies_us.sort_unstable();
    let lat = &tally.latencies_us;
    let pct = |p: f64| {
        let i = ((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1));
        lat.get(i).copied().unwrap_or_default() as f64 / 1000.0
    };
    let total = tally.audited + tally.unaudited;
    let mut out = std::io::stdout().lock();
    let server = o.server.as_deref().unwrap_or("started here");
    writeln!(
        out,
        "authorize: database {db_label}, server {server}, {} clients, {} server threads, \
         {} client threads, {}% audited, {elapsed:.1} s",
        o.clients, o.server_threads, o.client_threads, o.audited_percent
    )?;
    writeln!(
        out,
        "  {total} decisions = {:.0} req/s ({} audited, {} unaudited)",
        total as f64 / elapsed,
        tally.audited,
        tally.unaudited
    )?;
    writeln!(
        out,
        "  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    )?;
    writeln!(
        out,
        "  audit: {} audited answers, {distinct} distinct seqs, {in_trail} authorize events \
         in the trail since warm-up (head {head_before} → {warm_head} → {head_after}), chain {}",
        tally.audited,
        match &chain {
            Ok(h) => format!("verified to seq {}", h.seq),
            Err(e) => format!("BROKEN: {e}"),
        }
    )?;
    ensure!(chain.is_ok(), "the audit chain does not verify");
    ensure!(
        distinct == tally.audited && in_trail == tally.audited,
        "audited answers ({}) and events in the trail ({in_trail}, {distinct} distinct seqs) differ",
        tally.audited
    );
    Ok(())
}

async fn one(
    http: &reqwest::Client,
    t: &Target,
    audited: bool,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let (token, body) = if audited {
        (&t.l2_token, &t.audited)
    } else {
        (&t.l1_token, &t.unaudited)
    };
    let started = Instant::now();
    let resp = http
        .post(&t.url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await?;
    let status = resp.status();
    let value: Value = resp.json().await?;
    tally
        .latencies_us
        .push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
    if !status.is_success() || value["allow"] != true {
        bail!("authorize: HTTP {status}: {value}");
    }
    match value["audit_seq"].as_u64() {
        Some(seq) if audited => {
            tally.audited += 1;
            tally.seqs.push(seq);
        }
        None if !audited => tally.unaudited += 1,
        _ => bail!("audited: expected {audited}, got {value}"),
    }
    Ok(())
}

/// Creates the principals (directly in the store: there is no admin yet), then through
/// the API two workers and a permit; serves the router here unless `server` is given.
/// Returns the authorize target.
async fn setup(store: Store, server: Option<&str>, rate_limits: Limits) -> anyhow::Result<Target> {
    let setup = Caller::system("loadgen");
    let tag = format!("{:x}", rand_tag());
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for (name, kind, roles) in [
        ("lg-admin", PrincipalKind::Human, vec![Role::Admin]),
        ("lg-approver", PrincipalKind::Human, vec![Role::TechLead]),
        ("lg-agent-1", PrincipalKind::Agent, vec![Role::Worker]),
        ("lg-agent-2", PrincipalKind::Agent, vec![Role::Worker]),
        ("lg-master", PrincipalKind::Agent, vec![Role::Master]),
    ] {
        let p = store
            .create_principal(
                &setup,
                NewPrincipal {
                    kind,
                    name: format!("{name}-{tag}"),
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
    let url = match server {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}", listener.local_addr()?);
            let limits = match rate_limits {
                Limits::Default => RateLimitConfig::default(),
                Limits::Off => RateLimitConfig {
                    auth_failures_per_minute: 0,
                    token_creations_per_minute: 0,
                    authorize_per_second: 0,
                },
            };
            let state = AppState::new(
                store.clone(),
                Arc::new(Policy::builtin()),
                Clock::System,
                None,
            )
            .with_rate_limits(limits);
            tokio::spawn(serve(listener, router(state), std::future::pending()));
            url
        }
    };
    let http = reqwest::Client::new();
    let post = |path: &str, token: &str, body: Value| {
        let request = http
            .post(format!("{url}{path}"))
            .bearer_auth(token)
            .json(&body);
        async move {
            let resp = request.send().await?;
            let status = resp.status();
            let value: Value = resp.json().await?;
            ensure!(status.is_success(), "HTTP {status}: {value}");
            anyhow::Ok(value)
        }
    };
    let (admin, approver, master) = (&tokens[0], &tokens[1], &tokens[4]);
    let mut workers = Vec::new();
    for (agent, level) in [(&ids[2], 1), (&ids[3], 2)] {
        let w = post(
            "/v1/workers",
            admin,
            json!({"display_name": format!("loadgen-l{level}"), "owner_id": ids[4],
                   "principal_id": agent}),
        )
        .await
        .context("registering a worker")?;
        let id = w["id"].as_str().context("worker id")?.to_owned();
        // Promotion through the API needs a track record of outcomes at each level; the
        // benchmark grants the level directly (and bumps the row version, as every change
        // to a certification does).
        execute(
            &store,
            &format!("UPDATE workers SET level = {level}, version = version + 1 WHERE id = '{id}'"),
        )
        .await?;
        workers.push(id);
    }
    let permit = post(
        "/v1/permits",
        master,
        json!({
            "task": {"id": "lg-authorize", "description": "deploy api", "environment": "production",
                     "operations": ["deploy"], "services_affected": ["api"]},
            "worker_id": workers[1],
            "forbidden_methods": ["DELETE"],
            "evidence": {"rollback_plan": {"steps": ["kubectl rollout undo deploy/api"],
                                           "verification": ["kubectl rollout status deploy/api"],
                                           "estimated_minutes": 5},
                         "test_results": "ci#1", "code_review": "pr#1"},
        }),
    )
    .await
    .context("requesting the permit")?;
    let permit_id = permit["id"].as_str().context("permit id")?.to_owned();
    let approved = post(
        &format!("/v1/permits/{permit_id}/approvals"),
        approver,
        json!({"decision": "approve", "role": "tech_lead"}),
    )
    .await?;
    ensure!(
        approved["state"] == "active",
        "permit not issued after approval: {approved}"
    );
    Ok(Target {
        url: format!("{url}/v1/authorize"),
        l1_token: tokens[2].clone(),
        l2_token: tokens[3].clone(),
        unaudited: json!({"worker_id": workers[0], "environment": "staging", "action": "deploy",
                          "service": "api", "method": "POST"}),
        audited: json!({"worker_id": workers[1], "environment": "production", "action": "deploy",
                        "service": "api", "method": "POST", "permit_id": permit_id}),
    })
}

/// A tag that keeps principal names unique when the tool runs twice on one database.
fn rand_tag() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `steward-loadgen authorize-inproc`: Steward's side of `scripts/bench-agt.sh`.
///
/// The peer (`agt_authorize_bench.py`) feeds AGT 20 000 contexts whose rule inputs are
/// drawn at random (certification status, level and environment, sensitive data, permit
/// state, whose permit, service in scope, method, time window, tokens left), warms up on
/// 2 000, and times each `evaluate` with `perf_counter_ns`. This does the same with the
/// same distributions, but from state rather than precomputed booleans: each decision looks
/// the worker and permit up in a warm [`AuthzCache`] and runs `steward_permits::authorize`
/// (SPEC §7's full check), timed on its own with `Instant`.
pub fn inproc(decisions: usize, seed: u64) -> anyhow::Result<()> {
    ensure!(decisions > 0, "`--decisions` must be at least 1");
    let cache = AuthzCache::default();
    let policy = Policy::builtin();
    let mut rng = Rng(seed.max(1));
    let now = Timestamp(1_800_000_000_000);
    let hour = 3_600_000;
    let mut inputs = Vec::with_capacity(decisions);
    for i in 0..decisions {
        let level = rng.below(5) as u8;
        let env = *rng.pick(&[
            Environment::Development,
            Environment::Staging,
            Environment::Production,
        ]);
        let sensitive = rng.chance(20);
        let status = if rng.below(10) < 9 {
            CertificationStatus::Active
        } else {
            CertificationStatus::Suspended
        };
        let permit_state = *rng.pick(&[
            Some(PermitState::Active),
            Some(PermitState::Executing),
            Some(PermitState::Revoked),
            None,
        ]);
        let owner_matches = rng.chance(95);
        let service_in_scope = rng.chance(95);
        let method = *rng.pick(&["GET", "POST", "PUT", "DELETE"]);
        let in_window = rng.chance(97);
        let tokens_left = rng.below(10_011) as i64 - 10;

        let worker_id = format!("w{i}");
        cache.put_worker(CachedWorker {
            id: worker_id.clone(),
            owner_id: "owner".into(),
            principal_id: None,
            level: Level::new(level).context("level")?,
            status,
            version: 1,
        });
        let permit_id = permit_state.map(|state| {
            let id = format!("p{i}");
            let budget = 10_000u64;
            // tokens_left = budget - used - spend; the spend is 10.
            let used = (budget as i64 - 10 - tokens_left).max(0) as u64;
            cache.put_permit(CachedPermit {
                id: id.clone(),
                task_id: "t".into(),
                worker_id: if owner_matches {
                    worker_id.clone()
                } else {
                    "someone-else".into()
                },
                permit_type: PermitType::StandardProduction,
                level: Level::STANDARD,
                state,
                revocation_reason: None,
                valid_from: if in_window {
                    now
                } else {
                    Timestamp(now.0 + hour)
                },
                expires_at: Timestamp(now.0 + 2 * hour),
                environment: env,
                listed_operations: vec![ListedOperation::new(&policy, "deploy")],
                allowed_classes: ActionClasses::of(&[ActionClass::Read, ActionClass::Change]),
                allowed_services: vec!["api".into()],
                allowed_regions: Vec::new(),
                allowed_methods: None,
                forbidden_methods: vec!["DELETE".into()],
                token_budget: budget,
                enhanced_audit: false,
                version: 1,
            });
            (id, used)
        });
        inputs.push((
            worker_id,
            permit_id,
            env,
            if service_in_scope { "api" } else { "billing" },
            method,
            sensitive,
        ));
    }
    let decide = |(worker_id, permit, env, service, method, sensitive): &(
        String,
        Option<(String, u64)>,
        Environment,
        &str,
        &str,
        bool,
    )| {
        let worker = cache.cached_worker(worker_id, 1)?;
        let permit = match permit {
            Some((id, used)) => Some((cache.cached_permit(id, 1)?, *used)),
            None => None,
        };
        // The handler classifies each action with the policy's vocabulary; so does this.
        let action = classify_action(&policy, "deploy");
        let op = Operation {
            environment: *env,
            action: &action,
            service: Some(service),
            region: None,
            method,
            read_only: false,
            critical: false,
            sensitive_data: *sensitive,
            tokens: 10,
        };
        Some(authorize(
            worker.view(),
            &op,
            permit.as_ref().map(|(p, used)| p.view(*used)).as_ref(),
            &worker.id,
            now,
        ))
    };
    for input in inputs.iter().take(decisions / 10) {
        std::hint::black_box(decide(input));
    }
    let mut latencies = Vec::with_capacity(decisions);
    let mut allowed = 0usize;
    let started = Instant::now();
    for input in &inputs {
        let t = Instant::now();
        let verdict = std::hint::black_box(decide(std::hint::black_box(input)));
        latencies.push(t.elapsed().as_nanos() as u64);
        let verdict = verdict.context("the cache is warm")?;
        allowed += usize::from(verdict.allow);
    }
    let elapsed = started.elapsed().as_secs_f64();
    // What the timing itself costs: the same two clock reads around nothing.
    let mut empty: Vec<u64> = (0..decisions)
        .map(|_| {
            let t = Instant::now();
            t.elapsed().as_nanos() as u64
        })
        .collect();
    let p = |v: &mut Vec<u64>, q: f64| {
        v.sort_unstable();
        v[((v.len() as f64 * q) as usize).min(v.len() - 1)] as f64 / 1000.0
    };
    writeln!(
        std::io::stdout().lock(),
        "Steward authorize (warm cache): {:.0} decisions/s, p50 {:.3} us, p99 {:.3} us, \
         allowed {allowed}/{} (clock reads alone: p50 {:.3} us)",
        inputs.len() as f64 / elapsed,
        p(&mut latencies, 0.5),
        p(&mut latencies, 0.99),
        inputs.len(),
        p(&mut empty, 0.5),
    )?;
    Ok(())
}

/// A seeded xorshift.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}
