//! Throw-away databases for tests (feature `test-support`), for this crate's tests and
//! the crates above it: a fresh SQLite file per test, and a fresh PostgreSQL database
//! per test when a server is reachable.
//!
//! PostgreSQL is found at `STEWARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), an admin connection that may create
//! databases. When it cannot be reached, the PostgreSQL half of a test is skipped with one
//! line on stderr, unless `CI` is set or `STEWARD_REQUIRE_POSTGRES=1`: then the test fails.
//!
//! The usual shape, one body for both backends:
//!
//! ```ignore
//! #[tokio::test]
//! async fn it_works() {
//!     let db = testing::sqlite_store().await;
//!     body(db.store().clone()).await;
//!     if let Some(db) = testing::postgres_store().await {
//!         body(db.store().clone()).await;
//!     }
//! }
//! ```

use std::env;
use std::io::Write;
use std::ops::Deref;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Once;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, Row};
use uuid::Uuid;

use crate::error::StoreError;
use crate::store::{Store, on_pool};

mod plaintext;
pub use plaintext::find_plaintext;

/// The variable naming the admin URL of the test PostgreSQL server.
pub const POSTGRES_URL_VAR: &str = "STEWARD_TEST_POSTGRES_URL";
/// Set to `1` to make an unreachable PostgreSQL a test failure (as `CI` does).
pub const REQUIRE_POSTGRES_VAR: &str = "STEWARD_REQUIRE_POSTGRES";
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A store on a database made for one test. Dropping it deletes the database (best
/// effort), also when the test panicked.
#[derive(Debug)]
pub struct TestDb {
    store: Store,
    /// The URL a separate process (`steward serve` in the CLI tests) opens it with.
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase {
        admin: Box<PgConnectOptions>,
        name: String,
    },
}

/// A migrated store on a new SQLite file in the system's temp directory.
pub async fn sqlite_store() -> TestDb {
    sqlite_store_migrated(None).await
}

/// A store on a new SQLite file migrated only up to `version`, as an older Steward left
/// it: reopening [`TestDb::url`] with `Store::connect` upgrades it.
pub async fn sqlite_store_at(version: i64) -> TestDb {
    sqlite_store_migrated(Some(version)).await
}

async fn sqlite_store_migrated(up_to: Option<i64>) -> TestDb {
    let path = env::temp_dir().join(format!("steward-test-{}.db", Uuid::new_v4().simple()));
    let options = SqliteConnectOptions::new().filename(&path);
    let opened = Store::open_sqlite(options, false, Default::default()).await;
    let store = migrated(opened, up_to)
        .await
        .unwrap_or_else(|error| panic!("cannot open test database `{}`: {error}", path.display()));
    TestDb {
        store,
        url: format!("sqlite://{}", path.display()),
        cleanup: Cleanup::SqliteFile(path),
    }
}

/// A migrated store on a new PostgreSQL database, or `None` when PostgreSQL is not
/// reachable and not required (see the module docs).
pub async fn postgres_store() -> Option<TestDb> {
    postgres_store_migrated(None).await
}

/// [`postgres_store`] migrated only up to `version`, like [`sqlite_store_at`].
pub async fn postgres_store_at(version: i64) -> Option<TestDb> {
    postgres_store_migrated(Some(version)).await
}

async fn postgres_store_migrated(up_to: Option<i64>) -> Option<TestDb> {
    let url = postgres_admin_url();
    let admin = PgConnectOptions::from_str(&url).unwrap_or_else(|error| {
        panic!("{POSTGRES_URL_VAR} `{url}` is not a PostgreSQL URL: {error}")
    });
    let mut conn = match PgConnection::connect_with(&admin).await {
        Ok(conn) => conn,
        Err(error) => {
            postgres_unreachable(&url, &error);
            return None;
        }
    };
    let name = format!("steward_t_{}", Uuid::new_v4().simple());
    if let Err(error) = sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
    {
        panic!("cannot create test database `{name}` at `{url}`: {error}");
    }
    // Closing politely is a courtesy; the database exists either way.
    let _ = conn.close().await;
    let opened = Store::open_postgres(admin.clone().database(&name)).await;
    let store = migrated(opened, up_to)
        .await
        .unwrap_or_else(|error| panic!("cannot open test database `{name}` at `{url}`: {error}"));
    Some(TestDb {
        store,
        url: database_url(&url, &name),
        cleanup: Cleanup::PostgresDatabase {
            admin: Box::new(admin),
            name,
        },
    })
}

/// `opened` with its schema brought up to date, or only up to `up_to`.
async fn migrated(
    opened: Result<Store, StoreError>,
    up_to: Option<i64>,
) -> Result<Store, StoreError> {
    let store = opened?;
    match up_to {
        None => store.migrate().await?,
        Some(version) => store.migrate_up_to(version).await?,
    }
    Ok(store)
}

/// The admin URL of the test PostgreSQL server.
pub fn postgres_admin_url() -> String {
    env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether a missing PostgreSQL fails the test rather than skipping its PostgreSQL half.
pub fn postgres_required() -> bool {
    env::var_os("CI").is_some() || env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v == "1")
}

/// Runs `sql` (one or more statements) directly, bypassing the store's use cases: for
/// tests that tamper with rows or set up states no use case makes. Returns rows affected.
/// What this store keeps in memory about the database (the audit head, cached
/// authentications and versions on SQLite) is forgotten afterwards, as the write did not
/// go through a transaction of the store.
pub async fn execute(store: &Store, sql: &str) -> Result<u64, StoreError> {
    let result = on_pool!(store.pool, |pool| {
        sqlx::raw_sql(sql)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    });
    store.shared.forget();
    Ok(result?)
}

/// The attack a witnessed checkpoint exists to catch (issue 9, item 6): past the delete
/// trigger, removes the events after `keep`, the Merkle nodes covering any of them and
/// every checkpoint of a larger tree, and rewinds the audit and Merkle heads (and the
/// fold cursor, with the per-worker index past `keep`), so that the trail, its tree and
/// its checkpoints verify clean on their own.
pub async fn truncate_audit_trail(store: &Store, keep: u64) -> Result<(), StoreError> {
    execute(store, &truncate_sql(store.backend(), keep)).await?;
    Ok(())
}

/// The statements of [`truncate_audit_trail`], to run elsewhere ([`execute_outside`]).
pub fn truncate_sql(backend: crate::Backend, keep: u64) -> String {
    // PostgreSQL's DROP TRIGGER names the table the trigger is on; SQLite's has no ON.
    let drop_trigger = match backend {
        crate::Backend::Sqlite => "DROP TRIGGER IF EXISTS audit_events_no_delete;",
        crate::Backend::Postgres => {
            "DROP TRIGGER IF EXISTS audit_events_no_delete ON audit_events;"
        }
    };
    format!(
        "{drop_trigger} \
         DELETE FROM audit_events WHERE seq > {keep}; \
         DELETE FROM audit_worker_events WHERE seq > {keep}; \
         UPDATE metric_fold SET seq = {keep} WHERE id = 1 AND seq > {keep}; \
         DELETE FROM audit_merkle_nodes \
         WHERE (idx + 1) * (CAST(1 AS BIGINT) << CAST(level AS INTEGER)) > {keep}; \
         DELETE FROM audit_checkpoints WHERE tree_size > {keep}; \
         UPDATE audit_merkle_head SET tree_size = {keep} WHERE id = 1; \
         UPDATE audit_head SET seq = {keep}, \
         hash = (SELECT hash FROM audit_events WHERE seq = {keep}) WHERE id = 1;"
    )
}

/// Runs `sql` on the database at `url` over a connection of its own, as another process
/// would: unlike [`execute`], no store of this process learns of it.
pub async fn execute_outside(url: &str, sql: &str) -> Result<u64, StoreError> {
    let rows = if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let rows = sqlx::raw_sql(sql).execute(&mut conn).await?.rows_affected();
        conn.close().await?;
        rows
    } else {
        let mut conn = PgConnection::connect(url).await?;
        let rows = sqlx::raw_sql(sql).execute(&mut conn).await?.rows_affected();
        conn.close().await?;
        rows
    };
    Ok(rows)
}

