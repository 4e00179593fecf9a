//! Personal data in audit events, and its erasure (GDPR) without breaking verification:
//! per-subject keys and crypto-shredding.
//!
//! # The convention
//!
//! A use case that records personal data (a principal's name, a token label, the free
//! text of a comment) gives its typed payload a `steward_audit::Personal`, which
//! `NewEvent::typed` puts under the top-level `"personal"` member of the event's `data`:
//!
//! ```json
//! {"principal_id": "…", "personal": {"subject": "<principal id>", "values": {"name": "Alice"}}}
//! ```
//!
//! [`append_event`](crate::append_event) never stores that form. It replaces it, before
//! hashing, with an envelope encrypted under the subject's key (XChaCha20-Poly1305, a
//! fresh random 24-byte nonce, the subject id as associated data, so an envelope cannot
//! be moved to another subject):
//!
//! ```json
//! {"personal": {"subject": "…", "alg": "xchacha20poly1305", "nonce": "<hex>", "ciphertext": "<base64>"}}
//! ```
//!
//! or, once the subject has been erased, `{"subject": "…", "erased": true}`. The chain
//! hashes the envelope, so exports and offline verification never need a key.
//!
//! # Erasure
//!
//! Erasing a subject ([`Store::erase_principal`](crate::Store::erase_principal)) sets its
//! key to NULL. The ciphertext stays in the trail, unchanged, and keeps verifying; nobody
//! can decrypt it any more. Readers ([`Store::reveal_personal`]) show, beside the stored
//! entries, `{"subject": "…", "values": {…}}` while the key exists and
//! `{"subject": "…", "erased": true}` afterwards.
//!
//! **Invariant:** no plaintext personal value is ever written to `audit_events`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde_json::{Map, Value, json};

use crate::error::StoreError;
use crate::store::{Backend, Store, Tx, in_pool, in_tx, on_tx};
use steward_audit::AuditEntry;

/// The member of an event's `data` that holds personal values.
pub const PERSONAL: &str = "personal";

/// The cipher named in each envelope.
const ALG: &str = "xchacha20poly1305";

/// Free text a person wrote: defined beside the typed event payloads that carry it
/// (`steward_audit::PersonalText`), re-exported here for request bodies and columns.
pub use steward_audit::PersonalText;

/// A subject's key, or `None` once the subject is erased.
type SubjectKey = Option<[u8; 32]>;

/// Replaces a plaintext `personal` member of `data` by its encrypted envelope (or the
/// erased marker), creating the subject's key on first use. Called by `append_event`
/// before hashing. Data without a `personal` member is left alone.
pub(crate) async fn seal(tx: &mut Tx<'_>, data: &mut Value, now_ms: i64) -> Result<(), StoreError> {
    let Value::Object(map) = data else {
        return Ok(());
    };
    let Some(member) = map.get_mut(PERSONAL) else {
        return Ok(());
    };
    let bad = |problem: &str| StoreError::corrupt("personal data", PERSONAL, problem);
    let (subject, values) = match member {
        Value::Object(fields) => {
            let Some(Value::String(subject)) = fields.get("subject") else {
                return Err(bad("`subject` must be a principal id"));
            };
            let Some(values @ Value::Object(_)) = fields.get("values") else {
                return Err(bad(
                    "`values` must be an object (use steward_audit::Personal)",
                ));
            };
            (subject.clone(), values)
        }
        _ => return Err(bad("must be an object made by steward_audit::Personal")),
    };
    let plaintext = steward_audit::canonical_json(values);
    let envelope = match subject_key_for_write(tx, &subject, now_ms).await? {
        None => erased_marker(&subject),
        Some(key) => {
            let mut nonce = [0u8; 24];
            rand::rng().fill_bytes(&mut nonce);
            let cipher = XChaCha20Poly1305::new(&key.into());
            let ciphertext = cipher
                .encrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: plaintext.as_bytes(),
                        aad: subject.as_bytes(),
                    },
                )
                .map_err(|_| bad("encryption failed"))?;
            json!({
                "subject": subject,
                "alg": ALG,
                "nonce": hex::encode(nonce),
                "ciphertext": BASE64.encode(ciphertext),
            })
        }
    };
    *member = envelope;
    Ok(())
}

fn erased_marker(subject: &str) -> Value {
    json!({ "subject": subject, "erased": true })
}

/// A subject's key: no row when it has none yet, a `NULL` key once erased.
const READ_KEY: &str = "SELECT key FROM subject_keys WHERE subject = $1";

