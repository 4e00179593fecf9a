//! Group commit for [`Store::record_event`]: audit events of acts that change nothing else
//! (authorize decisions, telemetry) are appended many to a transaction, so that one
//! commit (one fsync with SQLite `synchronous=full`) makes a whole batch durable.
//!
//! # How it works
//!
//! Each [`Store`] (all its clones together) has at most one committer task, spawned on the
//! first `record_event`. A caller encodes its event ([`Prepared`]: canonical JSON of the
//! data, the body bytes the hash covers), sends it on a bounded channel and waits for its
//! answer. The committer takes whatever is queued, up to [`MAX_BATCH`] events, without
//! waiting for more: an idle store commits a lone event at once, a busy one commits large
//! batches. For each batch it opens one transaction with [`Store::begin`] (SQLite: the
//! in-process writer queue and `BEGIN IMMEDIATE`, the head from memory; PostgreSQL:
//! `audit_head … FOR UPDATE`), takes the head, chains the events in arrival order, inserts
//! them with multi-row INSERTs ([`insert`], which also writes every use case's events at
//! its commit), advances the head once and commits; then it answers every caller with its
//! sealed entry.
//!
//! # Invariants
//!
//! - A caller gets its entry only after the transaction holding it committed, so an
//!   acknowledged event is exactly as durable as any other commit.
//! - The committer serializes with [`append_event`](crate::append_event) through the same
//!   lock every appender takes, so `seq` stays gap-free and the chain unbroken.
//! - A failed batch rolls back entirely: the head does not move, so the chain is intact.
//!   When a statement fails (an event the database refuses), the batch is retried one
//!   event per transaction, so only the refused event's caller gets its error. When the
//!   transaction cannot begin or commit, every caller of the batch gets the error.
//! - The committer holds the database pool but not the channel's sending side: when the
//!   last clone of the `Store` is dropped, the channel closes and the task ends after
//!   answering what was queued.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};
use steward_audit::{AuditEntry, Hash, PreparedBody};
use tokio::sync::{mpsc, oneshot};

use crate::audit::{
    AuditHead, INSERT_EVENTS, NewEvent, SELECT_HEAD, append_prepared, data_cast, head_moved,
    seq_i64, take_head,
};
use crate::error::StoreError;
use crate::store::{Deferred, Store, Tx, TxConn, WriterTx, on_tx};

/// The most events one transaction commits. Also bounds the work a caller waits behind.
pub const MAX_BATCH: usize = 1024;

/// Events waiting for the committer; a caller beyond this waits to enqueue.
const QUEUE: usize = 2 * MAX_BATCH;

/// Rows per INSERT statement, largest first; a batch is split greedily into these sizes so
/// that only a handful of distinct statements exist (each prepared once per connection
/// and cached). 256 rows × 13 columns = 3 328 bind variables, far below SQLite's 32 766
/// and PostgreSQL's 65 535.
const CHUNKS: [usize; 5] = [256, 64, 16, 4, 1];

/// The per-store handle on the committer: the sending side of its queue, created (and the
/// task spawned) on first use, and again if the task's runtime has gone away.
#[derive(Debug, Default)]
pub(crate) struct Committer {
    slot: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    sender: mpsc::Sender<Request>,
    /// Alive exactly as long as the committer task.
    alive: Weak<()>,
}

#[derive(Debug)]
struct Request {
    event: Prepared,
    reply: oneshot::Sender<Result<AuditEntry, StoreError>>,
}

/// An event with everything computed that does not depend on its place in the chain.
#[derive(Debug)]
pub(crate) struct Prepared {
    event: NewEvent,
    level: Option<u8>,
    data_text: String,
    pub(crate) body: PreparedBody,
}

/// Where an event landed in the chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub(crate) seq: u64,
    pub(crate) prev_hash: Hash,
    pub(crate) hash: Hash,
}

/// A batch's failure: `refused` when an INSERT or the head update failed (the database
/// refused something in the batch), not beginning the transaction or reading the head
/// (nothing was tried) or the commit itself.
#[derive(Debug)]
struct BatchError {
    refused: bool,
    error: StoreError,
}

