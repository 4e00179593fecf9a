//! API tokens: generating secrets, storing only their SHA-256, authenticating a bearer
//! secret, minting a token with another, revoking (with every token minted from it) and
//! listing.
//!
//! # Lineage
//!
//! A token created through the API records the token its creator authenticated with
//! (`parent_token_id`). Two rules make a minted token end with its parent, so that a
//! stolen token cannot mint itself a successor that outlives it:
//!
//! - expiry: [`Store::mint_token`] refuses an expiry later than the parent's (and gives a
//!   token asked for without one the parent's), so a token never expires after any of
//!   its ancestors and authentication stays one indexed read, with no chain to walk;
//! - revocation: [`Store::revoke_token`] revokes every live descendant in the same
//!   transaction, one `token.revoked` event each.
//!
//! INVARIANT: a live token's parent is live. On PostgreSQL a mint locks its parent row
//! (`FOR UPDATE`) and checks that it is live, and a revocation updates each token before
//! it reads that token's children in a later statement, so a mint racing a revocation
//! either sees its parent revoked or commits before the revocation reads the children.
//! On SQLite every write transaction holds the database's write lock.
//!
//! A secret is `stw_` followed by 43 base64url characters: 256 bits from the operating
//! system's randomness through `rand`'s thread-local CSPRNG. It is shown to its owner
//! once, by the caller of [`generate`]; the store only ever sees [`hash`] of it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use steward_audit::event::{TokenCreated, TokenRevoked};
use steward_audit::{Actor, Personal, Subject};

use crate::audit::{NewEvent, append_event};
use crate::authorize::EpochCache;
use crate::caller::Caller;
use crate::error::{StoreError, conflict_as};
use crate::principal::{Principal, PrincipalRow, decode_principal, principal_in};
use crate::store::{Store, Tx, in_pool, in_tx, new_id, now_ms, on_pool, on_tx};

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

/// Authentication answers kept in memory on SQLite, where this process makes every
/// write: an answer is used only at the authentication epoch it was read at (any write
/// transaction since that changed `tokens` or `principals`, such as a revocation or a
/// disabled principal, moves it) and while its token has not expired. Unknown secrets
/// are never kept.
pub(crate) type AuthCache = EpochCache<[u8; 32], CachedAuth>;

#[derive(Debug, Clone)]
pub(crate) struct CachedAuth {
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    found: AuthenticatedPrincipal,
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
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: String,
    pub principal_id: String,
    pub label: String,
    /// The token this one was minted with, when it was created through the API.
    pub parent_token_id: Option<String>,
    /// Unix milliseconds, as are the other times.
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    /// Refreshed at most every [`LAST_USED_GRANULARITY_MS`].
    pub last_used_at_ms: Option<i64>,
}

/// A revoked token and the tokens revoked with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRevocation {
    pub token: TokenInfo,
    /// The descendants this revocation ended (tokens minted with the token, with a token
    /// minted with it, …), in the order they were revoked.
    pub cascaded: Vec<String>,
}

/// Why [`Store::mint_token`] refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The minting token was revoked, or expired, after it authenticated the request.
    #[error("token `{token_id}` is no longer valid: it was revoked or has expired")]
    ParentNotLive { token_id: String },
    /// The new token would expire after the token that mints it (or never, when that one
    /// expires).
    #[error(
        "a token cannot outlive the token that creates it, which expires at {max_expires_at_ms} (unix ms)"
    )]
    OutlivesParent { max_expires_at_ms: i64 },
    /// The principal the token is for is disabled.
    #[error("principal `{principal_id}` is disabled")]
    PrincipalDisabled { principal_id: String },
}

/// Who a valid secret belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedPrincipal {
    pub token_id: String,
    pub principal: Principal,
}

