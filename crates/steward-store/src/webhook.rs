//! Outbound webhooks (SPEC §11): subscriptions, the fan-out of audit events into
//! deliveries, claiming due deliveries, and recording each attempt.
//!
//! # How delivery follows the trail
//!
//! A workflow transaction never touches a webhook: it appends its audit event and
//! commits. Each subscription keeps a durable cursor (`webhooks.cursor_seq`, the last
//! audit seq it has looked at); [`Store::fan_out_webhooks`] reads the events after it,
//! inserts one `webhook_deliveries` row per matching event, and advances the cursor, in
//! one transaction. Audit seqs become visible in order (appends serialise on the head
//! row), so a cursor never skips an event. A receiver that is down therefore cannot slow
//! or lose a workflow step: its deliveries wait in the log.
//!
//! # Claims and retries
//!
//! [`Store::claim_webhook_deliveries`] takes due `pending` rows (PostgreSQL: `FOR UPDATE
//! SKIP LOCKED`, so several instances never claim the same row; SQLite: the single write
//! lock), counts the attempt and leases the row for [`CLAIM_LEASE_MS`] so nobody else
//! sends it meanwhile. [`Store::finish_webhook_delivery`] records the result: `delivered`,
//! or back to `pending` at the time [`retry_delay_ms`] gives, or `failed` after
//! [`MAX_ATTEMPTS`]. A result only applies to the attempt that was claimed, so a late
//! answer after the lease expired changes nothing.
//!
//! Delivery attempts are operational records, not audit events: recording them in the
//! trail would feed the trail back into itself. Creating and deleting a subscription are
//! audited (`webhook.created`, `webhook.deleted`), without the secret or the URL's path
//! (a Slack URL's path is itself a credential).

use std::fmt;

use serde::Serialize;
use serde_json::json;
use sqlx::types::Json;

use steward_audit::event::{WebhookCreated, WebhookDeleted};
use steward_audit::webhook::{delivery_type, finish, parse_patterns, url_origin};

use crate::audit::append_unscoped_event;
use crate::caller::Caller;
use crate::error::StoreError;
use crate::store::{Store, Tx, TxConn, in_pool, in_tx, new_id};

pub use steward_audit::webhook::{
    AttemptResult, CHECKPOINT_PUBLICATION, CLAIM_LEASE_MS, EventPattern, MAX_ATTEMPTS,
    RETRY_BASE_MS, RETRY_CAP_MS, WebhookFormat, retry_delay_ms,
};

/// A subscription to create. The caller validated `url` and `event_types`.
#[derive(Clone)]
pub struct NewWebhook {
    pub url: String,
    pub event_types: Vec<String>,
    pub format: WebhookFormat,
    pub secret: String,
}

impl fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewWebhook")
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// A subscription as the API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub format: WebhookFormat,
    /// The last audit seq fanned out into deliveries.
    pub cursor_seq: i64,
    pub created_by: String,
    pub created_at_ms: i64,
    pub deleted_at_ms: Option<i64>,
}

/// One row of a subscription's delivery log (`webhook_deliveries`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Delivery {
    pub webhook_id: String,
    /// The audit event's seq; also the idempotency id the receiver sees.
    pub seq: i64,
    pub event_type: String,
    /// `pending`, `delivered`, `failed` (attempts exhausted, or the destination refused)
    /// or `cancelled` (the
    /// subscription was deleted first).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at_ms: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

/// A delivery claimed for one attempt, with what sending it needs.
#[derive(Clone)]
pub struct ClaimedDelivery {
    pub webhook_id: String,
    pub seq: i64,
    /// The event's type, or [`CHECKPOINT_PUBLICATION`] for a checkpoint delivered in its
    /// published form.
    pub event_type: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub url: String,
    pub format: WebhookFormat,
    /// The HMAC key. Kept out of `Debug`.
    pub secret: String,
}

