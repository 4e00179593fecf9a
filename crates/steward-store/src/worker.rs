//! Workers and their certification lifecycle (SPEC §5): registration and reads, human
//! promotion approvals, status changes (suspend, reinstate, revoke with its permit
//! cascade, recertify, end of probation, expiry), and operation outcomes with automatic
//! suspension.
//!
//! Each public method is one use case and one transaction. It loads the worker under a
//! lock (PostgreSQL `SELECT … FOR UPDATE`; on SQLite every write transaction already holds
//! the database write lock) with what else the decision reads, and asks one pure function
//! of `steward_permits` (`plan_*`, module `worker_plan`) for a plan or a refusal. It saves
//! the plan's record with an optimistic check on `workers.version`, writes the plan's
//! rows, and appends its typed audit events in the same transaction. A refusal writes
//! nothing.
//!
//! Time comes in as `now_ms` from the caller's clock (the server's injectable one), never
//! from this crate's, so that a test can step over the 30/90/180-day thresholds.

mod identity;
mod initial;
mod outcome;
mod promotion;
mod row;
mod status;
mod timers;

use steward_audit::{Actor, Subject};
use steward_permits::{
    ApprovalRefusal, By, CertAction, CertTransitionError, Eligibility, OperationStats,
    OutcomeRefusal, PrincipalFacts, Recertification, RegistrationSnapshot, Timestamp, WorkerEvent,
    WorkerFacts, WorkerRecord, WorkerRefusal, plan_registration, recertification,
};
use steward_policy::{CertificationStatus, Level};

use crate::audit::{NewEvent, append_event};
use crate::caller::Caller;
use crate::error::{StoreError, conflict_as};
use crate::principal::{Principal, PrincipalKind, principal_in};
use crate::store::{Store, Tx, new_id, on_pool};

pub use identity::NewWorkerToken;
pub use initial::InitialCertificationState;
pub use outcome::{NewOutcome, OutcomeEvidence, OutcomeRecord};
pub use promotion::PromotionState;
pub use status::Revocation;
pub use steward_permits::{
    InitialApproval, InitialCertificationRecord, PriorRecordView, PromotionApproval,
};

/// The most workers [`Store::list_workers`] returns at once.
pub const MAX_WORKER_PAGE: u32 = 200;

/// A worker to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorker {
    /// Non-empty.
    pub display_name: String,
    /// The principal responsible for the worker: a human, or an agent holding `master`.
    pub owner_id: String,
    /// The agent identity that authenticates as this worker: an agent principal holding
    /// the role `worker`, bound to at most one worker.
    pub principal_id: Option<String>,
    /// Free-form domain names (`payments`, `infra`); each non-empty.
    pub domains: Vec<String>,
}

/// A worker and its certification, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub id: String,
    pub display_name: String,
    pub owner_id: String,
    pub principal_id: Option<String>,
    pub level: Level,
    pub status: CertificationStatus,
    pub domains: Vec<String>,
    /// Unix milliseconds, as are the other times: when the current level was granted
    /// (registration for level 0).
    pub level_granted_at_ms: i64,
    /// When recertification is due; `None` for level 0.
    pub recertify_by_ms: Option<i64>,
    /// End of the probation that followed the last promotion, if any.
    pub probation_until_ms: Option<i64>,
    pub stats: OperationStats,
    /// The optimistic lock: every change increments it.
    pub version: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Worker {
    /// The certification as the pure rules see it.
    pub fn record(&self) -> WorkerRecord {
        WorkerRecord {
            level: self.level,
            status: self.status,
            level_granted_at: Timestamp(self.level_granted_at_ms),
            recertify_by: self.recertify_by_ms.map(Timestamp),
            probation_until: self.probation_until_ms.map(Timestamp),
            stats: self.stats.clone(),
        }
    }

    /// Where the certification stands against its recertification date at `now_ms`.
    ///
    /// A method rather than a stored field: reads take no clock, and the answer changes
    /// with time while the row does not.
    pub fn recertification(&self, now_ms: i64) -> Recertification {
        recertification(&self.record(), Timestamp(now_ms))
    }

    /// The worker as the pure rules' snapshots see it.
    pub fn facts(&self) -> WorkerFacts<'_> {
        WorkerFacts {
            id: &self.id,
            owner_id: &self.owner_id,
            principal_id: self.principal_id.as_deref(),
            record: self.record(),
        }
    }

    /// This worker with `record`'s certification fields.
    fn with_record(&self, record: &WorkerRecord) -> Worker {
        Worker {
            level: record.level,
            status: record.status,
            level_granted_at_ms: record.level_granted_at.millis(),
            recertify_by_ms: record.recertify_by.map(Timestamp::millis),
            probation_until_ms: record.probation_until.map(Timestamp::millis),
            stats: record.stats.clone(),
            ..self.clone()
        }
    }
}

/// Which workers [`Store::list_workers`] returns; every `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerFilter {
    pub status: Option<CertificationStatus>,
    pub level: Option<Level>,
    pub owner_id: Option<String>,
}

