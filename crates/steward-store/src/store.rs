//! `Store`: the cheap-clone handle over one SQLite or PostgreSQL pool. Connecting, the
//! embedded migrations, and write transactions (`Tx`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, Postgres, Sqlite, Transaction};
use tokio::sync::{OwnedMappedMutexGuard, OwnedMutexGuard};

use crate::audit::{AuditHead, Pending};
use crate::error::StoreError;

/// A handle to Steward's database. Cloning is shallow: every clone shares one pool.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    /// SQLite allows one writer at a time. Writers of this process queue here, in order,
    /// instead of polling the file lock with SQLite's busy handler (which sleeps with
    /// growing back-off and gives long tail latencies under load); every store of the
    /// process on the same file shares one queue. Other processes on the same file still
    /// meet the busy timeout. The queue holds the file's writer connection. Unused on
    /// PostgreSQL.
    pub(crate) writer: Arc<tokio::sync::Mutex<WriterSlot>>,
    /// The group committer of [`Store::record_event`], shared by every clone; its task
    /// ends when the last clone is dropped.
    pub(crate) committer: Arc<crate::group_commit::Committer>,
    /// Set once by `serve --rehearsal` ([`Store::set_rehearsal`]): every event this
    /// store appends then records `data.run_mode: "rehearsal"`.
    pub(crate) rehearsal: Arc<std::sync::atomic::AtomicBool>,
    /// What this process knows exactly because it makes every write (SQLite), shared by
    /// every clone and by the write transactions.
    pub(crate) shared: Arc<Shared>,
}

/// State kept exact by the writer, for SQLite, where one process makes every write: the
/// audit head (so an append reads no head) and the write epoch (so authentication and
/// authorize's version read can be answered from memory). Unused on PostgreSQL, where
/// other instances write too.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The committed audit head, or `None` until the next write transaction reads it
    /// from the database. Only a transaction holding the writer queue reads it or sets
    /// it, and it sets it only after its commit (see [`Tx::commit`]).
    audit_head: Mutex<Option<AuditHead>>,
    /// Advanced after every write transaction that may have changed something besides
    /// the audit trail (every one but the group committer's), committed or not. A cached
    /// answer made at an epoch is exact while the epoch has not moved: it was read from
    /// the database after the epoch was read, and every change since moved the epoch
    /// before its use case returned.
    epoch: AtomicU64,
    /// Advanced like `epoch`, but only after a write transaction that may have changed
    /// `tokens` or `principals` (what authentication reads): the writer connection's
    /// update hook sets `auth_touched` for each row it changes in those tables; a
    /// transaction on any other connection counts as touching them.
    auth_epoch: AtomicU64,
    auth_touched: Arc<AtomicBool>,
    /// A write transaction on the writer connection was dropped open: the next holder
    /// of the writer queue rolls it back first.
    writer_open: AtomicBool,
    /// The last write transaction committed with `COMMIT; BEGIN IMMEDIATE` because a
    /// writer was queued: the writer connection is in a fresh transaction, which the next
    /// holder of the writer queue takes over (or, if none comes, rolls back).
    writer_begun: AtomicBool,
    /// Callers of [`Store::begin`] queued for the writer queue.
    writers_queued: std::sync::atomic::AtomicUsize,
    /// Authentication answers by secret hash, valid at their `auth_epoch`.
    pub(crate) tokens: crate::token::AuthCache,
    /// `authz_versions` answers, valid at their epoch.
    pub(crate) versions: crate::authorize::VersionCache,
}

impl Shared {
    /// The current write epoch; read it before the database read whose answer is cached.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The current epoch of what authentication reads; read it as [`Shared::epoch`].
    pub(crate) fn auth_epoch(&self) -> u64 {
        self.auth_epoch.load(Ordering::SeqCst)
    }

