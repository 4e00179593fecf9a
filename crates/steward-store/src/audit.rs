//! The audit trail in the database: `append_event`, which every use case calls inside its
//! own transaction, reading events back, and verifying the stored chain.

use serde_json::Value;
use steward_audit::{Actor, ActorKind, AuditEntry, EventPayload, Hash, Subject};
use steward_policy::Level;

use crate::error::StoreError;
use crate::group_commit::{Link, Prepared};
use crate::store::{Backend, Store, Tx, TxConn, in_pool, in_tx, now_ms, on_pool};

/// An audit event to append. The store assigns `seq` and the hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Unix milliseconds; the use case passes the same instant it wrote into its rows.
    pub ts_ms: i64,
    /// Dotted event type, such as `permit.approved`.
    pub event_type: String,
    pub actor: Actor,
    pub subject: Subject,
    pub level: Option<Level>,
    pub data: Value,
}

/// Records in the event's data, where the hash covers it: the actor's channel, when it has
/// one, moved there as `"channel"` (the actor's encoding has no place for it); and for an
/// event made under a rehearsal (`steward serve --rehearsal`), `"run_mode": "rehearsal"`,
/// so a rehearsal's events can never pass for production ones.
pub(crate) fn record_context(event: &mut NewEvent, rehearsal: bool) {
    if let Some(channel) = event.actor.channel.take() {
        insert_data_member(&mut event.data, "channel", Value::from(channel.as_str()));
    }
    if rehearsal {
        let mode = Value::from(crate::run_mode::RunMode::Rehearsal.as_str());
        insert_data_member(&mut event.data, "run_mode", mode);
    }
}

/// Sets member `key` of an event's `data` to `value`. Data that is not an object becomes
/// one: `null` gives `{key: value}`, any other value moves under `"value"`.
fn insert_data_member(data: &mut Value, key: &str, value: Value) {
    match data {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Null => *data = serde_json::json!({ key: value }),
        _ => {
            let old = std::mem::take(data);
            *data = serde_json::json!({ key: value, "value": old });
        }
    }
}

/// Which events [`Store::query_events`] returns. Every filter given must hold; `None`
/// filters nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    pub event_type: Option<TypeFilter>,
    pub worker_id: Option<String>,
    pub permit_id: Option<String>,
    pub task_id: Option<String>,
    pub actor_id: Option<String>,
    pub level: Option<Level>,
    /// Events stamped at or after this instant (Unix milliseconds).
    pub from_ts_ms: Option<i64>,
    /// Events stamped before this instant (Unix milliseconds, exclusive).
    pub to_ts_ms: Option<i64>,
}

/// An event type filter: one type, or every type under a dotted prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeFilter {
    /// `permit.approved`.
    Exact(String),
    /// `permit.*`: the string holds the prefix with its dot, `permit.`.
    Prefix(String),
}

/// The last entry of the trail, as the store's `audit_head` row records it. `seq` 0 and
/// [`Hash::ZERO`] for an empty trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: Hash,
}

/// Appends `event` to the trail inside `tx` and returns the sealed entry.
///
/// A `"personal"` member of `event.data` (a typed payload's `steward_audit::Personal`) is stored
/// encrypted for its subject, and the returned entry holds that stored form.
///
/// The entry's `seq` and hash are assigned now; its row is written when `tx` commits,
/// with every other event of the transaction in one multi-row insert and one head
/// update. If `tx` rolls back, so does the append, and the next append reuses the `seq`.
/// That is how `seq` stays gap-free.
pub async fn append_event(tx: &mut Tx<'_>, mut event: NewEvent) -> Result<AuditEntry, StoreError> {
    // INVARIANT: between taking the head and committing, no other transaction can
    // append. SQLite: the transaction holds the in-process writer queue and SQLite's write
    // lock (BEGIN IMMEDIATE; Store::begin is the only way to get a Tx), and the head is
    // the one this process last committed. PostgreSQL: the first append of the
    // transaction reads the head row FOR UPDATE, locked until commit; a waiting appender
    // then reads the new head.
    let head = pending(tx).await?.head;
    record_context(&mut event, tx.rehearsal);
    // Personal values are encrypted for their subject before anything is hashed or
    // written (see `personal`): the trail never holds them in plaintext. Lock order:
    // audit head, then the subject's key.
    crate::personal::seal(tx, &mut event.data, event.ts_ms).await?;
    let prepared = Prepared::encode(event);
    let seq = head.seq + 1;
    let link = Link {
        seq,
        prev_hash: head.hash,
        hash: prepared.body.hash_at(seq, &head.hash),
    };
    seq_i64(seq)?;
    let entry = prepared.entry(link);
    pending(tx).await?.push(prepared, link);
    Ok(entry)
}

