//! Workers and their certification lifecycle (SPEC §5): registration and reads, human
//! promotion approvals, status changes (suspend, reinstate, revoke with its permit
//! cascade, recertify, end of probation, expiry), and operation outcomes with automatic
//! suspension.
//!
//! Each public method is one use case and one transaction. It loads the worker under a
//! lock (PostgreSQL `SELECT … FOR UPDATE`; on SQLite every write transaction already holds
//! the database write lock), asks `steward_permits`' certification rules what may happen,
//! saves what they return with an optimistic check on `workers.version`, and appends its
//! audit events in the same transaction. A refusal writes nothing.
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

use steward_audit::event::WorkerRegistered;
use steward_audit::{Actor, EventPayload, Subject};
use steward_permits::{
    ApprovalRefusal, CertAction, CertTransitionError, Eligibility, OperationStats, OutcomeRefusal,
    Recertification, Timestamp, WorkerRecord, recertification,
};
use steward_policy::{CertificationStatus, Level, Role, WorkerStanding};

use crate::audit::{NewEvent, append_event};
use crate::error::StoreError;
use crate::principal::{Principal, PrincipalKind};
use crate::store::{Store, new_id, on_pool};

pub use identity::NewWorkerToken;
pub use initial::{
    InitialApproval, InitialCertificationRecord, InitialCertificationState, PriorRecordView,
};
pub use outcome::{NewOutcome, OutcomeEvidence, OutcomeRecord};
pub use promotion::{PromotionApproval, PromotionState};
pub use status::Revocation;

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

    /// What the hard blocks of an analysis need to know about this worker.
    pub fn standing(&self) -> WorkerStanding {
        WorkerStanding {
            level: self.level,
            status: self.status,
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
    #[error("{}", approver_refusal_message(refusal, *target))]
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

impl From<sqlx::Error> for WorkerError {
    fn from(error: sqlx::Error) -> WorkerError {
        WorkerError::Store(error.into())
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
        by: &Actor,
        new: NewWorker,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        let display_name = new.display_name.trim().to_owned();
        if display_name.is_empty() {
            return Err(WorkerError::Invalid {
                field: "display_name",
                message: "must not be empty".to_owned(),
            });
        }
        if let Some(i) = new.domains.iter().position(|d| d.trim().is_empty()) {
            return Err(WorkerError::Invalid {
                field: "domains",
                message: format!("domain {i} is empty"),
            });
        }
        let record = WorkerRecord::registered(Timestamp(now_ms));
        let worker = Worker {
            id: new_id(),
            display_name,
            owner_id: new.owner_id,
            principal_id: new.principal_id,
            level: record.level,
            status: record.status,
            domains: new.domains,
            level_granted_at_ms: now_ms,
            recertify_by_ms: None,
            probation_until_ms: None,
            stats: record.stats,
            version: 1,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };

        let mut tx = self.begin().await?;
        let owner = row::principal(&mut tx, &worker.owner_id).await?;
        check_owner(owner.as_ref(), &worker.owner_id)?;
        if let Some(identity) = &worker.principal_id {
            if *identity == worker.owner_id {
                return Err(WorkerError::BadReference {
                    field: "principal_id",
                    message: "a worker cannot own itself".to_owned(),
                });
            }
            let principal = row::principal(&mut tx, identity).await?;
            check_identity(principal.as_ref(), identity)?;
        }
        match row::insert(&mut tx, &worker).await {
            Err(error) if error.is_conflict() => {
                return Err(StoreError::Conflict {
                    message: format!(
                        "principal `{}` is already the identity of a worker",
                        worker.principal_id.as_deref().unwrap_or_default()
                    ),
                }
                .into());
            }
            other => other?,
        }
        append_event(
            &mut tx,
            typed_worker_event(
                by,
                now_ms,
                &worker,
                WorkerRegistered {
                    display_name: worker.display_name.clone(),
                    owner_id: worker.owner_id.clone(),
                    principal_id: worker.principal_id.clone(),
                    domains: worker.domains.clone(),
                    level: worker.level.value(),
                    status: worker.status.as_str().to_owned(),
                },
            )?,
        )
        .await?;
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

/// A typed audit event about `worker`, at its level.
fn typed_worker_event(
    by: &Actor,
    now_ms: i64,
    worker: &Worker,
    payload: impl EventPayload,
) -> Result<NewEvent, StoreError> {
    NewEvent::typed(
        now_ms,
        by.clone(),
        Subject {
            worker_id: Some(worker.id.clone()),
            ..Subject::default()
        },
        Some(worker.level),
        payload,
    )
}

/// An audit event about `worker`, at its level.
fn worker_event(
    by: &Actor,
    now_ms: i64,
    event_type: &str,
    worker: &Worker,
    data: serde_json::Value,
) -> NewEvent {
    NewEvent {
        ts_ms: now_ms,
        event_type: event_type.to_owned(),
        actor: by.clone(),
        subject: Subject {
            worker_id: Some(worker.id.clone()),
            ..Subject::default()
        },
        level: Some(worker.level),
        data,
    }
}

fn check_owner(owner: Option<&Principal>, id: &str) -> Result<(), WorkerError> {
    let problem = match owner {
        None => Some(format!("no principal `{id}`")),
        Some(p) if p.disabled_at_ms.is_some() => Some(format!("principal `{id}` is disabled")),
        Some(p) if p.kind == PrincipalKind::Agent && !p.has_role(Role::Master) => Some(format!(
            "principal `{id}` is an agent without the role `master`; an owner is a human or a master"
        )),
        Some(_) => None,
    };
    match problem {
        Some(message) => Err(WorkerError::BadReference {
            field: "owner_id",
            message,
        }),
        None => Ok(()),
    }
}

fn check_identity(identity: Option<&Principal>, id: &str) -> Result<(), WorkerError> {
    let problem = match identity {
        None => Some(format!("no principal `{id}`")),
        Some(p) if p.disabled_at_ms.is_some() => Some(format!("principal `{id}` is disabled")),
        Some(p) if p.kind != PrincipalKind::Agent => {
            Some(format!("principal `{id}` is not an agent"))
        }
        Some(p) if !p.has_role(Role::Worker) => {
            Some(format!("principal `{id}` does not hold the role `worker`"))
        }
        Some(_) => None,
    };
    match problem {
        Some(message) => Err(WorkerError::BadReference {
            field: "principal_id",
            message,
        }),
        None => Ok(()),
    }
}

/// `ApprovalRefusal`'s messages speak of permits; these speak of promotions.
fn approver_refusal_message(refusal: &ApprovalRefusal, target: Level) -> String {
    match refusal {
        ApprovalRefusal::NotHuman { principal } => {
            format!("only humans approve a promotion: `{principal}` is not a human")
        }
        ApprovalRefusal::RoleNotHeld { principal, role } => {
            format!("role not held: `{principal}` does not hold the role `{role}`")
        }
        ApprovalRefusal::RoleNotEligible { role } => format!(
            "role not eligible: the role `{role}` may not approve a promotion to level {target}"
        ),
        ApprovalRefusal::Requester { principal } => format!(
            "segregation of duties: `{principal}` asked for this certification and may not approve it"
        ),
        ApprovalRefusal::WorkerOwner { principal } => {
            format!(
                "segregation of duties: `{principal}` owns the worker and may not approve its promotion"
            )
        }
        ApprovalRefusal::Executor { principal } => format!(
            "segregation of duties: `{principal}` is the worker and may not approve its own promotion"
        ),
        ApprovalRefusal::AlreadyApproved { principal, role } => format!(
            "one vote per person: `{principal}` already approved this promotion as `{role}`"
        ),
    }
}
