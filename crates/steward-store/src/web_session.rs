//! The dashboard's sign-in sessions (issue 11): a person signs in with an API token and
//! gets a session cookie; only the SHA-256 of the session secret is stored, with the
//! token the session was opened with.
//!
//! # Invariants
//!
//! - A session is live only while its row is not ended and not expired (idle and
//!   absolute), its token is neither revoked nor expired, and its principal is enabled:
//!   [`Store::web_session`] checks all of it in one indexed read, on every request, so
//!   revoking the token or disabling the principal ends the session at once.
//! - Opening and ending a session are audited (`web.session_opened`,
//!   `web.session_ended`) in the transaction that writes the row.

use steward_audit::event::{WebSessionEnded, WebSessionOpened};

use crate::audit::append_unscoped_event;
use crate::caller::Caller;
use crate::error::StoreError;
use crate::principal::{Principal, PrincipalRow, decode_principal};
use crate::store::{Store, in_pool, in_tx, on_pool};

/// How stale `last_seen_at` may get before a request writes it again: most requests of a
/// session are pure reads.
pub const WEB_SESSION_TOUCH_MS: i64 = 60_000;

/// How long ended or expired rows are kept before a sign-in deletes them.
const KEEP_ENDED_MS: i64 = 7 * 24 * 3_600_000;

/// A session to open.
#[derive(Debug, Clone)]
pub struct NewWebSession {
    /// SHA-256 of the session secret (the secret is only in the cookie).
    pub id_hash: [u8; 32],
    pub principal_id: String,
    /// The API token the person signed in with; the session dies with it.
    pub token_id: String,
    pub now_ms: i64,
    /// The absolute end of the session.
    pub expires_at_ms: i64,
}

/// A live session and who it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub token_id: String,
    pub principal: Principal,
    pub created_at_ms: i64,
    pub last_seen_at_ms: i64,
    pub expires_at_ms: i64,
}

/// Why a session ended, recorded in `web.session_ended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSessionEnd {
    SignedOut,
}

impl Store {
    /// Opens a session (sign-in) and records `web.session_opened` by `by` (the signed-in
    /// principal acting through the dashboard). Deletes rows that ended or expired more
    /// than a week ago on the way.
    pub async fn open_web_session(
        &self,
        by: &Caller,
        new: NewWebSession,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let old = new.now_ms - KEEP_ENDED_MS;
        const DELETE_OLD: &str = "DELETE FROM web_sessions WHERE expires_at < $1 OR ended_at < $1";
        in_tx!(tx, execute, sqlx::query(DELETE_OLD), old);
        const INSERT: &str = "INSERT INTO web_sessions (id_hash, principal_id, token_id, \
             created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
        in_tx!(
            tx,
            execute,
            sqlx::query(INSERT),
            new.id_hash.as_slice(),
            &new.principal_id,
            &new.token_id,
            new.now_ms,
            new.now_ms,
            new.expires_at_ms,
        );
        append_unscoped_event(
            &mut tx,
            new.now_ms,
            by.actor(),
            WebSessionOpened {
                token_id: new.token_id.clone(),
                expires_at_ms: new.expires_at_ms,
            },
        )
        .await?;
        tx.commit().await
    }

    /// The live session whose secret hashes to `id_hash`, or `None` when there is none:
    /// unknown, signed out, idle since before `now_ms - idle_ms`, past its absolute end,
    /// its token revoked or expired, or its principal disabled. One indexed read; it
    /// writes `last_seen_at` only when that is older than [`WEB_SESSION_TOUCH_MS`].
    pub async fn web_session(
        &self,
        id_hash: &[u8; 32],
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Option<WebSession>, StoreError> {
        // `CAST(… AS TEXT)` reads the roles (TEXT on SQLite, JSONB on PostgreSQL) as text
        // on both.
        const SELECT: &str = "SELECT s.token_id, s.created_at AS session_created_at, \
             s.last_seen_at, s.expires_at, p.id, p.kind, p.name, CAST(p.roles AS TEXT) AS roles, \
             p.created_at, p.disabled_at \
             FROM web_sessions s JOIN tokens t ON t.id = s.token_id \
             JOIN principals p ON p.id = s.principal_id \
             WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2 \
             AND s.last_seen_at > $3 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2) AND p.disabled_at IS NULL";
        let idle_since = now_ms.saturating_sub(idle_ms);
        let row = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as::<_, SessionRow>(SELECT),
            id_hash.as_slice(),
            now_ms,
            idle_since
        );
        let Some(row) = row else {
            return Ok(None);
        };
        let principal = decode_principal(row.principal)?;
        if now_ms - row.last_seen_at >= WEB_SESSION_TOUCH_MS
            && let Err(error) = self.touch_web_session(id_hash, now_ms).await
        {
            tracing::warn!(%error, "could not record web session use");
        }
        Ok(Some(WebSession {
            token_id: row.token_id,
            principal,
            created_at_ms: row.session_created_at,
            last_seen_at_ms: row.last_seen_at,
            expires_at_ms: row.expires_at,
        }))
    }

    /// Ends the session (sign-out) and records `web.session_ended` by `by`. Ending an
    /// ended or unknown session changes nothing and returns `false`.
    pub async fn end_web_session(
        &self,
        by: &Caller,
        id_hash: &[u8; 32],
        why: WebSessionEnd,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        const END: &str =
            "UPDATE web_sessions SET ended_at = $1 WHERE id_hash = $2 AND ended_at IS NULL";
        if in_tx!(tx, execute, sqlx::query(END), now_ms, id_hash.as_slice()) == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        append_unscoped_event(
            &mut tx,
            now_ms,
            by.actor(),
            WebSessionEnded {
                why: match why {
                    WebSessionEnd::SignedOut => "signed_out",
                }
                .to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn touch_web_session(&self, id_hash: &[u8; 32], now_ms: i64) -> Result<(), StoreError> {
        const TOUCH: &str = "UPDATE web_sessions SET last_seen_at = $1 WHERE id_hash = $2";
        on_pool!(self.pool, |pool| {
            sqlx::query(TOUCH)
                .bind(now_ms)
                .bind(id_hash.as_slice())
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

/// A live session and its principal.
#[derive(sqlx::FromRow)]
struct SessionRow {
    token_id: String,
    session_created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    #[sqlx(flatten)]
    principal: PrincipalRow,
}
