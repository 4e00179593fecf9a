//! How long a `/metrics` scrape takes over a large trail: fills fresh SQLite and
//! PostgreSQL databases with `PERMITS` synthetic permit stories (six audit events each:
//! analysed, requested, approved, issued, completed, closed with feedback) plus a few
//! authorize denials, then times `Store::metrics_snapshot` and the rendering: the first
//! scrape (which folds the whole trail into the counters, once), scrapes with nothing new,
//! and a scrape after 1 000 new events (about what a 30 s scrape interval sees at 33
//! events/s).
//!
//! ```sh
//! cargo run -p steward-server --example metrics_scrape -- 20000
//! ```

use std::fmt::Write as _;
use std::time::Instant;

use steward_store::Backend;
use steward_store::testing::{self, TestDb, execute};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let permits: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let mut dbs = vec![testing::sqlite_store().await];
    if let Some(pg) = testing::postgres_store().await {
        dbs.push(pg);
    }
    for db in dbs {
        run(&db, permits).await;
    }
}

async fn run(db: &TestDb, permits: usize) {
    let store = db.store();
    let backend = store.backend();
    let started = Instant::now();
    let mut seq = 0u64;
    fill(store, 0..permits, &mut seq).await;
    if backend == Backend::Postgres {
        execute(store, "ANALYZE").await.expect("analyze");
    }
    let filled = started.elapsed();
    let scrape = || async {
        let t = Instant::now();
        let snapshot = store.metrics_snapshot().await.expect("snapshot");
        let size = steward_server::routes::metrics::render(&snapshot).len();
        (t.elapsed(), size)
    };
    let (first, _) = scrape().await;
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let (time, bytes) = scrape().await;
        times.push(time);
        size = bytes;
    }
    times.sort();
    // About 1 000 new events: 160 permit stories and their denials.
    let before = seq;
    fill(store, permits..permits + 160, &mut seq).await;
    let (after_new, _) = scrape().await;
    tracing_free_print(&format!(
        "{}: {before} events ({permits} permits) filled in {:.1} s; first scrape (folds the \
         trail) {:.1} ms; scrape with nothing new median {:.2} ms, min {:.2} ms; scrape after \
         {} new events {:.1} ms ({size} bytes)",
        backend.as_str(),
        filled.as_secs_f64(),
        first.as_secs_f64() * 1000.0,
        times[2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        seq - before,
        after_new.as_secs_f64() * 1000.0,
    ));
}

/// Appends the synthetic stories of `permits` past `seq` (directly, with zero hashes: the
/// counters do not read them) and moves the audit head onto the last.
async fn fill(store: &steward_store::Store, permits: std::ops::Range<usize>, seq: &mut u64) {
    let backend = store.backend();
    let mut rows = Vec::new();
    let flush = |rows: &mut Vec<String>| {
        let sql = format!(
            "INSERT INTO audit_events (seq, ts, type, actor_kind, actor_id, actor_roles, \
             task_id, worker_id, permit_id, level, data, prev_hash, hash) VALUES {}",
            rows.join(", ")
        );
        rows.clear();
        sql
    };
    let zero = match backend {
        Backend::Sqlite => "zeroblob(32)",
        Backend::Postgres => "decode(repeat('00', 32), 'hex')",
    };
    for p in permits {
        let level = 1 + p % 4;
        let ts = 1_800_000_000_000i64 + (p as i64) * 60_000;
        let outcome = if p % 10 == 0 {
            "rolled_back"
        } else {
            "success"
        };
        let actual = (level + p % 3) % 5;
        for (i, (event_type, data)) in [
            ("task.analyzed", r#"{"worker_type":"union"}"#.to_owned()),
            ("permit.requested", "{}".to_owned()),
            ("permit.approved", "{}".to_owned()),
            ("permit.issued", "{}".to_owned()),
            ("permit.completed", format!(r#"{{"outcome":"{outcome}"}}"#)),
            ("permit.closed", format!(r#"{{"actual_level":{actual}}}"#)),
        ]
        .into_iter()
        .enumerate()
        {
            *seq += 1;
            let mut row = String::new();
            let _ = write!(
                row,
                "({seq}, {}, '{event_type}', 'system', 'bench', '[]', 't-{p}', 'w-{}', 'p-{p}', {level}, '{data}', {zero}, {zero})",
                ts + (i as i64) * 120_000,
                p % 50,
            );
            rows.push(row);
        }
        if p % 20 == 0 {
            *seq += 1;
            rows.push(format!(
                "({seq}, {ts}, 'authorize.denied', 'system', 'bench', '[]', NULL, 'w-1', 'p-{p}', {level}, '{{\"rule\":\"scope_violation\"}}', {zero}, {zero})"
            ));
        }
        if rows.len() >= 600 {
            execute(store, &flush(&mut rows)).await.expect("insert");
        }
    }
    if !rows.is_empty() {
        execute(store, &flush(&mut rows)).await.expect("insert");
    }
    execute(
        store,
        &format!("UPDATE audit_head SET seq = {seq} WHERE id = 1"),
    )
    .await
    .expect("head");
}

/// Prints one line to standard output (examples may).
fn tracing_free_print(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}