    /// After a write transaction: `touched_auth` when it may have changed `tokens` or
    /// `principals`.
    fn advance_epoch(&self, touched_auth: bool) {
        if touched_auth {
            self.auth_epoch.fetch_add(1, Ordering::SeqCst);
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn head(&self) -> std::sync::MutexGuard<'_, Option<AuditHead>> {
        self.audit_head
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn set_head(&self, head: Option<AuditHead>) {
        *self.head() = head;
    }

    /// Forgets every cached answer: the next write transaction reads the audit head from
    /// the database, and cached authentications and versions are stale. For writes this
    /// process did not make through a [`Tx`] (tests' raw SQL).
    #[cfg(feature = "test-support")]
    pub(crate) fn forget(&self) {
        self.set_head(None);
        self.advance_epoch(true);
    }

    /// A read of the committed head (outside any transaction) found `head`: when the
    /// cached head is another, something may have written outside this process, so the
    /// head is read again under the writer queue. A read racing a commit can find the
    /// head just before it; forgetting then costs one read and is harmless.
    pub(crate) fn observe_head(&self, head: AuditHead) {
        let mut cached = self.head();
        if cached.is_some_and(|cached| cached != head) {
            *cached = None;
            drop(cached);
            self.advance_epoch(true);
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A write transaction, from [`Store::begin`]. Dropping it without [`Tx::commit`] rolls
/// it back.
///
/// The backend's transaction is private so that `Store::begin` is the only way to make
/// one: on SQLite that guarantees `BEGIN IMMEDIATE`, which `append_event` relies on.
///
/// Audit events appended in the transaction are chained at once (their `seq` and hash
/// are known) but written at commit, in one multi-row insert with one head update.
#[derive(Debug)]
pub struct Tx<'c> {
    pub(crate) conn: TxConn<'c>,
    /// What a write transaction holds until it ends; `None` for a read transaction
    /// (`begin_read`), which cannot append.
    pub(crate) _writer: Option<Writer>,
    /// Events appended in this transaction are made under a rehearsal.
    pub(crate) rehearsal: bool,
}

/// The write side of a [`Tx`].
#[derive(Debug)]
pub(crate) struct Writer {
    /// SQLite on the pool (an in-memory database): the in-process writer queue's guard,
    /// held until the transaction ends. On a file, [`WriterTx`] holds it.
    _queue: Option<OwnedMutexGuard<WriterSlot>>,
    /// SQLite, where this process knows the head and the epoch exactly.
    sqlite: bool,
    /// The transaction runs on the writer connection, whose update hook tells whether it
    /// touched what authentication reads.
    hooked: bool,
    shared: Arc<Shared>,
    /// The audit events this transaction appended, from its first append on.
    pub(crate) audit: Option<Pending>,
    /// Only audit events are written (the group committer): the epoch stays.
    audit_only: bool,
    /// Row writes waiting for the commit's round trip ([`Tx::defer_write`]).
    pub(crate) deferred: Deferred,
}

/// Row writes that go in the commit's round trip on SQLite's writer connection, in order:
/// each pushes one statement that changes one row. The last may be guarded: it must change
/// exactly one row, else the transaction fails with `conflict`.
#[derive(Default)]
pub(crate) struct Deferred {
    pub(crate) writes: Vec<DeferredWrite>,
    pub(crate) conflict: Option<StoreError>,
}

pub(crate) type DeferredWrite = Box<dyn for<'q> FnOnce(&mut sqlx::QueryBuilder<'q, Sqlite>) + Send>;

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("writes", &self.writes.len())
            .field("conflict", &self.conflict)
            .finish()
    }
}

impl Writer {
    /// SQLite (the writer queue is held): the committed head this process knows.
    pub(crate) fn cached_head(&self) -> Option<AuditHead> {
        self.sqlite.then(|| *self.shared.head()).flatten()
    }