impl Prepared {
    fn new(mut event: NewEvent, rehearsal: bool) -> Prepared {
        crate::audit::record_context(&mut event, rehearsal);
        Prepared::encode(event)
    }

    /// Encodes an event whose channel, run mode and personal values are already
    /// recorded in its data.
    pub(crate) fn encode(event: NewEvent) -> Prepared {
        let level = event.level.map(u8::from);
        let data_text = steward_audit::canonical_json(&event.data);
        let body = PreparedBody::new(
            event.ts_ms,
            &event.event_type,
            &event.actor,
            &event.subject,
            level,
            &data_text,
        );
        Prepared {
            event,
            level,
            data_text,
            body,
        }
    }

    /// The entry this event is at `link`, leaving the event to be written.
    pub(crate) fn entry(&self, link: Link) -> AuditEntry {
        sealed(self.event.clone(), self.level, link)
    }

    fn seal(self, link: Link) -> AuditEntry {
        sealed(self.event, self.level, link)
    }
}

/// The entry `event` (of level `level`) is at `link`.
fn sealed(event: NewEvent, level: Option<u8>, link: Link) -> AuditEntry {
    AuditEntry {
        seq: link.seq,
        ts_ms: event.ts_ms,
        event_type: event.event_type,
        actor: event.actor,
        subject: event.subject,
        level,
        data: event.data,
        prev_hash: link.prev_hash,
        hash: link.hash,
    }
}

impl Committer {
    /// The queue of the running committer, spawning one on the current runtime if there
    /// is none or the last one has ended (its runtime shut down).
    fn sender(&self, store: &Store) -> mpsc::Sender<Request> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = slot.as_ref()
            && !running.sender.is_closed()
            && running.alive.strong_count() > 0
        {
            return running.sender.clone();
        }
        let (sender, receiver) = mpsc::channel(QUEUE);
        let alive = Arc::new(());
        *slot = Some(Running {
            sender: sender.clone(),
            alive: Arc::downgrade(&alive),
        });
        // The task's store shares the pool and the writer queue but has a committer slot
        // of its own, which it never fills: holding `self` would keep the queue open
        // forever.
        let task_store = Store {
            committer: Arc::default(),
            ..store.clone()
        };
        tokio::spawn(run(task_store, receiver, alive));
        sender
    }

    /// Whether a committer task is running for this store (tests observe its end).
    #[cfg(feature = "test-support")]
    pub(crate) fn liveness(&self) -> Weak<()> {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .map_or_else(Weak::new, |running| running.alive.clone())
    }
}

impl Store {
    /// Appends `event` through the group committer (see [`Store::record_event`]).
    pub(crate) async fn group_commit(&self, event: NewEvent) -> Result<AuditEntry, StoreError> {
        let (reply, answer) = oneshot::channel();
        let mut request = Request {
            event: Prepared::new(event, self.is_rehearsal()),
            reply,
        };
        // A second attempt covers a committer whose runtime shut down between the check
        // in `sender` and the send; a third failure means no task can run here.
        for _ in 0..2 {
            match self.committer.sender(self).send(request).await {
                Ok(()) => return answer.await.map_err(|_| StoreError::CommitterStopped)?,
                Err(mpsc::error::SendError(back)) => request = back,
            }
        }
        Err(StoreError::CommitterStopped)
    }
}

/// The committer task: commit whatever is queued, until every sender is gone.
async fn run(store: Store, mut receiver: mpsc::Receiver<Request>, alive: Arc<()>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_and_answer(&store, std::mem::take(&mut batch)).await;
        batch.reserve(MAX_BATCH);
    }
    drop(alive);
}