/// A page of [`Store::list_workers`]: workers with ids after `after_id`, in id order
/// (ids are UUIDv7, so that is registration order), at most `limit` (capped at
/// [`MAX_WORKER_PAGE`]; 0 means the cap).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerPage {
    pub after_id: Option<String>,
    pub limit: u32,
}

/// Why a worker use case refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Input the rules refuse (an empty name or reason); names the field.
    #[error("`{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A principal named in the input cannot play its part (missing, disabled, of the
    /// wrong kind or without the role); names the field.
    #[error("`{field}`: {message}")]
    BadReference {
        field: &'static str,
        message: String,
    },
    /// The worker does not meet SPEC §5's criteria for the level. Nothing was recorded:
    /// promotion is refused before any approval counts.
    #[error(
        "worker `{worker_id}` is not eligible for level {target}: {}",
        eligibility.unmet().collect::<Vec<_>>().join("; ")
    )]
    NotEligible {
        worker_id: String,
        target: Level,
        eligibility: Eligibility,
    },
    /// The approver may not approve this promotion (role, segregation of duties, one vote
    /// per person).
    #[error("{}", refusal.promotion_message(*target))]
    ApproverRefused {
        target: Level,
        refusal: ApprovalRefusal,
    },
    /// An initial certification the rules refuse (history, level, justification,
    /// evidence); nothing was written.
    #[error(transparent)]
    InitialCertification(steward_permits::InitialCertificationError),
    /// The status change is not legal from the current status.
    #[error("cannot {} worker `{worker_id}`: its certification is `{}`", error.action, error.from)]
    IllegalTransition {
        worker_id: String,
        error: CertTransitionError,
    },
    /// Recertification and its like are human acts.
    #[error("only a human may {action} a certification")]
    HumanOnly { action: CertAction },
    #[error("worker `{worker_id}` is at level 0, which is never recertified")]
    RecertificationNotRequired { worker_id: String },
    #[error("the probation of worker `{worker_id}` lasts until {until_ms} (unix ms)")]
    ProbationNotOver { worker_id: String, until_ms: i64 },
    /// Managing a worker's identity is for its owner (or an admin).
    #[error("only the owner of worker `{worker_id}` or an admin may {action}")]
    NotOwner {
        worker_id: String,
        action: &'static str,
    },
    /// A worker has one identity.
    #[error("worker `{worker_id}` already has an identity, principal `{principal_id}`")]
    IdentityExists {
        worker_id: String,
        principal_id: String,
    },
    /// Tokens are minted for the worker's identity, which does not exist yet.
    #[error(
        "worker `{worker_id}` has no identity yet; create it first (`steward worker identity create {worker_id}`)"
    )]
    NoIdentity { worker_id: String },
    /// Minting the worker's token: the caller's token ended meanwhile, the new one would
    /// outlive it, or the identity is disabled.
    #[error(transparent)]
    Token(#[from] crate::token::TokenError),
    /// The reporter may not report this outcome, or its evidence does not hold.
    #[error(transparent)]
    OutcomeRefused(OutcomeRefusal),
    /// The permit or decision already backs an outcome: each piece of work counts once.
    #[error("{message}")]
    EvidenceAlreadyUsed { message: String },
}

impl From<WorkerRefusal> for WorkerError {
    fn from(refusal: WorkerRefusal) -> WorkerError {
        use WorkerRefusal as R;
        match refusal {
            R::Invalid { field, message } => WorkerError::Invalid { field, message },
            R::BadReference { field, message } => WorkerError::BadReference { field, message },
            R::NotOwner { worker_id, action } => WorkerError::NotOwner { worker_id, action },
            R::IdentityExists {
                worker_id,
                principal_id,
            } => WorkerError::IdentityExists {
                worker_id,
                principal_id,
            },
            R::NoIdentity { worker_id } => WorkerError::NoIdentity { worker_id },
            R::NotEligible {
                worker_id,
                target,
                eligibility,
            } => WorkerError::NotEligible {
                worker_id,
                target,
                eligibility,
            },
            R::Approver { target, refusal } => WorkerError::ApproverRefused { target, refusal },
            R::InitialCertification(error) => WorkerError::InitialCertification(error),
            R::IllegalTransition { worker_id, error } => {
                WorkerError::IllegalTransition { worker_id, error }
            }
            R::HumanOnly { action } => WorkerError::HumanOnly { action },
            R::RecertificationNotRequired { worker_id } => {
                WorkerError::RecertificationNotRequired { worker_id }
            }
            R::ProbationNotOver {
                worker_id,
                until_ms,
            } => WorkerError::ProbationNotOver {
                worker_id,
                until_ms,
            },
            R::Outcome(refusal) => WorkerError::OutcomeRefused(refusal),
            R::NotFound { what, id } => StoreError::NotFound { what, id }.into(),
            R::Conflict { message } => StoreError::Conflict { message }.into(),
            R::Corrupt { what, id, problem } => StoreError::corrupt(what, id, problem).into(),
        }
    }
}