    /// After a failed audit write: the head is read from the database next time.
    pub(crate) fn forget_head(&self) {
        self.shared.set_head(None);
    }
}

/// What the writer queue of a SQLite file guards: the one connection every write
/// transaction of this process runs on, opened on first use.
///
/// Not a pooled connection: a pool pings a connection's thread each time it is returned
/// and hands out whichever connection is idle; the writer keeps one connection (one
/// thread, its statement cache warm) and pays one round trip for `BEGIN IMMEDIATE`
/// and one for `COMMIT` (BENCHMARKS.md, "The write path").
#[derive(Debug, Default)]
pub(crate) struct WriterSlot {
    /// How to open the connection; `None` for an in-memory database, whose only
    /// connection is the pool's.
    options: Option<SqliteConnectOptions>,
    conn: Option<SqliteConnection>,
}

/// A write transaction on the writer connection, holding the writer queue. Dropped
/// while open, it is rolled back before the next write transaction begins.
#[derive(Debug)]
pub(crate) struct WriterTx {
    conn: OwnedMappedMutexGuard<WriterSlot, SqliteConnection>,
    /// `BEGIN IMMEDIATE` ran and neither `COMMIT` nor `ROLLBACK` has succeeded.
    pub(crate) open: bool,
    queue: Arc<tokio::sync::Mutex<WriterSlot>>,
    shared: Arc<Shared>,
}

impl std::ops::Deref for WriterTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriterTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl WriterTx {
    /// Whether another writer is queued for the writer queue now.
    pub(crate) fn writers_queued(&self) -> bool {
        self.shared.writers_queued.load(Ordering::SeqCst) > 0
    }

    /// This transaction committed and began the next one in the same round trip.
    pub(crate) fn begun_next(&self) {
        self.shared.writer_begun.store(true, Ordering::SeqCst);
    }

