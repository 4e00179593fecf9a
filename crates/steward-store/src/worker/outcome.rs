//! Operation outcomes: each finished operation folds into the worker's history, and
//! suspends its certification automatically on a safety violation or the third
//! consecutive failed union operation (SPEC §5).
//!
//! Who may report, whether a success counts towards promotion and what the outcome does
//! to the certification is `steward_permits::plan_outcome`'s decision: this module loads
//! what the report names (the permit, or the audit event of an authorize decision) into
//! its snapshot, and records the result in `worker_outcomes`, whose unique indexes let
//! each permit and each decision back one outcome only, even when reports race.

use steward_permits::{
    AutoSuspension, DecisionSeen, OperationOutcome, OperationResult, OutcomeReport,
    OutcomeSnapshot, PermitSeen, PermitState, SeenWork, Timestamp, plan_outcome,
};
use steward_policy::Level;

use super::promotion::{ClosedBy, close_open_approvals};
use super::{Worker, WorkerError, append_events, row};
use crate::caller::Caller;
use crate::error::StoreError;
use crate::store::{Store, in_pool, new_id, on_tx};

/// The work Steward saw that an outcome report names as its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeEvidence {
    /// A permit the worker executed and that was closed.
    Permit(String),
    /// The `seq` of an allowed authorize decision's audit event (`audit_seq` in the
    /// decision's answer).
    Decision(u64),
}

/// An outcome as a reporter gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutcome {
    pub result: OperationResult,
    /// The level the operation required; needed without evidence.
    pub level: Option<Level>,
    pub evidence: Option<OutcomeEvidence>,
}

/// What [`Store::record_outcome`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRecord {
    pub id: String,
    /// The result, Steward's level for it and its basis (whether a success counts).
    pub outcome: OperationOutcome,
    pub evidence: Option<OutcomeEvidence>,
    /// The worker after the outcome.
    pub worker: Worker,
    /// Why the outcome suspended the worker, if it did.
    pub suspension: Option<AutoSuspension>,
}

