//! `steward-loadgen append`: how many audit events per second the store makes durable, for
//! acts that change nothing else (authorize decisions), measured in one run for the naive
//! path (`Store::record_event_unbatched`: one transaction and one commit per event) and for
//! group commit (`Store::record_event`). Producers call the store directly, without HTTP,
//! each appending one event at a time and waiting for its acknowledgement.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;
use steward_store::{Actor, ActorKind, NewEvent, Store, Subject};

/// Which store method a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unbatched,
    GroupCommit,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Unbatched => "one transaction per event (baseline)",
            Mode::GroupCommit => "group commit (record_event)",
        }
    }
}

/// One mode's figures.
#[derive(Debug)]
struct Figures {
    events: u64,
    seconds: f64,
    /// Acknowledgement latencies in microseconds, sorted.
    latencies: Vec<u64>,
    /// CPU time this process used during the run (every thread, user and system), when
    /// the platform tells (`/proc/self/stat`). On a shared machine, events per CPU-second
    /// say more than events per second.
    cpu_seconds: Option<f64>,
    /// How long folding the run's events took afterwards (`Store::fold_metrics`: the
    /// `/metrics` counters and the per-worker index, which appends leave to the fold).
    fold_seconds: f64,
}

impl Figures {
    fn per_second(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    /// Events per second counting the fold's time too.
    fn folded_per_second(&self) -> f64 {
        self.events as f64 / (self.seconds + self.fold_seconds)
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let last = self.latencies.len().saturating_sub(1);
        let index = ((self.latencies.len() as f64 * p) as usize).min(last);
        self.latencies.get(index).copied().unwrap_or_default() as f64 / 1000.0
    }
}

/// A database opened for one mode; a temp SQLite file is deleted on drop.
#[derive(Debug)]
struct Opened {
    store: Store,
    label: String,
    temp_file: Option<PathBuf>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        if let Some(path) = &self.temp_file {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                // Best effort: a leftover file in the temp directory harms nothing.
                let _ = std::fs::remove_file(file);
            }
        }
    }
}

pub(crate) fn run(
    database: &str,
    producers: usize,
    workers: usize,
    seconds: u64,
) -> anyhow::Result<()> {
    if producers == 0 {
        bail!("`--producers` must be at least 1");
    }
    if workers == 0 {
        bail!("`--workers` must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let duration = Duration::from_secs(seconds);
    let mut results = Vec::new();
    let mut label = String::new();
    for (index, mode) in [Mode::Unbatched, Mode::GroupCommit].into_iter().enumerate() {
        let figures = runtime.block_on(async {
            let opened = open(database, index).await?;
            label = opened.label.clone();
            let figures = measure(&opened.store, mode, (producers, workers), duration).await?;
            let head = opened
                .store
                .verify_audit_chain()
                .await
                .context("verifying the chain after the run")?;
            opened.store.close().await;
            anyhow::Ok((figures, head.seq))
        })?;
        results.push((mode, figures));
    }

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "append: database {label}, {producers} producers, {workers} workers, {seconds} s per mode"
    )?;
    for (mode, (figures, chain)) in &results {
        writeln!(
            out,
            "  {:<38} {:>9.0} events/s  ack ms p50 {:>7.2}  p99 {:>7.2}  ({} events, chain of {chain} verified)",
            mode.label(),
            figures.per_second(),
            figures.percentile_ms(0.50),
            figures.percentile_ms(0.99),
            figures.events,
        )?;
        writeln!(
            out,
            "  {:<38} {:>9.0} events/s counting the fold after the run ({:.2} s)",
            "",
            figures.folded_per_second(),
            figures.fold_seconds,
        )?;
        if let Some(cpu) = figures.cpu_seconds.filter(|&cpu| cpu > 0.0) {
            writeln!(
                out,
                "  {:<38} {:>9.0} events per CPU-second ({cpu:.2} CPU-s in {:.2} s)",
                "",
                figures.events as f64 / cpu,
                figures.seconds,
            )?;
        }
    }
    if let [(_, (baseline, _)), (_, (grouped, _))] = results.as_slice() {
        writeln!(
            out,
            "  group commit / baseline: {:.1}x",
            grouped.per_second() / baseline.per_second()
        )?;
    }
    Ok(())
}

/// Opens a fresh database for run number `index` (SQLite), or the given PostgreSQL one.
async fn open(database: &str, index: usize) -> anyhow::Result<Opened> {
    let synchronous = match database {
        "sqlite" => Some("normal"),
        "sqlite-full" => Some("full"),
        _ => None,
    };
    if let Some(synchronous) = synchronous {
        let path = std::env::temp_dir().join(format!(
            "steward-loadgen-append-{}-{index}.db",
            std::process::id()
        ));
        let url = format!("sqlite://{}?synchronous={synchronous}", path.display());
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("opening `{}`", path.display()))?;
        return Ok(Opened {
            store,
            label: format!("sqlite (temp file, WAL, synchronous={synchronous})"),
            temp_file: Some(path),
        });
    }
    if database.starts_with("postgres") {
        let store = Store::connect(database)
            .await
            .context("connecting to the database")?;
        let label = database
            .split('@')
            .next_back()
            .unwrap_or(database)
            .to_owned();
        return Ok(Opened {
            store,
            label,
            temp_file: None,
        });
    }
    bail!("`--database` must be `sqlite`, `sqlite-full` or a `postgres://` URL")
}