async fn commit_and_answer(store: &Store, batch: Vec<Request>) {
    let events: Vec<&Prepared> = batch.iter().map(|request| &request.event).collect();
    match commit_batch(store, &events).await {
        Ok(links) => {
            for (request, link) in batch.into_iter().zip(links) {
                // A caller that stopped waiting still has its event committed, like a
                // use case whose client hung up after its commit.
                let _ = request.reply.send(Ok(request.event.seal(link)));
            }
        }
        Err(BatchError { refused: true, .. }) if batch.len() > 1 => {
            // Something in the batch was refused; find out what by committing each event
            // on its own, so the other callers are not failed for it.
            for request in batch {
                let result = match commit_batch(store, &[&request.event]).await {
                    Ok(links) => match links.first() {
                        Some(&link) => Ok(request.event.seal(link)),
                        None => Err(StoreError::CommitterStopped),
                    },
                    Err(failed) => Err(failed.error),
                };
                let _ = request.reply.send(result);
            }
        }
        Err(BatchError { error, .. }) => {
            let mut requests = batch.into_iter();
            if requests.len() == 1 {
                if let Some(request) = requests.next() {
                    let _ = request.reply.send(Err(error));
                }
                return;
            }
            let error = Arc::new(error);
            let events = requests.len();
            for request in requests {
                let _ = request.reply.send(Err(StoreError::GroupCommit {
                    events,
                    source: error.clone(),
                }));
            }
        }
    }
}

/// Appends `events`, in order, in one transaction; returns where each landed.
async fn commit_batch(store: &Store, events: &[&Prepared]) -> Result<Vec<Link>, BatchError> {
    let failed = |refused| move |error| BatchError { refused, error };
    let mut tx = store.begin().await.map_err(failed(false))?;
    tx.audit_only();
    take_head(&mut tx).await.map_err(failed(false))?;
    let links = append_prepared(&mut tx, events)
        .await
        .map_err(failed(true))?;
    tx.commit().await.map_err(failed(false))?;
    Ok(links)
}

/// The rows of `events` at `links`, in [`CHUNKS`]-sized INSERTs, and the head update
/// from `from` to the last link. Every audit write goes through here: the group
/// committer's batches and the events a use case's transaction appended.
///
/// The head update goes in the first INSERT's round trip ([`HeadGuard`]), whose first
/// row's hash is `NULL`, which the table refuses, unless the update moved the head: the
/// guard aborts before anything is written. On SQLite's writer connection the row writes
/// the use case held come first, and with `commit` the last chunk ends with `COMMIT`.
/// Returns whether it committed.
pub(crate) async fn insert(
    tx: &mut Tx<'_>,
    from: AuditHead,
    events: &[&Prepared],
    links: &[Link],
    commit: bool,
) -> Result<bool, StoreError> {
    let last = match links.last() {
        Some(last) => *last,
        None => return Ok(false),
    };
    let rows = events
        .iter()
        .zip(links)
        .map(|(event, link)| Ok((*event, link, seq_i64(link.seq)?)))
        .collect::<Result<Vec<Row<'_>>, StoreError>>()?;
    let last_seq = seq_i64(last.seq)?;
    // The row writes held for the commit go first in its round trip, in order.
    let Deferred {
        writes: mut deferred,
        mut conflict,
    } = match (&tx.conn, tx._writer.as_mut()) {
        (TxConn::SqliteWriter(_), Some(writer)) if commit => std::mem::take(&mut writer.deferred),
        _ => Deferred::default(),
    };
    let deferred_rows = deferred.len() as u64;
    let guard = HeadGuard::of(&tx.conn);
    let from_seq = seq_i64(from.seq)?;
    if let TxConn::SqliteWriter(writer) = &mut tx.conn {
        // A writer is queued: begin its transaction in this round trip (it takes the
        // connection over in `Store::begin`).
        let begin_next = commit && writer.writers_queued();
        let (mut written, mut counted_twice) = (0u64, 0u64);
        for range in chunks(rows.len()) {
            let (first, end) = (range.start == 0, range.end == rows.len());
            let mut query = QueryBuilder::<Sqlite>::new("");
            if first {
                for write in deferred.drain(..) {
                    write(&mut query);
                    query.push("; ");
                }
                // A guarded held write (the last) must have changed its one row too.
                let also = if conflict.is_some() {
                    " AND changes() = 1"
                } else {
                    ""
                };
                guard.push_move(
                    &mut query,
                    (last_seq, &last.hash),
                    (from_seq, &from.hash),
                    also,
                );
            }
            let size = range.len() as u64;
            push_rows(&mut query, &rows[range], "", first.then_some(&guard));
            if end && commit {
                query.push("; COMMIT");
                // SQLite reports for a COMMIT (and a BEGIN) the changes of the last INSERT
                // before it.
                counted_twice = size;
                if begin_next {
                    query.push("; BEGIN IMMEDIATE");
                    counted_twice *= 2;
                }
            }
            let result = query.build().execute(&mut **writer).await;
            written += match result {
                Ok(done) => done.rows_affected(),
                Err(error) => {
                    let guard = first && guard_failed(&error);
                    let result = if end && begin_next {
                        committed_anyway(writer, error, last_seq, &last.hash, from).await
                    } else {
                        Err(audit_write_error(error, first, from))
                    };
                    return blame(writer, result, guard, conflict.take(), from).await;
                }
            };
        }
        if commit {
            writer.open = false;
            if begin_next {
                writer.begun_next();
            }
        }
        let expected = (events.len() as u64 + 1 + deferred_rows).saturating_add(counted_twice);
        if written != expected {
            return Err(head_moved(from));
        }
        return Ok(commit);
    }
    // Elsewhere (PostgreSQL, SQLite's in-memory database) one statement per chunk, the
    // head moved by the first, guarded the same way.
    let data_cast = data_cast(tx);
    for range in chunks(rows.len()) {
        let first = range.start == 0;
        on_tx!(tx, |conn| {
            let mut query = QueryBuilder::new("");
            if first {
                guard.push_move(
                    &mut query,
                    (last_seq, &last.hash),
                    (from_seq, &from.hash),
                    "",
                );
            }
            push_rows(&mut query, &rows[range], data_cast, first.then_some(&guard));
            query
                .build()
                .execute(&mut **conn)
                .await
                .map_err(|error| audit_write_error(error, first, from))?;
        });
    }
    Ok(false)
}

