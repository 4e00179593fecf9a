//! API tokens: generating secrets, storing only their SHA-256, authenticating a bearer
//! secret, revoking and listing.
//!
//! A secret is `stw_` followed by 43 base64url characters: 256 bits from the operating
//! system's randomness through `rand`'s thread-local CSPRNG. It is shown to its owner
//! once, by the caller of [`generate`]; the store only ever sees [`hash`] of it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use steward_audit::{Actor, Subject};

use crate::audit::{NewEvent, append_event};
use crate::error::StoreError;
use crate::personal::with_personal;
use crate::principal::{Principal, decode_principal};
use crate::store::{Pool, Store, Tx, TxConn, new_id, now_ms};

/// The prefix of every secret [`generate`] makes, so leaked tokens are easy to grep for.
pub const SECRET_PREFIX: &str = "stw_";

/// `last_used_at` is refreshed at most this often per token, so that authenticating, the
/// hot path of every API call, is a read and not a write.
pub const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// A new random secret and its SHA-256, for [`Store::create_token`].
pub fn generate() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let digest = hash(&secret);
    (secret, digest)
}

/// The SHA-256 of a secret: what the `tokens` table stores and looks tokens up by.
///
/// A plain hash, not a password hash: secrets carry 256 random bits, so there is nothing
/// to brute-force, and authentication stays one hash and one indexed lookup.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A token to store. The caller made the secret with [`generate`] and keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub principal_id: String,
    pub label: String,
    /// Unix milliseconds; `None` never expires.
    pub expires_at_ms: Option<i64>,
    pub secret_hash: [u8; 32],
}

/// What the store tells about a token. Never the secret, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub principal_id: String,
    pub label: String,
    /// Unix milliseconds, as are the other times.
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    /// Refreshed at most every [`LAST_USED_GRANULARITY_MS`].
    pub last_used_at_ms: Option<i64>,
}

/// Who a valid secret belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedPrincipal {
    pub token_id: String,
    pub principal: Principal,
}