/// Appends an event of `payload`'s type about no permit or worker and with no risk level
/// (an act on Steward itself: a key, a checkpoint, a principal, a session, a webhook, the
/// run mode, a prune) to the trail inside `tx`, as [`append_event`] does.
pub(crate) async fn append_unscoped_event<P: EventPayload>(
    tx: &mut Tx<'_>,
    ts_ms: i64,
    actor: Actor,
    payload: P,
) -> Result<AuditEntry, StoreError> {
    let event = NewEvent::typed(ts_ms, actor, Subject::default(), None, payload)?;
    append_event(tx, event).await
}

/// The audit events a transaction appended and has not written yet, and the heads they
/// chain from.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The head as the `audit_head` row holds it inside the transaction.
    written: AuditHead,
    /// The head after the last event appended.
    head: AuditHead,
    events: Vec<Prepared>,
    links: Vec<Link>,
}

impl Pending {
    /// The head after the transaction's last event.
    pub(crate) fn head(&self) -> AuditHead {
        self.head
    }

    fn push(&mut self, event: Prepared, link: Link) {
        self.head = AuditHead {
            seq: link.seq,
            hash: link.hash,
        };
        self.events.push(event);
        self.links.push(link);
    }
}

/// The transaction's pending appends, taking the head on the first call: SQLite's from
/// memory when this process knows it, otherwise (PostgreSQL, or SQLite after a restart
/// or a failed write) read from the database, locked until the transaction ends.
async fn pending<'t>(tx: &'t mut Tx<'_>) -> Result<&'t mut Pending, StoreError> {
    let head = match &tx._writer {
        None => return Err(read_only()),
        Some(writer) if writer.audit.is_some() => None,
        Some(writer) => Some(match writer.cached_head() {
            Some(head) => head,
            None => read_head(tx).await?,
        }),
    };
    let writer = tx._writer.as_mut().ok_or_else(read_only)?;
    if let Some(head) = head {
        return Ok(writer.audit.insert(Pending {
            written: head,
            head,
            events: Vec::new(),
            links: Vec::new(),
        }));
    }
    writer.audit.as_mut().ok_or_else(read_only)
}

fn read_only() -> StoreError {
    StoreError::corrupt(
        "transaction",
        "read",
        "audit events are appended only in a write transaction",
    )
}

/// The transaction's head, taken as for [`append_event`] (the group committer's first
/// step).
pub(crate) async fn take_head(tx: &mut Tx<'_>) -> Result<AuditHead, StoreError> {
    Ok(pending(tx).await?.head)
}

/// Appends events already encoded (the group committer) and writes them now, after any
/// the transaction appended before; returns where each landed.
pub(crate) async fn append_prepared(
    tx: &mut Tx<'_>,
    events: &[&Prepared],
) -> Result<Vec<Link>, StoreError> {
    flush(tx, false).await?;
    let head = pending(tx).await?.head;
    let mut links = Vec::with_capacity(events.len());
    let mut prev_hash = head.hash;
    for (offset, event) in (1u64..).zip(events) {
        let seq = head.seq + offset;
        let hash = event.body.hash_at(seq, &prev_hash);
        links.push(Link {
            seq,
            prev_hash,
            hash,
        });
        prev_hash = hash;
    }
    write(tx, head, events, &links, false).await?;
    if let (Some(pending), Some(last)) = (pending_mut(tx), links.last()) {
        let last = AuditHead {
            seq: last.seq,
            hash: last.hash,
        };
        pending.written = last;
        pending.head = last;
    }
    Ok(links)
}

/// Writes the events the transaction appended and not yet written (called by
/// [`Tx::commit`], with `commit`: on SQLite's writer connection the same round trip
/// then commits). Returns whether it committed.
pub(crate) async fn flush(tx: &mut Tx<'_>, commit: bool) -> Result<bool, StoreError> {
    let Some(pending) = pending_mut(tx) else {
        return Ok(false);
    };
    if pending.events.is_empty() {
        return Ok(false);
    }
    let from = pending.written;
    let events = std::mem::take(&mut pending.events);
    let links = std::mem::take(&mut pending.links);
    let refs: Vec<&Prepared> = events.iter().collect();
    let committed = write(tx, from, &refs, &links, commit).await?;
    if let Some(pending) = pending_mut(tx) {
        pending.written = pending.head;
    }
    Ok(committed)
}