/// How a write's first INSERT moves the audit head in its own round trip: the one place
/// the backends differ. SQLite runs the guarded `UPDATE` as a statement before the INSERT
/// and reads `changes()`; PostgreSQL, one statement per round trip with parameters, makes
/// it a data-modifying `WITH`. Either way the INSERT's first row gets a `NULL` hash, which
/// the table refuses, unless the head moved.
struct HeadGuard {
    open: &'static str,
    close: &'static str,
    moved: &'static str,
}

impl HeadGuard {
    fn of(conn: &TxConn<'_>) -> HeadGuard {
        match conn {
            TxConn::Postgres(_) => HeadGuard {
                open: "WITH moved AS (",
                close: " RETURNING 1) ",
                moved: "EXISTS (SELECT 1 FROM moved)",
            },
            TxConn::Sqlite(_) | TxConn::SqliteWriter(_) => HeadGuard {
                open: "",
                close: "; ",
                moved: "changes() = 1",
            },
        }
    }

    /// The guarded head move: `UPDATE audit_head` to `to`, only where it still holds
    /// `from`, with `also` added to its `WHERE`.
    fn push_move<'q, DB>(
        &self,
        query: &mut QueryBuilder<'q, DB>,
        (to_seq, to_hash): (i64, &'q Hash),
        (from_seq, from_hash): (i64, &'q Hash),
        also: &str,
    ) where
        DB: sqlx::Database,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query
            .push(self.open)
            .push("UPDATE audit_head SET seq = ")
            .push_bind(to_seq)
            .push(", hash = ")
            .push_bind(to_hash.as_bytes().as_slice())
            .push(" WHERE id = 1 AND seq = ")
            .push_bind(from_seq)
            .push(" AND hash = ")
            .push_bind(from_hash.as_bytes().as_slice())
            .push(also)
            .push(self.close);
    }
}

/// An event to insert, at its link, with its `seq` as the database stores it.
type Row<'q> = (&'q Prepared, &'q Link, i64);