impl Store {
    /// Stores a root token (one that no token minted: `steward init`'s first admin
    /// token, or one seeded outside the API) for an existing principal and records
    /// `token.created` (with the token's id and label, never its hash).
    pub async fn create_token(&self, by: &Caller, new: NewToken) -> Result<TokenInfo, StoreError> {
        let now = now_ms();
        // Read first for a clear NotFound; the foreign key still guards the insert.
        self.principal_by_id(&new.principal_id).await?;
        let mut tx = self.begin().await?;
        let token = insert_token(&mut tx, &by.actor(), new, None, Subject::default(), now).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Mints a token with token `parent_token_id` (the one the caller authenticated
    /// with) and records `token.created` with `minted_with`.
    ///
    /// In one transaction, under the parent's row lock: the parent must still be live
    /// ([`TokenError::ParentNotLive`]), the principal must exist and be enabled, and the
    /// new token expires no later than the parent: an `expires_at_ms` of `None` takes
    /// the parent's expiry, a later one is [`TokenError::OutlivesParent`].
    pub async fn mint_token(
        &self,
        by: &Caller,
        parent_token_id: &str,
        new: NewToken,
    ) -> Result<TokenInfo, TokenError> {
        let mut tx = self.begin().await?;
        let token = mint_in(
            &mut tx,
            &by.actor(),
            parent_token_id,
            new,
            Subject::default(),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The principal a bearer secret belongs to, or `None` when the secret is unknown,
    /// its token is revoked or expired, or its principal is disabled. The answer does not
    /// say which, so a caller cannot leak it.
    ///
    /// One indexed read by the secret's hash; none on SQLite when the answer is in memory
    /// from an earlier read at the current authentication epoch (see [`AuthCache`]: any
    /// write transaction of this process that changes a token or a principal, such as a
    /// revocation, makes every kept answer stale). `last_used_at` is written only when it is
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
        let cache = self.cache_answers().then_some(&self.shared.tokens);
        // Read before the database: an answer read after a change committed is tagged
        // with an epoch at or before that change's, so it is never used after it.
        let epoch = self.shared.auth_epoch();
        let kept = cache.and_then(|cache| cache.get(&secret_hash, epoch));
        if let Some(hit) = kept.filter(|hit| hit.expires_at.is_none_or(|at| at > now)) {
            self.touch_if_due(
                cache,
                &secret_hash,
                &hit.found.token_id,
                hit.last_used_at,
                now,
            )
            .await;
            return Ok(Some(hit.found));
        }
        const SQL: &str = "SELECT t.id AS token_id, t.last_used_at, t.expires_at, p.id, p.kind, \
             p.name, CAST(p.roles AS TEXT) AS roles, p.created_at, p.disabled_at \
             FROM tokens t JOIN principals p ON p.id = t.principal_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2) AND p.disabled_at IS NULL";
        let row = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as::<_, AuthRow>(SQL),
            secret_hash.as_slice(),
            now
        );
        let Some(row) = row else {
            return Ok(None);
        };
        let found = AuthenticatedPrincipal {
            token_id: row.token_id,
            principal: decode_principal(row.principal)?,
        };
        if let Some(cache) = cache {
            let kept = CachedAuth {
                expires_at: row.expires_at,
                last_used_at: row.last_used_at,
                found: found.clone(),
            };
            cache.put(secret_hash, epoch, kept);
        }
        self.touch_if_due(cache, &secret_hash, &found.token_id, row.last_used_at, now)
            .await;
        Ok(Some(found))
    }

    /// Records use of a token last used at `last_used_at`, when that is more than
    /// [`LAST_USED_GRANULARITY_MS`] ago (best effort: a failure is logged).
    async fn touch_if_due(
        &self,
        cache: Option<&AuthCache>,
        secret_hash: &[u8; 32],
        token_id: &str,
        last_used_at: Option<i64>,
        now: i64,
    ) {
        if last_used_at.is_some_and(|last| now - last < LAST_USED_GRANULARITY_MS) {
            return;
        }
        match self.touch_token(token_id, now).await {
            Ok(()) => {
                if let Some(cache) = cache {
                    cache.update(secret_hash, |kept| kept.last_used_at = Some(now));
                }
            }
            Err(error) => tracing::warn!(token_id, %error, "could not record token use"),
        }
    }

    /// Revokes a token and every token minted with it, transitively, in one
    /// transaction: one `token.revoked` event each (a descendant's names `minted_with`,
    /// its parent, and `cascade_from`, the token revoked here). Revoking a revoked token
    /// whose descendants are all revoked changes nothing, records nothing, and returns it
    /// as it is.
    pub async fn revoke_token(
        &self,
        by: &Caller,
        token_id: &str,
    ) -> Result<TokenRevocation, StoreError> {
        let mut tx = self.begin().await?;
        let revoked =
            revoke_in(&mut tx, &by.actor(), token_id, Subject::default(), now_ms()).await?;
        self.settle_revocation(tx, token_id, revoked).await
    }

    /// Ends the transaction of [`revoke_in`], which returned `(changed, cascaded)`: it
    /// commits only when something changed. Returns the token as it now is.
    pub(crate) async fn settle_revocation(
        &self,
        tx: Tx<'_>,
        token_id: &str,
        (changed, cascaded): (bool, Vec<String>),
    ) -> Result<TokenRevocation, StoreError> {
        if changed {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(TokenRevocation {
            token: self.token_by_id(token_id).await?,
            cascaded,
        })
    }

    /// A principal's tokens, revoked and expired ones included, oldest first. Empty for
    /// an unknown principal.
    pub async fn list_tokens(&self, principal_id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE principal_id = $1 ORDER BY created_at, id"
        );
        Ok(in_pool!(
            self.pool,
            fetch_all,
            sqlx::query_as::<_, TokenInfo>(&sql),
            principal_id
        ))
    }

    pub async fn token_by_id(&self, token_id: &str) -> Result<TokenInfo, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1");
        let row = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as::<_, TokenInfo>(&sql),
            token_id
        );
        row.ok_or_else(|| StoreError::NotFound {
            what: "token",
            id: token_id.to_owned(),
        })
    }

