//! Steward's storage: one [`Store`] handle over SQLite (the default, a file) or
//! PostgreSQL (by URL, for several Steward instances). The only crate that knows SQL.
//!
//! # Layout
//!
//! - `store`: [`Store`], the backend `match`, connecting, migrations, [`Tx`].
//! - `audit`: [`append_event`], the audit primitive every use case calls inside its own
//!   transaction, plus reading and verifying the trail.
//! - `group_commit`: the committer task behind [`Store::record_event`], which appends
//!   concurrent events many to a transaction.
//! - `merkle`: the RFC 6962 Merkle tree over the trail, caught up outside the appending
//!   transactions ([`Store::extend_merkle`]), signed checkpoints, inclusion and
//!   consistency proofs.
//! - `authorize`: the version read and the guarded token spend of the authorize hot path.
//! - `retention`: pruning the trail past its retention into signed range manifests
//!   ([`Store::prune_audit`]), legal holds, and verification across pruned history
//!   ([`Store::verify_audit_trail`]).
//! - `principal`, `token`: principals and their API tokens (minted tokens end with the
//!   token that minted them).
//! - `signing`: the audit signing key's public half, recorded once; every instance must
//!   hold the matching key.
//! - `web_session`: the dashboard's sign-in sessions, stored as hashes and bound to the
//!   API token they were opened with.
//! - `webhook`: outbound webhook subscriptions and their delivery log.
//! - `metrics`: the aggregates behind `/metrics`, computed at scrape time.
//! - `personal`: personal data in audit events, encrypted per subject, and its erasure
//!   (crypto-shredding keeps the chain verifiable).
//! - `worker`: workers and their certification lifecycle (SPEC §5).
//! - `timers`: [`Store::run_timers`], the approval SLA, permit expiry and certification
//!   timers, each fired once across instances through the `timer_firings` ledger.
//! - `testing` (feature `test-support`): fresh databases for tests, here and in the
//!   crates above.
//!
//! # Invariants
//!
//! - The public API is use-case shaped: one method, one transaction. A use case that
//!   changes state appends its audit event in the same transaction (SPEC §9: no change
//!   without its event), so both commit or neither does.
//! - Audit `seq` is gap-free and the chain unbroken under any concurrency: a transaction
//!   takes the head once and advances the single `audit_head` row at commit while holding
//!   the database's write lock (SQLite: every write transaction is `BEGIN IMMEDIATE`, and
//!   the head is kept in memory by the writer) or that row's lock (PostgreSQL: `SELECT …
//!   FOR UPDATE` at the first append). The only way to get a [`Tx`] is [`Store::begin`],
//!   which guarantees this. A transaction's events are written at its commit, in one
//!   multi-row insert.
//! - Both dialects have the same tables and columns and the same CHECK lists, so a
//!   statement is written once and `on_pool!`/`on_tx!` run it on either backend; code
//!   differs per backend only where the databases do (`BEGIN IMMEDIATE`, row-lock
//!   clauses, JSON paths, array parameters). Tests run one body against both
//!   (`store_test!`).
//! - API token secrets are never stored: only their SHA-256.
//!
//! # Durability
//!
//! SQLite runs in WAL mode. By default `synchronous = NORMAL`: a committed transaction,
//! and so its audit event, survives a crash of Steward itself (`kill -9`, a panic, an
//! OOM kill), because the WAL is written before commit returns; the last commits before a
//! power loss or kernel crash may be lost, though the database stays consistent and the
//! chain intact (just shorter). `sqlite://…?synchronous=full` adds one fsync per commit,
//! which survives power loss too. Measured on the 2-core development machine: about 18 µs
//! per commit with NORMAL and about 2.3 ms with FULL (≈ 430 commits/s, all writers being
//! serialised), so FULL caps a SQLite Steward at a few hundred state changes per second;
//! use PostgreSQL (which shares fsyncs between concurrent commits) when both power-loss
//! durability and throughput matter. Audit events of acts that change nothing else
//! ([`Store::record_event`]) are exempt from that cap: they are group-committed, one
//! transaction and one fsync per batch of up to [`MAX_GROUP_COMMIT_BATCH`] concurrent
//! events, each acknowledged only after its batch committed. Writers wait up to 5 s for the write lock
//! (`busy_timeout`); foreign keys are enforced. PostgreSQL uses the server's settings
//! (`synchronous_commit = on` by default).

mod audit;
mod authorize;
mod caller;
mod error;
mod group_commit;
mod merkle;
mod metrics;
mod monitoring;
mod permit;
mod personal;
mod principal;
mod retention;
mod run_mode;
mod signing;
mod store;
mod timers;
pub mod token;
mod verify;
mod web_session;
pub mod webhook;
mod witness;
mod worker;

#[cfg(feature = "test-support")]
pub mod testing;

pub use audit::{AuditHead, EventQuery, NewEvent, TypeFilter, append_event};
pub use authorize::{AuthzVersions, PermitVersion};
pub use caller::Caller;
pub use error::StoreError;
pub use group_commit::MAX_BATCH as MAX_GROUP_COMMIT_BATCH;
pub use merkle::{
    CHECKPOINT_EVENT, CheckpointOutcome, ConsistencyProof, InclusionProof, MAX_CHECKPOINT_PAGE,
};
pub use monitoring::{
    LatestTelemetry, MonitoringError, Rollback, RollbackFilter, SAMPLES_KEPT, TelemetryInput,
    TelemetryOutcome,
};
pub use permit::{
    ApprovalRecord, Emergency, EmergencyActionError, EmergencyApproval, EmergencyFilter,
    EmergencyReview, EmergencySweep, NewDecision, NewEmergency, NewPermit, PendingRenewal, Permit,
    PermitError, PermitFilter, PermitParties, PermitRevocation, RenewalApprovalRecord, ReviewQueue,
};
pub use personal::{Erasure, PERSONAL, PersonalText};
pub use principal::{NewPrincipal, Principal, PrincipalKind};
pub use retention::{
    HOLD_CREATED_EVENT, HOLD_RELEASED_EVENT, HoldFilter, HoldRelease, LegalHold, MAX_MANIFEST_PAGE,
    MAX_RANGE_EVENTS, NewLegalHold, PRUNED_EVENT, PruneRange, PruneReport, PruneStop,
};
pub use run_mode::{RunMode, RunModeError};
pub use signing::{KeyClaim, SIGNING_KEY_RECORDED_EVENT};
pub use steward_audit::metrics::{Count, Histogram, MetricsSnapshot};
pub use store::{Backend, SqliteDurability, Store, Tx};
pub use timers::{FiredTimer, TimerReport, TimerSubject};
pub use token::{AuthenticatedPrincipal, NewToken, TokenError, TokenInfo, TokenRevocation};
pub use web_session::{NewWebSession, WEB_SESSION_TOUCH_MS, WebSession, WebSessionEnd};
pub use witness::WitnessReport;
pub use worker::{
    InitialApproval, InitialCertificationRecord, InitialCertificationState, MAX_WORKER_PAGE,
    NewOutcome, NewWorker, NewWorkerToken, OutcomeEvidence, OutcomeRecord, PriorRecordView,
    PromotionApproval, PromotionState, Revocation, Worker, WorkerError, WorkerFilter, WorkerPage,
};

pub use steward_audit::{
    Actor, ActorKind, AuditEntry, Channel, Hash, HoldScope, KeepReason, SignedCheckpoint,
    SignedManifest, Subject,
};