fn pending_mut<'t>(tx: &'t mut Tx<'_>) -> Option<&'t mut Pending> {
    tx._writer.as_mut().and_then(|writer| writer.audit.as_mut())
}

/// The rows of `events` at `links` and the head moved from `from` to the last of them;
/// a failure makes SQLite read the head from the database next time.
async fn write(
    tx: &mut Tx<'_>,
    from: AuditHead,
    events: &[&Prepared],
    links: &[Link],
    commit: bool,
) -> Result<bool, StoreError> {
    let result = crate::group_commit::insert(tx, from, events, links, commit).await;
    if result.is_err()
        && let Some(writer) = &tx._writer
    {
        writer.forget_head();
    }
    result
}

impl Store {
    /// Appends one event for an act that changes nothing else (an authorize decision, a
    /// telemetry breach report), and returns it once it is committed.
    ///
    /// Concurrent calls are group-committed: the store's committer task appends whatever
    /// events are waiting in one transaction (up to [`MAX_GROUP_COMMIT_BATCH`]), so one
    /// commit, and with SQLite `synchronous=full` one fsync, serves them all. An idle store
    /// commits a lone event at once. An acknowledged event is committed and as durable as
    /// any other transaction; `seq` stays gap-free and the chain unbroken alongside
    /// [`append_event`] in use cases. When the transaction cannot begin or commit, every
    /// event of the batch fails ([`StoreError::GroupCommit`]); an event the database
    /// refuses fails alone. Dropping the returned future does not withdraw an event
    /// already queued: it may still be appended. An event carrying personal values
    /// (`data.personal`) is sealed and appended in a transaction of its own.
    ///
    /// [`MAX_GROUP_COMMIT_BATCH`]: crate::MAX_GROUP_COMMIT_BATCH
    pub async fn record_event(&self, event: NewEvent) -> Result<AuditEntry, StoreError> {
        // Personal values must be sealed under their subject's key before hashing, which
        // needs the transaction `append_event` runs in; such events (rare: decisions and
        // telemetry carry none) take the one-transaction path.
        if event.data.get(crate::personal::PERSONAL).is_some() {
            return self.record_event_unbatched(event).await;
        }
        self.group_commit(event).await
    }