/// The subject's key inside a writing transaction, created if the subject has none yet:
/// one read when it has one (the common case), else an insert and a read.
async fn subject_key_for_write(
    tx: &mut Tx<'_>,
    subject: &str,
    now_ms: i64,
) -> Result<SubjectKey, StoreError> {
    let stored = in_tx!(tx, fetch_optional, sqlx::query_scalar(READ_KEY), subject);
    let key = match stored {
        Some(key) => key,
        None => {
            let mut fresh = [0u8; 32];
            rand::rng().fill_bytes(&mut fresh);
            // ON CONFLICT DO NOTHING keeps a key (or an erasure) that another transaction
            // committed meanwhile: both then read the same row.
            const INSERT: &str = "INSERT INTO subject_keys (subject, key, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (subject) DO NOTHING";
            in_tx!(
                tx,
                execute,
                sqlx::query(INSERT),
                subject,
                fresh.as_slice(),
                now_ms
            );
            in_tx!(tx, fetch_one, sqlx::query_scalar(READ_KEY), subject)
        }
    };
    decode_key(subject, key)
}

fn decode_key(subject: &str, key: Option<Vec<u8>>) -> Result<SubjectKey, StoreError> {
    key.map(|key| {
        <[u8; 32]>::try_from(key.as_slice())
            .map_err(|_| StoreError::corrupt("subject key", subject, "key is not 32 bytes"))
    })
    .transpose()
}

/// Destroys `subject`'s key inside `tx`. Returns whether anything changed: `false` when
/// the subject was already erased. A subject with no key yet gets an erased row, so its
/// later events carry only the erased marker.
pub(crate) async fn erase_subject(
    tx: &mut Tx<'_>,
    subject: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    const SQL: &str = "INSERT INTO subject_keys (subject, key, created_at, erased_at) \
         VALUES ($1, NULL, $2, $3) \
         ON CONFLICT (subject) DO UPDATE SET key = NULL, erased_at = excluded.erased_at \
         WHERE subject_keys.erased_at IS NULL";
    Ok(in_tx!(tx, execute, sqlx::query(SQL), subject, now_ms, now_ms) > 0)
}

impl Store {
    /// What a reader may see of each entry's encrypted `personal` envelope, by `seq`:
    /// `{"subject": …, "values": {…}}` while the subject's key exists, and
    /// `{"subject": …, "erased": true}` once it is erased. Entries without personal data
    /// have no key in the map.
    ///
    /// The entries themselves are left as stored, so they still hash to their `hash`
    /// (clients check that, and inclusion proofs rest on it).
    pub async fn reveal_personal(
        &self,
        entries: &[AuditEntry],
    ) -> Result<BTreeMap<u64, Value>, StoreError> {
        let mut keys: Vec<(String, SubjectKey)> = Vec::new();
        let mut revealed = BTreeMap::new();
        for entry in entries {
            let Some(Value::Object(envelope)) = entry.data.get(PERSONAL) else {
                continue;
            };
            let Some(Value::String(subject)) = envelope.get("subject") else {
                continue;
            };
            let key = match keys.iter().find(|(known, _)| known == subject) {
                Some((_, key)) => *key,
                None => {
                    let key = self.subject_key(subject).await?;
                    keys.push((subject.clone(), key));
                    key
                }
            };
            let values = match key {
                Some(key) => open(&key, subject, envelope, entry.seq)?,
                None => None,
            };
            let shown = match values {
                Some(values) => json!({ "subject": subject, "values": values }),
                None => erased_marker(subject),
            };
            revealed.insert(entry.seq, shown);
        }
        Ok(revealed)
    }

    /// A subject's key: `None` when erased or never created.
    async fn subject_key(&self, subject: &str) -> Result<SubjectKey, StoreError> {
        let key = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_scalar(READ_KEY),
            subject
        );
        decode_key(subject, key.flatten())
    }
}

/// Decrypts one envelope. `None` for an erased marker; an error for an envelope that does
/// not open under its subject's key (which a verified chain rules out).
fn open(
    key: &[u8; 32],
    subject: &str,
    envelope: &Map<String, Value>,
    seq: u64,
) -> Result<Option<Value>, StoreError> {
    if envelope.get("erased") == Some(&Value::Bool(true)) {
        return Ok(None);
    }
    let bad = |problem: &str| StoreError::corrupt("audit event", seq, problem);
    let (Some(Value::String(nonce)), Some(Value::String(ciphertext))) =
        (envelope.get("nonce"), envelope.get("ciphertext"))
    else {
        return Err(bad("personal envelope lacks nonce or ciphertext"));
    };
    let nonce = hex::decode(nonce)
        .ok()
        .and_then(|bytes| <[u8; 24]>::try_from(bytes).ok())
        .ok_or_else(|| bad("personal nonce is not 24 hex bytes"))?;
    let ciphertext = BASE64
        .decode(ciphertext)
        .map_err(|_| bad("personal ciphertext is not base64"))?;
    let plaintext = XChaCha20Poly1305::new(key.into())
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: subject.as_bytes(),
            },
        )
        .map_err(|_| bad("personal ciphertext does not open under its subject's key"))?;
    serde_json::from_slice(&plaintext)
        .map(Some)
        .map_err(|_| bad("personal plaintext is not JSON"))
}

