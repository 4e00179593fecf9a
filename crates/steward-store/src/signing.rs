//! The audit signing key's public half, recorded in the database (table
//! `audit_signing_key`, migration 0013), so that every instance sharing the database signs
//! and verifies with the same key, or refuses to start.
//!
//! `steward init` records the key it makes. A database initialised before keys were
//! recorded gets its key recorded by the first start that has one, and only if the
//! trail's latest checkpoint was signed with that key. The row is permanent (triggers
//! refuse update and delete): a different key is refused, never recorded over it.

use steward_audit::event::SigningKeyRecorded;
use steward_audit::{EventType, format_public_key, key_id};

use crate::audit::append_unscoped_event;
use crate::caller::Caller;
use crate::error::StoreError;
use crate::store::{Store, in_pool, in_tx};

/// The event that records the key.
pub const SIGNING_KEY_RECORDED_EVENT: &str = EventType::AuditSigningKeyRecorded.as_str();

/// What [`Store::claim_signing_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key is the one recorded.
    Matches,
    /// No key was recorded; this one is now (with its audit event).
    Recorded,
    /// The database's trail is signed with another key: the one recorded, or (for a
    /// database from before keys were recorded) the one of its latest checkpoint.
    Differs { key_id: String },
}

impl Store {
    /// The public key recorded for the audit trail, if any.
    pub async fn recorded_signing_key(&self) -> Result<Option<[u8; 32]>, StoreError> {
        const SQL: &str = "SELECT public_key FROM audit_signing_key WHERE id = 1";
        let row = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_scalar::<_, Vec<u8>>(SQL)
        );
        row.map(|bytes| {
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| StoreError::corrupt("audit signing key", 1, "not 32 bytes"))
        })
        .transpose()
    }

    /// Checks `public_key` against the key recorded for the trail, recording it when none
    /// is (with `audit.signing_key_recorded` by `by`), in one transaction. With nothing
    /// recorded, a trail whose latest checkpoint names another key id is
    /// [`KeyClaim::Differs`] and nothing is written. Safe to race: the row has one
    /// possible id, and the loser compares with the winner's key.
    pub async fn claim_signing_key(
        &self,
        by: &Caller,
        public_key: &[u8; 32],
        now_ms: i64,
    ) -> Result<KeyClaim, StoreError> {
        let given = key_id(public_key);
        if let Some(recorded) = self.recorded_signing_key().await? {
            return Ok(if recorded == *public_key {
                KeyClaim::Matches
            } else {
                KeyClaim::Differs {
                    key_id: key_id(&recorded),
                }
            });
        }
        let mut tx = self.begin().await?;
        const LATEST: &str = "SELECT key_id FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1";
        let latest = in_tx!(tx, fetch_optional, sqlx::query_scalar::<_, String>(LATEST));
        if let Some(signed_with) = latest.filter(|id| *id != given) {
            tx.rollback().await?;
            return Ok(KeyClaim::Differs {
                key_id: signed_with,
            });
        }
        const RECORD: &str = "INSERT INTO audit_signing_key (id, public_key, key_id, recorded_at) \
             VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING";
        let key = public_key.as_slice();
        let inserted = in_tx!(tx, execute, sqlx::query(RECORD), key, &given, now_ms);
        if inserted == 0 {
            // Another instance recorded a key meanwhile.
            tx.rollback().await?;
            return Box::pin(self.claim_signing_key(by, public_key, now_ms)).await;
        }
        append_unscoped_event(
            &mut tx,
            now_ms,
            by.actor(),
            SigningKeyRecorded {
                public_key: format_public_key(public_key),
                key_id: given,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(KeyClaim::Recorded)
    }
}