    /// Appends one event in a transaction of its own, without group commit: one commit
    /// per event. The benchmark baseline for [`Store::record_event`]; prefer that.
    pub async fn record_event_unbatched(&self, event: NewEvent) -> Result<AuditEntry, StoreError> {
        let mut tx = self.begin().await?;
        let entry = append_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// The head of the trail: the last committed entry's `seq` and `hash`.
    ///
    /// On SQLite a head other than the one this process last committed (a write from
    /// another process) makes the next write transaction read the head again.
    pub async fn audit_head(&self) -> Result<AuditHead, StoreError> {
        let head = in_pool!(
            self.pool,
            fetch_one,
            sqlx::query_as::<_, HeadRow>(SELECT_HEAD)
        )
        .decode_as("audit head", ["seq", "hash"])?;
        self.shared.observe_head(head);
        Ok(head)
    }

    /// Up to `limit` entries with `seq >= from_seq`, in `seq` order.
    pub async fn events(&self, from_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let after = from_seq.saturating_sub(1);
        self.events_in(after, u64::MAX, limit).await
    }

    /// Up to `limit` entries with `seq >= from_seq` that match `query`, in `seq` order.
    ///
    /// Each filter becomes one condition; the type, permit and time filters can use their
    /// indexes (`audit_events_type`, `_permit`, `_ts`). A worker filter first folds what
    /// is new ([`Store::fold_metrics`], a write transaction when there is), then walks that
    /// worker's entries of the folded index `audit_worker_events`. The SQL is
    /// the same for both backends but for the type prefix: SQLite compares TEXT bytewise,
    /// so a prefix is a range on the index; PostgreSQL's collation need not be bytewise,
    /// so it uses `starts_with`.
    pub async fn query_events(
        &self,
        query: &EventQuery,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let Ok(from_seq) = i64::try_from(from_seq) else {
            return Ok(Vec::new());
        };
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        // Each bind's placeholder is `$N`, N its place in `binds`.
        let mut bind = |value: Bind| {
            binds.push(value);
            format!("${}", binds.len())
        };
        // By worker: the folded index, walked in `seq` order, after folding what is new
        // (see `SELECT_WORKER_EVENTS`). Otherwise the events themselves.
        let (select, seq) = match &query.worker_id {
            Some(worker) => {
                self.fold_metrics().await?;
                let worker = bind(Bind::Text(worker.clone()));
                conditions.push(format!("e.seq = w.seq AND w.worker_id = {worker}"));
                (SELECT_WORKER_EVENTS, "w.seq")
            }
            None => (SELECT_EVENTS, "e.seq"),
        };
        conditions.push(format!("{seq} >= {}", bind(Bind::Int(from_seq))));
        for (column, value) in [
            ("permit_id", &query.permit_id),
            ("task_id", &query.task_id),
            ("actor_id", &query.actor_id),
        ] {
            if let Some(value) = value {
                conditions.push(format!("e.{column} = {}", bind(Bind::Text(value.clone()))));
            }
        }
        match (&query.event_type, self.backend()) {
            (None, _) => {}
            (Some(TypeFilter::Exact(name)), _) => {
                conditions.push(format!("e.type = {}", bind(Bind::Text(name.clone()))));
            }
            (Some(TypeFilter::Prefix(prefix)), Backend::Sqlite) => {
                // Every type with the prefix sorts between the prefix and the prefix with
                // its last byte (a dot) raised by one (a slash).
                let from = bind(Bind::Text(prefix.clone()));
                let to = bind(Bind::Text(prefix_upper_bound(prefix)));
                conditions.push(format!("e.type >= {from} AND e.type < {to}"));
            }
            (Some(TypeFilter::Prefix(prefix)), Backend::Postgres) => {
                conditions.push(format!(
                    "starts_with(e.type, {})",
                    bind(Bind::Text(prefix.clone()))
                ));
            }
        }
        if let Some(level) = query.level {
            let level = Bind::Int(i64::from(u8::from(level)));
            conditions.push(format!("e.level = {}", bind(level)));
        }
        if let Some(from) = query.from_ts_ms {
            conditions.push(format!("e.ts >= {}", bind(Bind::Int(from))));
        }
        if let Some(to) = query.to_ts_ms {
            conditions.push(format!("e.ts < {}", bind(Bind::Int(to))));
        }
        let limit = bind(Bind::Int(i64::from(limit)));
        let sql = format!(
            "{select} WHERE {} ORDER BY {seq} LIMIT {limit}",
            conditions.join(" AND ")
        );
        let rows = on_pool!(self.pool, |pool| {
            let mut query = sqlx::query_as::<_, EventRow>(&sql);
            for bind in binds {
                query = match bind {
                    Bind::Int(value) => query.bind(value),
                    Bind::Text(value) => query.bind(value),
                };
            }
            query.fetch_all(pool).await?
        });
        rows.into_iter().map(decode_event).collect()
    }

    /// Reads the whole trail in pages and checks it: every hash, every link, `seq` gap-free
    /// from 1, and the last entry equal to the head. Entries appended while it runs are
    /// not checked (it verifies up to the head it read first). Pruned history counts
    /// through its manifests' links only (the store has no key to check their
    /// signatures): [`Store::verify_audit_trail`] checks those too.
    ///
    /// Returns the verified head, or [`StoreError::AuditChain`] naming the first bad
    /// `seq`, or [`StoreError::AuditHeadMismatch`] when entries are missing from the end.
    pub async fn verify_audit_chain(&self) -> Result<AuditHead, StoreError> {
        self.verify_audit_trail(None).await
    }

    /// Entries with `after < seq <= up_to`, at most `limit`, in `seq` order.
    pub(crate) async fn events_in(
        &self,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        let up_to = i64::try_from(up_to).unwrap_or(i64::MAX);
        let sql = format!("{SELECT_EVENTS} WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3");
        let rows = in_pool!(
            self.pool,
            fetch_all,
            sqlx::query_as::<_, EventRow>(&sql),
            after,
            up_to,
            i64::from(limit)
        );
        rows.into_iter().map(decode_event).collect()
    }
}

impl NewEvent {
    /// An event of `payload`'s type (`EventPayload::event_type`) with `payload` as its
    /// data. The payload's personal values, if any, go under `personal` in their plaintext
    /// member, which [`append_event`] (and the group commit) seals for their subject before
    /// anything is hashed or written: no other code path turns a [`Personal`] into data.
    ///
    /// [`Personal`]: steward_audit::Personal
    pub fn typed<P: EventPayload>(
        ts_ms: i64,
        actor: Actor,
        subject: Subject,
        level: Option<Level>,
        mut payload: P,
    ) -> Result<NewEvent, StoreError> {
        let event_type = payload.event_type();
        let personal = payload.take_personal();
        // A payload has string keys and no fallible `Serialize`, so this does not fail
        // in practice; an error names the type rather than writing a partial event.
        let mut data = serde_json::to_value(&payload)
            .map_err(|e| StoreError::corrupt("audit event payload", event_type.as_str(), e))?;
        if let (Some(personal), Value::Object(map)) = (personal, &mut data) {
            map.insert(
                crate::personal::PERSONAL.to_owned(),
                personal.unsealed_member(),
            );
        }
        Ok(NewEvent {
            ts_ms,
            event_type: event_type.as_str().to_owned(),
            actor,
            subject,
            level,
            data,
        })
    }

