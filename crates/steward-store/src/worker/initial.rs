//! Initial certification (adopting a worker with a record elsewhere): the worker's owner
//! or an admin asks for level 1–4 with a justification and evidence of the prior record;
//! human approvers approve as for a promotion to that level; when the approvals meet the
//! quorum the worker is certified (`worker.certified_initially`) and starts the level's
//! probation. The decisions are `steward_permits::{plan_initial_request,
//! plan_initial_approval}`; this module loads, locks and writes.

use serde_json::json;
use sqlx::types::Json;
use steward_permits::{
    InitialApprovalSnapshot, InitialCertification, InitialCertificationRecord,
    InitialRequestSnapshot, QuorumStatus, Timestamp, plan_initial_approval, plan_initial_request,
};
use steward_policy::{Level, Role};

use super::{Worker, WorkerError, append_events, caller_facts, promotion, row};
use crate::caller::Caller;
use crate::error::StoreError;
use crate::personal::PersonalText;
use crate::store::{Store, Tx, in_tx};

/// Where an initial certification stands after a request or an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialCertificationState {
    pub worker: Worker,
    pub request: InitialCertificationRecord,
    /// What the approvals still lack; `met` once certified.
    pub quorum: QuorumStatus,
    pub certified: bool,
}

impl Store {
    /// Asks for worker `worker_id` to be certified at `request.target` (its owner or an
    /// admin). Refused, writing nothing, when the worker has a certification history,
    /// the justification or the evidence is missing (`check_initial_certification`), or
    /// a request was already made for it. Appends `worker.initial_certification_requested`.
    pub async fn request_initial_certification(
        &self,
        by: &Caller,
        worker_id: &str,
        request: &InitialCertification,
        now_ms: i64,
    ) -> Result<InitialCertificationState, WorkerError> {
        let mut tx = self.begin().await?;
        let worker = row::lock(&mut tx, worker_id).await?;
        let asked_before = load(&mut tx, &worker.id).await?.is_some();
        let plan = plan_initial_request(&InitialRequestSnapshot {
            caller: &caller_facts(by),
            worker: &worker.facts(),
            request,
            asked_before,
            now: Timestamp(now_ms),
        })?;
        insert(&mut tx, &plan.record).await?;
        append_events(&mut tx, &by.actor(), &worker.id, vec![plan.event], now_ms).await?;
        tx.commit().await?;
        Ok(InitialCertificationState {
            worker,
            request: plan.record,
            quorum: plan.quorum,
            certified: false,
        })
    }

    /// Records `by`'s approval, as `role`, of the initial certification asked
    /// for worker `worker_id`, and certifies the worker when the approvals meet the
    /// quorum of a promotion to that level. The approver must pass `check_approver`
    /// (a human with an eligible role; neither whoever asked, nor the owner, nor the
    /// worker; one vote each). Appends `worker.initial_certification_approved` and, on
    /// the last approval, `worker.certified_initially`.
    pub async fn approve_initial_certification(
        &self,
        by: &Caller,
        worker_id: &str,
        role: Role,
        comment: Option<PersonalText>,
        now_ms: i64,
    ) -> Result<InitialCertificationState, WorkerError> {
        let mut tx = self.begin().await?;
        let before = row::lock(&mut tx, worker_id).await?;
        let plan = plan_initial_approval(InitialApprovalSnapshot {
            worker: &before.facts(),
            record: load(&mut tx, &before.id).await?,
            approver: &caller_facts(by),
            role,
            comment: comment.as_ref(),
            now: Timestamp(now_ms),
        })?;
        let worker = match &plan.certified {
            Some(certified) => {
                let after = row::save(&mut tx, &before, certified, now_ms).await?;
                // Promotion approvals given before the worker had a level count no more.
                let voided = promotion::ClosedBy::Voided;
                promotion::close_open_approvals(&mut tx, &after.id, voided, now_ms).await?;
                after
            }
            None => before,
        };
        save(&mut tx, &plan.record).await?;
        append_events(&mut tx, &by.actor(), &worker.id, plan.events, now_ms).await?;
        tx.commit().await?;
        Ok(InitialCertificationState {
            certified: plan.record.certified_at_ms.is_some(),
            worker,
            request: plan.record,
            quorum: plan.quorum,
        })
    }

    /// The initial certification asked for worker `worker_id`, if any.
    pub async fn initial_certification(
        &self,
        worker_id: &str,
    ) -> Result<Option<InitialCertificationRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let record = load(&mut tx, worker_id).await?;
        tx.rollback().await?;
        Ok(record)
    }
}

/// One `initial_certifications` row.
#[derive(sqlx::FromRow)]
struct Row {
    target_level: i64,
    justification: String,
    /// JSON.
    prior_record: String,
    requested_by: String,
    requested_at: i64,
    /// JSON.
    approvals: String,
    certified_at: Option<i64>,
}

async fn load(
    tx: &mut Tx<'_>,
    worker_id: &str,
) -> Result<Option<InitialCertificationRecord>, StoreError> {
    let sql = format!(
        "SELECT target_level, justification, CAST(prior_record AS TEXT) AS prior_record, \
         requested_by, requested_at, CAST(approvals AS TEXT) AS approvals, certified_at \
         FROM initial_certifications WHERE worker_id = $1{}",
        tx.for_update()
    );
    let Some(row) = in_tx!(
        tx,
        fetch_optional,
        sqlx::query_as::<_, Row>(&sql),
        worker_id
    ) else {
        return Ok(None);
    };
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::corrupt("initial certification", worker_id, format!("{what}: {e}"))
    };
    Ok(Some(InitialCertificationRecord {
        worker_id: worker_id.to_owned(),
        target_level: u8::try_from(row.target_level)
            .ok()
            .and_then(Level::new)
            .ok_or_else(|| bad("target_level", &row.target_level))?,
        justification: row.justification,
        prior_record: serde_json::from_str(&row.prior_record)
            .map_err(|e| bad("prior_record", &e))?,
        requested_by: row.requested_by,
        requested_at_ms: row.requested_at,
        approvals: serde_json::from_str(&row.approvals).map_err(|e| bad("approvals", &e))?,
        certified_at_ms: row.certified_at,
    }))
}

async fn insert(tx: &mut Tx<'_>, r: &InitialCertificationRecord) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO initial_certifications (worker_id, target_level, \
         justification, prior_record, requested_by, requested_at) \
         VALUES ($1, $2, $3, $4, $5, $6)";
    in_tx!(
        tx,
        execute,
        sqlx::query(SQL),
        &r.worker_id,
        i64::from(r.target_level.value()),
        &r.justification,
        Json(json!(r.prior_record)),
        &r.requested_by,
        r.requested_at_ms,
    );
    Ok(())
}

async fn save(tx: &mut Tx<'_>, r: &InitialCertificationRecord) -> Result<(), StoreError> {
    const SQL: &str = "UPDATE initial_certifications SET approvals = $1, certified_at = $2 \
         WHERE worker_id = $3";
    in_tx!(
        tx,
        execute,
        sqlx::query(SQL),
        Json(json!(r.approvals)),
        r.certified_at_ms,
        &r.worker_id,
    );
    Ok(())
}
