//! `StoreError`: what a store operation can fail with.

use steward_audit::{ChainError, Damage, TrailDamage};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The use case names a row that does not exist.
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// A uniqueness rule or an optimistic lock refused the change; nothing was written.
    #[error("conflict: {message}")]
    Conflict { message: String },
    /// The URL names no backend this store speaks. Only the scheme is kept, so that a
    /// password in the URL never reaches a log.
    #[error("unsupported database URL scheme `{scheme}`: expected `sqlite:` or `postgres:`")]
    UnsupportedUrl { scheme: String },
    /// The database URL is malformed; the message names the part at fault (never the
    /// password).
    #[error("invalid database URL: {message}")]
    InvalidUrl { message: String },
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored row cannot be read back into its type: the database was edited outside
    /// Steward or holds a value this version does not know.
    #[error("corrupt {what} `{id}`: {problem}")]
    Corrupt {
        what: &'static str,
        id: String,
        problem: String,
    },
    /// The audit trail's hash chain is broken; names the first bad `seq`.
    #[error(transparent)]
    AuditChain(#[from] ChainError),
    /// The trail ends before, or disagrees with, the head the store advanced: entries
    /// were removed from its end.
    #[error("audit trail ends at seq {last_seq}, which does not match the head at seq {head_seq}")]
    AuditHeadMismatch { head_seq: u64, last_seq: u64 },
    /// Damage other than a broken chain or a cut end: a manifest of pruned history that
    /// does not stand in for its range (edited, forged, out of place, or disagreeing with
    /// the Merkle tree), missing or altered Merkle nodes, a forged checkpoint or one the
    /// events do not make; names the first affected `seq` and the kind.
    #[error("audit trail damaged at seq {seq}: {kind}: {problem}")]
    AuditDamaged {
        seq: u64,
        kind: Damage,
        problem: String,
    },
    /// A root or proof was asked for a tree larger than the Merkle tree built so far
    /// ([`Store::extend_merkle`](crate::Store::extend_merkle) has not reached it, or the
    /// trail is not that long).
    #[error(
        "tree size {tree_size} is beyond the merkle tree, which covers {merkle_size} events so far"
    )]
    BeyondMerkleTree { tree_size: u64, merkle_size: u64 },
    /// An inclusion proof was asked for an event outside the tree.
    #[error("seq {seq} is not in the tree of size {tree_size}")]
    SeqNotInTree { seq: u64, tree_size: u64 },
    /// The sizes of a proof request do not fit together (old size above new size).
    #[error("cannot make the proof: {0}")]
    Proof(#[source] steward_audit::ProofError),
    /// [`Store::record_event`](crate::Store::record_event) committed its event with
    /// others, and that transaction could not begin or commit: none of the `events` was
    /// appended.
    #[error("group commit of {events} audit events failed: {source}")]
    GroupCommit {
        events: usize,
        #[source]
        source: std::sync::Arc<StoreError>,
    },
    /// The task that commits [`Store::record_event`](crate::Store::record_event)'s events
    /// ended before answering (its runtime shut down); the event may or may not have been
    /// appended.
    #[error("the audit group committer stopped before answering")]
    CommitterStopped,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                message: db.message().to_owned(),
            },
            _ => StoreError::Database(error),
        }
    }
}

impl From<TrailDamage> for StoreError {
    fn from(TrailDamage { seq, kind, problem }: TrailDamage) -> StoreError {
        StoreError::AuditDamaged { seq, kind, problem }
    }
}

impl StoreError {
    pub(crate) fn corrupt(what: &'static str, id: impl ToString, problem: impl ToString) -> Self {
        StoreError::Corrupt {
            what,
            id: id.to_string(),
            problem: problem.to_string(),
        }
    }

    /// The damage to the audit trail this error reports, if it reports any: the first
    /// affected `seq`, the kind, and what is wrong there. A broken chain, a trail cut
    /// short, a stored event that cannot be decoded and [`StoreError::AuditDamaged`] are
    /// damage; every other error is a failure to check.
    pub fn audit_damage(&self) -> Option<(u64, Damage, String)> {
        match self {
            StoreError::AuditChain(error) => {
                Some((error.seq, Damage::from(error.kind), error.kind.to_string()))
            }
            StoreError::AuditHeadMismatch { last_seq, .. } => Some((
                last_seq.saturating_add(1),
                Damage::Truncated,
                self.to_string(),
            )),
            StoreError::AuditDamaged { seq, kind, problem } => Some((*seq, *kind, problem.clone())),
            StoreError::Corrupt {
                what: "audit event",
                id,
                problem,
            } => Some((
                id.parse().unwrap_or(0),
                Damage::EventUnreadable,
                format!("audit event {id} cannot be read: {problem}"),
            )),
            _ => None,
        }
    }
}

/// `result` with a unique violation (a [`StoreError::Conflict`]) told as `message()`: an
/// insert's conflict in its use case's words, naming the field instead of the database's
/// constraint.
pub(crate) fn conflict_as<T, E: Into<StoreError>>(
    result: Result<T, E>,
    message: impl FnOnce() -> String,
) -> Result<T, StoreError> {
    result.map_err(|error| match error.into() {
        StoreError::Conflict { .. } => StoreError::Conflict { message: message() },
        error => error,
    })
}
