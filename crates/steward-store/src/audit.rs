//! The audit trail in the database: `append_event`, which every use case calls inside its
//! own transaction, reading events back, and verifying the stored chain.

use serde_json::Value;
use steward_audit::{Actor, ActorKind, AuditEntry, EntryBody, Hash, Subject};
use steward_policy::Level;

use crate::error::StoreError;
use crate::store::{Backend, Pool, Store, Tx, TxConn, now_ms};

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

/// Moves the actor's channel, when it has one, into the event's data as `"channel"`,
/// where the hash covers it (the actor's encoding has no place for it).
pub(crate) fn record_channel(event: &mut NewEvent) {
    let Some(channel) = event.actor.channel.take() else {
        return;
    };
    let channel = Value::from(channel.as_str());
    match &mut event.data {
        Value::Object(data) => {
            data.insert("channel".to_owned(), channel);
        }
        Value::Null => event.data = serde_json::json!({ "channel": channel }),
        other => {
            let data = std::mem::take(other);
            event.data = serde_json::json!({ "channel": channel, "value": data });
        }
    }
}

/// Marks an event made under a rehearsal (`steward serve --rehearsal`) with
/// `data.run_mode: "rehearsal"`, where the hash covers it, so a rehearsal's events can
/// never pass for production ones.
pub(crate) fn record_run_mode(event: &mut NewEvent) {
    let mode = Value::from(crate::run_mode::RunMode::Rehearsal.as_str());
    match &mut event.data {
        Value::Object(data) => {
            data.insert("run_mode".to_owned(), mode);
        }
        Value::Null => event.data = serde_json::json!({ "run_mode": mode }),
        other => {
            let data = std::mem::take(other);
            event.data = serde_json::json!({ "run_mode": mode, "value": data });
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
/// A `"personal"` member of `event.data` (built with [`personal()`](crate::personal())) is stored
/// encrypted for its subject, and the returned entry holds that stored form.
///
/// The entry becomes visible, and the head advances, only when `tx` commits; if `tx`
/// rolls back, so does the append, and the next append reuses the `seq`. That is how
/// `seq` stays gap-free.
pub async fn append_event(tx: &mut Tx<'_>, mut event: NewEvent) -> Result<AuditEntry, StoreError> {
    // INVARIANT: between reading the head and committing, no other transaction can
    // append. SQLite: the transaction began with BEGIN IMMEDIATE (Store::begin is the
    // only way to get a Tx), so it holds the database write lock. PostgreSQL: FOR UPDATE
    // locks the head row until commit; a waiting appender then re-reads the new head.
    let (head_seq, head_hash): (i64, Vec<u8>) = match &mut tx.conn {
        TxConn::Sqlite(tx) => {
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut **tx)
                .await?
        }
        TxConn::Postgres(tx) => {
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut **tx)
                .await?
        }
    };
    let head = decode_head(head_seq, &head_hash)?;
    let seq = head.seq + 1;
    record_channel(&mut event);
    if tx.rehearsal {
        record_run_mode(&mut event);
    }
    let level = event.level.map(u8::from);
    // Personal values are encrypted for their subject before anything is hashed or
    // written (see `personal`): the trail never holds them in plaintext. Lock order:
    // audit head, then the subject's key.
    crate::personal::seal(tx, &mut event.data, event.ts_ms).await?;
    let data_text = steward_audit::canonical_json(&event.data);
    let roles_text = roles_json(&event.actor.roles);
    let body = EntryBody {
        seq,
        ts_ms: event.ts_ms,
        event_type: &event.event_type,
        actor: &event.actor,
        subject: &event.subject,
        level,
        data: &event.data,
    };
    let hash = body.hash_after(&head.hash);
    let seq_i64 = i64::try_from(seq).map_err(|_| {
        StoreError::corrupt(
            "audit head",
            seq,
            "seq does not fit a 64-bit signed integer",
        )
    })?;

    match &mut tx.conn {
        TxConn::Sqlite(tx) => {
            sqlx::query(
                "INSERT INTO audit_events (seq, ts, type, actor_kind, actor_id, actor_roles, \
                 task_id, worker_id, permit_id, level, data, prev_hash, hash) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(seq_i64)
            .bind(event.ts_ms)
            .bind(&event.event_type)
            .bind(event.actor.kind.as_str())
            .bind(&event.actor.id)
            .bind(&roles_text)
            .bind(&event.subject.task_id)
            .bind(&event.subject.worker_id)
            .bind(&event.subject.permit_id)
            .bind(level.map(i64::from))
            .bind(&data_text)
            .bind(head.hash.as_bytes().as_slice())
            .bind(hash.as_bytes().as_slice())
            .execute(&mut **tx)
            .await?;
            sqlx::query("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1")
                .bind(seq_i64)
                .bind(hash.as_bytes().as_slice())
                .execute(&mut **tx)
                .await?;
        }
        TxConn::Postgres(tx) => {
            sqlx::query(
                "INSERT INTO audit_events (seq, ts, type, actor_kind, actor_id, actor_roles, \
                 task_id, worker_id, permit_id, level, data, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11::json, $12, $13)",
            )
            .bind(seq_i64)
            .bind(event.ts_ms)
            .bind(&event.event_type)
            .bind(event.actor.kind.as_str())
            .bind(&event.actor.id)
            .bind(&roles_text)
            .bind(&event.subject.task_id)
            .bind(&event.subject.worker_id)
            .bind(&event.subject.permit_id)
            .bind(level.map(i64::from))
            .bind(&data_text)
            .bind(head.hash.as_bytes().as_slice())
            .bind(hash.as_bytes().as_slice())
            .execute(&mut **tx)
            .await?;
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(seq_i64)
                .bind(hash.as_bytes().as_slice())
                .execute(&mut **tx)
                .await?;
        }
    }

    Ok(AuditEntry {
        seq,
        ts_ms: event.ts_ms,
        event_type: event.event_type,
        actor: event.actor,
        subject: event.subject,
        level,
        data: event.data,
        prev_hash: head.hash,
        hash,
    })
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
    pub async fn audit_head(&self) -> Result<AuditHead, StoreError> {
        let (seq, hash): (i64, Vec<u8>) = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                    .fetch_one(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                    .fetch_one(pool)
                    .await?
            }
        };
        decode_head(seq, &hash)
    }

    /// Up to `limit` entries with `seq >= from_seq`, in `seq` order.
    pub async fn events(&self, from_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let after = from_seq.saturating_sub(1);
        self.events_in(after, u64::MAX, limit).await
    }

    /// Up to `limit` entries with `seq >= from_seq` that match `query`, in `seq` order.
    ///
    /// Each filter becomes one condition; the type, worker, permit and time filters can
    /// use their indexes (`audit_events_type`, `_worker`, `_permit`, `_ts`). The SQL is
    /// the same for both backends but for placeholders and the type prefix: SQLite
    /// compares TEXT bytewise, so a prefix is a range on the index; PostgreSQL's collation
    /// need not be bytewise, so it uses `starts_with`.
    pub async fn query_events(
        &self,
        query: &EventQuery,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let Ok(from_seq) = i64::try_from(from_seq) else {
            return Ok(Vec::new());
        };
        let backend = self.backend();
        let mut conditions = vec!["seq >= {}".to_owned()];
        let mut binds = vec![Bind::Int(from_seq)];
        let mut text = |column: &str, value: &Option<String>| {
            if let Some(value) = value {
                conditions.push(format!("{column} = {{}}"));
                binds.push(Bind::Text(value.clone()));
            }
        };
        text("worker_id", &query.worker_id);
        text("permit_id", &query.permit_id);
        text("task_id", &query.task_id);
        text("actor_id", &query.actor_id);
        match (&query.event_type, backend) {
            (None, _) => {}
            (Some(TypeFilter::Exact(name)), _) => {
                conditions.push("type = {}".to_owned());
                binds.push(Bind::Text(name.clone()));
            }
            (Some(TypeFilter::Prefix(prefix)), Backend::Sqlite) => {
                // Every type with the prefix sorts between the prefix and the prefix with
                // its last byte (a dot) raised by one (a slash).
                conditions.push("type >= {} AND type < {}".to_owned());
                binds.push(Bind::Text(prefix.clone()));
                binds.push(Bind::Text(prefix_upper_bound(prefix)));
            }
            (Some(TypeFilter::Prefix(prefix)), Backend::Postgres) => {
                conditions.push("starts_with(type, {})".to_owned());
                binds.push(Bind::Text(prefix.clone()));
            }
        }
        if let Some(level) = query.level {
            conditions.push("level = {}".to_owned());
            binds.push(Bind::Int(i64::from(u8::from(level))));
        }
        if let Some(from) = query.from_ts_ms {
            conditions.push("ts >= {}".to_owned());
            binds.push(Bind::Int(from));
        }
        if let Some(to) = query.to_ts_ms {
            conditions.push("ts < {}".to_owned());
            binds.push(Bind::Int(to));
        }
        binds.push(Bind::Int(i64::from(limit)));
        let mut number = 0;
        let mut placeholder = || {
            number += 1;
            match backend {
                Backend::Sqlite => "?".to_owned(),
                Backend::Postgres => format!("${number}"),
            }
        };
        let mut filter = String::new();
        for condition in &conditions {
            if !filter.is_empty() {
                filter.push_str(" AND ");
            }
            let mut parts = condition.split("{}");
            if let Some(first) = parts.next() {
                filter.push_str(first);
            }
            for part in parts {
                filter.push_str(&placeholder());
                filter.push_str(part);
            }
        }
        let limit_placeholder = placeholder();
        let rows: Vec<EventRow> = match &self.pool {
            Pool::Sqlite(pool) => {
                let sql = format!(
                    "SELECT seq, ts, type, actor_kind, actor_id, actor_roles, task_id, \
                     worker_id, permit_id, level, data, prev_hash, hash \
                     FROM audit_events WHERE {filter} ORDER BY seq LIMIT {limit_placeholder}"
                );
                let mut query = sqlx::query_as(&sql);
                for bind in binds {
                    query = match bind {
                        Bind::Int(value) => query.bind(value),
                        Bind::Text(value) => query.bind(value),
                    };
                }
                query.fetch_all(pool).await?
            }
            Pool::Postgres(pool) => {
                let sql = format!(
                    "SELECT seq, ts, type, actor_kind, actor_id, actor_roles::text, task_id, \
                     worker_id, permit_id, level, data::text, prev_hash, hash \
                     FROM audit_events WHERE {filter} ORDER BY seq LIMIT {limit_placeholder}"
                );
                let mut query = sqlx::query_as(&sql);
                for bind in binds {
                    query = match bind {
                        Bind::Int(value) => query.bind(value),
                        Bind::Text(value) => query.bind(value),
                    };
                }
                query.fetch_all(pool).await?
            }
        };
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
        let rows: Vec<EventRow> = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT seq, ts, type, actor_kind, actor_id, actor_roles, task_id, \
                     worker_id, permit_id, level, data, prev_hash, hash \
                     FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                )
                .bind(after)
                .bind(up_to)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT seq, ts, type, actor_kind, actor_id, actor_roles::text, task_id, \
                     worker_id, permit_id, level, data::text, prev_hash, hash \
                     FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                )
                .bind(after)
                .bind(up_to)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            }
        };
        rows.into_iter().map(decode_event).collect()
    }
}