impl Store {
    /// Registers a worker at level 0, `active`, with no history, and records
    /// `worker.registered`.
    ///
    /// The owner must be an enabled human, or an enabled agent holding `master`. The
    /// worker identity, if any, must be an enabled agent holding `worker` and not already
    /// bound to a worker (a [`StoreError::Conflict`]).
    pub async fn register_worker(
        &self,
        by: &Caller,
        new: NewWorker,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        let mut tx = self.begin().await?;
        let owner = principal_in(&mut tx, &new.owner_id).await?;
        let identity = match &new.principal_id {
            Some(id) => principal_in(&mut tx, id).await?,
            None => None,
        };
        let plan = plan_registration(&RegistrationSnapshot {
            display_name: &new.display_name,
            owner_id: &new.owner_id,
            owner: owner.as_ref().map(principal_facts).as_ref(),
            principal_id: new.principal_id.as_deref(),
            identity: identity.as_ref().map(principal_facts).as_ref(),
            domains: &new.domains,
            now: Timestamp(now_ms),
        })?;
        let worker = Worker {
            id: new_id(),
            display_name: plan.display_name,
            owner_id: new.owner_id,
            principal_id: new.principal_id,
            level: plan.record.level,
            status: plan.record.status,
            domains: new.domains,
            level_granted_at_ms: now_ms,
            recertify_by_ms: None,
            probation_until_ms: None,
            stats: plan.record.stats,
            version: 1,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        conflict_as(row::insert(&mut tx, &worker).await, || {
            format!(
                "principal `{}` is already the identity of a worker",
                worker.principal_id.as_deref().unwrap_or_default()
            )
        })?;
        append_events(&mut tx, &by.actor(), &worker.id, vec![plan.event], now_ms).await?;
        tx.commit().await?;
        Ok(worker)
    }

    /// The worker `id`, or [`StoreError::NotFound`].
    pub async fn worker(&self, id: &str) -> Result<Worker, StoreError> {
        row::fetch_where(self, "id", id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "worker",
                id: id.to_owned(),
            })
    }

    /// The worker that `principal_id` authenticates as, if any.
    pub async fn worker_by_principal(
        &self,
        principal_id: &str,
    ) -> Result<Option<Worker>, StoreError> {
        row::fetch_where(self, "principal_id", principal_id).await
    }

    /// Workers matching `filter`, one keyset page at a time (see [`WorkerPage`]).
    pub async fn list_workers(
        &self,
        filter: &WorkerFilter,
        page: &WorkerPage,
    ) -> Result<Vec<Worker>, StoreError> {
        let limit = match page.limit {
            0 => MAX_WORKER_PAGE,
            n => n.min(MAX_WORKER_PAGE),
        };
        let rows = on_pool!(self.pool, |pool| {
            let mut q = sqlx::QueryBuilder::new(format!(
                "SELECT {} FROM workers WHERE 1 = 1",
                row::COLUMNS
            ));
            if let Some(status) = filter.status {
                q.push(" AND status = ").push_bind(status.as_str());
            }
            if let Some(level) = filter.level {
                q.push(" AND level = ").push_bind(i64::from(level.value()));
            }
            if let Some(owner) = &filter.owner_id {
                q.push(" AND owner_id = ").push_bind(owner.clone());
            }
            if let Some(after) = &page.after_id {
                q.push(" AND id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
            q.build_query_as::<row::WorkerRow>().fetch_all(pool).await?
        });
        rows.into_iter().map(row::decode).collect()
    }
}

/// A use case's caller as the pure rules' snapshots see it: an authenticated principal,
/// so never a disabled one.
fn caller_facts(by: &Caller) -> PrincipalFacts {
    PrincipalFacts {
        id: by.id.clone(),
        human: by.is_human(),
        roles: by.roles.clone(),
        disabled: false,
    }
}

/// A principal as the pure rules' snapshots see it.
fn principal_facts(principal: &Principal) -> PrincipalFacts {
    PrincipalFacts {
        id: principal.id.clone(),
        human: principal.kind == PrincipalKind::Human,
        roles: principal.roles.clone(),
        disabled: principal.disabled_at_ms.is_some(),
    }
}

/// Appends a plan's events about worker `worker_id`, in order: [`By::Caller`] as `by`,
/// [`By::System`] as Steward.
async fn append_events(
    tx: &mut Tx<'_>,
    by: &Actor,
    worker_id: &str,
    events: Vec<WorkerEvent>,
    now_ms: i64,
) -> Result<(), StoreError> {
    for event in events {
        let actor = match event.by {
            By::Caller => by.clone(),
            By::System => crate::permit::system_actor(),
        };
        let subject = about(worker_id);
        let typed = NewEvent::typed(now_ms, actor, subject, Some(event.level), event.payload)?;
        append_event(tx, typed).await?;
    }
    Ok(())
}

/// An event's subject: the worker `worker_id`.
fn about(worker_id: &str) -> Subject {
    Subject {
        worker_id: Some(worker_id.to_owned()),
        ..Subject::default()
    }
}