/// Runs one query and returns every cell as text. Each selected column must be TEXT or
/// NULL: cast the others in the query (`CAST(x AS TEXT)`, `lower(hex(b))` on SQLite,
/// `encode(b, 'hex')` on PostgreSQL).
pub async fn fetch_text(store: &Store, sql: &str) -> Result<Vec<Vec<Option<String>>>, StoreError> {
    fn cells<R: Row>(row: &R) -> Result<Vec<Option<String>>, sqlx::Error>
    where
        usize: sqlx::ColumnIndex<R>,
        for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        (0..row.len()).map(|i| row.try_get(i)).collect()
    }
    let rows = on_pool!(store.pool, |pool| {
        sqlx::query(sql)
            .fetch_all(pool)
            .await?
            .iter()
            .map(cells)
            .collect::<Result<_, _>>()?
    });
    Ok(rows)
}

impl TestDb {
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The database's URL, with the admin URL's credentials and options.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `admin_url` with its database name replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    // `query` is empty or starts with its `?`.
    let (base, query) = admin_url.split_at(admin_url.find('?').unwrap_or(admin_url.len()));
    // The path starts after the authority (`scheme://authority/path`).
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{root}/{name}{query}")
}

impl Deref for TestDb {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    // Best effort: a leftover file in the temp directory harms nothing.
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::PostgresDatabase { admin, name } => {
                // Drop cannot await, and the test's runtime cannot be blocked on from
                // inside itself, so the DROP runs on a thread with a runtime of its own.
                let admin = (**admin).clone();
                let name = name.clone();
                let dropped = std::thread::spawn(move || drop_database(&admin, &name)).join();
                if let Ok(Err(error)) = dropped {
                    warn(&format!("could not drop test database: {error}"));
                }
            }
        }
    }
}

