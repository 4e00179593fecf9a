//! The authorize cache: workers' standings and permits' constraints kept in memory, so an
//! authorize decision costs one cheap version read plus the pure check
//! (`steward_permits::authorize`) instead of decoding rows.
//!
//! # Freshness
//!
//! INVARIANT: an entry is used only when its version equals the row's current version,
//! read from the database by the same authorize ([`Store::authz_versions`], one indexed
//! query for the worker and the permit together). Every change to a permit or a worker's
//! certification bumps its row's version in the transaction that makes it, so an authorize
//! that starts after a change committed — on this instance or any other sharing the
//! database — sees a newer version, reloads the row, and decides on the new state. A stale
//! entry is never used; it is replaced on its next use. The cost is that one read per
//! decision (SQLite: an in-process point read; PostgreSQL: one round trip).
//!
//! Tokens spent under a permit are not cached: the version read returns the current total
//! with the versions, and spends are guarded in the database (`Store::spend_tokens`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use steward_permits::{PermitState, PermitView, RevocationReason, Timestamp, WorkerView};
use steward_policy::{
    ActionClass, ActionClasses, CertificationStatus, Environment, Level, ListedOperation,
    PermitType, Policy,
};
use steward_store::{Permit, Store, StoreError, Worker};

/// Entries kept per map before the cache starts over (a bound on memory, not a policy:
/// entries are reloaded on their next use).
const MAX_ENTRIES: usize = 100_000;

/// Workers' standings and permits' constraints, shared by every handler of one instance.
/// Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AuthzCache {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    workers: RwLock<HashMap<String, Arc<CachedWorker>>>,
    permits: RwLock<HashMap<String, Arc<CachedPermit>>>,
}

/// What authorize needs to know about a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedWorker {
    pub id: String,
    pub owner_id: String,
    pub principal_id: Option<String>,
    pub level: Level,
    pub status: CertificationStatus,
    pub version: i64,
}

impl CachedWorker {
    pub fn from_worker(w: &Worker) -> CachedWorker {
        CachedWorker {
            id: w.id.clone(),
            owner_id: w.owner_id.clone(),
            principal_id: w.principal_id.clone(),
            level: w.level,
            status: w.status,
            version: w.version,
        }
    }

    pub fn view(&self) -> WorkerView {
        WorkerView {
            level: self.level,
            status: self.status,
        }
    }
}

/// A permit's constraints as authorize needs them (SPEC §6.4), decoded once.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedPermit {
    pub id: String,
    pub task_id: String,
    pub worker_id: String,
    pub permit_type: PermitType,
    pub level: Level,
    pub state: PermitState,
    pub revocation_reason: Option<RevocationReason>,
    pub valid_from: Timestamp,
    pub expires_at: Timestamp,
    pub environment: Environment,
    /// The task's operations, normalized and classified once per cached permit.
    pub listed_operations: Vec<ListedOperation>,
    /// The classes the permit's analysis contained (`allowed_classes`).
    pub allowed_classes: ActionClasses,
    pub allowed_services: Vec<String>,
    pub allowed_regions: Vec<String>,
    pub allowed_methods: Option<Vec<String>>,
    pub forbidden_methods: Vec<String>,
    pub token_budget: u64,
    /// Every decision under this permit is audited (an emergency permit's).
    pub enhanced_audit: bool,
    pub version: i64,
}

impl CachedPermit {
    /// Decodes the constraints the server wrote at request time. A permit that was never
    /// issued has no window: it gets an empty one (`valid_from == expires_at == 0`), which
    /// authorize refuses on its state anyway. Constraints without an environment (stored
    /// ones that did not decode read so, `PermitConstraints::from_stored`) or with a class
    /// that does not parse give `None`: reading them as "anything" would allow too much,
    /// so such a permit is refused outright (fail closed). The listed operations are classified under `policy`
    /// here, once, so a decision only classifies its own action. A permit issued before
    /// constraints carried `allowed_classes` covers the classes of its listed operations.
    pub fn from_permit(p: &Permit, policy: &Policy) -> Option<CachedPermit> {
        let c = &p.constraints;
        let environment = c.environment?;
        let listed_operations: Vec<ListedOperation> = c
            .allowed_operations
            .iter()
            .map(|op| ListedOperation::new(policy, op))
            .collect();
        let allowed_classes = match &c.allowed_classes {
            None => listed_operations
                .iter()
                .fold(ActionClasses::EMPTY.with(ActionClass::Read), |set, op| {
                    set.union(op.classes())
                }),
            Some(names) => ActionClasses::parse(names.iter().map(String::as_str))?,
        };
        Some(CachedPermit {
            id: p.id.clone(),
            task_id: p.task_id.clone(),
            worker_id: p.worker_id.clone(),
            permit_type: p.permit_type,
            level: p.level,
            state: p.state,
            revocation_reason: p.revocation_reason,
            valid_from: Timestamp(p.valid_from_ms.unwrap_or(0)),
            expires_at: Timestamp(p.expires_at_ms.unwrap_or(0)),
            environment,
            listed_operations,
            allowed_classes,
            allowed_services: c.allowed_services.clone(),
            allowed_regions: c.allowed_regions.clone(),
            allowed_methods: c.allowed_methods.clone(),
            forbidden_methods: c.forbidden_methods.clone(),
            token_budget: c.token_budget,
            enhanced_audit: c.enhanced_audit,
            version: p.version(),
        })
    }