    async fn touch_token(&self, token_id: &str, now: i64) -> Result<(), StoreError> {
        on_pool!(self.pool, |pool| {
            sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(token_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

/// A token that authenticates, and its principal.
#[derive(sqlx::FromRow)]
struct AuthRow {
    token_id: String,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
    #[sqlx(flatten)]
    principal: PrincipalRow,
}

/// The `tokens` columns, in [`TokenInfo`]'s names.
const TOKEN_COLUMNS: &str = "id, principal_id, label, parent_token_id, \
     created_at AS created_at_ms, expires_at AS expires_at_ms, revoked_at AS revoked_at_ms, \
     last_used_at AS last_used_at_ms";

/// [`Store::mint_token`] inside `tx`, its `token.created` event about `subject`: for a
/// use case that mints under a lock of its own (a worker's token, minted by its owner).
pub(crate) async fn mint_in(
    tx: &mut Tx<'_>,
    by: &Actor,
    parent_token_id: &str,
    new: NewToken,
    subject: Subject,
) -> Result<TokenInfo, TokenError> {
    let now = now_ms();
    #[derive(sqlx::FromRow)]
    struct Parent {
        expires_at: Option<i64>,
        revoked_at: Option<i64>,
    }
    let sql = format!(
        "SELECT expires_at, revoked_at FROM tokens WHERE id = $1{}",
        tx.for_update()
    );
    let parent = in_tx!(
        tx,
        fetch_optional,
        sqlx::query_as::<_, Parent>(&sql),
        parent_token_id
    );
    let parent_expires_at = match parent {
        Some(Parent {
            expires_at,
            revoked_at: None,
        }) if expires_at.is_none_or(|at| at > now) => expires_at,
        _ => {
            return Err(TokenError::ParentNotLive {
                token_id: parent_token_id.to_owned(),
            });
        }
    };
    let expires_at_ms = match (parent_expires_at, new.expires_at_ms) {
        (None, asked) => asked,
        (Some(limit), None) => Some(limit),
        (Some(limit), Some(at)) if at <= limit => Some(at),
        (Some(limit), Some(_)) => {
            return Err(TokenError::OutlivesParent {
                max_expires_at_ms: limit,
            });
        }
    };
    match principal_in(tx, &new.principal_id).await? {
        None => {
            return Err(StoreError::NotFound {
                what: "principal",
                id: new.principal_id,
            }
            .into());
        }
        Some(p) if p.disabled_at_ms.is_some() => {
            return Err(TokenError::PrincipalDisabled {
                principal_id: new.principal_id,
            });
        }
        Some(_) => {}
    }
    let new = NewToken {
        expires_at_ms,
        ..new
    };
    Ok(insert_token(tx, by, new, Some(parent_token_id), subject, now).await?)
}

/// Inserts `new` as a token minted with `parent_token_id` (`None` for a root token) at
/// `now`, and records `token.created`.
async fn insert_token(
    tx: &mut Tx<'_>,
    by: &Actor,
    new: NewToken,
    parent_token_id: Option<&str>,
    subject: Subject,
    now: i64,
) -> Result<TokenInfo, StoreError> {
    let token = TokenInfo {
        id: new_id(),
        principal_id: new.principal_id,
        label: new.label,
        parent_token_id: parent_token_id.map(str::to_owned),
        created_at_ms: now,
        expires_at_ms: new.expires_at_ms,
        revoked_at_ms: None,
        last_used_at_ms: None,
    };
    const SQL: &str = "INSERT INTO tokens (id, principal_id, token_hash, label, \
         parent_token_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let inserted = on_tx!(tx, |conn| {
        sqlx::query(SQL)
            .bind(&token.id)
            .bind(&token.principal_id)
            .bind(new.secret_hash.as_slice())
            .bind(&token.label)
            .bind(&token.parent_token_id)
            .bind(token.created_at_ms)
            .bind(token.expires_at_ms)
            .execute(&mut **conn)
            .await
            .map(drop)
    });
    conflict_as(inserted, || {
        "a token with this secret already exists".to_owned()
    })?;
    append_event(
        tx,
        NewEvent::typed(
            token.created_at_ms,
            by.clone(),
            subject,
            None,
            TokenCreated {
                token_id: token.id.clone(),
                principal_id: token.principal_id.clone(),
                expires_at: token.expires_at_ms,
                minted_with: token.parent_token_id.clone(),
                // A label often names a person or their device: personal data of the
                // token's principal, stored encrypted for it.
                personal: Some(
                    Personal::of(&token.principal_id).plain("label", json!(token.label)),
                ),
            },
        )?,
    )
    .await?;
    Ok(token)
}

/// [`Store::revoke_token`] inside `tx`, its `token.revoked` events about `subject`;
/// returns whether anything changed and the descendants revoked. The caller commits.
pub(crate) async fn revoke_in(
    tx: &mut Tx<'_>,
    by: &Actor,
    token_id: &str,
    subject: Subject,
    now: i64,
) -> Result<(bool, Vec<String>), StoreError> {
    let mut events = Vec::new();
    if set_revoked(tx, token_id, now).await? {
        events.push(TokenRevoked {
            token_id: token_id.to_owned(),
            minted_with: None,
            cascade_from: None,
        });
    }
    // Breadth first over the lineage. Each token is updated (on PostgreSQL: waiting
    // for a mint that holds its row) before its children are read in a later
    // statement, which then sees what that mint committed.
    let mut cascaded = Vec::new();
    let mut frontier = vec![token_id.to_owned()];
    while let Some(parent) = frontier.pop() {
        // The tokens minted with `parent`, with their `revoked_at`.
        const CHILDREN: &str =
            "SELECT id, revoked_at FROM tokens WHERE parent_token_id = $1 ORDER BY id";
        let children = in_tx!(
            tx,
            fetch_all,
            sqlx::query_as::<_, (String, Option<i64>)>(CHILDREN),
            &parent
        );
        for (child, revoked_at) in children {
            if revoked_at.is_none() && set_revoked(tx, &child, now).await? {
                events.push(TokenRevoked {
                    token_id: child.clone(),
                    minted_with: Some(parent.clone()),
                    cascade_from: Some(token_id.to_owned()),
                });
                cascaded.push(child.clone());
            }
            frontier.push(child);
        }
    }
    // The events last: appending locks the audit head, and a mint holds its parent's
    // row while it waits for the head, so taking the head before the rows would
    // deadlock with it (rows, then the head, as every use case does).
    let changed = !events.is_empty();
    for data in events {
        let event = NewEvent::typed(now, by.clone(), subject.clone(), None, data)?;
        append_event(tx, event).await?;
    }
    Ok((changed, cascaded))
}

/// Sets `revoked_at` of a live token; whether it changed.
async fn set_revoked(tx: &mut Tx<'_>, token_id: &str, now: i64) -> Result<bool, StoreError> {
    const SQL: &str = "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
    Ok(in_tx!(tx, execute, sqlx::query(SQL), now, token_id) == 1)
}