    async fn finish(&mut self, statement: &'static str) -> Result<(), sqlx::Error> {
        self.conn.execute(statement).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for WriterTx {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // Whoever takes the queue next rolls back first: a task spawned now, so that the
        // write lock is not kept until the next write, or the next write transaction.
        self.shared.writer_open.store(true, Ordering::SeqCst);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (queue, shared) = (self.queue.clone(), self.shared.clone());
            runtime.spawn(async move {
                let mut slot = queue.lock_owned().await;
                if let Some(conn) = slot.conn.as_mut() {
                    roll_back_if_left_open(conn, &shared).await;
                }
            });
        }
    }
}

/// Rolls back the transaction a dropped [`WriterTx`] left open on `conn`, if any.
async fn roll_back_if_left_open(conn: &mut SqliteConnection, shared: &Shared) {
    if shared.writer_open.swap(false, Ordering::SeqCst) {
        // Fails only if SQLite rolled back already (after an I/O error).
        let _ = conn.execute("ROLLBACK").await;
    }
}

/// A caller of [`Store::begin`] waiting for the writer queue. One that stops waiting
/// (its future dropped) may leave a transaction begun for it: a task then takes the
/// queue and ends that transaction unless a later writer took it over.
struct Queued {
    shared: Arc<Shared>,
    queue: Arc<tokio::sync::Mutex<WriterSlot>>,
    acquired: bool,
}

impl Queued {
    fn new(shared: &Arc<Shared>, queue: &Arc<tokio::sync::Mutex<WriterSlot>>) -> Queued {
        shared.writers_queued.fetch_add(1, Ordering::SeqCst);
        Queued {
            shared: shared.clone(),
            queue: queue.clone(),
            acquired: false,
        }
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.shared.writers_queued.fetch_sub(1, Ordering::SeqCst);
        if self.acquired {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (queue, shared) = (self.queue.clone(), self.shared.clone());
            runtime.spawn(async move {
                let mut slot = queue.lock_owned().await;
                if let Some(conn) = slot.conn.as_mut()
                    && shared.writer_begun.swap(false, Ordering::SeqCst)
                {
                    let _ = conn.execute("ROLLBACK").await;
                }
            });
        }
    }
}

#[derive(Debug)]
pub(crate) enum TxConn<'c> {
    Sqlite(Transaction<'c, Sqlite>),
    /// SQLite on a file: a write transaction on the writer connection.
    SqliteWriter(WriterTx),
    Postgres(Transaction<'c, Postgres>),
}

/// Runs one statement on the store's pool, whichever backend it is: `on_pool!(self.pool,
/// |pool| sqlx::query_as::<_, Row>(SQL).bind(a).fetch_optional(pool).await)`.
///
/// The body is written once and expands into both arms of the `match`, where `pool` is a
/// `&SqlitePool` in one and a `&PgPool` in the other (sqlx's executors are typed per
/// database, so the arms differ in types only). The statement therefore has one text and
/// one bind chain: numbered `$N` placeholders (sqlx 0.8 binds them on SQLite too),
/// `CAST(x AS TEXT)` to read a JSONB column as text, `Json<T>` to bind one, and
/// [`Tx::for_update`] for row locks. The body may use `?`; whatever it evaluates to must
/// have the same type in both arms (decode rows with `#[derive(sqlx::FromRow)]` structs,
/// take `.rows_affected()` inside).
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match &$pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// [`on_pool!`] for a [`Tx`]: `on_tx!(tx, |conn| sqlx::query(SQL).bind(a)
/// .execute(&mut **conn).await?.rows_affected())`, with `conn` the backend's transaction.
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut $tx.conn {
            $crate::store::TxConn::Sqlite($c) => $body,
            $crate::store::TxConn::SqliteWriter($c) => $body,
            $crate::store::TxConn::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_tx;

/// One statement and its binds, in order, run by `$run` in a [`Tx`]:
/// `in_tx!(tx, fetch_optional, sqlx::query_as::<_, Row>(SQL), a, b)` is `on_tx!(tx, |conn|
/// sqlx::query_as::<_, Row>(SQL).bind(a).bind(b).fetch_optional(&mut **conn).await?)`.
/// `execute` gives the rows affected (the backends' results differ in type). Errors become
/// a [`StoreError`], which `?` then converts as the caller's error type needs.
macro_rules! in_tx {
    ($tx:expr, execute, $query:expr $(, $bind:expr)* $(,)?) => {
        $crate::store::on_tx!($tx, |conn| $query$(.bind($bind))*
            .execute(&mut **conn)
            .await
            .map_err($crate::error::StoreError::from)?
            .rows_affected())
    };
    ($tx:expr, $run:ident, $query:expr $(, $bind:expr)* $(,)?) => {
        $crate::store::on_tx!($tx, |conn| $query$(.bind($bind))*
            .$run(&mut **conn)
            .await
            .map_err($crate::error::StoreError::from)?)
    };
}
pub(crate) use in_tx;

/// [`in_tx!`] on the store's pool, for reads: `in_pool!(self.pool, fetch_all, query, binds…)`.
macro_rules! in_pool {
    ($pool:expr, $run:ident, $query:expr $(, $bind:expr)* $(,)?) => {
        $crate::store::on_pool!($pool, |pool| $query$(.bind($bind))*
            .$run(pool)
            .await
            .map_err($crate::error::StoreError::from)?)
    };
}
pub(crate) use in_pool;

/// The writer queue and writer state of every SQLite file open in this process, so that
/// stores opened on one file (a second instance in tests) queue together and share one
/// exact audit head and write epoch. Entries die with the last store of their file.
type FileWriters = HashMap<PathBuf, (Weak<tokio::sync::Mutex<WriterSlot>>, Weak<Shared>)>;
static FILE_WRITERS: Mutex<Option<FileWriters>> = Mutex::new(None);

/// The writer queue and state of the SQLite file at `path` (created by now), shared with
/// every other store of this process on the same file; a new queue opens its writer
/// connection with `options`.
fn file_writer(
    path: &Path,
    options: &SqliteConnectOptions,
) -> (Arc<tokio::sync::Mutex<WriterSlot>>, Arc<Shared>) {
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut files = FILE_WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
    let files = files.get_or_insert_with(HashMap::new);
    files.retain(|_, (writer, shared)| writer.strong_count() > 0 && shared.strong_count() > 0);
    if let Some((writer, shared)) = files.get(&key)
        && let (Some(writer), Some(shared)) = (writer.upgrade(), shared.upgrade())
    {
        return (writer, shared);
    }
    let writer = Arc::new(tokio::sync::Mutex::new(WriterSlot {
        options: Some(options.clone()),
        conn: None,
    }));
    let shared = Arc::<Shared>::default();
    files.insert(key, (Arc::downgrade(&writer), Arc::downgrade(&shared)));
    (writer, shared)
}

/// How long a SQLite writer waits for the write lock before failing with "database is
/// locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens the database at `url` and brings its schema up to date.
    ///
    /// - `sqlite://path/to/steward.db` (or `sqlite:path`): created if missing; WAL,
    ///   `synchronous = NORMAL` (`?synchronous=full` for an fsync per commit), a 5 s busy
    ///   timeout, foreign keys on (see the crate docs on durability). `sqlite::memory:`
    ///   gives a private in-memory database on a single connection, for experiments.
    /// - `postgres://…` or `postgresql://…`: the database must exist.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        let store = match scheme {
            "sqlite" => {
                let (url, durability) = take_synchronous(url)?;
                let options = SqliteConnectOptions::from_str(&url)?;
                Store::open_sqlite(options, is_sqlite_memory(&url), durability).await?
            }
            "postgres" | "postgresql" => {
                Store::open_postgres(PgConnectOptions::from_str(url)?).await?
            }
            _ => {
                return Err(StoreError::UnsupportedUrl {
                    scheme: scheme.to_owned(),
                });
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A store on SQLite whose schema is left as it is.
    pub(crate) async fn open_sqlite(
        options: SqliteConnectOptions,
        in_memory: bool,
        durability: SqliteDurability,
    ) -> Result<Store, StoreError> {
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .synchronous(match durability {
                SqliteDurability::Normal => SqliteSynchronous::Normal,
                SqliteDurability::Full => SqliteSynchronous::Full,
            });
        let filename = options.get_filename().to_path_buf();
        let pool = if in_memory {
            // Every connection to `:memory:` is its own database, so keep exactly one,
            // forever.
            SqlitePoolOptions::new()
                .min_connections(1)
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options.clone())
                .await?
        } else {
            // No ping before each acquire: a file connection cannot drop like a socket, and
            // the ping is a round trip to the connection's thread, as costly as a point
            // read (without it `POST /v1/authorize` serves 18 % more, BENCHMARKS.md).
            SqlitePoolOptions::new()
                .test_before_acquire(false)
                .connect_with(options.clone().journal_mode(SqliteJournalMode::Wal))
                .await?
        };
        let (writer, shared) = if in_memory {
            (Arc::default(), Arc::default())
        } else {
            file_writer(&filename, &options.journal_mode(SqliteJournalMode::Wal))
        };
        Ok(Store {
            pool: Pool::Sqlite(pool),
            writer,
            committer: Arc::default(),
            rehearsal: Arc::default(),
            shared,
        })
    }

    /// A store on PostgreSQL whose schema is left as it is.
    pub(crate) async fn open_postgres(options: PgConnectOptions) -> Result<Store, StoreError> {
        let pool = PgPoolOptions::new().connect_with(options).await?;
        Ok(Store {
            pool: Pool::Postgres(pool),
            writer: Arc::default(),
            committer: Arc::default(),
            rehearsal: Arc::default(),
            shared: Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        match &self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether answers that only writes change may be kept in memory at the write epoch:
    /// on SQLite, where this process makes every write (through [`Store::begin`]);
    /// never on PostgreSQL, where other instances write too.
    pub(crate) fn cache_answers(&self) -> bool {
        matches!(self.pool, Pool::Sqlite(_))
    }

    /// Checks that the database answers (`SELECT 1`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self.pool, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Starts a write transaction.
    ///
    /// SQLite: `BEGIN IMMEDIATE`, which takes the database's write lock now rather than
    /// at the first write. That serializes writers from the start (waiting up to the busy
    /// timeout), so the audit head read by `append_event` cannot change before the
    /// transaction commits, and a reader never fails to upgrade to a writer halfway.
    /// PostgreSQL: `BEGIN` (read committed); `append_event` locks the head row itself.
    pub async fn begin(&self) -> Result<Tx<'static>, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                let mut queued = Queued::new(&self.shared, &self.writer);
                let mut slot = self.writer.clone().lock_owned().await;
                queued.acquired = true;
                drop(queued);
                if slot.options.is_none() {
                    let tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                    return Ok(self.write_tx(TxConn::Sqlite(tx), Some(slot)));
                }
                if pool.is_closed() {
                    return Err(sqlx::Error::PoolClosed.into());
                }
                if slot.conn.is_none() {
                    self.shared.writer_begun.store(false, Ordering::SeqCst);
                    self.shared.writer_open.store(false, Ordering::SeqCst);
                    slot.conn = Some(self.open_writer(&slot).await?);
                }
                let Ok(mut conn) = OwnedMutexGuard::try_map(slot, |slot| slot.conn.as_mut()) else {
                    return Err(sqlx::Error::PoolClosed.into());
                };
                roll_back_if_left_open(&mut conn, &self.shared).await;
                self.shared.auth_touched.store(false, Ordering::SeqCst);
                if !self.shared.writer_begun.swap(false, Ordering::SeqCst) {
                    conn.execute("BEGIN IMMEDIATE").await?;
                }
                let writer = WriterTx {
                    conn,
                    open: true,
                    queue: self.writer.clone(),
                    shared: self.shared.clone(),
                };
                self.write_tx(TxConn::SqliteWriter(writer), None)
            }
            Pool::Postgres(pool) => self.write_tx(TxConn::Postgres(pool.begin().await?), None),
        })
    }

    /// Opens the writer connection of a SQLite file, with an update hook that records
    /// whether a transaction changed what authentication reads.
    async fn open_writer(&self, slot: &WriterSlot) -> Result<SqliteConnection, StoreError> {
        let Some(options) = &slot.options else {
            return Err(sqlx::Error::PoolClosed.into());
        };
        let mut conn = options.connect().await?;
        let touched = self.shared.auth_touched.clone();
        conn.lock_handle().await?.set_update_hook(move |change| {
            if matches!(change.table, "tokens" | "principals") {
                touched.store(true, Ordering::SeqCst);
            }
        });
        Ok(conn)
    }

    /// A write transaction on `conn`; `queue` is the writer queue's guard when `conn` is
    /// not the writer connection that holds it (SQLite in memory).
    fn write_tx(
        &self,
        conn: TxConn<'static>,
        queue: Option<OwnedMutexGuard<WriterSlot>>,
    ) -> Tx<'static> {
        let writer = Writer {
            sqlite: !matches!(conn, TxConn::Postgres(_)),
            _queue: queue,
            hooked: matches!(conn, TxConn::SqliteWriter(_)),
            shared: self.shared.clone(),
            audit: None,
            audit_only: false,
            deferred: Deferred::default(),
        };
        Tx {
            conn,
            _writer: Some(writer),
            rehearsal: self.is_rehearsal(),
        }
    }