impl fmt::Debug for ClaimedDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimedDelivery")
            .field("webhook_id", &self.webhook_id)
            .field("seq", &self.seq)
            .field("event_type", &self.event_type)
            .field("attempt", &self.attempt)
            .field("url", &self.url)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// One `webhooks` row, as [`WEBHOOK_COLUMNS`] reads it (never the secret).
#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: String,
    url: String,
    /// JSON text (a JSONB column on PostgreSQL, read through `CAST(… AS TEXT)`).
    event_types: String,
    format: String,
    cursor_seq: i64,
    created_by: String,
    created_at: i64,
    deleted_at: Option<i64>,
}

/// A due delivery with its subscription's destination, as a claim reads it.
#[derive(sqlx::FromRow)]
struct DueRow {
    webhook_id: String,
    seq: i64,
    event_type: String,
    url: String,
    format: String,
    secret: String,
}

/// `CAST(… AS TEXT)` reads the JSONB column as text on PostgreSQL and is a no-op on
/// SQLite, where it is TEXT.
const WEBHOOK_COLUMNS: &str = "id, url, CAST(event_types AS TEXT) AS event_types, format, \
     cursor_seq, created_by, created_at, deleted_at";
const DELIVERY_COLUMNS: &str = "webhook_id, seq, event_type, status, attempts, \
     next_attempt_at AS next_attempt_at_ms, last_status_code, last_error, \
     created_at AS created_at_ms, updated_at AS updated_at_ms, delivered_at AS delivered_at_ms";

/// Events read per subscription per fan-out.
const FAN_OUT_PAGE: i64 = 500;

fn decode_webhook(row: WebhookRow) -> Result<Webhook, StoreError> {
    let corrupt = |problem: String| StoreError::corrupt("webhook", &row.id, problem);
    let event_types = serde_json::from_str(&row.event_types)
        .map_err(|e| corrupt(format!("event_types is not a JSON array: {e}")))?;
    let format =
        WebhookFormat::parse(&row.format).ok_or_else(|| corrupt("unknown format".into()))?;
    Ok(Webhook {
        id: row.id,
        url: row.url,
        event_types,
        format,
        cursor_seq: row.cursor_seq,
        created_by: row.created_by,
        created_at_ms: row.created_at,
        deleted_at_ms: row.deleted_at,
    })
}