impl NewEvent {
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

/// One `audit_events` row, in the column order of the SELECTs above.
pub(crate) type EventRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    String,
    Vec<u8>,
    Vec<u8>,
);

pub(crate) fn decode_event(row: EventRow) -> Result<AuditEntry, StoreError> {
    let (
        seq,
        ts_ms,
        event_type,
        kind,
        actor_id,
        roles,
        task_id,
        worker_id,
        permit_id,
        level,
        data,
        prev_hash,
        hash,
    ) = row;
    let bad = |problem: String| StoreError::corrupt("audit event", seq, problem);
    let seq_u64 = u64::try_from(seq).map_err(|_| bad("negative seq".to_owned()))?;
    let kind = kind.parse::<ActorKind>().map_err(|e| bad(e.to_string()))?;
    let roles: Vec<String> = serde_json::from_str(&roles)
        .map_err(|e| bad(format!("actor_roles is not a JSON array of strings: {e}")))?;
    let level = level
        .map(u8::try_from)
        .transpose()
        .map_err(|_| bad("level out of range".to_owned()))?;
    let data: Value =
        serde_json::from_str(&data).map_err(|e| bad(format!("data is not JSON: {e}")))?;
    let prev_hash =
        Hash::from_slice(&prev_hash).ok_or_else(|| bad("prev_hash is not 32 bytes".to_owned()))?;
    let hash = Hash::from_slice(&hash).ok_or_else(|| bad("hash is not 32 bytes".to_owned()))?;
    Ok(AuditEntry {
        seq: seq_u64,
        ts_ms,
        event_type,
        actor: Actor {
            kind,
            id: actor_id,
            roles,
            channel: None,
        },
        subject: Subject {
            task_id,
            worker_id,
            permit_id,
        },
        level,
        data,
        prev_hash,
        hash,
    })
}

pub(crate) fn decode_head(seq: i64, hash: &[u8]) -> Result<AuditHead, StoreError> {
    let seq =
        u64::try_from(seq).map_err(|_| StoreError::corrupt("audit head", seq, "negative seq"))?;
    let hash = Hash::from_slice(hash)
        .ok_or_else(|| StoreError::corrupt("audit head", seq, "hash is not 32 bytes"))?;
    Ok(AuditHead { seq, hash })
}

/// The JSON array text of `roles`.
pub(crate) fn roles_json<S: AsRef<str>>(roles: &[S]) -> String {
    Value::from(roles.iter().map(|role| role.as_ref()).collect::<Vec<_>>()).to_string()
}