/// `producers` tasks append events for `duration`, each waiting for its event's
/// acknowledgement before the next.
async fn measure(
    store: &Store,
    mode: Mode,
    (producers, workers): (usize, usize),
    duration: Duration,
) -> anyhow::Result<Figures> {
    // Warm-up: one event per producer, not measured (connections, prepared statements).
    let mut tasks = Vec::new();
    for producer in 0..producers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            append(&store, mode, (producer, producer % workers), 0)
                .await
                .map(drop)
        }));
    }
    for task in tasks {
        task.await??;
    }

    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for producer in 0..producers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 1;
            while Instant::now() < deadline {
                let sent = Instant::now();
                append(&store, mode, (producer, producer % workers), n).await?;
                latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                n += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    // What the appends left to the fold (the server's maintenance folds every 5 s).
    let folding = Instant::now();
    store
        .fold_metrics()
        .await
        .context("folding the run's events")?;
    let fold_seconds = folding.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok(Figures {
        events: latencies.len() as u64,
        seconds,
        latencies,
        cpu_seconds,
        fold_seconds,
    })
}

/// Appends the `n`th event of `producer`, for `worker`: an authorize decision, as the
/// server records it.
async fn append(
    store: &Store,
    mode: Mode,
    (producer, worker): (usize, usize),
    n: u64,
) -> anyhow::Result<()> {
    let event = NewEvent {
        event_type: "authorize.allowed".to_owned(),
        subject: Subject {
            task_id: Some(format!("task-{producer}-{n}")),
            worker_id: Some(format!("worker-{worker}")),
            permit_id: None,
        },
        data: json!({
            "tool": "kubectl",
            "action": "rollout restart deployment/api",
            "environment": "staging",
            "decision": "allow",
            "checks": ["certification", "access_matrix", "sensitive_data", "permit", "budget"],
        }),
        ..NewEvent::now(
            "authorize.allowed",
            Actor {
                kind: ActorKind::Agent,
                id: format!("agent-{producer}"),
                roles: vec!["worker".to_owned()],
                channel: None,
            },
        )
    };
    match mode {
        Mode::Unbatched => store.record_event_unbatched(event).await?,
        Mode::GroupCommit => store.record_event(event).await?,
    };
    Ok(())
}

/// User plus system CPU time of this process so far, from `/proc/self/stat` (Linux; clock
/// ticks of 1/100 s, the kernel's `USER_HZ`). `None` elsewhere.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}
