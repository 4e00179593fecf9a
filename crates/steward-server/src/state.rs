//! `AppState`: what every handler can reach. Cheap to clone (handles and `Arc`s).

use std::fmt;
use std::sync::Arc;

use steward_policy::Policy;
use steward_store::{RunMode, Store};
use tokio::sync::watch;

use crate::authz::AuthzCache;
use crate::clock::Clock;
use crate::feed::AuditFeed;
use crate::limits::{RateLimitConfig, RateLimits};
use crate::witness::{CheckpointSink, LastSigned};

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
    /// The address people reach this Steward at (`steward serve --public-url`, default
    /// the listening address), without a trailing slash: links in answers to agents and
    /// in notifications point there.
    pub public_url: Arc<str>,
    /// Set when the instance begins to shut down: long polls and event streams end then,
    /// so a graceful shutdown does not wait for them (their clients come back).
    pub stopping: Stopping,
    /// Failed-authentication, token-creation and authorize rate limits (see `limits`).
    /// Per instance.
    pub limits: RateLimits,
    /// Whether webhooks may target private addresses (`--webhook-allow-private`); cloud
    /// metadata services never (see `webhooks::target`).
    pub webhook_allow_private: bool,
    /// Where this instance appends each checkpoint it signs (`--checkpoint-sink`), if
    /// anywhere (see `witness`).
    pub checkpoint_sink: Option<CheckpointSink>,
    /// The last checkpoint this instance signed, which it will not sign past unless the
    /// trail extends it (see `witness`). Per instance.
    pub last_signed: LastSigned,
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
            public_url: Arc::from(DEFAULT_PUBLIC_URL),
            stopping: Stopping::default(),
            limits: RateLimits::new(RateLimitConfig::default()),
            webhook_allow_private: false,
            checkpoint_sink: None,
            last_signed: LastSigned::default(),
        }
    }

    /// The same state with these rate limits.
    pub fn with_rate_limits(mut self, config: RateLimitConfig) -> AppState {
        self.limits = RateLimits::new(config);
        self
    }

    /// The same state, accepting private webhook targets when `allow` is set.
    pub fn with_webhook_allow_private(mut self, allow: bool) -> AppState {
        self.webhook_allow_private = allow;
        self
    }

    /// The same state, appending each checkpoint it signs to `sink`, and not signing past
    /// the largest checkpoint the sink already holds unless the trail extends it.
    pub fn with_checkpoint_sink(mut self, sink: CheckpointSink) -> AppState {
        if let Some(found) = sink.found() {
            self.last_signed.remember(found);
        }
        self.checkpoint_sink = Some(sink);
        self
    }

    /// The same state with links pointing at `url` (a trailing slash is dropped).
    pub fn with_public_url(mut self, url: &str) -> AppState {
        self.public_url = Arc::from(url.trim_end_matches('/'));
        self
    }

    /// How this instance runs: `production`, or a `rehearsal` (`serve --rehearsal`),
    /// which pages show on every screen.
    pub fn run_mode(&self) -> RunMode {
        self.store.run_mode()
    }

    /// Where a person reviews and decides permit `id`: its dashboard page.
    pub fn permit_link(&self, id: &str) -> String {
        format!("{}/permits/{id}", self.public_url)
    }
}

/// Whether an instance is shutting down; shared by every clone of its state.
#[derive(Debug, Clone)]
pub struct Stopping(Arc<watch::Sender<bool>>);

impl Default for Stopping {
    fn default() -> Stopping {
        Stopping(Arc::new(watch::Sender::new(false)))
    }
}

impl Stopping {
    /// Marks the instance as shutting down, waking every [`Stopping::wait`].
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once [`Stopping::stop`] was called (at once if it was already).
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        let mut stopped = self.0.subscribe();
        async move {
            // An error means the sender is gone with the state: nothing left to serve.
            let _ = stopped.wait_for(|stopping| *stopping).await;
        }
    }
}

/// The public URL when none is configured: the default listening address.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

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
