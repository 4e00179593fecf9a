//! Promotion (SPEC §5: "Promotion is always a human act"): eligibility, human approvals
//! under segregation of duties, and the promotion itself once the approvals meet the
//! quorum. Steward never promotes on its own.

use steward_permits::{
    Eligibility, PromotionApproval, PromotionSnapshot, QuorumStatus, Timestamp, eligibility,
    plan_promotion_approval,
};
use steward_policy::{Level, Role};

use super::{Worker, WorkerError, append_events, caller_facts, row};
use crate::caller::Caller;
use crate::error::{StoreError, conflict_as};
use crate::personal::PersonalText;
use crate::store::{Store, Tx, in_tx, new_id, on_tx};

/// Where a promotion stands after an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionState {
    /// The worker after the approval: at `target`, when `promoted`.
    pub worker: Worker,
    pub target: Level,
    pub promoted: bool,
    /// The approvals towards `target`: those that made the promotion when `promoted`
    /// (they count no more), the ones still open otherwise.
    pub approvals: Vec<PromotionApproval>,
    /// What the approvals still lack; `met` when `promoted`.
    pub quorum: QuorumStatus,
}

/// Why open approvals were closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClosedBy {
    /// The promotion they approved happened.
    Promoted,
    /// The worker was suspended or revoked; approvals given before do not carry over.
    Voided,
}

impl ClosedBy {
    fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Promoted => "promoted",
            ClosedBy::Voided => "voided",
        }
    }
}

impl Store {
    /// Whether worker `worker_id` may be promoted to `target` at `now_ms`, with one reason
    /// per criterion, and the worker it was read from. Reads only.
    pub async fn eligibility(
        &self,
        worker_id: &str,
        target: Level,
        now_ms: i64,
    ) -> Result<(Worker, Eligibility), StoreError> {
        let worker = self.worker(worker_id).await?;
        let verdict = eligibility(&worker.record(), target, Timestamp(now_ms));
        Ok((worker, verdict))
    }

    /// The approvals of worker `worker_id`'s promotion to `target` that still count, oldest
    /// first.
    pub async fn promotion_approvals(
        &self,
        worker_id: &str,
        target: Level,
    ) -> Result<Vec<PromotionApproval>, StoreError> {
        let mut tx = self.begin().await?;
        let approvals = open_approvals(&mut tx, worker_id, target).await?;
        tx.rollback().await?;
        Ok(approvals)
    }

    /// Records `by`'s approval, as `role`, of promoting worker `worker_id` to
    /// `target`, and promotes the worker when the approvals meet the quorum.
    ///
    /// In order, each refusal writing nothing:
    /// 1. the worker must be eligible now ([`WorkerError::NotEligible`], listing every
    ///    unmet criterion): no approval is recorded for an ineligible worker;
    /// 2. the approver must pass `check_approver` against the promotion's requirements
    ///    ([`WorkerError::ApproverRefused`]): a human holding an eligible role, neither the
    ///    worker's owner nor the worker's own identity, and not having approved this
    ///    promotion already. (A promotion has no requester: nobody asks for it but the
    ///    approvers themselves.)
    ///
    /// Then the approval is recorded (`worker.promotion_approved`). When the open
    /// approvals meet `promotion_approvals(target)`, the worker is promoted
    /// (`worker.promoted`): new level from now, probation where it applies, a
    /// recertification date, and every open approval closed, so none counts towards a
    /// later promotion.
    pub async fn approve_promotion(
        &self,
        by: &Caller,
        worker_id: &str,
        target: Level,
        role: Role,
        comment: Option<PersonalText>,
        now_ms: i64,
    ) -> Result<PromotionState, WorkerError> {
        let mut tx = self.begin().await?;
        let before = row::lock(&mut tx, worker_id).await?;
        let plan = plan_promotion_approval(PromotionSnapshot {
            worker: &before.facts(),
            target,
            approver: &caller_facts(by),
            role,
            comment: comment.as_ref(),
            open: open_approvals(&mut tx, &before.id, target).await?,
            approval_id: new_id(),
            now: Timestamp(now_ms),
        })?;
        insert_approval(&mut tx, &before.id, target, &plan.approval).await?;
        let worker = match &plan.promoted {
            Some(promoted) => {
                let after = row::save(&mut tx, &before, promoted, now_ms).await?;
                close_open_approvals(&mut tx, &after.id, ClosedBy::Promoted, now_ms).await?;
                after
            }
            None => before,
        };
        append_events(&mut tx, &by.actor(), &worker.id, plan.events, now_ms).await?;
        tx.commit().await?;
        Ok(PromotionState {
            promoted: worker.level == target,
            worker,
            target,
            approvals: plan.approvals,
            quorum: plan.quorum,
        })
    }
}

/// One `promotion_approvals` row.
#[derive(sqlx::FromRow)]
struct ApprovalRow {
    id: String,
    principal_id: String,
    role: String,
    comment: Option<String>,
    created_at: i64,
}

/// The open approvals of `worker_id` towards `target`.
async fn open_approvals(
    tx: &mut Tx<'_>,
    worker_id: &str,
    target: Level,
) -> Result<Vec<PromotionApproval>, StoreError> {
    const SQL: &str = "SELECT id, principal_id, role, comment, created_at \
         FROM promotion_approvals WHERE worker_id = $1 AND target_level = $2 \
         AND closed_at IS NULL ORDER BY created_at, id";
    let rows = in_tx!(
        tx,
        fetch_all,
        sqlx::query_as::<_, ApprovalRow>(SQL),
        worker_id,
        i64::from(target.value())
    );
    rows.into_iter()
        .map(|row| {
            let role = row
                .role
                .parse::<Role>()
                .map_err(|e| StoreError::corrupt("promotion approval", &row.id, e))?;
            Ok(PromotionApproval {
                id: row.id,
                principal_id: row.principal_id,
                role,
                comment: row.comment,
                created_at_ms: row.created_at,
            })
        })
        .collect()
}

async fn insert_approval(
    tx: &mut Tx<'_>,
    worker_id: &str,
    target: Level,
    approval: &PromotionApproval,
) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO promotion_approvals (id, worker_id, target_level, \
         principal_id, role, comment, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let inserted = on_tx!(tx, |conn| {
        sqlx::query(SQL)
            .bind(&approval.id)
            .bind(worker_id)
            .bind(i64::from(target.value()))
            .bind(&approval.principal_id)
            .bind(approval.role.as_str())
            .bind(&approval.comment)
            .bind(approval.created_at_ms)
            .execute(&mut **conn)
            .await
            .map(drop)
    });
    // The unique index on open approvals: a racing duplicate of this same approval.
    conflict_as(inserted, || {
        format!(
            "`{}` already approved the promotion of worker `{worker_id}` to level {target}",
            approval.principal_id
        )
    })
}

/// Closes every open approval of `worker_id`, whatever its target.
pub(super) async fn close_open_approvals(
    tx: &mut Tx<'_>,
    worker_id: &str,
    why: ClosedBy,
    now_ms: i64,
) -> Result<u64, StoreError> {
    const SQL: &str = "UPDATE promotion_approvals SET closed_at = $1, closed_by = $2 \
         WHERE worker_id = $3 AND closed_at IS NULL";
    Ok(in_tx!(
        tx,
        execute,
        sqlx::query(SQL),
        now_ms,
        why.as_str(),
        worker_id
    ))
}