impl Store {
    /// Stores a token for an existing principal and records `token.created` (with the
    /// token's id and label, never its hash).
    pub async fn create_token(&self, by: &Actor, new: NewToken) -> Result<TokenInfo, StoreError> {
        let now = now_ms();
        // Read first for a clear NotFound; the foreign key still guards the insert.
        self.principal_by_id(&new.principal_id).await?;
        let token = TokenInfo {
            id: new_id(),
            principal_id: new.principal_id,
            label: new.label,
            created_at_ms: now,
            expires_at_ms: new.expires_at_ms,
            revoked_at_ms: None,
            last_used_at_ms: None,
        };
        let mut tx = self.begin().await?;
        insert_token(&mut tx, by, &token, &new.secret_hash, Subject::default()).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The principal a bearer secret belongs to, or `None` when the secret is unknown,
    /// its token is revoked or expired, or its principal is disabled. The answer does not
    /// say which, so a caller cannot leak it.
    ///
    /// One indexed read by the secret's hash. `last_used_at` is written only when it is
    /// older than [`LAST_USED_GRANULARITY_MS`], in its own statement, best effort: a
    /// failure to record use is logged and does not fail authentication. So at most one
    /// call per token per minute writes (and, on SQLite, may wait for the write lock);
    /// all others are pure reads. Authentication itself is not audited: the server
    /// audits what an authenticated principal does, and may audit failures.
    pub async fn authenticate(
        &self,
        secret: &str,
    ) -> Result<Option<AuthenticatedPrincipal>, StoreError> {
        let now = now_ms();
        let secret_hash = hash(secret);
        let row: Option<AuthRow> = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT t.id, t.last_used_at, \
                     p.id, p.kind, p.name, p.roles, p.created_at, p.disabled_at \
                     FROM tokens t JOIN principals p ON p.id = t.principal_id \
                     WHERE t.token_hash = ? AND t.revoked_at IS NULL \
                     AND (t.expires_at IS NULL OR t.expires_at > ?) \
                     AND p.disabled_at IS NULL",
                )
                .bind(secret_hash.as_slice())
                .bind(now)
                .fetch_optional(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT t.id, t.last_used_at, \
                     p.id, p.kind, p.name, p.roles::text, p.created_at, p.disabled_at \
                     FROM tokens t JOIN principals p ON p.id = t.principal_id \
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
                     AND (t.expires_at IS NULL OR t.expires_at > $2) \
                     AND p.disabled_at IS NULL",
                )
                .bind(secret_hash.as_slice())
                .bind(now)
                .fetch_optional(pool)
                .await?
            }
        };
        let Some((token_id, last_used_at, p_id, kind, name, roles, created_at, disabled_at)) = row
        else {
            return Ok(None);
        };
        let principal = decode_principal((p_id, kind, name, roles, created_at, disabled_at))?;
        if last_used_at.is_none_or(|last| now - last >= LAST_USED_GRANULARITY_MS) {
            if let Err(error) = self.touch_token(&token_id, now).await {
                tracing::warn!(token_id, %error, "could not record token use");
            }
        }
        Ok(Some(AuthenticatedPrincipal {
            token_id,
            principal,
        }))
    }

    /// Revokes a token and records `token.revoked`. Revoking a revoked token changes
    /// nothing, records nothing, and returns it as it is.
    pub async fn revoke_token(&self, by: &Actor, token_id: &str) -> Result<TokenInfo, StoreError> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        if revoke_token_in(&mut tx, by, token_id, Subject::default(), now).await? {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        self.token_by_id(token_id).await
    }

    /// A principal's tokens, revoked and expired ones included, oldest first. Empty for
    /// an unknown principal.
    pub async fn list_tokens(&self, principal_id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let rows: Vec<TokenRow> = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT id, principal_id, label, created_at, expires_at, revoked_at, \
                     last_used_at FROM tokens WHERE principal_id = ? ORDER BY created_at, id",
                )
                .bind(principal_id)
                .fetch_all(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT id, principal_id, label, created_at, expires_at, revoked_at, \
                     last_used_at FROM tokens WHERE principal_id = $1 ORDER BY created_at, id",
                )
                .bind(principal_id)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows.into_iter().map(decode_token).collect())
    }

    pub async fn token_by_id(&self, token_id: &str) -> Result<TokenInfo, StoreError> {
        let row: Option<TokenRow> = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT id, principal_id, label, created_at, expires_at, revoked_at, \
                     last_used_at FROM tokens WHERE id = ?",
                )
                .bind(token_id)
                .fetch_optional(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT id, principal_id, label, created_at, expires_at, revoked_at, \
                     last_used_at FROM tokens WHERE id = $1",
                )
                .bind(token_id)
                .fetch_optional(pool)
                .await?
            }
        };
        row.map(decode_token).ok_or_else(|| StoreError::NotFound {
            what: "token",
            id: token_id.to_owned(),
        })
    }

    async fn touch_token(&self, token_id: &str, now: i64) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query("UPDATE tokens SET last_used_at = ? WHERE id = ?")
                    .bind(now)
                    .bind(token_id)
                    .execute(pool)
                    .await?;
            }
            Pool::Postgres(pool) => {
                sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(token_id)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Inserts `token` (with the hash of its secret) and appends `token.created` (about
/// `subject`), inside `tx`. The token's label is personal data of its principal.
pub(crate) async fn insert_token(
    tx: &mut Tx<'_>,
    by: &Actor,
    token: &TokenInfo,
    secret_hash: &[u8; 32],
    subject: Subject,
) -> Result<(), StoreError> {
    let now = token.created_at_ms;
    let inserted = match &mut tx.conn {
        TxConn::Sqlite(tx) => sqlx::query(
            "INSERT INTO tokens (id, principal_id, token_hash, label, created_at, \
                 expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(&token.principal_id)
        .bind(secret_hash.as_slice())
        .bind(&token.label)
        .bind(now)
        .bind(token.expires_at_ms)
        .execute(&mut **tx)
        .await
        .map(|done| done.rows_affected()),
        TxConn::Postgres(tx) => sqlx::query(
            "INSERT INTO tokens (id, principal_id, token_hash, label, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.id)
        .bind(&token.principal_id)
        .bind(secret_hash.as_slice())
        .bind(&token.label)
        .bind(now)
        .bind(token.expires_at_ms)
        .execute(&mut **tx)
        .await
        .map(|done| done.rows_affected()),
    };
    match inserted.map_err(StoreError::from) {
        Err(error) if error.is_conflict() => {
            return Err(StoreError::Conflict {
                message: "a token with this secret already exists".to_owned(),
            });
        }
        other => other?,
    };
    append_event(
        tx,
        NewEvent {
            ts_ms: now,
            event_type: "token.created".to_owned(),
            actor: by.clone(),
            subject,
            level: None,
            // A label often names a person or their device: personal data of the
            // token's principal, stored encrypted for it.
            data: with_personal(
                json!({
                    "token_id": token.id,
                    "principal_id": token.principal_id,
                    "expires_at": token.expires_at_ms,
                }),
                &token.principal_id,
                json!({ "label": token.label }),
            ),
        },
    )
    .await?;
    Ok(())
}

/// Revokes token `token_id` and appends `token.revoked` (about `subject`), inside `tx`.
/// Returns whether it changed anything: revoking a revoked token records nothing.
pub(crate) async fn revoke_token_in(
    tx: &mut Tx<'_>,
    by: &Actor,
    token_id: &str,
    subject: Subject,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = match &mut tx.conn {
        TxConn::Sqlite(tx) => {
            sqlx::query("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(token_id)
                .execute(&mut **tx)
                .await?
                .rows_affected()
        }
        TxConn::Postgres(tx) => {
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(token_id)
                .execute(&mut **tx)
                .await?
                .rows_affected()
        }
    };
    if changed != 1 {
        return Ok(false);
    }
    append_event(
        tx,
        NewEvent {
            ts_ms: now,
            event_type: "token.revoked".to_owned(),
            actor: by.clone(),
            subject,
            level: None,
            data: json!({ "token_id": token_id }),
        },
    )
    .await?;
    Ok(true)
}

/// token id, last_used_at, then the columns of a principal row.
type AuthRow = (
    String,
    Option<i64>,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
);

/// id, principal_id, label, created_at, expires_at, revoked_at, last_used_at.
type TokenRow = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn decode_token(row: TokenRow) -> TokenInfo {
    let (id, principal_id, label, created_at_ms, expires_at_ms, revoked_at_ms, last_used_at_ms) =
        row;
    TokenInfo {
        id,
        principal_id,
        label,
        created_at_ms,
        expires_at_ms,
        revoked_at_ms,
        last_used_at_ms,
    }
}