/// The outcome of [`Store::erase_principal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The principal after erasure (its name replaced by `erased:<id>`).
    pub principal: crate::Principal,
    /// `false` when the principal had already been erased: nothing changed, nothing was
    /// recorded.
    pub erased_now: bool,
}

impl Store {
    /// Erases a principal's personal data (GDPR), keeping the audit trail verifiable:
    /// destroys the principal's key, so every personal value recorded for it in audit
    /// events becomes unreadable; replaces its name in `principals` by `erased:<id>`, its
    /// token labels by `erased`, and clears its approval comments; and records
    /// `principal.erased` (which carries no personal data). One transaction.
    ///
    /// Idempotent: erasing an erased principal changes and records nothing. The principal
    /// keeps its id, roles and tokens (disable it separately to stop it acting).
    pub async fn erase_principal(
        &self,
        by: &steward_audit::Actor,
        id: &str,
        now_ms: i64,
    ) -> Result<Erasure, StoreError> {
        let mut tx = self.begin().await?;
        let sql = format!("SELECT id FROM principals WHERE id = $1{}", tx.for_update());
        let found = in_tx!(
            tx,
            fetch_optional,
            sqlx::query_scalar::<_, String>(&sql),
            id
        );
        if found.is_none() {
            return Err(StoreError::NotFound {
                what: "principal",
                id: id.to_owned(),
            });
        }
        let erased_now = erase_subject(&mut tx, id, now_ms).await?;
        if erased_now {
            if self.backend() == Backend::Sqlite {
                // SQLite only (a pragma PostgreSQL lacks): overwritten names and labels
                // must not linger in the file's free space.
                in_tx!(tx, execute, sqlx::query("PRAGMA secure_delete = ON"));
            }
            let placeholder = format!("erased:{id}");
            // The databases' JSON builders differ; the review keeps only its id.
            let erase_review = match self.backend() {
                Backend::Sqlite => {
                    "UPDATE emergencies SET review = json_object('id', json_extract(review, \
                     '$.id'), 'erased', json('true')) WHERE review_filed_by = $1"
                }
                Backend::Postgres => {
                    "UPDATE emergencies SET review = jsonb_build_object('id', review->'id', \
                     'erased', true) WHERE review_filed_by = $1"
                }
            };
            // Every place outside the trail that holds this principal's personal data.
            // Each statement binds the principal id first, then the replacement text if any.
            let renamed = (
                "UPDATE principals SET name = $2 WHERE id = $1",
                Some(placeholder.as_str()),
            );
            let marked = [
                "UPDATE tokens SET label = $2 WHERE principal_id = $1",
                "UPDATE audit_legal_holds SET reason = $2 WHERE created_by = $1",
                "UPDATE audit_legal_holds SET release_reason = $2 WHERE released_by = $1",
                "UPDATE emergencies SET reason = $2 WHERE declared_by = $1",
            ];
            let cleared = [
                "UPDATE approvals SET comment = NULL WHERE principal_id = $1",
                "UPDATE promotion_approvals SET comment = NULL WHERE principal_id = $1",
                "UPDATE rollbacks SET notes = NULL WHERE completed_by = $1",
                "UPDATE emergencies SET resolution = NULL WHERE resolved_by = $1",
                erase_review,
            ];
            let marked = marked.map(|sql| (sql, Some("erased")));
            let cleared = cleared.map(|sql| (sql, None));
            for (sql, text) in std::iter::once(renamed).chain(marked).chain(cleared) {
                on_tx!(tx, |conn| {
                    let mut query = sqlx::query(sql).bind(id);
                    if let Some(text) = text {
                        query = query.bind(text);
                    }
                    query.execute(&mut **conn).await?;
                });
            }
            crate::audit::append_unscoped_event(
                &mut tx,
                now_ms,
                by.clone(),
                steward_audit::event::PrincipalErased {
                    principal_id: id.to_owned(),
                },
            )
            .await?;
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        let principal = self.principal_by_id(id).await?;
        Ok(Erasure {
            principal,
            erased_now,
        })
    }
}
