//! The storage side of the authorize hot path (SPEC §7): the one cheap read that tells an
//! in-memory cache whether its copies of a worker and a permit are still current, and the
//! guarded token spend that records an allowed decision.
//!
//! # Freshness
//!
//! Every change to a permit row bumps `permits.version` (`permit::row::update_permit`, the
//! certification cascade) and every change to a worker's certification bumps
//! `workers.version` (`worker::row::save`), in the transaction that makes the change.
//! [`Store::authz_versions`] reads both in one indexed query, so a cache that compares them
//! with the versions it loaded sees any change committed before the read began, on this
//! instance or any other sharing the database.
//!
//! On SQLite, where this process makes every write, the answer is kept in memory at the
//! write epoch it was read at ([`VersionCache`]): every write transaction but the audit
//! group committer's moves the epoch before its use case returns, so a kept answer is
//! used only while nothing can have changed, and a decision costs no statement.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::audit::{NewEvent, append_event};
use crate::error::StoreError;
use crate::permit::Permit;
use crate::store::{Store, in_pool, in_tx};

/// The current versions of a worker and, when one was named, a permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthzVersions {
    pub worker: i64,
    /// `None` when no permit was named or it does not exist.
    pub permit: Option<PermitVersion>,
}

/// A permit's row version and the tokens spent under it so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermitVersion {
    pub version: i64,
    pub tokens_used: u64,
}

/// `authz_versions` answers kept on SQLite, by worker and permit, each with the write
/// epoch it was read at.
pub(crate) type VersionCache = EpochCache<(String, Option<String>), Option<AuthzVersions>>;

/// Answers kept in memory on SQLite, where this process makes every write, each with the
/// epoch it was read at: an answer is used only at that epoch.
#[derive(Debug)]
pub(crate) struct EpochCache<K, V>(Mutex<HashMap<K, (u64, V)>>);

impl<K, V> Default for EpochCache<K, V> {
    fn default() -> Self {
        EpochCache(Mutex::new(HashMap::new()))
    }
}

/// The most answers an [`EpochCache`] keeps; past it, answers of older epochs go, then
/// all.
const EPOCH_CACHE_CAPACITY: usize = 4096;

impl<K: Eq + Hash, V: Clone> EpochCache<K, V> {
    fn map(&self) -> MutexGuard<'_, HashMap<K, (u64, V)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer kept for `key`, if it was read at `epoch`.
    pub(crate) fn get(&self, key: &K, epoch: u64) -> Option<V> {
        match self.map().get(key) {
            Some((at, value)) if *at == epoch => Some(value.clone()),
            _ => None,
        }
    }

    pub(crate) fn put(&self, key: K, epoch: u64, value: V) {
        let mut map = self.map();
        if map.len() >= EPOCH_CACHE_CAPACITY && !map.contains_key(&key) {
            map.retain(|_, (at, _)| *at == epoch);
            if map.len() >= EPOCH_CACHE_CAPACITY {
                map.clear();
            }
        }
        map.insert(key, (epoch, value));
    }

    /// Changes the answer kept for `key`, if there is one.
    pub(crate) fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        if let Some((_, value)) = self.map().get_mut(key) {
            change(value);
        }
    }
}

impl Permit {
    /// The optimistic-lock version of the row this permit was read from: it moves on with
    /// every change, so a copy with an older version is stale.
    pub fn version(&self) -> i64 {
        self.version
    }
}

impl Store {
    /// The versions of worker `worker_id` and permit `permit_id` (one indexed query, or
    /// on SQLite none while the write epoch has not moved since the last read), or `None`
    /// when the worker does not exist.
    pub async fn authz_versions(
        &self,
        worker_id: &str,
        permit_id: Option<&str>,
    ) -> Result<Option<AuthzVersions>, StoreError> {
        let cache = self.cache_answers().then_some(&self.shared.versions);
        // Read before the database, as for authentication.
        let epoch = self.shared.epoch();
        let key = (worker_id.to_owned(), permit_id.map(str::to_owned));
        if let Some(versions) = cache.and_then(|cache| cache.get(&key, epoch)) {
            return Ok(versions);
        }
        let versions = self.read_authz_versions(worker_id, permit_id).await?;
        if let Some(cache) = cache {
            cache.put(key, epoch, versions);
        }
        Ok(versions)
    }

    async fn read_authz_versions(
        &self,
        worker_id: &str,
        permit_id: Option<&str>,
    ) -> Result<Option<AuthzVersions>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            worker_version: i64,
            permit_version: Option<i64>,
            tokens_used: Option<i64>,
        }
        const SQL: &str = "SELECT w.version AS worker_version, p.version AS permit_version, \
             p.tokens_used FROM workers w LEFT JOIN permits p ON p.id = $1 WHERE w.id = $2";
        let row = in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as::<_, Row>(SQL),
            permit_id,
            worker_id
        );
        Ok(row.map(|row| AuthzVersions {
            worker: row.worker_version,
            permit: row.permit_version.map(|version| PermitVersion {
                version,
                tokens_used: row
                    .tokens_used
                    .and_then(|t| u64::try_from(t).ok())
                    .unwrap_or(0),
            }),
        }))
    }

    /// Spends `tokens` of permit `permit_id`'s `budget` and appends `event` (an
    /// `authorize.allowed`), in one transaction. The increment is guarded: it happens only
    /// while the permit is active or executing and the total stays within `budget`, so
    /// racing spends on any number of instances never overdraw. Returns the new total and
    /// the sealed event, or `None` (nothing written) when the guard refused.
    pub async fn spend_tokens(
        &self,
        permit_id: &str,
        tokens: u64,
        budget: u64,
        mut event: NewEvent,
    ) -> Result<Option<(u64, steward_audit::AuditEntry)>, StoreError> {
        let (Ok(tokens), Ok(budget)) = (i64::try_from(tokens), i64::try_from(budget)) else {
            return Ok(None);
        };
        let mut tx = self.begin().await?;
        const SQL: &str = "UPDATE permits SET tokens_used = tokens_used + $1 WHERE id = $2 \
             AND tokens_used + $1 <= $3 AND state IN ('active', 'executing') \
             RETURNING tokens_used";
        let spent = in_tx!(
            tx,
            fetch_optional,
            sqlx::query_scalar::<_, i64>(SQL),
            tokens,
            permit_id,
            budget
        );
        let Some(spent) = spent else {
            tx.rollback().await?;
            return Ok(None);
        };
        let spent = u64::try_from(spent).unwrap_or(0);
        if let serde_json::Value::Object(data) = &mut event.data {
            data.insert("tokens_used".into(), spent.into());
        }
        let entry = append_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Some((spent, entry)))
    }
}