/// The INSERT of `rows`; with `guard`, the first row's hash is `NULL` unless the head moved.
fn push_rows<'q, DB>(
    query: &mut QueryBuilder<'q, DB>,
    rows: &[Row<'q>],
    data_cast: &'static str,
    guard: Option<&HeadGuard>,
) where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Json<&'q Vec<String>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query.push(INSERT_EVENTS);
    query.push(" ");
    let mut guard = guard.map(|guard| guard.moved);
    query.push_values(rows, |mut row, &(event, link, seq)| {
        row.push_bind(seq)
            .push_bind(event.event.ts_ms)
            .push_bind(event.event.event_type.as_str())
            .push_bind(event.event.actor.kind.as_str())
            .push_bind(event.event.actor.id.as_str())
            .push_bind(Json(&event.event.actor.roles))
            .push_bind(event.event.subject.task_id.as_deref())
            .push_bind(event.event.subject.worker_id.as_deref())
            .push_bind(event.event.subject.permit_id.as_deref())
            .push_bind(event.level.map(i64::from))
            .push_bind(event.data_text.as_str())
            .push_unseparated(data_cast)
            .push_bind(link.prev_hash.as_bytes().as_slice());
        // The hash last: in the first row of a guarded INSERT, `NULL` unless the head moved.
        let hash = link.hash.as_bytes().as_slice();
        match guard.take() {
            Some(moved) => {
                row.push("CASE WHEN ")
                    .push_unseparated(moved)
                    .push_unseparated(" THEN ")
                    .push_bind_unseparated(hash)
                    .push_unseparated(" END");
            }
            None => {
                row.push_bind(hash);
            }
        }
    });
}

/// An audit write's failure: the guard's `NULL` hash (in the first statement) means the
/// head update found another head.
fn audit_write_error(error: sqlx::Error, first: bool, from: AuditHead) -> StoreError {
    if first && guard_failed(&error) {
        return head_moved(from);
    }
    error.into()
}

/// The error is the head guard's: the first event row's `NULL` hash.
fn guard_failed(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error)
        if error.kind() == sqlx::error::ErrorKind::NotNullViolation
            && error.message().contains("hash"))
}

/// `…; COMMIT; BEGIN IMMEDIATE` failed: which statement did? Still in the transaction
/// (a `ROLLBACK` succeeds, and ends it), the commit did not happen. Otherwise either the
/// commit happened and only the next `BEGIN` failed, or SQLite rolled back on its own:
/// the head row says which, since only this transaction moves it to `(seq, hash)`.
async fn committed_anyway(
    writer: &mut WriterTx,
    error: sqlx::Error,
    seq: i64,
    hash: &Hash,
    from: AuditHead,
) -> Result<bool, StoreError> {
    writer.open = false;
    if sqlx::query("ROLLBACK")
        .execute(&mut **writer)
        .await
        .is_err()
        && head_is(writer, seq, hash).await?
    {
        return Ok(true);
    }
    Err(audit_write_error(error, true, from))
}

/// A failed audit write whose head guard failed (`guard`) while it carried a deferred
/// row write: when the head is still `from`, the guard failed because that write changed
/// no row, and the transaction fails with the write's `conflict`, not "head moved".
async fn blame(
    writer: &mut WriterTx,
    result: Result<bool, StoreError>,
    guard: bool,
    conflict: Option<StoreError>,
    from: AuditHead,
) -> Result<bool, StoreError> {
    let Some(conflict) = conflict.filter(|_| guard && result.is_err()) else {
        return result;
    };
    if head_is(writer, seq_i64(from.seq)?, &from.hash).await? {
        return Err(conflict);
    }
    result
}

/// Whether the head row (read on the writer connection) is at `seq` with `hash`.
async fn head_is(writer: &mut WriterTx, seq: i64, hash: &Hash) -> Result<bool, StoreError> {
    let head: Option<(i64, Vec<u8>)> = sqlx::query_as(SELECT_HEAD)
        .fetch_optional(&mut **writer)
        .await?;
    Ok(head.is_some_and(|(at, at_hash)| at == seq && at_hash == hash.as_bytes()))
}

/// The row ranges of a write of `len` rows, one INSERT each: greedily the largest of
/// [`CHUNKS`] that fits.
fn chunks(len: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let size = CHUNKS.into_iter().find(|&size| size <= len - start)?;
        start += size;
        Some(start - size..start)
    })
}