    /// An event stamped now, with no subject, level or data; fill the rest with struct
    /// update syntax or the fields.
    pub fn now(event_type: impl Into<String>, actor: Actor) -> NewEvent {
        NewEvent {
            ts_ms: now_ms(),
            event_type: event_type.into(),
            actor,
            subject: Subject::default(),
            level: None,
            data: Value::Object(serde_json::Map::new()),
        }
    }
}

/// A value bound to a placeholder of [`Store::query_events`].
enum Bind {
    Int(i64),
    Text(String),
}

/// The smallest string above every string that starts with `prefix`, when `prefix` ends
/// in an ASCII byte below 0x7f (a dot, for type prefixes): that byte raised by one.
fn prefix_upper_bound(prefix: &str) -> String {
    let mut bound = prefix.to_owned();
    match bound.pop() {
        Some(last) if last.is_ascii() && last != '\x7f' => {
            bound.push(char::from(last as u8 + 1));
            bound
        }
        // No tighter bound is needed for correctness: the caller validates prefixes, and
        // the highest code point keeps every string with the prefix below it.
        Some(last) => {
            bound.push(last);
            bound.push(char::MAX);
            bound
        }
        None => char::MAX.to_string(),
    }
}

/// Inserts `audit_events` rows; the writers add the `VALUES`, with [`data_cast`] after
/// each `data` parameter.
pub(crate) const INSERT_EVENTS: &str = "INSERT INTO audit_events (seq, ts, type, actor_kind, \
     actor_id, actor_roles, task_id, worker_id, permit_id, level, data, prev_hash, hash)";

/// `SELECT` and the columns of an [`EventRow`] from `audit_events e`; the JSON columns as
/// text.
macro_rules! select_event_columns {
    () => {
        "SELECT e.seq, e.ts, e.type, e.actor_kind, e.actor_id, \
         CAST(e.actor_roles AS TEXT) AS actor_roles, e.task_id, e.worker_id, e.permit_id, \
         e.level, CAST(e.data AS TEXT) AS data, e.prev_hash, e.hash"
    };
}

/// Reads `audit_events` rows (as `e`) as [`EventRow`].
pub(crate) const SELECT_EVENTS: &str = concat!(select_event_columns!(), " FROM audit_events e");

/// Reads the events of one worker through the folded index `audit_worker_events` (as `w`),
/// joined on `e.seq = w.seq`, filtered on `w.worker_id` and `w.seq`, ordered by `w.seq`.
/// `CROSS JOIN` keeps the index the outer loop on SQLite, so a page of a worker's events
/// reads that page's entries, not every event after the first; PostgreSQL plans it as an
/// inner join.
const SELECT_WORKER_EVENTS: &str = concat!(
    select_event_columns!(),
    " FROM audit_worker_events w CROSS JOIN audit_events e"
);

pub(crate) const SELECT_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";

/// What follows the `data` parameter of an `audit_events` insert: `::json` on PostgreSQL,
/// whose `data` column is `json` (it keeps the canonical text byte for byte, and a text
/// parameter becomes `json` only by a cast); nothing on SQLite, where it is TEXT.
pub(crate) fn data_cast(tx: &Tx<'_>) -> &'static str {
    match tx.conn {
        TxConn::Sqlite(_) | TxConn::SqliteWriter(_) => "",
        TxConn::Postgres(_) => "::json",
    }
}

/// The head, locked until `tx` ends ([`Tx::for_update`]; on SQLite `tx` holds the
/// write lock already).
pub(crate) async fn read_head(tx: &mut Tx<'_>) -> Result<AuditHead, StoreError> {
    let sql = format!("{SELECT_HEAD}{}", tx.for_update());
    in_tx!(tx, fetch_one, sqlx::query_as::<_, HeadRow>(&sql))
        .decode_as("audit head", ["seq", "hash"])
}

/// The head is no longer `from`: something outside this process's writer appended.
pub(crate) fn head_moved(from: AuditHead) -> StoreError {
    StoreError::corrupt(
        "audit head",
        from.seq,
        "the head moved outside this process's writer; nothing was appended",
    )
}

pub(crate) fn seq_i64(seq: u64) -> Result<i64, StoreError> {
    fit_i64(seq, "audit head", "seq")
}

/// `value` as the database stores it, or [`StoreError::Corrupt`] about `what` when it does
/// not fit (`name` says which value).
pub(crate) fn fit_i64(value: u64, what: &'static str, name: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        let problem = format!("{name} does not fit a 64-bit signed integer");
        StoreError::corrupt(what, value, problem)
    })
}