impl Store {
    /// Records one operation's outcome reported by `by` (`worker.outcome_recorded`, at
    /// the operation's level) and returns it with the worker and why it was suspended,
    /// if it was.
    ///
    /// Refused, with nothing written: a reporter other than the worker's owner or the
    /// worker's own identity, a worker reporting more than success or failure about
    /// itself, and evidence that is missing, of another worker, not a closed permit (or
    /// one that ended otherwise than a reported success), or not an allowed decision
    /// ([`WorkerError::OutcomeRefused`]); evidence that already backs an outcome
    /// ([`WorkerError::EvidenceAlreadyUsed`]).
    ///
    /// An automatic suspension records `worker.suspended` by the system actor, with
    /// `automatic: true` and the cause, and voids pending promotion approvals.
    ///
    /// Outcomes are facts, so they are recorded whatever the certification's status:
    /// a suspended, expired or revoked worker's late report still counts in its history
    /// (a safety violation there still counts towards "no violation ever"), and its
    /// status does not change.
    pub async fn record_outcome(
        &self,
        by: &Caller,
        worker_id: &str,
        new: NewOutcome,
        now_ms: i64,
    ) -> Result<OutcomeRecord, WorkerError> {
        // Evidence does not go back: a closed permit stays closed (archiving keeps its
        // summary) and audit events never change, so it is read before the transaction.
        let seen = match &new.evidence {
            None => SeenWork::Nothing,
            Some(OutcomeEvidence::Permit(id)) => self.permit_seen(id).await?,
            Some(OutcomeEvidence::Decision(seq)) => self.decision_seen(*seq).await?,
        };
        let mut tx = self.begin().await?;
        let before = row::lock(&mut tx, worker_id).await?;
        let id = new_id();
        let (permit_id, authorize_seq) = match &new.evidence {
            Some(OutcomeEvidence::Permit(id)) => (Some(id.as_str()), None),
            Some(OutcomeEvidence::Decision(seq)) => (None, Some(*seq)),
            None => (None, None),
        };
        let plan = plan_outcome(&OutcomeSnapshot {
            worker: &before.facts(),
            reporter_id: &by.id,
            report: OutcomeReport {
                result: new.result,
                level: new.level,
            },
            seen: &seen,
            outcome_id: &id,
            permit_id,
            authorize_seq,
            now: Timestamp(now_ms),
        })?;
        // The unique indexes of `worker_outcomes` refuse a second outcome for the same
        // permit or decision, also from a racing report.
        const SQL: &str = "INSERT INTO worker_outcomes (id, worker_id, result, level, basis, \
             permit_id, authorize_seq, reported_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        let inserted = on_tx!(tx, |conn| {
            sqlx::query(SQL)
                .bind(&id)
                .bind(&before.id)
                .bind(plan.outcome.result.as_str())
                .bind(i64::from(plan.outcome.level.value()))
                .bind(plan.outcome.basis.as_str())
                .bind(permit_id)
                .bind(authorize_seq.and_then(|seq| i64::try_from(seq).ok()))
                .bind(&by.id)
                .bind(now_ms)
                .execute(&mut **conn)
                .await
                .map(|_| ())
        });
        match inserted.map_err(StoreError::from) {
            Err(StoreError::Conflict { .. }) => {
                let message = match (permit_id, authorize_seq) {
                    (Some(id), _) => format!(
                        "permit `{id}` already backs an outcome; each piece of work counts once"
                    ),
                    (_, Some(seq)) => format!(
                        "the decision at seq {seq} already backs an outcome; each piece of work counts once"
                    ),
                    _ => "the outcome was recorded twice".to_owned(),
                };
                return Err(WorkerError::EvidenceAlreadyUsed { message });
            }
            other => other?,
        }
        let after = row::save(&mut tx, &before, &plan.record, now_ms).await?;
        if plan.suspension.is_some() {
            close_open_approvals(&mut tx, &after.id, ClosedBy::Voided, now_ms).await?;
        }
        append_events(&mut tx, &by.actor(), &after.id, plan.events, now_ms).await?;
        tx.commit().await?;
        Ok(OutcomeRecord {
            id,
            outcome: plan.outcome,
            evidence: new.evidence,
            worker: after,
            suspension: plan.suspension,
        })
    }

    /// The permit `id` as outcome evidence.
    async fn permit_seen(&self, id: &str) -> Result<SeenWork, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            worker_id: String,
            level: i64,
            state: String,
            outcome: Option<String>,
            /// Whether the permit has its audit summary (it was closed).
            closed: bool,
        }
        const SQL: &str = "SELECT worker_id, level, state, outcome, \
             audit_summary IS NOT NULL AS closed FROM permits WHERE id = $1";
        let Some(row) = in_pool!(self.pool, fetch_optional, sqlx::query_as::<_, Row>(SQL), id)
        else {
            return Ok(SeenWork::Missing);
        };
        let bad = |problem: String| StoreError::corrupt("permit", id, problem);
        Ok(SeenWork::Permit(PermitSeen {
            worker_id: row.worker_id,
            level: u8::try_from(row.level)
                .ok()
                .and_then(Level::new)
                .ok_or_else(|| bad(format!("level {} is not 0 to 4", row.level)))?,
            state: row
                .state
                .parse::<PermitState>()
                .map_err(|e| bad(e.to_string()))?,
            outcome: row
                .outcome
                .map(|o| {
                    o.parse()
                        .map_err(|e: steward_policy::UnknownValueError| bad(e.to_string()))
                })
                .transpose()?,
            closed: row.closed,
        }))
    }

    /// The audit event at `seq` as outcome evidence (`DecisionSeen::of`).
    async fn decision_seen(&self, seq: u64) -> Result<SeenWork, StoreError> {
        let Some(entry) = self.events(seq, 1).await?.pop().filter(|e| e.seq == seq) else {
            return Ok(SeenWork::Missing);
        };
        Ok(SeenWork::Decision(DecisionSeen::of(&entry)))
    }
}