/// ` SKIP LOCKED` after a row lock on PostgreSQL, where several instances claim rows at once
/// and one must pass over rows another holds; nothing on SQLite, which has no row locks
/// (its write transaction already excludes every other writer).
fn skip_locked(tx: &Tx<'_>) -> &'static str {
    match tx.conn {
        TxConn::Sqlite(_) | TxConn::SqliteWriter(_) => "",
        TxConn::Postgres(_) => " SKIP LOCKED",
    }
}

impl Store {
    /// Creates a subscription whose cursor starts at its own `webhook.created` event: it
    /// receives events appended after it exists.
    pub async fn create_webhook(
        &self,
        by: &Caller,
        new: NewWebhook,
        now_ms: i64,
    ) -> Result<Webhook, StoreError> {
        let id = new_id();
        let mut tx = self.begin().await?;
        let entry = append_unscoped_event(
            &mut tx,
            now_ms,
            by.actor(),
            WebhookCreated {
                webhook_id: id.clone(),
                origin: url_origin(&new.url),
                event_types: new.event_types.clone(),
                format: json!(new.format),
            },
        )
        .await?;
        let cursor = i64::try_from(entry.seq)
            .map_err(|_| StoreError::corrupt("audit event", entry.seq, "seq out of range"))?;
        in_tx!(
            tx,
            execute,
            sqlx::query(
                "INSERT INTO webhooks (id, url, event_types, format, secret, cursor_seq, \
                 created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            ),
            &id,
            &new.url,
            Json(&new.event_types),
            new.format.as_str(),
            &new.secret,
            cursor,
            &by.id,
            now_ms,
        );
        tx.commit().await?;
        Ok(Webhook {
            id,
            url: new.url,
            event_types: new.event_types,
            format: new.format,
            cursor_seq: cursor,
            created_by: by.id.clone(),
            created_at_ms: now_ms,
            deleted_at_ms: None,
        })
    }

    /// The subscriptions not deleted, oldest first.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id"
        );
        let rows = in_pool!(self.pool, fetch_all, sqlx::query_as::<_, WebhookRow>(&sql));
        rows.into_iter().map(decode_webhook).collect()
    }

    /// One subscription, deleted or not.
    pub async fn webhook(&self, id: &str) -> Result<Webhook, StoreError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
        let row = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as::<_, WebhookRow>(&sql),
            id
        );
        let row = row.ok_or_else(|| StoreError::NotFound {
            what: "webhook",
            id: id.to_owned(),
        })?;
        decode_webhook(row)
    }

    /// Deletes a subscription: no new deliveries, and its pending ones are cancelled.
    /// Idempotent: deleting a deleted subscription records nothing.
    pub async fn delete_webhook(
        &self,
        by: &Caller,
        id: &str,
        now_ms: i64,
    ) -> Result<Webhook, StoreError> {
        let mut tx = self.begin().await?;
        const DELETE: &str =
            "UPDATE webhooks SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL";
        let changed = in_tx!(tx, execute, sqlx::query(DELETE), now_ms, id);
        const CANCEL: &str = "UPDATE webhook_deliveries SET status = 'cancelled', \
             updated_at = $1 WHERE webhook_id = $2 AND status = 'pending'";
        in_tx!(tx, execute, sqlx::query(CANCEL), now_ms, id);
        if changed == 1 {
            append_unscoped_event(
                &mut tx,
                now_ms,
                by.actor(),
                WebhookDeleted {
                    webhook_id: id.to_owned(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        self.webhook(id).await
    }

    /// A subscription's delivery log in seq order, from `after_seq` (exclusive), at most
    /// `limit` rows.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE webhook_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let limit = i64::from(limit);
        let rows = in_pool!(
            self.pool,
            fetch_all,
            sqlx::query_as::<_, Delivery>(&sql),
            id,
            after_seq,
            limit
        );
        Ok(rows)
    }

    /// Moves every live subscription's cursor over up to 500 new audit events, creating a
    /// `pending` delivery, due now, for each event it subscribes to. Returns how many
    /// deliveries it created. On PostgreSQL a subscription another instance is fanning
    /// out is skipped (`SKIP LOCKED`).
    pub async fn fan_out_webhooks(&self, now_ms: i64) -> Result<u64, StoreError> {
        // Most ticks find nothing to do: decide that with one read, without taking
        // SQLite's write lock.
        let sql = "SELECT COUNT(*) FROM webhooks WHERE deleted_at IS NULL \
                   AND cursor_seq < (SELECT seq FROM audit_head WHERE id = 1)";
        let behind = in_pool!(self.pool, fetch_one, sqlx::query_scalar::<_, i64>(sql));
        if behind == 0 {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT id, CAST(event_types AS TEXT) AS event_types, cursor_seq FROM webhooks \
             WHERE deleted_at IS NULL{}{}",
            tx.for_update(),
            skip_locked(&tx)
        );
        // A live subscription: its id, its event types (JSON text) and its cursor.
        let hooks = in_tx!(
            tx,
            fetch_all,
            sqlx::query_as::<_, (String, String, i64)>(&sql)
        );
        let mut created = 0;
        for (id, event_types, cursor) in hooks {
            let patterns = parse_patterns(
                &serde_json::from_str::<Vec<String>>(&event_types)
                    .map_err(|e| StoreError::corrupt("webhook", &id, e.to_string()))?,
            );
            let events = in_tx!(
                tx,
                fetch_all,
                sqlx::query_as::<_, (i64, String)>(
                    "SELECT seq, type FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
                ),
                cursor,
                FAN_OUT_PAGE,
            );
            let Some(&(last, _)) = events.last() else {
                continue;
            };
            for (seq, event_type) in &events {
                let Some(event_type) = delivery_type(&patterns, event_type) else {
                    continue;
                };
                created += in_tx!(
                    tx,
                    execute,
                    sqlx::query(
                        "INSERT INTO webhook_deliveries (webhook_id, seq, event_type, status, \
                         attempts, next_attempt_at, created_at, updated_at) \
                         VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4) ON CONFLICT DO NOTHING",
                    ),
                    &id,
                    seq,
                    event_type,
                    now_ms,
                );
            }
            const ADVANCE: &str = "UPDATE webhooks SET cursor_seq = $1 WHERE id = $2";
            in_tx!(tx, execute, sqlx::query(ADVANCE), last, &id);
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Claims up to `limit` due `pending` deliveries of live subscriptions for one attempt
    /// each: counts the attempt and leases the row for [`CLAIM_LEASE_MS`].
    pub async fn claim_webhook_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let lease = now_ms.saturating_add(CLAIM_LEASE_MS);
        // As in fan-out: an idle tick costs one indexed read, no write lock.
        const ANY_DUE: &str = "SELECT seq FROM webhook_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1";
        let due = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_scalar::<_, i64>(ANY_DUE),
            now_ms
        );
        if due.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT d.webhook_id, d.seq, d.event_type, w.url, w.format, w.secret \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
             AND w.deleted_at IS NULL ORDER BY d.next_attempt_at, d.seq LIMIT $2{}{}",
            tx.for_update_of("d"),
            skip_locked(&tx)
        );
        let limit = i64::from(limit);
        let due = in_tx!(
            tx,
            fetch_all,
            sqlx::query_as::<_, DueRow>(&sql),
            now_ms,
            limit
        );
        let mut claimed = Vec::with_capacity(due.len());
        for row in due {
            let attempts = in_tx!(
                tx,
                fetch_one,
                sqlx::query_scalar::<_, i64>(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, \
                     next_attempt_at = $1, updated_at = $2 WHERE webhook_id = $3 AND seq = $4 \
                     RETURNING attempts",
                ),
                lease,
                now_ms,
                &row.webhook_id,
                row.seq,
            );
            let format = WebhookFormat::parse(&row.format)
                .ok_or_else(|| StoreError::corrupt("webhook", &row.webhook_id, "unknown format"))?;
            claimed.push(ClaimedDelivery {
                webhook_id: row.webhook_id,
                seq: row.seq,
                event_type: row.event_type,
                attempt: u32::try_from(attempts).unwrap_or(u32::MAX),
                url: row.url,
                format,
                secret: row.secret,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records how a claimed attempt went, as [`finish`] decides. Returns the new status, or
    /// `None` when the claim was no longer current (its lease lapsed and another attempt
    /// began, or the subscription was deleted): then nothing changes.
    pub async fn finish_webhook_delivery(
        &self,
        claim: &ClaimedDelivery,
        result: &AttemptResult,
        now_ms: i64,
    ) -> Result<Option<&'static str>, StoreError> {
        let done = finish(claim.attempt, result, now_ms);
        let mut tx = self.begin().await?;
        let changed = in_tx!(
            tx,
            execute,
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, \
                 last_status_code = $3, last_error = $4, updated_at = $5, delivered_at = $6 \
                 WHERE webhook_id = $7 AND seq = $8 AND attempts = $9 AND status = 'pending'",
            ),
            done.status,
            done.next_attempt_at_ms,
            done.last_status_code,
            &done.last_error,
            now_ms,
            done.delivered_at_ms,
            &claim.webhook_id,
            claim.seq,
            i64::from(claim.attempt),
        );
        tx.commit().await?;
        Ok((changed == 1).then_some(done.status))
    }
}