fn drop_database(admin: &PgConnectOptions, name: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut conn = PgConnection::connect_with(admin)
            .await
            .map_err(|e| e.to_string())?;
        // FORCE ends the connections the test's pool still holds (PostgreSQL 13+).
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("`{name}`: {e}"))?;
        let _ = conn.close().await;
        Ok(())
    })
}

fn postgres_unreachable(url: &str, error: &sqlx::Error) {
    if postgres_required() {
        panic!(
            "PostgreSQL not reachable at {url} ({error}); CI or {REQUIRE_POSTGRES_VAR}=1 \
             requires the PostgreSQL suite: start PostgreSQL or set {POSTGRES_URL_VAR}"
        );
    }
    static SKIP_NOTICE: Once = Once::new();
    SKIP_NOTICE.call_once(|| {
        warn(&format!(
            "PostgreSQL not reachable at {url}; set {POSTGRES_URL_VAR} or start PostgreSQL \
             to run the PostgreSQL suite"
        ));
    });
}

/// Writes to the process's stderr directly: the test harness captures `eprintln!`, and
/// would hide a skip notice that the person running the tests needs to see.
fn warn(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// Watches the group committer of `store` (see [`Store::record_event`]): tests check that
/// it ends once the last clone of the store is dropped.
#[derive(Debug)]
pub struct CommitterProbe(std::sync::Weak<()>);

/// A probe on the committer task `store` runs now (none before its first `record_event`).
pub fn committer_probe(store: &Store) -> CommitterProbe {
    CommitterProbe(store.committer.liveness())
}

impl CommitterProbe {
    /// Whether the committer task is still running.
    pub fn is_running(&self) -> bool {
        self.0.strong_count() > 0
    }
}
