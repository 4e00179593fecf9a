//! Counting the SQL statements sqlx runs, by its `sqlx::query` log events, for
//! `lifecycles --count-statements`. sqlx logs every query and `execute`; on SQLite it does
//! not log a transaction's `BEGIN` and `COMMIT` (PostgreSQL's it does).

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

/// Statements logged since the process started.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

struct Count;

impl<S: Subscriber> Layer<S> for Count {
    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.target() == "sqlx::query"
    }

    fn on_event(&self, _: &Event<'_>, _: Context<'_, S>) {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts counting (once per process).
pub fn install() -> anyhow::Result<()> {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Count))?;
    Ok(())
}

/// Statements counted so far.
pub fn statements() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}