/// One `audit_events` row as [`SELECT_EVENTS`] reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    seq: i64,
    ts: i64,
    #[sqlx(rename = "type")]
    event_type: String,
    actor_kind: String,
    actor_id: String,
    actor_roles: String,
    task_id: Option<String>,
    worker_id: Option<String>,
    permit_id: Option<String>,
    level: Option<i64>,
    data: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

/// A `seq` and a hash as stored: the `audit_head` row, and what other statements read
/// under these names (an event's, the last pruned event's).
#[derive(sqlx::FromRow)]
pub(crate) struct HeadRow {
    seq: i64,
    hash: Vec<u8>,
}

impl HeadRow {
    /// The head it holds, or [`StoreError::Corrupt`] about `what` naming the bad column by
    /// its stored name (`seq`, `hash`).
    pub(crate) fn decode_as(
        self,
        what: &'static str,
        [seq, hash]: [&str; 2],
    ) -> Result<AuditHead, StoreError> {
        let bad = |problem: String| StoreError::corrupt(what, self.seq, problem);
        Ok(AuditHead {
            seq: u64::try_from(self.seq).map_err(|_| bad(format!("negative {seq}")))?,
            hash: Hash::from_slice(&self.hash)
                .ok_or_else(|| bad(format!("{hash} is not 32 bytes")))?,
        })
    }
}

/// The entry `row` holds; the columns are checked in the order of [`AuditEntry`]'s fields.
pub(crate) fn decode_event(row: EventRow) -> Result<AuditEntry, StoreError> {
    let bad = |problem: String| StoreError::corrupt("audit event", row.seq, problem);
    let hash = |bytes: &[u8], name: &str| {
        Hash::from_slice(bytes).ok_or_else(|| bad(format!("{name} is not 32 bytes")))
    };
    Ok(AuditEntry {
        seq: u64::try_from(row.seq).map_err(|_| bad("negative seq".to_owned()))?,
        ts_ms: row.ts,
        event_type: row.event_type,
        actor: Actor {
            kind: row
                .actor_kind
                .parse::<ActorKind>()
                .map_err(|e| bad(e.to_string()))?,
            id: row.actor_id,
            roles: serde_json::from_str(&row.actor_roles)
                .map_err(|e| bad(format!("actor_roles is not a JSON array of strings: {e}")))?,
            channel: None,
        },
        subject: Subject {
            task_id: row.task_id,
            worker_id: row.worker_id,
            permit_id: row.permit_id,
        },
        level: row
            .level
            .map(u8::try_from)
            .transpose()
            .map_err(|_| bad("level out of range".to_owned()))?,
        data: serde_json::from_str(&row.data).map_err(|e| bad(format!("data is not JSON: {e}")))?,
        prev_hash: hash(&row.prev_hash, "prev_hash")?,
        hash: hash(&row.hash, "hash")?,
    })
}