    /// Waits for checked-out connections to come back and closes the pool. Other clones
    /// of this store stop working too.
    pub async fn close(&self) {
        on_pool!(self.pool, |pool| pool.close().await);
        if let Pool::Sqlite(_) = &self.pool {
            let conn = self.writer.lock().await.conn.take();
            if let Some(conn) = conn {
                // Closing only checkpoints and frees; nothing is left to fail.
                let _ = conn.close().await;
            }
        }
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Applies the embedded migrations up to `version` only, as an older Steward would
    /// have left the database (tests of upgrades).
    #[cfg(feature = "test-support")]
    pub(crate) async fn migrate_up_to(&self, version: i64) -> Result<(), StoreError> {
        let up_to = |all: &Migrator| {
            let mut migrator = Migrator::DEFAULT;
            migrator.migrations = all
                .iter()
                .filter(|migration| migration.version <= version)
                .cloned()
                .collect::<Vec<_>>()
                .into();
            migrator
        };
        match &self.pool {
            Pool::Sqlite(pool) => up_to(&SQLITE_MIGRATIONS).run(pool).await?,
            Pool::Postgres(pool) => up_to(&POSTGRES_MIGRATIONS).run(pool).await?,
        }
        Ok(())
    }
}

impl Tx<'_> {
    /// The lock clause that ends a `SELECT` of a row this transaction will change:
    /// ` FOR UPDATE` on PostgreSQL; nothing on SQLite, which has no row locks and where
    /// the write transaction already holds the database's write lock (`BEGIN IMMEDIATE`).
    pub(crate) fn for_update(&self) -> &'static str {
        match self.conn {
            TxConn::Sqlite(_) | TxConn::SqliteWriter(_) => "",
            TxConn::Postgres(_) => " FOR UPDATE",
        }
    }

    /// ` FOR SHARE` on PostgreSQL (the row must not change until this transaction ends,
    /// though it does not change it); nothing on SQLite, for the reason of
    /// [`Tx::for_update`].
    pub(crate) fn for_share(&self) -> &'static str {
        match self.conn {
            TxConn::Sqlite(_) | TxConn::SqliteWriter(_) => "",
            TxConn::Postgres(_) => " FOR SHARE",
        }
    }

    /// ` FOR UPDATE OF {alias}` on PostgreSQL: [`Tx::for_update`] for a join that locks
    /// only the rows of one of its tables; nothing on SQLite.
    pub(crate) fn for_update_of(&self, alias: &str) -> String {
        match self.conn {
            TxConn::Sqlite(_) | TxConn::SqliteWriter(_) => String::new(),
            TxConn::Postgres(_) => format!(" FOR UPDATE OF {alias}"),
        }
    }

    /// Holds `write` for the commit's round trip, on SQLite's writer connection: the
    /// statement then goes just before the audit head's update, a round trip fewer per use
    /// case. A `conflict` guards it: the head moves only if the statement changed exactly
    /// one row (`changes() = 1`), otherwise the transaction fails with `conflict`; a
    /// guarded write is the last one held. Gives `write` back elsewhere, or after a guarded
    /// write: the caller then writes now. Nothing in the transaction sees a held write
    /// before the commit.
    pub(crate) fn defer_write(
        &mut self,
        write: DeferredWrite,
        conflict: Option<StoreError>,
    ) -> Result<(), DeferredWrite> {
        match (&self.conn, &mut self._writer) {
            (TxConn::SqliteWriter(_), Some(writer)) if writer.deferred.conflict.is_none() => {
                writer.deferred.writes.push(write);
                writer.deferred.conflict = conflict;
                Ok(())
            }
            _ => Err(write),
        }
    }

    /// Runs the held writes now (the transaction appended no event to carry them).
    async fn write_deferred(&mut self) -> Result<(), StoreError> {
        let Deferred { writes, conflict } = self
            ._writer
            .as_mut()
            .map(|writer| std::mem::take(&mut writer.deferred))
            .unwrap_or_default();
        let TxConn::SqliteWriter(writer) = &mut self.conn else {
            return Ok(());
        };
        let last = writes.len().saturating_sub(1);
        let mut conflict = conflict;
        for (at, write) in writes.into_iter().enumerate() {
            let mut query = sqlx::QueryBuilder::new("");
            write(&mut query);
            let changed = query.build().execute(&mut **writer).await?.rows_affected();
            if at == last
                && changed != 1
                && let Some(conflict) = conflict.take()
            {
                return Err(conflict);
            }
        }
        Ok(())
    }

    /// Marks a transaction that writes audit events only (the group committer), so
    /// its commit leaves the write epoch where it is.
    pub(crate) fn audit_only(&mut self) {
        if let Some(writer) = &mut self._writer {
            writer.audit_only = true;
        }
    }

    /// Writes the audit events appended in this transaction (one multi-row insert, one
    /// head update; on SQLite's writer connection in the commit's round trip), then
    /// commits. SQLite: after the commit, and before the writer queue
    /// is released, the in-memory head becomes the transaction's last event, and the
    /// write epoch advances (also when the commit failed: it may have changed rows).
    pub async fn commit(mut self) -> Result<(), StoreError> {
        let committed = crate::audit::flush(&mut self, true).await?;
        if !committed {
            self.write_deferred().await?;
        }
        let Tx { conn, _writer, .. } = self;
        // The writer connection goes back to the queue only after the head and the epoch
        // are updated (when `_on_writer` drops).
        let (result, _on_writer) = match conn {
            TxConn::Sqlite(tx) => (tx.commit().await, None),
            TxConn::SqliteWriter(writer) if committed => (Ok(()), Some(writer)),
            TxConn::SqliteWriter(mut writer) => (writer.finish("COMMIT").await, Some(writer)),
            TxConn::Postgres(tx) => (tx.commit().await, None),
        };
        if let Some(writer) = _writer {
            if writer.sqlite {
                match (&result, &writer.audit) {
                    (Ok(()), Some(pending)) => writer.shared.set_head(Some(pending.head())),
                    (Ok(()), None) => {}
                    (Err(_), _) => writer.shared.set_head(None),
                }
            }
            if !writer.audit_only {
                let touched_auth =
                    !writer.hooked || writer.shared.auth_touched.load(Ordering::SeqCst);
                writer.shared.advance_epoch(touched_auth);
            }
        }
        Ok(result?)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.conn {
            TxConn::Sqlite(tx) => tx.rollback().await?,
            TxConn::SqliteWriter(mut writer) => writer.finish("ROLLBACK").await?,
            TxConn::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// The current time in unix milliseconds. The store is a shell: it reads the clock once
/// per use case and uses that value for every row and the audit event it writes.
pub(crate) fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// A new row id: a UUIDv7, so ids sort by creation time and index inserts stay local.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// How hard SQLite works to make a commit durable (see the crate docs on durability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteDurability {
    /// WAL with `synchronous = NORMAL`: a commit survives a crash of Steward (`kill -9`);
    /// the last commits before a power loss or kernel crash may be lost.
    #[default]
    Normal,
    /// WAL with `synchronous = FULL`: one fsync per commit; survives power loss too.
    Full,
}

/// Removes Steward's own `synchronous=normal|full` parameter from a SQLite URL (sqlx does
/// not know it) and returns the rest of the URL with the durability it asked for.
fn take_synchronous(url: &str) -> Result<(String, SqliteDurability), StoreError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut durability = SqliteDurability::default();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("synchronous", value)) => {
                durability = match value.to_ascii_lowercase().as_str() {
                    "normal" => SqliteDurability::Normal,
                    "full" => SqliteDurability::Full,
                    other => {
                        return Err(StoreError::InvalidUrl {
                            message: format!(
                                "`synchronous={other}`: expected `synchronous=normal` or `synchronous=full`"
                            ),
                        });
                    }
                }
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, durability))
}

fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The migrations, compiled into the binary from `migrations/{sqlite,postgres}`: every
/// file of the directory, so none can be forgotten. A migration, once released, never
/// changes (sqlx checks each one's checksum); changes are new versions.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[cfg(test)]
mod tests;