    /// The view the pure check takes, with the tokens spent so far.
    pub fn view(&self, tokens_used: u64) -> PermitView<'_> {
        PermitView {
            worker_id: &self.worker_id,
            state: self.state,
            revocation_reason: self.revocation_reason,
            valid_from: self.valid_from,
            expires_at: self.expires_at,
            environment: self.environment,
            listed_operations: &self.listed_operations,
            allowed_classes: self.allowed_classes,
            allowed_services: &self.allowed_services,
            allowed_regions: &self.allowed_regions,
            allowed_methods: self.allowed_methods.as_deref(),
            forbidden_methods: &self.forbidden_methods,
            breached: false,
            token_budget: self.token_budget,
            tokens_used,
        }
    }
}

/// The current worker and permit for one decision.
#[derive(Debug, Clone)]
pub struct Current {
    pub worker: Arc<CachedWorker>,
    /// The named permit and the tokens spent under it; `None` when none was named.
    pub permit: Option<(Arc<CachedPermit>, u64)>,
}

/// Why [`AuthzCache::current`] has no answer.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("worker `{0}` not found")]
    UnknownWorker(String),
    #[error("permit `{0}` not found")]
    UnknownPermit(String),
    #[error("permit `{0}` carries constraints authorize cannot read")]
    UnreadablePermit(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthzCache {
    /// The worker and (if named) the permit as they are now in the database: the cached
    /// copies when their versions are current, else freshly loaded (and cached).
    pub async fn current(
        &self,
        store: &Store,
        policy: &Policy,
        worker_id: &str,
        permit_id: Option<&str>,
    ) -> Result<Current, LookupError> {
        let versions = store
            .authz_versions(worker_id, permit_id)
            .await?
            .ok_or_else(|| LookupError::UnknownWorker(worker_id.to_owned()))?;
        let worker = match self.cached_worker(worker_id, versions.worker) {
            Some(w) => w,
            None => {
                let w = match store.worker(worker_id).await {
                    Ok(w) => w,
                    Err(StoreError::NotFound { .. }) => {
                        return Err(LookupError::UnknownWorker(worker_id.to_owned()));
                    }
                    Err(e) => return Err(e.into()),
                };
                let w = Arc::new(CachedWorker::from_worker(&w));
                insert(&self.inner.workers, worker_id, w.clone());
                w
            }
        };
        let permit = match (permit_id, versions.permit) {
            (None, _) => None,
            (Some(id), None) => return Err(LookupError::UnknownPermit(id.to_owned())),
            (Some(id), Some(v)) => {
                let p = match self.cached_permit(id, v.version) {
                    Some(p) => p,
                    None => {
                        let p = match store.permit(id).await {
                            Ok(p) => p,
                            Err(StoreError::NotFound { .. }) => {
                                return Err(LookupError::UnknownPermit(id.to_owned()));
                            }
                            Err(e) => return Err(e.into()),
                        };
                        let p = Arc::new(
                            CachedPermit::from_permit(&p, policy)
                                .ok_or_else(|| LookupError::UnreadablePermit(id.to_owned()))?,
                        );
                        insert(&self.inner.permits, id, p.clone());
                        p
                    }
                };
                Some((p, v.tokens_used))
            }
        };
        Ok(Current { worker, permit })
    }

    /// The cached worker if its version is `version`.
    pub fn cached_worker(&self, id: &str, version: i64) -> Option<Arc<CachedWorker>> {
        read(&self.inner.workers, id).filter(|w| w.version == version)
    }

    /// The cached permit if its version is `version`.
    pub fn cached_permit(&self, id: &str, version: i64) -> Option<Arc<CachedPermit>> {
        read(&self.inner.permits, id).filter(|p| p.version == version)
    }

    /// Puts a worker in the cache (benchmarks and tests warm it this way).
    pub fn put_worker(&self, worker: CachedWorker) {
        let id = worker.id.clone();
        insert(&self.inner.workers, &id, Arc::new(worker));
    }

    /// Puts a permit in the cache.
    pub fn put_permit(&self, permit: CachedPermit) {
        let id = permit.id.clone();
        insert(&self.inner.permits, &id, Arc::new(permit));
    }

    /// Drops a permit this instance just changed, so its next use reloads it without
    /// waiting for a version mismatch.
    pub fn forget_permit(&self, id: &str) {
        if let Ok(mut map) = self.inner.permits.write() {
            map.remove(id);
        }
    }
}

fn read<T>(map: &RwLock<HashMap<String, Arc<T>>>, id: &str) -> Option<Arc<T>> {
    // A poisoned lock only means a panic elsewhere while inserting; treat it as a miss.
    map.read().ok().and_then(|m| m.get(id).cloned())
}

fn insert<T>(map: &RwLock<HashMap<String, Arc<T>>>, id: &str, value: Arc<T>) {
    if let Ok(mut m) = map.write() {
        if m.len() >= MAX_ENTRIES && !m.contains_key(id) {
            m.clear();
        }
        m.insert(id.to_owned(), value);
    }
}
