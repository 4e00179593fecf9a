//! `AppState`: what every handler can reach. Cheap to clone (handles and `Arc`s).

use std::fmt;
use std::sync::Arc;

use steward_policy::Policy;
use steward_store::Store;

use crate::authz::AuthzCache;
use crate::clock::Clock;
use crate::feed::AuditFeed;

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub policy: Arc<Policy>,
    pub clock: Clock,
    /// The key that signs audit checkpoints (SPEC §9), or `None` when this instance has
    /// none: then it serves proofs and existing checkpoints but makes no new ones.
    pub audit_key: Option<AuditKey>,
    /// Workers' standings and permits' constraints for `POST /v1/authorize`, checked
    /// against the database's row versions on every use (see `authz`). Per instance.
    pub authz: AuthzCache,
    /// Every committed audit event, for whoever follows the trail live (see `feed`).
    /// Per instance; it sees what every instance on the same database commits.
    pub feed: AuditFeed,
}

impl AppState {
    /// The state of one instance over `store`, with empty per-instance caches. New
    /// fields get their defaults here, so callers set only what they configure.
    pub fn new(
        store: Store,
        policy: Arc<Policy>,
        clock: Clock,
        audit_key: Option<AuditKey>,
    ) -> AppState {
        AppState {
            feed: AuditFeed::new(store.clone()),
            store,
            policy,
            clock,
            audit_key,
            authz: AuthzCache::default(),
        }
    }
}

/// The Ed25519 secret key (its 32-byte seed) that signs audit checkpoints. Cheap to
/// clone; its `Debug` shows only the public key's id, never the secret.
#[derive(Clone)]
pub struct AuditKey {
    secret: Arc<[u8; 32]>,
    public: [u8; 32],
}

impl AuditKey {
    pub fn new(secret: [u8; 32]) -> AuditKey {
        AuditKey {
            public: steward_audit::public_key(&secret),
            secret: Arc::new(secret),
        }
    }

    /// The secret seed, for signing.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// The public key's id: the first 16 hex digits of its SHA-256.
    pub fn key_id(&self) -> String {
        steward_audit::key_id(&self.public)
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}
